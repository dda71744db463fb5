"""The hand-written fast path of the parser reads text exactly as Lark does.

Lark with the tree-to-AST pass is the reference (``parser.lark_only``). For
every text the fast path accepts, the AST must equal Lark's field by field,
spans included (the AST's own equality ignores spans), and so must the
comments; the fast path must refuse what Lark refuses or reports on. The
texts: every policy and case source in the repository, mutations of them,
and generated rules that mix parentheses, keywords as names and layout.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.sections.rules import agnostic_policy
from guardrails import ast
from guardrails.diagnostics import Span
from guardrails.fastparse import fast_parse, frozen_builder
from guardrails.parser import MAX_NESTING, lark_only, parse

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = settings(deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _differences(a, b, path: str = "policy") -> list[str]:
    """Where two ASTs differ, spans included."""
    if type(a) is not type(b):
        return [f"{path}: {type(a).__name__} != {type(b).__name__}"]
    if isinstance(a, Span) or not dataclasses.is_dataclass(a):
        if isinstance(a, tuple) and not isinstance(a, Span):
            if len(a) != len(b):
                return [f"{path}: {len(a)} items != {len(b)}"]
            return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{path}[{i}]")]
        return [] if a == b else [f"{path}: {a!r} != {b!r}"]
    return [d for f in dataclasses.fields(a) for d in _differences(getattr(a, f.name), getattr(b, f.name),
                                                                    f"{path}.{f.name}")]


def _check(text: str, file: str = "t.policy") -> bool:
    """Compare the fast path with Lark on `text`; True when the fast path took it."""
    fast = fast_parse(text, file)
    with lark_only():
        ref = parse(text, file)
    if fast is None:
        return False
    policy, comments = fast
    assert not ref.diagnostics.items, f"fast path accepted text Lark reports on: {ref.diagnostics.items[:2]}"
    assert ref.policy is not None
    assert _differences(policy, ref.policy) == []
    assert [tuple(c) for c in comments] == [(c.line, c.col, c.text, c.offset) for c in ref.comments]
    return True


def _repository_sources() -> list[tuple[str, str]]:
    out = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8"))
           for p in sorted(ROOT.glob("policies/**/*.policy"))]
    for path in sorted([*ROOT.glob("tests/cases/*.yaml"), *ROOT.glob("policies/**/*.tests.yaml")]):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for i, case in enumerate(data.get("cases") or []):
            if isinstance(case, dict):
                for key in ("source", "policy"):
                    if isinstance(case.get(key), str) and "version" in case[key]:
                        out.append((f"{path.name}#{i}", case[key]))
                for name, text in (case.get("modules") or {}).items():
                    if isinstance(text, str):
                        out.append((f"{path.name}#{i}:{name}", text))
    return out


SOURCES = _repository_sources()


def test_every_repository_source_reads_the_same() -> None:
    taken = sum(_check(text, name) for name, text in SOURCES)
    # Most sources are clean rules and definitions: the fast path must take them,
    # or it is not the fast path.
    assert len(SOURCES) > 100
    assert taken > len(SOURCES) // 2, f"fast path took {taken} of {len(SOURCES)}"


def test_the_benchmark_policy_takes_the_fast_path() -> None:
    text = agnostic_policy(300)[0]
    assert _check(text)
    assert parse(text).policy == fast_parse(text, "<string>")[0]


@pytest.mark.parametrize("text", [
    # parentheses: the parent's span reaches out to them, the node's own does not
    'policy "p" version "1.0.0"\ninput {\n  rule a: deny "x" when (text contains "a") and ((not (lower(text) == "b")))\n}\n',
    'policy "p" version "1.0.0"\ntool_call { rule a: allow when (args).b["k"][0] == (1) unless (x) }\n',
    # when + unless, unless alone, label and escalate effects, redact forms
    'policy "p" version "1.0.0"\ntool_call {\n rule a: allow when a and b unless c or d\n rule b: label x, y unless z\n'
    ' rule c: escalate to "ops" "why"\n rule d: escalate to review when tool == "t"\n}\n',
    'policy "p" version "1.0.0"\ninput {\n rule a: redact [EMAIL_ADDRESS, PERSON,] above 0.5 using mask("*", 4)\n'
    ' rule b: redact secrets\n rule c: redact pattern p using hash()\n rule d: redact terms t using remove\n'
    ' rule e: redact contact\n}\n',
    # definitions, settings, imports, comments everywhere
    '# head\nmodule "m" version "1.2.3-rc.1" # trailing\nimport "x"\nconfig { on_error = "fail_open" list = [1, "a", true, null] }\n'
    'entities contact = [EMAIL_ADDRESS, PHONE_NUMBER,]\npattern p = /a\\/b+/i\ntools ro = ["search", other,]\n'
    'terms t = ["a", "b"]\nlabel tainted "why"\nlabel plain\nlimit l = 5 per "1m" by principal.id, args["k"]\n'
    'output { }\n',
    # keywords that Lark reads as names in their place
    'policy "p" version "1.0.0"\ninput { rule not: label when, rule\n rule b: allow when x matches and\n rule c: allow when x has in }\n',
    'policy "p" version "1.0.0"\ninput { rule a: deny "x" when args.in has or and f(k = 1, not x, -2.5e3) }\n',
    # CRLF and tabs
    'policy "p" version "1.0.0"\r\ninput {\r\n\trule a: deny "x" when text == "é"\r\n}\r\n',
])
def test_shapes(text: str) -> None:
    assert _check(text)


@pytest.mark.parametrize("text", [
    'policy "P" version "1.0.0"\n',  # E003: an invalid name
    'policy "p" version "1.0"\n',  # E003: not semver
    'policy "p" version "1.0.0"\ninput { rule a: deny "\\q" }\n',  # E002: a bad escape
    'policy "p" version "1.0.0"\ninput { rule a: deny "x" when args[1.5] }\n',  # E301
    'policy "p" version "1.0.0"\ninput { rule a: deny "x" when a == not }\n',  # Lark reads this `not` as a name
    'policy "p" version "1.0.0"\ninput { rule a: deny "x" when ' + "not " * (MAX_NESTING + 1) + "x }\n",
    'policy "p" version "1.0.0"\ninput { rule a: deny "x" when a' + ".b" * (MAX_NESTING + 1) + " }\n",
    'policy "p" version "1.0.0"\ninput { rule a: deny "x" when x = 1 }\n',  # E001
    'policy "p" version "1.0.0"\ntopic t { "a" 2 }\n',  # not covered: Lark reads it
])
def test_what_the_fast_path_leaves_to_lark(text: str) -> None:
    assert fast_parse(text, "t.policy") is None
    with lark_only():
        ref = parse(text)
    assert parse(text).diagnostics.items == ref.diagnostics.items
    assert _differences(parse(text).policy, ref.policy) == []


_NAMES = st.sampled_from(["a", "text", "args", "tool", "principal", "context", "has", "in", "x-y", "_z", "rule",
                          "not", "and", "true", "null", "matches", "label", "secrets", "using", "when"])
_LEAVES = st.one_of(_NAMES, st.sampled_from(['"s"', '"a\\"b"', "1", "-2", "0.5", "1e3", "[]", '[1, "a", null]',
                                             "/r+/i"]))
_SP = st.sampled_from([" ", "  ", "\n ", " # c\n ", "\t"])


@st.composite
def _expressions(draw, depth: int = 0):
    if depth > 3 or draw(st.integers(0, 3)) == 0:
        return draw(_LEAVES)
    inner = _expressions(depth + 1)
    shape = draw(st.sampled_from(["not {a}", "({a})", "{a}.{n}", '{a}["k"]', "{a}[2]", "{n}({a}, k = 1)", "{n}()",
                                  "{a} and{s}{b}", "{a} or {b}", "{a} == {b}", "{a} <= {b}", "{a} in {b}",
                                  "{a} not in {b}", "{a} matches /x/", "{a} matches {n}", "{a} contains {b}",
                                  "{a} starts_with {b}", "{a} has {n}", '{a} has "k"']))
    return shape.format(a=draw(inner), b=draw(inner), n=draw(_NAMES), s=draw(_SP))


@st.composite
def _policies(draw) -> str:
    effects = st.sampled_from(['deny "m"', "allow", 'warn "w"', "escalate to review", 'escalate to "r" "m"',
                               "label a, b", "redact x", "redact [A, B]", "redact secrets above 0.5 using mask"])
    rules = []
    for i in range(draw(st.integers(0, 3))):
        rule = f"rule r{i}:{draw(_SP)}{draw(effects)}"
        if draw(st.booleans()):
            rule += f" when{draw(_SP)}{draw(_expressions())}"
        if draw(st.booleans()):
            rule += f" unless {draw(_expressions())}"
        rules.append(rule)
    stage = draw(st.sampled_from(["input", "tool_call", "output"]))
    head = draw(st.sampled_from(['policy "p" version "1.0.0"\n', '# c\nmodule "m-1" version "0.1.0"  ']))
    return head + f"{stage} {{{draw(_SP)}" + draw(_SP).join(rules) + "\n}\n"


@settings(SETTINGS, max_examples=300)
@given(st.one_of(_policies(), st.sampled_from([t for _, t in SOURCES]).flatmap(
    lambda t: st.tuples(st.integers(0, len(t)), st.integers(0, 12), st.sampled_from(
        ["", " ", "(", ")", "not ", ".a", '"', "#", "\n", "rule", "and", "[", "]", ",", "==", "=", "é", "\\"]))
    .map(lambda m: t[:m[0]] + m[2] + t[m[0] + m[1]:]))))
def test_generated_and_mutated_texts_read_the_same(text: str) -> None:
    _check(text)


def test_frozen_builder_gives_the_class_itself_or_its_constructor() -> None:
    """fastparse builds spans, nodes (and the compiler its RuleNodes) as
    drafts of the same slots given the class: the result is an ordinary
    instance, equal to the constructor's. A class it cannot draft (here one
    with a __post_init__, and one whose fields are not the names given)
    keeps its constructor, so its own __init__ logic still runs."""
    make = frozen_builder(Span, "file", "line", "col", "end_line", "end_col", "start", "end")
    built = make("f", 1, 2, 3, 4, 5, 6)
    assert type(built) is Span and built == Span("f", 1, 2, 3, 4, 5, 6) and str(built) == "f:1:2"
    assert hash(built) == hash(Span("f", 1, 2, 3, 4, 5, 6))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.line = 9  # type: ignore[misc]
    assert "DRAFT" in make.__code__.co_names  # (drafted, not the constructor)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Doubled:
        a: int
        b: int = 0

        def __post_init__(self) -> None:
            object.__setattr__(self, "b", self.a * 2)

    assert frozen_builder(Doubled, "a", "b")(3, 0).b == 6
    node = frozen_builder(ast.Var, "span", "name")  # not its fields' order: the constructor, positionally
    assert "DRAFT" not in node.__code__.co_names


def test_syntax_nodes_are_drafted_and_come_out_as_their_class() -> None:
    """ast.py's nodes share a frozen base (_Node) whose __setattr__ raises:
    their drafts are subclasses that restore object's stores. What a draft
    becomes is the class itself, frozen, equal (span included) to what the
    constructor builds, and it pickles and copies as one."""
    import copy
    import pickle

    from guardrails import fastparse

    span = Span("f", 1, 2, 1, 9, 1, 8)
    for maker, args in ((fastparse._Var, ("a",)), (fastparse._Compare, ("==", ast.Var("a"), ast.Literal(1))),
                        (fastparse._And, ((ast.Var("a"), ast.Var("b")),)), (fastparse._Literal, ("x",)),
                        (fastparse._In, (ast.Var("a"), ast.Var("b"), True)),
                        (fastparse._Rule, ("r", ast.Allow(), None, span, span, None))):
        assert "DRAFT" in maker.__code__.co_names, maker
        built = maker(*args, span) if maker is not fastparse._Rule else maker(*args)
        cls = type(built)
        ref = cls(*args, span) if maker is not fastparse._Rule else cls(*args)
        assert cls.__module__ == "guardrails.ast" and not cls.__name__.endswith("Draft")
        assert built == ref and hash(built) == hash(ref) and repr(built) == repr(ref)
        assert all(getattr(built, n) == getattr(ref, n) for n in cls.__slots__)
        assert built.span is span
        with pytest.raises(dataclasses.FrozenInstanceError):
            built.span = None  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            del built.span  # type: ignore[misc]
        again = pickle.loads(pickle.dumps(built))
        assert type(again) is cls and again == built and again.span == span
        assert copy.deepcopy(built) == built
