"""`guardrails fmt`: canonical layout, comments kept, idempotent, meaning unchanged.

The golden pairs (input -> expected output) are data in
tests/cases/format.tests.yaml, run by tests/test_cases.py; here are the
properties, the refusals and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails.authoring.format import WIDTH, FormatError, format_source, format_text
from guardrails.parser import parse
from guardrails.testing import load_tests

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "policies").glob("*.policy"))
HEAD = 'policy "demo" version "1.0.0"\n'


def fmt(text: str) -> str:
    return format_text(text)


def same_policy(a: str, b: str) -> bool:
    # repr, not ==: dataclass equality has Literal(1) == Literal(1.0) == Literal(True).
    pa, pb = parse(a), parse(b)
    assert not pa.diagnostics.has_errors and not pb.diagnostics.has_errors
    return repr(pa.policy) == repr(pb.policy)


def comment_texts(text: str) -> Counter:
    return Counter(c.text.rstrip() for c in parse(text).comments)


def check_roundtrip(src: str) -> str:
    out = fmt(src)
    assert same_policy(src, out)
    assert comment_texts(src) == comment_texts(out)
    assert fmt(out) == out
    return out


# ---- layout of the pieces ------------------------------------------------------

GOLDEN = load_tests(ROOT / "tests" / "cases" / "format.tests.yaml")


@pytest.mark.parametrize("case", GOLDEN.cases, ids=lambda c: c.name)
def test_golden_inputs_keep_their_meaning_and_comments(case):
    # The case file pins each output; this checks what a golden pair cannot say.
    check_roundtrip(case.inline.source)


def test_fmt_refuses_rather_than_corrupts(monkeypatch):
    # Were a rendering bug to change the meaning, verification stops it before anything is written.
    import guardrails.authoring.format

    src = HEAD + "input { rule r: allow when x < 1 }"
    monkeypatch.setattr(guardrails.authoring.format, "format_expr", lambda e: "y")
    with pytest.raises(FormatError, match="would change the policy"):
        format_source(src)
    monkeypatch.setattr(guardrails.authoring.format, "format_expr", lambda e: "(")
    with pytest.raises(FormatError, match="does not parse"):
        format_source(src)


def test_infinite_number_outside_conditions():
    out = check_roundtrip(HEAD + "topic t { \"a\" 1e999 }\ninput { rule r: redact x above -1e999 }")
    assert 'topic t { "a" 1e999 }' in out and "above -1e999" in out


def test_strings_escapes_and_unicode():
    src = HEAD + r'''input {
  rule r: deny "say \"hi\"\n\t\\ \/ \u00e9 日本 \ud83d\ude00 \u2028" when x == "\ud83d\ude00"
}
'''
    out = check_roundtrip(src)
    assert '"say \\"hi\\"\\n\\t\\\\ / é 日本 😀 \u2028"' in out
    assert 'x == "😀"' in out
    out.encode("utf-8")
    # A lone surrogate escape is no text at all: E002, nothing to format.
    assert [d.code for d in format_source(src.replace('\\ude00"\n', '"\n')).diagnostics] == ["E002"]


def test_regex_slashes_and_flags():
    src = HEAD + r"pattern p = /a\/b\\\/c[\/]?/imx" + "\npattern q = /\\//\n"
    out = check_roundtrip(src)
    assert r"pattern p = /a\/b\\\/c[\/]?/imx" in out
    assert r"pattern q = /\//" in out


# ---- comments ---------------------------------------------------------------------


def test_comment_characters_kept_verbatim():
    src = HEAD + "input {\n  rule a: allow  # é \u2028 x \"# nested\" \\ /\n}\n"
    out = check_roundtrip(src)
    assert "# é \u2028 x \"# nested\" \\ /" in out


def test_trailing_comment_on_wrapped_rule_goes_on_its_last_line():
    cond = " and ".join(f"attribute_{i} == {i}" for i in range(8))
    out = check_roundtrip(HEAD + f"input {{ rule r: allow when {cond} # why\n}}")
    lines = out.splitlines()
    assert lines[-2].endswith("and attribute_7 == 7  # why")
    assert sum("# why" in line for line in lines) == 1


# ---- line breaking ------------------------------------------------------------


def _rule_lines(cond: str, effect: str = "allow") -> list[str]:
    out = check_roundtrip(HEAD + f"input {{\n rule r: {effect} when {cond}\n}}\n")
    return out.split("\n")[3:-2]


def test_short_rule_stays_on_one_line_up_to_the_width():
    name = "x" * (WIDTH - len("  rule r: allow when ") - len(" == 1"))
    (line,) = _rule_lines(f"{name} == 1")
    assert len(line) == WIDTH


# ---- errors -------------------------------------------------------------------------


@pytest.mark.parametrize("src, code", [
    (HEAD + "input { rule a: allow when x = 1 }", "E001"),
    (HEAD + 'input { rule a: deny "\\x" }', "E002"),
    ('policy "Bad Name" version "1"', "E003"),
    (HEAD + "input { rule a: allow when x[1.5] }", "E301"),
])
def test_input_with_errors_is_not_formatted(src, code):
    res = format_source(src, "p.policy")
    assert res.text is None and not res.ok and not res.changed
    assert code in {d.code for d in res.diagnostics}
    with pytest.raises(FormatError):
        format_text(src)


# ---- the example policies -------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_policies_round_trip(path):
    out = check_roundtrip(path.read_text(encoding="utf-8"))
    assert all(len(line) <= WIDTH for line in out.splitlines())


# ---- properties over generated policies -------------------------------------------------

KEYWORDS = sorted("""policy module version import config entities topic pattern tools terms input output
retrieval tool_call rule deny warn allow escalate to redact secrets above using when and or not in
matches contains starts_with ends_with has true false null tool_result label limit per by""".split())

# Names that cannot be read as a keyword anywhere; keywords are fine as names
# only where the parser expects nothing but a name (after `rule`, `.`, `has`...).
safe_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,7}", fullmatch=True).filter(lambda s: s not in KEYWORDS)
any_names = st.one_of(safe_names, st.sampled_from(KEYWORDS))
text_chars = st.characters(blacklist_categories=("Cs",))


@st.composite
def strings(draw):
    value = draw(st.one_of(st.text(text_chars, max_size=12),
                           st.sampled_from(["", 'a"b', "\\", "é 日本 😀", "a/b", "\u2028\x85"])))
    # No lone surrogate: its escape is E002 (tests/test_hardening.py).
    token = json.dumps(value, ensure_ascii=draw(st.booleans()))
    return token.replace("/", "\\/") if draw(st.booleans()) else token


numbers = st.from_regex(r"-?(\d{1,5}\.\d{0,3}|\.\d{1,3}|\d{1,6})([eE][+-]?\d{1,2})?", fullmatch=True)
ints = st.from_regex(r"-?\d{1,4}", fullmatch=True)
literals = st.one_of(strings(), numbers, st.sampled_from(["true", "false", "null", "1e999", "-1e999"]))
regexes = st.builds(
    lambda pieces, flags: "/" + "".join(pieces) + "/" + flags,
    st.lists(st.one_of(st.characters(blacklist_characters="/\\\n", blacklist_categories=("Cs",)),
                       st.builds(lambda c: "\\" + c, st.characters(blacklist_characters="\n",
                                                                    blacklist_categories=("Cs",)))),
             min_size=1, max_size=6),
    st.from_regex(r"[A-Za-z]{0,2}", fullmatch=True),
)


def commas(parts: list[list[str]], trailing: bool = False) -> list[str]:
    out: list[str] = []
    for i, p in enumerate(parts):
        if i:
            out.append(",")
        out += p
    return out + ([","] if trailing and parts else [])


@st.composite
def atoms(draw, depth):
    kind = draw(st.sampled_from(["lit", "var", "call", "list"] + (["paren"] if depth > 0 else [])))
    if kind == "lit":
        return [draw(literals)]
    if kind == "var":
        return [draw(safe_names)]
    if kind == "list":
        return ["[", *commas([[draw(literals)] for _ in range(draw(st.integers(0, 3)))]), "]"]
    if kind == "call":
        args = [draw(exprs(depth - 1)) if depth > 0 and draw(st.booleans()) else [draw(safe_names), "=", draw(literals)]
                for _ in range(draw(st.integers(0, 3)))]
        return [draw(safe_names), "(", *commas(args), ")"]
    return ["(", *draw(exprs(depth - 1)), ")"]


@st.composite
def operands(draw, depth):
    toks = draw(atoms(depth))
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            toks += [".", draw(any_names)]
        else:
            toks += ["[", draw(st.one_of(strings(), ints)), "]"]
    return toks


@st.composite
def predicate_nodes(draw, depth):
    left = draw(operands(depth))
    kind = draw(st.sampled_from(["operand", "cmp", "in", "not in", "regex", "pattern", "str", "has"]))
    if kind == "operand":
        return left
    if kind == "cmp":
        return left + [draw(st.sampled_from(["==", "!=", "<=", ">=", "<", ">"]))] + draw(operands(depth))
    if kind in ("in", "not in"):
        return left + kind.split() + draw(operands(depth))
    if kind == "regex":
        return left + ["matches", draw(regexes)]
    if kind == "pattern":
        return left + ["matches", draw(any_names)]
    if kind == "str":
        return left + [draw(st.sampled_from(["contains", "starts_with", "ends_with"]))] + draw(operands(depth))
    return left + ["has", draw(st.one_of(any_names, strings()))]


@st.composite
def not_exprs(draw, depth):
    nots = draw(st.integers(0, 2))
    return ["not"] * nots + draw(predicate_nodes(depth))


def chain(draw, op: str, strategy) -> list[str]:
    toks = draw(strategy)
    for _ in range(draw(st.integers(0, 2))):
        toks = toks + [op] + draw(strategy)
    return toks


@st.composite
def and_exprs(draw, depth):
    return chain(draw, "and", not_exprs(depth))


@st.composite
def exprs(draw, depth=2):
    return chain(draw, "or", and_exprs(depth))


@st.composite
def effects(draw):
    kind = draw(st.sampled_from(["deny", "warn", "allow", "escalate", "redact"]))
    if kind in ("deny", "warn"):
        return [kind, draw(strings())]
    if kind == "allow":
        return ["allow"]
    if kind == "escalate":
        toks = ["escalate", "to", draw(st.one_of(any_names, strings()))]
        return toks + ([draw(strings())] if draw(st.booleans()) else [])
    target = draw(st.sampled_from(["name", "list", "secrets", "pattern", "terms"]))
    toks = ["redact"] + {
        "name": lambda: [draw(safe_names)],
        "list": lambda: ["[", *commas([[draw(any_names)] for _ in range(draw(st.integers(1, 3)))],
                                      draw(st.booleans())), "]"],
        "secrets": lambda: ["secrets"],
        "pattern": lambda: ["pattern", draw(any_names)],
        "terms": lambda: ["terms", draw(any_names)],
    }[target]()
    if draw(st.booleans()):
        toks += ["above", draw(st.one_of(numbers, st.just("1e999")))]
    if draw(st.booleans()):
        toks += ["using", draw(any_names)]
        if draw(st.booleans()):
            toks += ["(", *commas([[draw(literals)] for _ in range(draw(st.integers(0, 2)))]), ")"]
    return toks


@st.composite
def rules(draw):
    toks = ["rule", draw(any_names), ":", *draw(effects())]
    if draw(st.booleans()):
        toks += ["when", *draw(exprs(draw(st.integers(0, 2))))]
    return toks


@st.composite
def items(draw):
    kind = draw(st.sampled_from(["import", "config", "entities", "topic", "pattern", "tools", "terms",
                                 "stage", "stage", "stage"]))
    if kind == "import":
        return ["import", draw(strings())]
    if kind == "config":
        settings_ = []
        for _ in range(draw(st.integers(0, 3))):
            if draw(st.booleans()):
                value = [draw(literals)]
            else:
                value = ["[", *commas([[draw(literals)] for _ in range(draw(st.integers(0, 3)))]), "]"]
            settings_ += [draw(safe_names), "=", *value]  # after a value, `and` would be a keyword
        return ["config", "{", *settings_, "}"]
    if kind == "entities":
        names = [[draw(any_names)] for _ in range(draw(st.integers(1, 4)))]
        return ["entities", draw(any_names), "=", "[", *commas(names, draw(st.booleans())), "]"]
    if kind == "topic":
        terms = [[draw(strings())] + ([draw(st.one_of(numbers, st.just("1e999")))] if draw(st.booleans()) else [])
                 for _ in range(draw(st.integers(1, 4)))]
        return ["topic", draw(any_names), "{", *commas(terms, draw(st.booleans())), "}"]
    if kind == "pattern":
        return ["pattern", draw(any_names), "=", draw(regexes)]
    if kind in ("tools", "terms"):
        values = [[draw(strings())] for _ in range(draw(st.integers(1, 4)))]
        return [kind, draw(any_names), "=", "[", *commas(values, draw(st.booleans())), "]"]
    stage = draw(st.sampled_from(["input", "output", "retrieval", "tool_call"]))
    body = [t for _ in range(draw(st.integers(0, 3))) for t in draw(rules())]
    return [stage, "{", *body, "}"]


comment_texts_ = st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=8)
gaps = st.one_of(
    st.just(" "), st.just(" "), st.just(" "),
    st.sampled_from(["  ", "\t", "\n", "\n\n", "\n\n\n  ", "\r\n", " \n  "]),
    st.builds(lambda lead, text, tail: f"{lead}#{text}\n{tail}",
              st.sampled_from(["", " ", "\n", "\n\n  "]), comment_texts_, st.sampled_from(["", "  ", "\n"])),
)


@st.composite
def policy_sources(draw):
    name = draw(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,8}", fullmatch=True))
    version = draw(st.sampled_from(["1.0.0", "0.2.10", "3.0.0-rc.1+build.7"]))
    toks = [draw(st.sampled_from(["policy", "module"])), json.dumps(name), "version", json.dumps(version)]
    for item in draw(st.lists(items(), max_size=6)):
        toks += item
    seps = draw(st.lists(gaps, min_size=len(toks) + 1, max_size=len(toks) + 1))
    before = seps[0] if "#" in seps[0] else ""
    return before + "".join(t + s for t, s in zip(toks, seps[1:]))


PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_generator_makes_valid_policies():
    @given(policy_sources())
    @settings(max_examples=100, deadline=None)
    def check(src):
        assert not parse(src).diagnostics.has_errors, src

    check()


@PROPERTY
@given(policy_sources())
def test_property_idempotent(src):
    out = fmt(src)
    assert fmt(out) == out
    # and tidy: one trailing newline, no trailing spaces, at most one blank line in a row
    assert out.endswith("\n") and not out.endswith("\n\n") and "\n\n\n" not in out
    assert not out.startswith("\n")
    assert all(line == line.rstrip() for line in out.split("\n"))


@PROPERTY
@given(policy_sources())
def test_property_same_ast(src):
    assert same_policy(src, fmt(src))


@PROPERTY
@given(policy_sources())
def test_property_comments_kept_exactly_once(src):
    assert comment_texts(fmt(src)) == comment_texts(src)


# ---- the command line ---------------------------------------------------------------------

UGLY = HEAD + "input {   rule a:allow when  (x)   # c\n}"
PRETTY = HEAD + "\ninput {\n  rule a: allow when x  # c\n}\n"
BROKEN = HEAD + "input {\n  rule a: allow when x = 1\n}\n"


def cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "guardrails.cli", "fmt", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, encoding="utf-8", timeout=60)


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "ugly.policy").write_text(UGLY, encoding="utf-8")
    (tmp_path / "sub" / "pretty.policy").write_text(PRETTY, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a policy", encoding="utf-8")
    return tmp_path


def test_cli_check_lists_files_that_would_change(tree):
    r = cli("--check", ".", cwd=tree)
    assert r.returncode == 1
    assert r.stdout.split() == ["ugly.policy"]
    assert "1 file(s) would be reformatted, 1 already formatted" in r.stderr
    assert (tree / "ugly.policy").read_text(encoding="utf-8") == UGLY


def test_cli_check_passes_on_formatted_files(tree):
    r = cli("--check", "sub", cwd=tree)
    assert (r.returncode, r.stdout) == (0, "")


def test_cli_rewrites_in_place(tree):
    r = cli(".", cwd=tree)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "formatted 1 file(s), 1 unchanged"
    assert (tree / "ugly.policy").read_text(encoding="utf-8") == PRETTY
    assert (tree / "sub" / "pretty.policy").read_text(encoding="utf-8") == PRETTY
    assert sorted(p.name for p in tree.iterdir()) == ["notes.txt", "sub", "ugly.policy"]  # no temp files left
    assert cli("--check", ".", cwd=tree).returncode == 0


def test_cli_diff_prints_without_writing(tree):
    r = cli("--diff", "ugly.policy", cwd=tree)
    assert r.returncode == 0
    assert r.stdout.startswith("--- ugly.policy\n+++ ugly.policy\n")
    assert "-input {   rule a:allow when  (x)   # c\n" in r.stdout and "+  rule a: allow when x  # c\n" in r.stdout
    assert (tree / "ugly.policy").read_text(encoding="utf-8") == UGLY


def test_cli_stdin_to_stdout(tmp_path):
    r = cli("-", cwd=tmp_path, stdin=UGLY)
    assert (r.returncode, r.stdout) == (0, PRETTY)
    r = cli("--check", "-", cwd=tmp_path, stdin=UGLY)
    assert (r.returncode, r.stdout.strip()) == (1, "<stdin>")
    assert cli("--check", "-", cwd=tmp_path, stdin=PRETTY).returncode == 0


def test_cli_syntax_error_leaves_the_file_alone(tree):
    bad = tree / "bad.policy"
    bad.write_text(BROKEN, encoding="utf-8")
    before = bad.stat().st_mtime_ns
    r = cli(".", cwd=tree)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "bad.policy:3:24: error[E001]" in r.stderr
    assert "   3 |   rule a: allow when x = 1\n" in r.stderr and "^" in r.stderr
    assert "1 with errors" in r.stderr
    assert bad.read_text(encoding="utf-8") == BROKEN and bad.stat().st_mtime_ns == before
    assert (tree / "ugly.policy").read_text(encoding="utf-8") == PRETTY  # the others are still formatted

    r = cli("-", cwd=tree, stdin=BROKEN)
    assert (r.returncode, r.stdout) == (1, "") and "error[E001]" in r.stderr and "Traceback" not in r.stderr


def test_cli_usage_errors(tmp_path):
    r = cli("missing.policy", cwd=tmp_path)
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "a.policy").write_text(PRETTY, encoding="utf-8")
    r = cli("-", "a.policy", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_cli_keeps_file_mode(tree):
    path = tree / "ugly.policy"
    path.chmod(0o640)
    assert cli("ugly.policy", cwd=tree).returncode == 0
    assert path.stat().st_mode & 0o777 == 0o640


def test_cli_internal_error_is_reported_without_traceback(tree, monkeypatch, capsys):
    import guardrails.authoring.format
    from guardrails.cli import main

    def boom(text, file):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(guardrails.authoring.format, "format_source", boom)
    assert main(["fmt", str(tree / "ugly.policy")]) == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: kaboom" in err and "Traceback" not in err
    assert (tree / "ugly.policy").read_text(encoding="utf-8") == UGLY
