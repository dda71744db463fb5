"""Rule and branch coverage of a compiled policy from the hits its cases recorded."""

from __future__ import annotations

import re

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class BranchCoverage:
    index: int
    source: str
    seen_true: bool
    seen_false: bool

    @property
    def covered(self) -> bool:
        return self.seen_true and self.seen_false


@dataclass(frozen=True, slots=True)
class RuleCoverage:
    stage: str
    rule: str
    span: Any
    fired: bool
    branches: tuple[BranchCoverage, ...]
    always_true: int = 0  # branches the tool index makes constant; not counted


@dataclass(frozen=True, slots=True)
class PolicyCoverage:
    name: str
    version: str
    rules: tuple[RuleCoverage, ...]

    @property
    def rules_covered(self) -> int:
        return sum(r.fired for r in self.rules)

    @property
    def branches_total(self) -> int:
        return sum(len(r.branches) for r in self.rules)

    @property
    def branches_covered(self) -> int:
        return sum(b.covered for r in self.rules for b in r.branches)

    @property
    def branches_fixed(self) -> int:
        return sum(r.always_true for r in self.rules)

    @property
    def rule_percent(self) -> float:
        return _percent(self.rules_covered, len(self.rules))

    @property
    def branch_percent(self) -> float:
        return _percent(self.branches_covered, self.branches_total)

    def to_json(self) -> dict:
        def where(r: RuleCoverage) -> dict:
            s = r.span
            return {"file": s.file, "line": s.line, "col": s.col} if s is not None else {}

        return {
            "policy": self.name, "version": self.version,
            "rules": {"covered": self.rules_covered, "total": len(self.rules), "percent": self.rule_percent},
            "branches": {"covered": self.branches_covered, "total": self.branches_total,
                         "percent": self.branch_percent, "not_counted": self.branches_fixed},
            "uncovered_rules": [{"rule": r.rule, "stage": r.stage, **where(r)} for r in self.rules if not r.fired],
            "uncovered_branches": [
                {"rule": r.rule, "stage": r.stage, "index": b.index, "source": b.source,
                 "seen_true": b.seen_true, "seen_false": b.seen_false, **where(r)}
                for r in self.rules for b in r.branches if not b.covered
            ],
        }


def _percent(n: int, total: int) -> float:
    return round(100.0 * n / total, 1) if total else 100.0


def policy_coverage(policy: Any, hits: set[tuple]) -> PolicyCoverage:
    """Coverage of one compiled policy from (stage, rule, branch, bool) hits.
    Needs a coverage build (``Engine.from_path(..., coverage=True)``)."""
    rules = []
    for stage, graph in policy.stages.items():
        for r in graph.rules:
            fixed = _fixed_by_tool_index(r) if stage == "tool_call" else frozenset()
            branches = tuple(
                BranchCoverage(i, src, (stage, r.qid, i, True) in hits, (stage, r.qid, i, False) in hits)
                for i, src in enumerate(r.branches) if i not in fixed
            )
            rules.append(RuleCoverage(stage, r.qid, r.span, (stage, r.qid, -1, True) in hits, branches,
                                      len(fixed)))
    return PolicyCoverage(policy.name, policy.version, tuple(rules))


_TOOL_TEST = r'tool (?:in [A-Za-z_][\w-]*|in \[[^\]]*\]|== "(?:[^"\\]|\\.)*")'
_TOOL_ONLY = re.compile(rf"{_TOOL_TEST}(?: or {_TOOL_TEST})*")


def _fixed_by_tool_index(rule: Any) -> frozenset[int]:
    """Branches that can never be false: a tool-call rule runs only for the
    tools its condition requires (the compiler's tool index), so in
    `tool in refunds and ...` the test `tool in refunds` is always true.
    Found by evaluating the condition once per indexed tool; such branches
    are left out of branch coverage rather than reported as gaps forever."""
    if rule.tools is None or rule.cond is None:
        return frozenset()
    from guardrails.rulegraph import Ctx

    seen_true: set[int] = set()
    seen_false: set[int] = set()
    for tool in rule.tools:
        cov: set = set()
        ctx = Ctx("", {"tool": tool, "args": {}, "principal": {}, "context": {}}, None, None, cov)
        try:
            rule.cond(ctx)
        except Exception:  # later parts may need data the probe lacks; the tool tests ran first
            pass
        for _, i, v in cov:
            (seen_true if v else seen_false).add(i)
    # A test of the tool alone (`tool in g`, `tool == "t"`, or several joined
    # by `or`) that no indexed tool makes false: under the index it cannot be.
    # The last of `tool in a or tool in b` is only reached for b's tools.
    return frozenset(
        i for i, src in enumerate(rule.branches)
        if _TOOL_ONLY.fullmatch(src) and i in seen_true and i not in seen_false
    )
