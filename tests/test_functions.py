"""The builtin-function table is the one definition: the docs, the checker and
the compiler agree with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrails import Engine, checker, compiler, conditions, typecheck
from guardrails.diagnostics import PolicyError
from guardrails.functions import FUNCTIONS, NAME, markdown_table
from guardrails.rulegraph import TIER_PLAIN

DOC = Path(__file__).resolve().parent.parent / "docs" / "language.md"

# One call per builtin, in a rule of the stage it suits.
CALLS = {
    "pii": ("input", "pii()"),
    "topic": ("input", "topic(legal) > 0.5"),
    "secrets": ("input", "secrets(jwt)"),
    "banned": ("input", "banned(bad)"),
    "injection": ("input", "injection() >= 0.8"),
    "injected": ("retrieval", "injected(likely)"),
    "length": ("tool_call", "tool == \"t\" and length(args.items) > 2"),
    "lower": ("tool_call", "tool == \"t\" and lower(args.mode) == \"read\""),
    "upper": ("tool_call", "tool == \"t\" and upper(args.mode) == \"READ\""),
    "labelled": ("tool_call", "tool == \"t\" and labelled(seen, within=\"10m\")"),
    "calls": ("tool_call", "tool == \"t\" and calls(\"t\", within=\"1h\") < 5"),
    "occurred_since": ("tool_call", "tool == \"t\" and occurred_since(seen, \"t\")"),
    "repeats": ("tool_call", "tool == \"t\" and repeats() < 3"),
    "flows_from": ("output", "flows_from(seen)"),
    "over": ("tool_call", "tool == \"t\" and not over(lim)"),
    "grounding": ("output", "grounding() < 0.5"),
    "grounded": ("output", "not grounded(min_share=0.8)"),
    "ungrounded": ("output", "ungrounded(number_mismatch)"),
}


def _docs_table() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("\n## Functions\n"):]
    start = section.index("\n| function |") + 1
    return section[start:section.index("\n\n", start) + 1]


def test_docs_table_is_generated_from_the_registry():
    assert _docs_table() == markdown_table(), (
        "docs/language.md's function table differs from guardrails.functions.markdown_table(); "
        "paste the generated table into the doc")


def test_every_builtin_is_exercised_here():
    assert set(CALLS) == set(FUNCTIONS)


def test_the_checker_and_compiler_keep_no_second_list():
    assert typecheck.FUNCTIONS is FUNCTIONS and conditions.FUNCTIONS is FUNCTIONS
    assert not hasattr(checker, "DETECTOR_FUNCTIONS") and not hasattr(typecheck, "DETECTOR_FUNCTIONS")
    assert not [m for m in dir(typecheck.TypeChecker) if m.startswith("call_")]
    assert not [m for m in dir(compiler.StageCompiler) if m.startswith("f_")]


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_declared_tier_and_return_type_hold(name):
    fn = FUNCTIONS[name]
    stage, cond = CALLS[name]
    source = f"""policy "p" version "1.0.0"
topic legal {{ "lawsuit" 1.0 }}
terms bad = ["xyzzy"]
label seen
limit lim = 5 per "1m" by principal.id
tool_result {{ rule mark: label seen }}
{stage} {{ rule r: {"allow" if stage == "tool_call" else 'warn "m"'} when {cond} }}
"""
    engine = Engine.from_source(source)
    (rule,) = engine.get_policy().stages[stage].rules
    assert rule.tier == fn.tier
    assert fn.tier == TIER_PLAIN or rule.detectors


def test_registry_entries_are_well_formed():
    for fn in FUNCTIONS.values():
        assert fn.returns in ("bool", "number", "string")
        # an argument is a name, a value, or (a label or a tool) a name or a string
        for a in fn.args:
            assert a.kinds == (NAME,) or NAME not in a.kinds or a.kinds == (NAME, "string"), (fn.name, a)
        for o in fn.options:
            assert o.window or o.accepts(o.default)  # a window's default is "no window"


@pytest.mark.parametrize("call, message", [
    ("lower(text, text)", "lower() takes exactly one argument"),
    ("topic()", "topic() takes exactly one topic name"),
    ("banned(a, b)", "banned() takes exactly one terms list"),
    ("pii(\"EMAIL\")", "pii() takes names, not expressions"),
    ("pii(min_score=2)", "min_score is a number between 0 and 1"),
    ("length(text, foo=1) > 1", "length() has no option 'foo'"),
    ("injection(text) > 0.5", "injection() takes exactly no arguments"),
    ("injected()", "injected() takes exactly one injection level"),
    ("labelled(x, y)", "labelled() takes exactly one label"),
    ("labelled(\"x\")", "labelled() takes names, not expressions"),
    ("calls(args.tool) > 1", "calls() takes tool names written as strings"),
    ("occurred_since(x, text)", "occurred_since() takes the tool's name written as a string"),
    ("repeats(1) > 1", "repeats() takes exactly no arguments"),
])
def test_declared_checks_report_e302(call, message):
    with pytest.raises(PolicyError) as info:
        Engine.from_source(f'policy "p" version "1.0.0"\ninput {{ rule r: warn "m" when {call} }}\n')
    found = [(d.code, d.message) for d in info.value.diagnostics if d.is_error]
    assert ("E302", message) in found, found
