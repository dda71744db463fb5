"""Composing overlapping redactions and applying them as presidio-anonymizer does.

Several rules may redact overlapping spans with different operators. They are
combined by :func:`merge_redactions` into disjoint spans, each taking the
strongest operator that touched it, so the result never depends on the order
in which rules fired; :func:`apply_redactions` then rewrites the text once,
with the output presidio-anonymizer gives for those spans.
"""

from __future__ import annotations

import hashlib
import hmac
import string
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "OPERATOR_RANK",
    "Redaction",
    "apply_redactions",
    "merge_redactions",
    "validate_template",
]

# Higher rank wins when spans merge: removing reveals least, hashing most
# (a keyed hash still lets equal values be correlated).
OPERATOR_RANK: dict[str, int] = {"remove": 4, "replace": 3, "mask": 2, "hash": 1}

DEFAULT_TEMPLATE = "<{entity}>"
DEFAULT_MASK_CHAR = "*"


@dataclass(frozen=True, slots=True)
class Redaction:
    """Rewrite ``[start, end)`` of the original text with ``operator``.

    ``params`` are ``(name, value)`` pairs: ``("template", "<{entity}>")`` for
    ``replace``, ``("char", "*")`` for ``mask``; ``remove`` and ``hash`` take
    none.
    """

    start: int
    end: int
    entity: str
    score: float
    operator: str
    params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"invalid redaction span ({self.start}, {self.end})")
        if self.operator not in OPERATOR_RANK:
            raise ValueError(
                f"unknown redaction operator {self.operator!r}; valid operators: "
                + ", ".join(OPERATOR_RANK)
            )


def validate_template(template: str) -> str | None:
    """Return why ``template`` is not a valid ``replace`` template, or None.

    Only the ``{entity}`` placeholder is allowed (without conversion or
    format spec); literal braces are written ``{{`` and ``}}``. Meant to be
    called when a policy is compiled, so bad templates fail early.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"malformed template: {exc}"
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name != "entity":
            shown = "{" + name + "}" if name else "{}"
            return f"unsupported placeholder {shown} in template; only {{entity}} is allowed"
        if spec or conversion:
            return "the {entity} placeholder takes no conversion or format spec"
    return None


def _choose(group: list[Redaction]) -> Redaction:
    """Collapse one group of overlapping redactions into one (order-independent)."""
    start = min(r.start for r in group)
    end = max(r.end for r in group)
    strongest = max(OPERATOR_RANK[r.operator] for r in group)
    operator, params = min(
        (r.operator, r.params) for r in group if OPERATOR_RANK[r.operator] == strongest
    )
    score = max(r.score for r in group)
    entity = min(r.entity for r in group if r.score == score)
    return Redaction(start, end, entity, score, operator, params)


def merge_redactions(items: Iterable[Redaction]) -> list[Redaction]:
    """Merge overlapping redactions into disjoint ones.

    Redactions that overlap (``a.start < b.end and b.start < a.end``),
    directly or through a chain, become one covering their union. It takes
    the highest-ranked operator (:data:`OPERATOR_RANK`; ties: the smallest
    ``params``), the highest score, and the entity of that score (ties:
    alphabetically first). Spans that merely touch stay separate; empty spans
    are dropped. The result is sorted, non-overlapping and independent of the
    input order.
    """
    ordered = sorted((r for r in items if r.end > r.start), key=lambda r: (r.start, r.end))
    merged: list[Redaction] = []
    group: list[Redaction] = []
    group_end = -1
    for r in ordered:
        if group and r.start >= group_end:
            merged.append(_choose(group))
            group = []
        group.append(r)
        group_end = max(group_end, r.end) if len(group) > 1 else r.end
    if group:
        merged.append(_choose(group))
    return merged


_engine: Any = None
_engine_lock = threading.Lock()


def _anonymizer() -> Any:
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                from presidio_anonymizer import AnonymizerEngine

                _engine = AnonymizerEngine()
    return _engine


def _hash_operator(entity: str, key: bytes) -> Any:
    def render(value: str) -> str:
        digest = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"<{entity}:{digest.hexdigest()[:16]}>"

    return render


def apply_redactions(text: str, merged: Sequence[Redaction], *, hash_key: bytes) -> str:
    """Rewrite ``text`` with the disjoint redactions from :func:`merge_redactions`.

    ``replace`` substitutes its template with ``{entity}`` filled in,
    ``mask`` overwrites every character with its mask character, ``remove``
    deletes the span, and ``hash`` writes ``<ENTITY:h>`` where ``h`` is the
    first 16 hex digits of HMAC-SHA256(``hash_key``, original value), so equal
    values stay correlatable without being revealed.

    The output is what presidio-anonymizer's ``AnonymizerEngine`` makes of
    the spans. For sorted, disjoint, non-empty spans that is each span's
    replacement between the untouched text, which is written here directly;
    the anonymizer is called only where it would differ: an empty span, or a
    ``replace`` whose template renders to "" (the anonymizer writes
    ``<TYPE>`` for an empty value, with our synthetic type).
    """
    if not merged:
        return text
    parts: list[str] = []
    previous_end = 0
    direct = True
    for r in merged:
        if r.start < previous_end or r.end > len(text):
            raise ValueError("redactions must be sorted, disjoint and inside the text")
        value = _replacement(r, text[r.start:r.end], hash_key)
        if r.start == r.end or (not value and r.operator == "replace"):
            direct = False
        parts.append(text[previous_end:r.start])
        parts.append(value)
        previous_end = r.end
    if direct:
        parts.append(text[previous_end:])
        return "".join(parts)
    return _anonymize(text, merged, hash_key)


def _replacement(r: Redaction, value: str, hash_key: bytes) -> str:
    """What the anonymizer's operator writes for ``value``, the text of ``r``."""
    params = dict(r.params)
    if r.operator == "replace":
        template = params.get("template", DEFAULT_TEMPLATE)
        problem = validate_template(template)
        if problem is not None:
            raise ValueError(problem)
        return template.format(entity=r.entity)
    if r.operator == "mask":
        char = params.get("char", DEFAULT_MASK_CHAR)
        if len(char) != 1:
            raise ValueError("mask character must be exactly one character")
        return char * len(value)
    if r.operator == "remove":
        return ""
    return _hash_operator(r.entity, hash_key)(value)


def _anonymize(text: str, merged: Sequence[Redaction], hash_key: bytes) -> str:
    """The same rewrite through presidio-anonymizer (the reference)."""
    from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

    results = []
    operators = {}
    for i, r in enumerate(merged):
        params = dict(r.params)
        # A synthetic entity type per span: presidio merges same-type results
        # and picks operators by type, and we want exactly one operator per span.
        synthetic = f"GL_REDACTION_{i}"
        results.append(RecognizerResult(synthetic, r.start, r.end, r.score))
        if r.operator == "replace":
            template = params.get("template", DEFAULT_TEMPLATE)
            config = OperatorConfig("replace", {"new_value": template.format(entity=r.entity)})
        elif r.operator == "mask":
            config = OperatorConfig(
                "mask",
                {"masking_char": params.get("char", DEFAULT_MASK_CHAR), "chars_to_mask": r.end - r.start,
                 "from_end": False},
            )
        elif r.operator == "remove":
            config = OperatorConfig("redact", {})
        else:  # hash
            config = OperatorConfig("custom", {"lambda": _hash_operator(r.entity, hash_key)})
        operators[synthetic] = config
    result = _anonymizer().anonymize(
        text=text,
        analyzer_results=results,
        operators=operators,
        merge_entities_with_spaces=False,
    )
    return result.text
