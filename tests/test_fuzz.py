"""Fuzz targets for every parser of untrusted input (issue 15).

Each target feeds generated and mutated input to one reader and asserts that
it fails only with the product's own error types: never a RecursionError,
UnicodeError, TypeError or KeyError, never a hang. The budgets are fixed
(``max_examples``) and the runs derandomised, so CI runs the same cases every
time in well under a minute; ``pytest --hypothesis-show-statistics`` prints
how many ran.

* the policy parser and load pipeline: ``parse()`` never raises; loading
  raises only PolicyError; the formatter returns diagnostics or text;
* the test-file loader (``parse_tests``): never raises;
* the bundle reader (``verify_bytes``): never raises; a mutated bundle that
  still verifies holds the same files;
* the decision-log verifier: never raises; with the head and ``strict``, a
  log verifies only if it is byte for byte the one written;
* the sidecar's request conversion (bytes -> message -> engine request ->
  decision): only Refuse, ConversionError or UnknownPolicyError.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from guardrails import Engine, GuardrailsError, PolicyError
from guardrails.authoring.format import format_source
from guardrails.bundle import build_bundle
from guardrails.bundle.read import verify_bytes
from guardrails.decision_log import DecisionLog, read_log, verify_log
from guardrails.decision_log.chain import LogFormatError
from guardrails.diagnostics import Diagnostics
from guardrails.engine import UnknownPolicyError
from guardrails.parser import MAX_NESTING, parse
from guardrails.pipeline import load_sources
from guardrails.resolve import parse_source

POLICIES = Path(__file__).resolve().parent.parent / "policies"
FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def _mutations(data: bytes | str) -> st.SearchStrategy:
    """`data` with a few random edits: deletions, duplications, insertions, flips."""
    is_text = isinstance(data, str)
    alphabet = st.characters(codec=None) if is_text else st.integers(0, 255)
    noise = st.text(alphabet, max_size=8) if is_text else st.binary(max_size=8)

    @st.composite
    def mutate(draw):
        out = data
        for _ in range(draw(st.integers(1, 4))):
            n = len(out)
            i = draw(st.integers(0, n))
            j = draw(st.integers(i, min(n, i + 64)))
            how = draw(st.sampled_from(["delete", "duplicate", "insert", "flip", "truncate"]))
            if how == "delete":
                out = out[:i] + out[j:]
            elif how == "duplicate":
                out = out[:j] + out[i:j] + out[j:]
            elif how == "insert":
                out = out[:i] + draw(noise) + out[i:]
            elif how == "flip" and i < n:
                if is_text:
                    out = out[:i] + chr(ord(out[i]) ^ (1 << draw(st.integers(0, 6)))) + out[i + 1:]
                else:
                    out = out[:i] + bytes([out[i] ^ (1 << draw(st.integers(0, 7)))]) + out[i + 1:]
            elif how == "truncate":
                out = out[:i]
        return out

    return mutate()


# ---- the policy parser -------------------------------------------------------------

HEADER = 'policy "p" version "1.0.0"\n'
TOKENS = [
    "policy", "module", "version", "import", "config", "{", "}", "[", "]", "(", ")", ",", ":", "=", "==", "!=", "<",
    ">=", "rule", "r1", "r2", "deny", "warn", "allow", "escalate", "to", "redact", "label", "using", "mask", "above",
    "secrets", "pattern", "terms", "tools", "entities", "topic", "limit", "per", "by", "when", "and", "or", "not",
    "in", "matches", "contains", "starts_with", "ends_with", "has", "true", "false", "null", "input", "output",
    "retrieval", "tool_call", "tool_result", "text", "args", "tool", "principal", "context", "metadata", "result",
    ".", '"x"', '""', '"1.0.0"', '"1m"', '"\\ud800"', '"\\u0000"', '"a\\"b"', "/a+/i", "/(a+)+$/", "/[/", "0", "-1",
    "0.5", "1e999", "9" * 40, "EMAIL_ADDRESS", "PERSON", "NOPE", "pii", "banned", "lower", "length", "injected",
    "labelled", "calls", "likely", "on_error", '"fail_open"', "max_text_length", "log_keep", "# c\n", "\n", "\t",
    "\x00", "\x1b", "\ud800", "\u200b", "é",
]
EXPRESSIONS = st.recursive(
    st.sampled_from(["text", "true", "args.a", 'args["k"]', "principal.role", '"s"', "1", "tool", "context"]),
    lambda inner: st.one_of(
        st.builds("not {}".format, inner),
        st.builds("({})".format, inner),
        st.builds("lower({})".format, inner),
        st.builds("{}.a".format, inner),
        st.builds("{} and {}".format, inner, inner),
        st.builds("{} or {}".format, inner, inner),
        st.builds("{} == {}".format, inner, inner),
        st.builds("{} contains {}".format, inner, inner),
        st.builds("{} in [1, 2]".format, inner),
    ),
    max_leaves=MAX_NESTING + 20,
)
# Well-typed tool_call conditions, most of which load: the checker, the logic
# checks, the compiler and the formatter all get to run.
_STRINGS = st.recursive(st.sampled_from(["args.s", 'args["k"]', "principal.role", "tool", '"x"']),
                        lambda inner: st.builds("lower({})".format, inner) | st.builds("upper({})".format, inner),
                        max_leaves=8)
_TESTS = st.one_of(
    st.builds("{} == {}".format, _STRINGS, st.sampled_from(['"a"', '"refund"', "args.t"])),
    st.builds("{} contains {}".format, _STRINGS, st.sampled_from(['"a"', '"b"'])),
    st.builds("args.n {} {}".format, st.sampled_from(["<", "<=", ">", "==", "!="]), st.integers(-3, 10**6)),
    st.builds('tool in ["{}", "y"]'.format, st.sampled_from(["t", "x"])),
    st.sampled_from(["args has n", "principal has role", "banned(bad)", 'args.s matches /^[a-z]+$/', "true"]),
    st.integers(1, MAX_NESTING + 5).map(lambda n: "args" + ".a" * n + " == 1"),
)
CONDITIONS = st.recursive(_TESTS, lambda inner: st.one_of(
    st.builds("not {}".format, inner), st.builds("({})".format, inner),
    st.builds("{} and {}".format, inner, inner), st.builds("{} or {}".format, inner, inner)), max_leaves=40)


@st.composite
def _typed_policies(draw) -> str:
    effects = st.sampled_from(['deny "m"', 'allow', 'warn "w"', 'escalate to review', "label tainted",
                               'redact terms bad'])
    rules = "".join(f"  rule r{i}: {draw(effects)} when {c}\n"
                    for i, c in enumerate(draw(st.lists(CONDITIONS, min_size=1, max_size=4))))
    return HEADER + 'terms bad = ["drop table", "rm -rf"]\nlabel tainted\n' + f"tool_call {{\n{rules}}}\n"


@st.composite
def _policy_texts(draw) -> str:
    kind = draw(st.sampled_from(["tokens", "rules", "typed", "typed", "deep", "shipped"]))
    if kind == "typed":
        return draw(_typed_policies())
    if kind == "tokens":
        body = " ".join(draw(st.lists(st.sampled_from(TOKENS), max_size=60)))
        return (HEADER if draw(st.booleans()) else "") + body
    if kind == "rules":
        stage = draw(st.sampled_from(["input", "tool_call", "retrieval", "tool_result"]))
        conds = draw(st.lists(EXPRESSIONS, min_size=1, max_size=3))
        rules = "".join(f'  rule r{i}: deny "m" when {c}\n' for i, c in enumerate(conds))
        return HEADER + f"{stage} {{\n{rules}}}\n"
    if kind == "deep":
        n = draw(st.integers(MAX_NESTING - 3, 3000))
        piece = draw(st.sampled_from(["not ", "(", "lower(", ".a", '["a"]']))
        cond = {"not ": "not " * n + "true", "(": "(" * n + "true" + ")" * n,
                "lower(": "lower(" * n + "text" + ")" * n + ' == "a"'}.get(piece, "args" + piece * n + " == 1")
        return HEADER + f'tool_call {{\n  rule a: deny "x" when {cond}\n}}\n'
    name = draw(st.sampled_from(sorted(p.name for p in POLICIES.glob("*.policy"))))
    return draw(_mutations((POLICIES / name).read_text(encoding="utf-8")))


@settings(FUZZ, max_examples=400)
@given(_policy_texts())
@example(HEADER + "input {\n  rule a: deny \"x\" when " + "not " * 340 + "true\n}\n")
@example(HEADER + 'terms x = ["\\ud800"]\ninput { rule a: deny "x" when banned(x) }\n')
def test_fuzz_policy_parser(text: str) -> None:
    result = parse(text, "f.policy")  # never raises
    assert result.policy is not None or result.diagnostics.has_errors
    diags = Diagnostics()
    loaded = load_sources([parse_source(text, "f.policy", diags)], diags=diags)
    assert loaded.ok or any(d.is_error for d in loaded.diagnostics)
    codes = {d.code for d in loaded.diagnostics if d.is_error}
    event("loads" if loaded.ok else "E004" if "E004" in codes else "other errors")
    for d in loaded.diagnostics:
        d.render(text).encode("utf-8")  # printable, located
    formatted = format_source(text, "f.policy")
    if formatted.text is not None:
        assert parse(formatted.text).policy == result.policy


@settings(FUZZ, max_examples=60)
@given(_typed_policies() | _policy_texts())
def test_fuzz_engine_loads_or_raises_policy_error(text: str) -> None:
    try:
        engine = Engine.from_source(text, warm_up=False)
    except PolicyError as err:
        err.render().encode("utf-8")
        return
    except GuardrailsError as err:  # a module alone: nothing to evaluate
        assert "at least one policy" in str(err)
        return
    for p in engine.policies:
        for stage in p.stages:
            if stage in ("input", "output"):
                engine.check(stage, {"text": "some text"}, policy=p.name)
            elif stage == "tool_call":
                for args in ({"a": {"a": 1}, "k": "v"}, {"n": 7, "s": "drop table", "t": "a"}, {}):
                    event("decided " + engine.check(stage, {"tool": "t", "args": args}, policy=p.name).outcome.value)


# ---- the test-file loader -----------------------------------------------------------

TEST_KEYS = ["policy", "version", "source", "cases", "name", "stage", "text", "tool", "args", "principal",
             "chunks", "result", "expect", "outcome", "rules", "errors", "with", "todo", "session", "at", "steps",
             "repeat", "times", "modules", "context", "nope"]
YAML_SCALARS = st.one_of(st.sampled_from(["deny", "allow", "input", "tool_call", "support-bot", "1.0.0", "E001",
                                          "~", "null", "yes", "2024-01-01", ".nan", "-.inf", "0x1F", "1e999",
                                          "&a x", "*a", "!!binary AAAA", "!!python/object:os.system x",
                                          '"\\ud800"']),
                         st.text(max_size=12), st.integers(-5, 10**30))
YAML_VALUES = st.recursive(YAML_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(TEST_KEYS), inner, max_size=5)), max_leaves=25)


def _yaml(value, indent: int = 0) -> str:
    """Block-style YAML written here (yaml.dump would quote the tricky scalars away)."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "\n" + "".join(f"{pad}{k}: {_yaml(v, indent + 1)}\n" for k, v in value.items()).rstrip("\n")
    if isinstance(value, list):
        if not value:
            return "[]"
        return "\n" + "".join(f"{pad}- {_yaml(v, indent + 1).lstrip()}\n" for v in value).rstrip("\n")
    return str(value)


@st.composite
def _test_files(draw) -> str:
    kind = draw(st.sampled_from(["structured", "shipped", "text"]))
    if kind == "structured":
        return _yaml(draw(st.dictionaries(st.sampled_from(TEST_KEYS), YAML_VALUES, max_size=5))).lstrip("\n")
    if kind == "shipped":
        name = draw(st.sampled_from(sorted(p.name for p in POLICIES.glob("*.tests.yaml"))))
        return draw(_mutations((POLICIES / name).read_text(encoding="utf-8")[:6000]))
    return draw(st.text(st.sampled_from(list("ab:- \n[]{},'\"&*!|>#%@`?") + ["\t", "\ud800"]), max_size=200))


# Nesting is kept below PyYAML's recursion in this target: a test file nested a
# thousand levels deep still raises RecursionError from guardrails/testing/located.py
# (see test_a_deeply_nested_test_file_is_an_error below).
@settings(FUZZ, max_examples=300)
@given(_test_files())
def test_fuzz_test_file_loader(text: str) -> None:
    from guardrails.testing.schema import parse_tests

    tests = parse_tests(text, "f.tests.yaml")  # never raises
    event("cases read" if tests.cases else "no cases")
    for d in tests.diagnostics:
        d.render(text).encode("utf-8")


def test_a_deeply_nested_test_file_is_an_error() -> None:
    from guardrails.testing.schema import parse_tests

    tests = parse_tests("cases: " + "[" * 3000 + "]" * 3000, "f.tests.yaml")
    assert [d.code for d in tests.diagnostics] == ["T001"]


# ---- the bundle reader ---------------------------------------------------------------------


@lru_cache(maxsize=1)
def _bundle() -> tuple[bytes, dict[str, bytes]]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        (src / "p.policy").write_text(HEADER + 'input { rule a: deny "x" when text contains "zz" }\n')
        (src / "p.tests.yaml").write_text("policy: p\ncases:\n  - {name: a, stage: input, text: zz, expect: deny}\n")
        out = Path(tmp) / "b.bundle"
        result = build_bundle(src, out, built_at="2026-01-01T00:00:00Z", revision="r1")
        assert result.ok, result.diagnostics
        data = out.read_bytes()
    bundle = verify_bytes(data, "b.bundle")
    assert bundle.ok
    return data, bundle.files


@st.composite
def _bundle_bytes(draw) -> bytes:
    data, _ = _bundle()
    kind = draw(st.sampled_from(["mutated", "mutated", "inner", "random"]))
    if kind == "random":
        return draw(st.binary(max_size=600))
    if kind == "inner":
        import gzip

        inner = gzip.decompress(data)
        return gzip.compress(draw(_mutations(inner)), mtime=0)
    return draw(_mutations(data))


@settings(FUZZ, max_examples=400)
@given(_bundle_bytes())
def test_fuzz_bundle_reader(data: bytes) -> None:
    bundle = verify_bytes(data, "f.bundle")  # never raises
    event("verifies" if bundle.ok else "refused")
    if bundle.ok:
        assert bundle.files == _bundle()[1]


# ---- the decision-log verifier -----------------------------------------------------------


@lru_cache(maxsize=1)
def _log() -> tuple[bytes, str]:
    import tempfile

    engine_src = HEADER + ('tool_call {\n  rule ok: allow when tool == "t" and args.n <= 5\n'
                           '  rule big: deny "big" when args.n > 100\n}\n')
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.jsonl"
        with DecisionLog(path) as log:
            engine = Engine.from_source(engine_src, warm_up=False, decision_log=log)
            log.bind(engine)
            for n in (1, 500, 3, 7):
                engine.check_tool_call("t", {"n": n, "note": "é"})
        data = path.read_bytes()
        head = verify_log(path).head
    return data, head


@st.composite
def _log_bytes(draw) -> bytes:
    data, _ = _log()
    lines = data.split(b"\n")[:-1]
    kind = draw(st.sampled_from(["bytes", "lines", "reserialise"]))
    if kind == "bytes":
        return draw(_mutations(data))
    if kind == "lines":
        ops = draw(st.lists(st.tuples(st.sampled_from(["drop", "dup", "swap", "junk"]),
                                      st.integers(0, len(lines) - 1), st.integers(0, len(lines) - 1)),
                            min_size=1, max_size=3))
        for op, i, j in ops:
            if not lines:
                break
            i, j = i % len(lines), j % len(lines)
            if op == "drop":
                del lines[i]
            elif op == "dup":
                lines.insert(j, lines[i])
            elif op == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(i, draw(st.sampled_from([b"{}", b"[]", b"null", b'{"hash": 1}', b"\xff", b"NaN",
                                                      b"[" * 5000, b'{"a":1,"a":2}'])))
        return b"\n".join(lines) + b"\n"
    i = draw(st.integers(0, len(lines) - 1))
    rec = json.loads(lines[i])
    style = draw(st.sampled_from(["spaces", "crlf", "dup", "unicode", "order"]))
    if style == "spaces":
        lines[i] = json.dumps(rec, sort_keys=True).encode()
    elif style == "crlf":
        lines[i] += b"\r"
    elif style == "dup":
        lines[i] = lines[i].replace(b"{", b'{"outcome":"allow",', 1)
    elif style == "unicode":
        lines[i] = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    else:
        lines[i] = json.dumps(dict(reversed(list(rec.items()))), separators=(",", ":")).encode()
    return b"\n".join(lines) + b"\n"


@settings(FUZZ, max_examples=400)
@given(_log_bytes())
def test_fuzz_log_verifier(data: bytes) -> None:
    import tempfile

    original, head = _log()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.jsonl"
        path.write_bytes(data)
        result = verify_log(path, strict=True, expect_head=head)  # never raises
        event("verifies" if result.ok else "refused")
        if result.ok:
            assert data == original  # nothing else verifies against the head
        try:
            for _ in read_log(path):
                pass
        except LogFormatError as exc:
            assert re.search(r":\d+: ", str(exc))


# ---- the sidecar's request conversion ---------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers(-(2**60), 2**60) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=15,
)


def _nested(depth: int) -> dict:
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value  # type: ignore[return-value]


@lru_cache(maxsize=1)
def _sidecar_engine() -> Engine:
    src = HEADER + ('terms t = ["drop table"]\n'
                    'input { rule a: deny "x" when banned(t) or text matches /(a|b)+c/ }\n'
                    'retrieval { rule r: deny "x" when banned(t) }\n'
                    'tool_call {\n  rule ok: allow when tool == "t" and args has n and args.n <= 5\n'
                    '  rule deep: deny "x" when banned(t)\n}\n'
                    'tool_result { rule tr: deny "x" when banned(t) }\n')
    return Engine.from_source(src, warm_up=False)


@st.composite
def _wire_requests(draw) -> tuple[str, bytes]:
    from guardrails.sidecar import convert

    stage = draw(st.sampled_from(["input", "output", "retrieval", "tool_call", "tool_result"]))
    value = draw(st.one_of(JSON_VALUES, st.integers(30, 90).map(_nested)))
    maps = st.one_of(st.none(), st.dictionaries(st.text(max_size=4), JSON_VALUES, max_size=3),
                     st.just({"deep": value}))
    request: dict = {"context": draw(maps)}
    if stage in ("input", "output"):
        request["text"] = draw(st.text(max_size=40))
    elif stage == "retrieval":
        request["chunks"] = draw(st.lists(st.fixed_dictionaries({"text": st.text(max_size=10), "metadata": maps}),
                                          max_size=3))
    else:
        request["tool"] = draw(st.sampled_from(["t", "x", ""]))
        request["args"] = draw(maps)
        request["principal"] = draw(maps)
        if stage == "tool_result":
            request["result"] = value
    if draw(st.booleans()):
        request["session"] = draw(st.text(min_size=1, max_size=8))
    policy = draw(st.sampled_from([None, "p", "p@1.0.0", "nope", "p@9"]))
    try:
        msg = convert.request_from_engine(stage, request, policy=policy)
    except (convert.ConversionError, ValueError):
        # No faithful wire form (an empty tool, NaN, a huge integer): send the
        # plain fields a client could still send.
        plain = {k: v for k, v in request.items() if k in ("text", "tool", "session")}
        msg = _message_class(stage)(policy=policy or "", **plain)
    raw = msg.SerializeToString()
    if draw(st.booleans()):
        raw = draw(_mutations(raw))
    return stage, raw


@settings(FUZZ, max_examples=500)
@given(_wire_requests())
def test_fuzz_sidecar_request_conversion(wire: tuple[str, bytes]) -> None:
    from guardrails.sidecar.admission import Refuse
    from guardrails.sidecar.admission import parse as parse_message
    from guardrails.sidecar.convert import ConversionError, request_to_engine

    stage, raw = wire
    cls = _message_class(stage)
    try:
        msg = parse_message(cls, raw)
        request, policy = request_to_engine(stage, msg)
    except (Refuse, ConversionError) as exc:
        event(f"refused: {type(exc).__name__}")
        return
    try:
        decision = _sidecar_engine().check(stage, request, policy=policy)
    except UnknownPolicyError:
        event("unknown policy")
        return
    event("invalid-request" if decision.request_error else "decided")
    decision.model_dump_json()


def _message_class(stage: str):
    from guardrails.sidecar._proto import guardrails_pb2 as pb

    return {"input": pb.CheckInputRequest, "output": pb.CheckOutputRequest, "retrieval": pb.CheckRetrievalRequest,
            "tool_call": pb.CheckToolCallRequest, "tool_result": pb.CheckToolResultRequest}[stage]
