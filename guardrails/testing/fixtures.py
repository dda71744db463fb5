"""Translation of a case's `with:` fixtures into the engine's detector overrides."""

from __future__ import annotations

from typing import Any

from guardrails.diagnostics import Diagnostics
from guardrails.testing.model import Case, Fixed
from guardrails.testing.schema import _close


def _subject(case: Case) -> str | None:
    """The text detectors see for a case; None for retrieval (one per chunk)."""
    if case.stage in ("input", "output"):
        return case.request.get("text")
    if case.stage == "tool_call":
        from guardrails import evaluate  # the engine's own order and separator, so offsets agree

        leaves: list = []
        evaluate._flatten(case.request.get("args") or {}, "args", leaves, [])
        return getattr(evaluate, "ARG_SEPARATOR", "\n").join(text for _, _, text in leaves)
    return None


def overrides_for(case: Case, graph: Any, diags: Diagnostics | None = None) -> dict[str, Any]:
    """Translate a case's ``with:`` into the engine's ``overrides`` (detector
    node id -> result) for one stage graph. Problems go to ``diags``."""
    from guardrails.detectors import Finding, TopicResult

    diags = diags if diags is not None else Diagnostics()
    subject = _subject(case)
    nodes = graph.detectors
    stage = case.stage
    out: dict[str, Any] = {}

    def used(prefix: str) -> str:
        names = sorted(k.split(":", 1)[1] for k in nodes if k.startswith(prefix + ":"))
        return f"the {stage} stage uses: {', '.join(names)}" if names else f"the {stage} stage uses no {prefix}"

    def found(fx: Fixed, label: str | None) -> list[Finding]:
        result = []
        for f in fx.findings:
            start, end = f.start, f.end
            if f.match is not None:
                pos = subject.find(f.match) if subject is not None else -1
                if pos < 0:
                    diags.error("T104", f"{f.match!r} does not occur in the request", f.span)
                    continue
                start, end = pos, pos + len(f.match)
            elif subject is not None and end is not None and end > len(subject):
                diags.error("T104", f"end {end} is past the end of the request text ({len(subject)} characters)",
                            f.span)
                continue
            result.append(Finding(start or 0, end or 0, f.entity or label or "", f.score))
        return result

    for fx in case.fixed:
        if fx.detector == "topic":
            node = f"topic:{fx.name}"
            if node not in nodes:
                diags.error("T203", f"no rule of the {stage} stage uses topic {fx.name!r}", fx.span,
                            _close(fx.name, [k[6:] for k in nodes if k.startswith("topic:")]) or used("topic"))
                continue
            out[node] = TopicResult(fx.score, ())
        elif fx.detector in ("terms", "pattern"):
            node = f"{fx.detector}:{fx.name}"
            if node not in nodes:
                kind = "term list" if fx.detector == "terms" else "pattern"
                hint = _close(fx.name, [k.split(":", 1)[1] for k in nodes if k.startswith(fx.detector + ":")])
                diags.error("T203", f"no rule of the {stage} stage uses the {kind} {fx.name!r}", fx.span,
                            hint or used(fx.detector))
                continue
            out[node] = found(fx, fx.name.upper().replace("-", "_"))
        elif fx.detector == "pii":
            if "pii" not in nodes:
                diags.error("T203", f"no rule of the {stage} stage uses the PII detector", fx.span)
                continue
            for f in fx.findings:
                if f.entity not in graph.pii_entities:
                    diags.error("T203", f"no rule of the {stage} stage looks for {f.entity}", f.span,
                                f"it looks for: {', '.join(sorted(graph.pii_entities))}")
            out["pii"] = found(fx, None)
        else:  # secrets: every secrets node of the stage, each seeing its own kinds
            ids = [k for k in nodes if k == "secrets" or k.startswith("secrets:")]
            if not ids:
                diags.error("T203", f"no rule of the {stage} stage uses secrets()", fx.span)
                continue
            findings = found(fx, None)
            for node in ids:
                kinds = None if node == "secrets" else {k.upper() for k in node.split(":", 1)[1].split(",")}
                out[node] = [f for f in findings if kinds is None or f.entity in kinds]
    return out
