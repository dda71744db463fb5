"""The detector nodes of one stage, built once and shared by its rules.

A rule's condition or redaction reads detectors through these nodes. Each
node is keyed by what it computes, so two rules asking for the same thing
(the analyzer on the text, one topic, one terms list) share one node, and the
evaluator runs it at most once per text. The analyzer node is one per stage:
it runs with the union of the entity types every rule of the stage names.
"""

from __future__ import annotations

import hashlib

from guardrails import ast
from guardrails.detectors import (
    DetectorError,
    Finding,
    SafeRegex,
    SecretScanner,
    TermMatcher,
    TopicScorer,
    normalize,
)
from guardrails.resolve import Unit
from guardrails.rulegraph import TIER_CHEAP, TIER_PII, Ctx, DetectorNode, Settings


class StageNodes:
    """The detector nodes of one stage, and those the rule being compiled reads."""

    def __init__(self, unit: Unit, settings: Settings, pii_default: frozenset[str]):
        self.unit = unit
        self.settings = settings
        self.detectors: dict[str, DetectorNode] = {}
        self.pii_entities: set[str] = set()
        self.pii_final: list[frozenset[str]] = [frozenset()]
        self.pii_default = pii_default
        self.regex_timeout = settings.regex_timeout_ms / 1000.0
        # The ids of the nodes the rule being compiled reads (reset per rule).
        self.rule_detectors: set[str] = set()

    # -- definitions
    def definition(self, name: str) -> ast.Definition:
        return self.unit.scope[name].node

    def entity_set(self, names: tuple[str, ...]) -> frozenset[str]:
        out: set[str] = set()
        for n in names:
            d = self.unit.scope.get(n)
            if d is not None and isinstance(d.node, ast.EntitiesDef):
                out.update(x.value for x in d.node.entities)
            else:
                out.add(n)
        return frozenset(out)

    # -- detector nodes
    def node(self, node: DetectorNode) -> DetectorNode:
        existing = self.detectors.setdefault(node.id, node)
        self.rule_detectors.add(existing.id)
        return existing

    def norm_node(self) -> DetectorNode:
        return self.node(DetectorNode("normalize", TIER_CHEAP, lambda c: normalize(c.text)))

    def pii_node(self) -> DetectorNode:
        # One node per stage. The entity union is known only once every rule
        # is compiled, so the node reads the final set from `self.pii_final`,
        # filled in by compile_unit. The runtime caches analyzer results.
        holder = self.pii_final
        self.node(DetectorNode("pii", TIER_PII, lambda c: c.rt.pii(c.text, holder[0])))
        return self.detectors["pii"]

    def topic_node(self, name: str) -> DetectorNode:
        d = self.definition(name)
        assert isinstance(d, ast.TopicDef)
        scorer = TopicScorer(name, [(t.text, t.weight) for t in d.terms])
        norm = self.norm_node()

        def run(c: Ctx):
            result = scorer.score(c.text, c.detect(norm))
            clf = c.rt.topic_classifier if c.rt is not None else None
            if clf is not None:
                try:
                    semantic = float(clf.score(name, c.text))
                except Exception as exc:  # a plug-in: any failure becomes a detector error
                    raise DetectorError(f"topic classifier failed: {type(exc).__name__}") from None
                if semantic > result.score:
                    return type(result)(semantic, result.findings)
            return result

        return self.node(DetectorNode(f"topic:{name}", TIER_CHEAP, run))

    def terms_node(self, name: str) -> DetectorNode:
        d = self.definition(name)
        assert isinstance(d, ast.TermsDef)
        matcher_terms = [str(t.value) for t in d.terms]
        matcher = TermMatcher(matcher_terms)
        norm = self.norm_node()
        label = name.upper().replace("-", "_")

        def run(c: Ctx) -> list[Finding]:
            return [Finding(f.start, f.end, label, f.score) for f in matcher.find(c.text, c.detect(norm))]

        return self.node(DetectorNode(f"terms:{name}", TIER_CHEAP, run, _fingerprint("terms", label, *matcher_terms)))

    def secrets_node(self, kinds: tuple[str, ...]) -> DetectorNode:
        scanner = SecretScanner(kinds or None)
        key = "secrets" + (":" + ",".join(sorted(kinds)) if kinds else "")
        return self.node(DetectorNode(key, TIER_CHEAP, lambda c: scanner.find(c.text), key))

    def pattern_node(self, name: str) -> DetectorNode:
        d = self.definition(name)
        assert isinstance(d, ast.PatternDef)
        rx = SafeRegex.compile(d.regex.pattern, d.regex.flags, self.regex_timeout)
        label = name.upper().replace("-", "_")

        def run(c: Ctx) -> list[Finding]:
            return [Finding(s, e, label, 1.0) for s, e in rx.finditer_spans(c.text)]

        key = _fingerprint("pattern", label, d.regex.pattern, d.regex.flags, str(self.regex_timeout))
        return self.node(DetectorNode(f"pattern:{name}", TIER_CHEAP, run, key))


def _fingerprint(*parts: str) -> str:
    return parts[0] + ":" + hashlib.sha1("\0".join(parts).encode()).hexdigest()[:16]

