"""The bodies of the grounding builtins, ``grounding()``, ``grounded()`` and
``ungrounded()``: their checks and compile functions, kept beside the
detector they call. Their signatures are in :data:`guardrails.functions.FUNCTIONS`
with every other builtin's; this module holds only what they do.

All three read one detector node per stage, which checks the answer
(``text``) against the request's sources once per decision
(:func:`guardrails.detectors.grounding.check_grounding`): on hard evidence
only by default, with the content check too for ``strict=1`` and
``ungrounded(unsupported)`` (a second node, computed only when asked). A request that
carries no sources makes them fail with ``missing-attribute`` (fail closed or open
as the policy says): a missing list must not read as a grounded answer.

The detector is imported when a policy first compiles one of the three, not
with this module: :mod:`guardrails.functions` imports this at every start,
and the checks' modules were about 40 ms of a cold start. :data:`REASONS`
is therefore written out here; a test keeps it equal to the detector's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from guardrails import ast
from guardrails.detectors.grounding.sources import REQUEST_SOURCES
from guardrails.diagnostics import RuntimeCode
from guardrails.resolve import suggest
from guardrails.rulegraph import TIER_CHEAP, Ctx, DetectorNode, RuleError

#: The node id; a policy test's ``with: {grounding: ...}`` is not offered:
#: the sources in a case decide. The strict check (the content words
#: compared too: ``strict=1``, or ``ungrounded(unsupported)``) is a node of
#: its own, computed only when a rule asks for it.
NODE_ID = "grounding"
STRICT_NODE_ID = "grounding-strict"

#: The reason codes, as :data:`guardrails.detectors.grounding.check.REASONS`
#: orders them (tests/test_grounding_cost.py keeps the two equal).
REASONS: tuple[str, ...] = ("missing_number", "number_mismatch", "entity_missing", "negation", "bad_citation",
                            "unsupported")


def _sources() -> Any:
    sources = REQUEST_SOURCES.get()
    if sources is None:
        raise RuleError(RuntimeCode.MISSING_ATTRIBUTE, "grounding reads the answer's sources, and the request carries none "
                        "(pass sources=[...], or check retrieval earlier in the same session)")
    return sources


def _node(cc: Any, strict: bool = False) -> DetectorNode:
    from guardrails.detectors.grounding.check import (
        check_grounding,  # the first policy that uses it
    )

    def run(c: Ctx) -> Any:
        return check_grounding(c.text, _sources(), getattr(c.rt, "grounding", None))

    def run_strict(c: Ctx) -> Any:
        return check_grounding(c.text, _sources(), getattr(c.rt, "grounding", None), strict=True)

    default = cc.node(DetectorNode(NODE_ID, TIER_CHEAP, run))  # always there: the engine keys sessions' sources on it
    return cc.node(DetectorNode(STRICT_NODE_ID, TIER_CHEAP, run_strict)) if strict else default


def _strict(e: ast.Call) -> bool:
    return any(k.name == "strict" and float(k.value.value) > 0 for k in e.kwargs)


def check_output_stage(fc: Any, e: ast.Call) -> None:
    """The sources exist in the output stage only."""
    stage = getattr(fc, "stage", "output")
    if stage != "output":
        fc.err("E303", f"{e.func}() checks an answer against its sources: it is available in the output stage, "
               f"not in {stage}", e.span, hint="move the rule into the output block")


def check_ungrounded(fc: Any, e: ast.Call) -> None:
    check_output_stage(fc, e)
    for a in e.args:
        if a.name not in REASONS:
            fc.err("E102", f"unknown grounding reason {a.name!r}", a.span,
                   hint=suggest(a.name, list(REASONS), "grounding reasons"))


def compile_grounding(cc: Any, e: ast.Call) -> Callable[[Ctx], Any]:
    from guardrails.detectors.grounding import findings

    node = _node(cc, _strict(e))

    def grounding(c: Ctx):
        result = c.detect(node)
        c.evidence.extend(findings(result))
        return result.score

    return grounding


def compile_grounded(cc: Any, e: ast.Call) -> Callable[[Ctx], Any]:
    from guardrails.detectors.grounding import findings

    node = _node(cc, _strict(e))
    min_share = next((float(k.value.value) for k in e.kwargs if k.name == "min_share"), 1.0)

    def grounded(c: Ctx):
        result = c.detect(node)
        c.evidence.extend(findings(result))
        return result.score >= min_share

    return grounded


def compile_ungrounded(cc: Any, e: ast.Call) -> Callable[[Ctx], Any]:
    from guardrails.detectors.grounding import findings

    reasons = frozenset(a.name for a in e.args) or None
    node = _node(cc, reasons is not None and "unsupported" in reasons)  # naming the content check turns it on

    def ungrounded(c: Ctx):
        hits = findings(c.detect(node), reasons)
        c.evidence.extend(hits)
        return bool(hits)

    return ungrounded
