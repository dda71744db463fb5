"""combine_plain, the memo's combination, gives what combine gives, and
combine_picked (an indexed set's) what combine_plain gives.

The memo of a generated rule set (evaluate.memo_entry) combines a set of
rules that fired without spans, none failing, with combine_plain, which
reads the outcome off the effects present instead of building combine's
lists. Every mix of effects, stages, defaults and orders is compared here.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.evaluate import (
    _Run,
    combine,
    combine_picked,
    combine_plain,
    kept_labels,
    labels_of_rules,
)
from guardrails.rule_index import rule_record
from guardrails.rulegraph import TIER_PLAIN, RuleNode

EFFECTS = ("allow", "deny", "escalate", "redact", "warn", "label")


def _rule(k: int, effect: str) -> RuleNode:
    return RuleNode(qid=f"r{k:03d}", effect=effect, message=None if k % 3 else f"message {k}",
                    route=f"route-{k}" if effect == "escalate" else None, cond=None, tier=TIER_PLAIN, detectors=(),
                    redact=None, tools=None, origin="test", source_text="always", location=f"p.guard:{k}:3",
                    labels=("risky",) if effect == "label" else ())


RULES = [_rule(k, EFFECTS[k % len(EFFECTS)]) for k in range(60)]


@settings(max_examples=400, deadline=None, derandomize=True)
@given(picked=st.lists(st.sampled_from(RULES), max_size=8, unique_by=lambda r: r.qid),
       stage=st.sampled_from(["tool_call", "input", "output", "tool_result"]),
       tool_default=st.sampled_from(["deny", "allow"]), tool=st.sampled_from(["send", None]))
def test_combine_plain_gives_what_combine_gives(picked, stage, tool_default, tool) -> None:
    fired = [(r, ()) for r in picked]  # in any order: combine sorts them by rule id
    c = combine(_Run(list(fired), []), stage=stage, fail_closed=True, tool_default=tool_default, tool=tool)
    outcome, violations, route = combine_plain(sorted(picked, key=lambda r: r.qid), stage, tool_default, tool)
    assert (outcome, violations, route) == (c.outcome, c.violations, c.route)
    assert [v.rule for v in violations] == [v.rule for v in c.violations]


def test_a_deny_lists_warnings_not_allows() -> None:
    deny, allow, warn = _rule(1, "deny"), _rule(2, "allow"), _rule(3, "warn")
    outcome, violations, route = combine_plain([deny, allow, warn], "tool_call", "deny", "send")
    assert outcome.value == "deny" and [v.rule for v in violations] == ["r001", "r003"] and route is None


@settings(max_examples=400, deadline=None, derandomize=True)
@given(groups=st.lists(st.lists(st.tuples(st.sampled_from(RULES), st.booleans()), min_size=1, max_size=3),
                       max_size=5),
       tool_default=st.sampled_from(["deny", "allow"]), tool=st.sampled_from(["send", None]),
       data=st.data())
def test_combine_picked_gives_what_combine_plain_gives(groups, tool_default, tool, data) -> None:
    """Groups of rules (a rule in at most one group that fired), each with
    the rules that fired as its mask; the key lists the groups that fired,
    in any order (the dispatch lists them by indexed path)."""
    seen: set[str] = set()
    records, key, fired = [], [], []
    for group in groups:
        group = [(r, hit) for r, hit in group if r.qid not in seen]
        seen.update(r.qid for r, _ in group)
        records.append(tuple(rule_record(r) for r, _ in group))
        mask = sum(1 << i for i, (_, hit) in enumerate(group) if hit)
        if mask:
            key.append((len(records) - 1, mask))
            fired += [r for r, hit in group if hit]
    key = data.draw(st.permutations(key))
    rules = sorted(fired, key=lambda r: r.qid)
    outcome, violations, route = combine_plain(rules, "tool_call", tool_default, tool)
    labels = labels_of_rules(rules)
    got = combine_picked(tuple(records), tuple(x for pair in key for x in pair), tool_default, tool)
    assert got == (outcome, tuple(violations), route, tuple(kept_labels(outcome, labels)), labels)
    assert all(a is b for a, b in zip(got[1], violations))  # the very shared violations
