"""Generated decisions (guardrails.codegen) decide as the interpreter does.

The interpreter (the closures, walked by run_rules) is the reference: an
``explain`` build takes it, since it records every rule's visit. Policies
and requests are generated: conditions over attributes that may be missing,
of the wrong kind or nested, so the errors (missing-attribute, type-error)
and the fail-closed / fail-open combining are exercised as often as a rule
that fires.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from guardrails import Engine
from guardrails.decision import Decision

HEADER = 'policy "cg" version "1.0.0"\n'
PROPS = settings(max_examples=100, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

TOOLS = ["pay", "read", "admin_op", "other"]
PATHS = ["principal.role", "principal.suspended", "principal.id", "principal.meta.level", "args.amount",
         "args.target", "args.note", "context.env", "context.flag", "context.ticket", "tool"]
VALUES = ['"admin"', '"dev"', '"prod"', '"u1"', "5", "100", "0.5", "-3", "true", "false", "null"]
NUMBERS = ["0", "5", "100", "0.5", "-3"]
LISTS = ['["admin", "dev"]', '["prod", "staging", "u1"]', "[1, 2, 5]", '["x", 1, true]', "[]"]

paths = st.sampled_from(PATHS)
atoms = st.one_of(
    st.builds(lambda p, op, v: f"{p} {op} {v}", paths, st.sampled_from(["==", "!="]), st.sampled_from(VALUES)),
    st.builds(lambda v, p: f"{v} == {p}", st.sampled_from(VALUES), paths),
    st.builds(lambda p, op, n: f"{p} {op} {n}", paths, st.sampled_from(["<", "<=", ">", ">="]),
              st.sampled_from(NUMBERS)),
    st.builds(lambda p, op, q: f"{p} {op} {q}", paths, st.sampled_from(["<", ">=", "==", "!="]), paths),
    st.builds(lambda p, neg, xs: f"{p} {neg}in {xs}", paths, st.sampled_from(["", "not "]), st.sampled_from(LISTS)),
    st.builds(lambda neg: f"tool {neg}in payments", st.sampled_from(["", "not "])),
    st.builds(lambda p, q: f"{p} in {q}", paths, paths),
    st.builds(lambda p, k: f"{p} has {k}", st.sampled_from(["context", "principal", "args", "principal.meta"]),
              st.sampled_from(["ticket", "role", "level", "amount"])),
    paths,
    st.builds(lambda p, op, s: f'{p} {op} "{s}"', paths, st.sampled_from(["contains", "starts_with", "ends_with"]),
              st.sampled_from(["a", "pro", "1"])),
    st.builds(lambda p: f"length({p}) > 2", paths),
    st.builds(lambda t: f'tool == "{t}"', st.sampled_from(TOOLS)),
)
conditions = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.builds(lambda xs: " and ".join(f"({x})" for x in xs), st.lists(inner, min_size=2, max_size=4)),
        st.builds(lambda xs: " or ".join(f"({x})" for x in xs), st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda x: f"not ({x})", inner),
    ),
    max_leaves=6,
)
effects = st.sampled_from(["allow", 'deny "no"', 'escalate to review "look"', 'warn "hm"', "label risky"])
# A deny that always fires would make the checker refuse the policy (E502): only the others may lack a condition.
rules = st.lists(st.one_of(st.tuples(effects, conditions),
                           st.tuples(st.sampled_from(["allow", 'warn "hm"', "label risky"]), st.none())),
                 min_size=1, max_size=8)


def _source(tool_rules, input_rules, on_error: str, tool_default: str) -> str:
    body = [f'config {{ on_error = "{on_error}" tool_default = "{tool_default}" }}',
            'tools payments = ["pay", "refund"]', "label risky", "tool_call {"]
    for i, (effect, cond) in enumerate(tool_rules):
        body.append(f"  rule r{i}: {effect}" + (f" when {cond}" if cond else ""))
    for stage in ("input", "retrieval"):
        body += ["}", stage + " {"]
        for i, (effect, cond) in enumerate(input_rules):
            if effect == "allow":
                effect = 'warn "w"'  # the text stages have no allow
            cond = (cond or "true").replace("tool", "context.tool").replace("args", "context").replace(
                "principal", "context")
            body.append(f"  rule {stage[:2]}{i}: {effect} when {cond}")
    body.append("}")
    return HEADER + "\n".join(body) + "\n"


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10, 200), st.sampled_from([0.5, 100.0, -3.0]),
                      st.sampled_from(["admin", "dev", "prod", "u1", "abc", "pro1", ""]))
json_value = st.recursive(json_leaf, lambda c: st.one_of(st.lists(c, max_size=3),
                                                          st.dictionaries(st.sampled_from(["level", "x"]), c,
                                                                          max_size=2)), max_leaves=5)
maps = st.dictionaries(st.sampled_from(["role", "suspended", "id", "meta", "amount", "target", "note", "env",
                                        "flag", "ticket", "level", "tool"]), json_value, max_size=6)
requests = st.fixed_dictionaries({"tool": st.sampled_from(TOOLS), "args": maps,
                                  "principal": st.one_of(st.none(), maps), "context": st.one_of(st.none(), maps)})


def _engine(source: str) -> Engine | None:
    try:
        return Engine.from_source(source)
    except Exception:  # a generated policy the checker refuses (a constant test, a type clash)
        return None


def _same(compiled: Decision, interpreted: Decision) -> None:
    assert compiled.outcome is interpreted.outcome
    assert compiled.rule_ids == interpreted.rule_ids
    assert compiled.violations == interpreted.violations  # messages, routes, errors, locations
    assert compiled.errors == interpreted.errors  # codes and messages, word for word
    assert json.dumps(compiled.text, sort_keys=True) == json.dumps(interpreted.text, sort_keys=True)
    assert (compiled.route, compiled.labels) == (interpreted.route, interpreted.labels)


def _mask_matches_trace(f, r: dict, interpreted: Decision) -> None:
    """A mask-form function (tool_call rules that read only the request's
    values) fails exactly when the interpreter saw a rule fail, and else sets
    the bits of exactly the rules that fired: evaluate_tool_call trusts its
    mask, and defers to the interpreter on -1."""
    if not f.mask_form:
        return
    mask = f(r["tool"], r["args"] or {}, r["principal"] or {}, r["context"] or {})
    statuses = {s.rule: s.status for s in interpreted.trace}
    if mask < 0:
        assert "error" in statuses.values()
        return
    assert "error" not in statuses.values()
    assert {rule.qid for i, rule in enumerate(f.rules) if mask >> i & 1} == {
        q for q, status in statuses.items() if status == "fired"}
    assert {rule.qid for rule in f.rules} == set(statuses)


@PROPS
@given(tool_rules=rules, input_rules=rules, on_error=st.sampled_from(["fail_closed", "fail_open"]),
       tool_default=st.sampled_from(["deny", "allow"]), reqs=st.lists(requests, min_size=1, max_size=5))
def test_compiled_and_interpreted_decide_alike(tool_rules, input_rules, on_error, tool_default, reqs):
    engine = _engine(_source(tool_rules, input_rules, on_error, tool_default))
    assume(engine is not None)
    graph = engine.get_policy().stages["tool_call"]
    assert graph.code is not None  # every rule here is plain: the stage is compiled
    for r in reqs:
        assert graph.compiled_for(r["tool"]) is not None
        compiled = engine.check_tool_call(r["tool"], r["args"], principal=r["principal"], context=r["context"])
        interpreted = engine.check_tool_call(r["tool"], r["args"], principal=r["principal"], context=r["context"],
                                             explain=True)
        _same(compiled, interpreted)
        _mask_matches_trace(graph.compiled_for(r["tool"]), r, interpreted)
        context = r["context"]
        compiled = engine.check_input("some text", context=context)
        interpreted = engine.check_input("some text", context=context, explain=True)
        _same(compiled, interpreted)
        compiled = engine.check_retrieval(["one", {"text": "two"}], context=context)
        interpreted = engine.check_retrieval(["one", {"text": "two"}], context=context, explain=True)
        _same(compiled, interpreted)
        assert compiled.chunks == interpreted.chunks  # each chunk's outcome and forwarded text


BENCH = """
policy "b" version "1.0.0"
tools payments = ["issue_refund", "void_charge"]
tool_call {
  rule small: allow when tool in payments and args.amount <= 100
  rule mgr: allow when tool in payments and principal.role == "manager" and not (context has ticket)
  rule sus: deny "suspended" when principal.suspended
  rule mail: redact [EMAIL_ADDRESS]
}
output {
  rule flag: deny "flagged" when context.flagged
}
"""


@pytest.fixture(scope="module")
def bench() -> Engine:
    return Engine.from_source(BENCH)


def test_the_source_is_marked_generated_and_names_each_rule(bench) -> None:
    code = bench.get_policy().stages["output"].code
    assert code is not None and "Generated by guardrails.codegen; do not edit." in code.source
    assert "# rule flag: context.flagged" in code.source
    assert "def decide_output(roots):" in code.source  # its rule reads only the request's values


def test_a_set_that_calls_a_closure_takes_the_ctx_and_decides_alike() -> None:
    """A rule the generator does not inline (a function call) is called as a
    closure on the Ctx: that set's function takes the Ctx, a set of plain
    reads takes the request's values alone, and both decide as the interpreter."""
    engine = Engine.from_source(HEADER + 'tool_call {\n  rule a: allow when tool == "pay" and length(args.note) > 2\n'
                                '  rule b: allow when tool == "read" and principal.role == "admin"\n}\n')
    graph = engine.get_policy().stages["tool_call"]
    pay, read = graph.compiled_for("pay"), graph.compiled_for("read")
    assert (pay.on_roots, pay.mask_form) == (False, False) and read.mask_form is True
    assert "def decide_tool_call__pay(ctx):" in graph.code.source
    assert "def decide_tool_call__read(tool, args, principal, context):" in graph.code.source
    for tool, args, principal in (("pay", {"note": "abcd"}, None), ("pay", {"note": 5}, None),
                                  ("read", {}, {"role": "admin"}), ("read", {}, {"role": 3})):
        _same(engine.check_tool_call(tool, args, principal=principal),
              engine.check_tool_call(tool, args, principal=principal, explain=True))


def test_a_stage_with_detectors_keeps_the_interpreter(bench) -> None:
    # The redact rule runs the analyzer (tier 2): the tool_call rules are not compiled.
    graph = bench.get_policy().stages["tool_call"]
    assert graph.compiled_for("issue_refund") is None


@pytest.mark.parametrize(("context", "code", "message"), [
    ({}, "missing-attribute", "context has no attribute 'flagged'"),
    ({"flagged": "yes"}, "type-error", "the condition gave a str, not true or false"),
])
def test_errors_match_the_interpreter_word_for_word(bench, context, code, message) -> None:
    d = bench.check_output("hello", context=context)
    assert [(e.code, e.message) for e in d.errors] == [(code, message)]
    assert d.denied and d.violations[0].error == f"{code}: {message}"
    assert d.errors == bench.check_output("hello", context=context, explain=True).errors


def test_graph_prints_the_generated_python(tmp_path: Path) -> None:
    path = tmp_path / "b.policy"
    path.write_text(BENCH)
    p = subprocess.run([sys.executable, "-m", "guardrails.cli", "graph", str(path), "--format", "python"],
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr
    assert "def decide_output(roots):" in p.stdout and "# rule flag: context.flagged" in p.stdout
    assert "# stage tool_call: interpreted" in p.stdout
    compile(p.stdout, "graph.py", "exec")  # the printed source is valid Python


# ---- the lean decision ------------------------------------------------------

def test_the_lean_decision_keeps_the_pydantic_surface(bench) -> None:
    import copy
    import pickle

    d = bench.check_output("hello", context={"flagged": True})
    twin = pickle.loads(pickle.dumps(d))  # the id is drawn before the copy: the same decision
    assert twin == d and twin.decision_id == d.decision_id and len(d.decision_id) == 32
    assert copy.deepcopy(d) == d
    again = Decision.model_validate_json(d.model_dump_json())
    assert again == d and again.model_dump() == d.model_dump()
    assert d.model_copy(update={"route": "x"}).route == "x" and d.route is None
    other = bench.check_output("hello", context={"flagged": True})
    assert other.decision_id != d.decision_id and other != d
    with pytest.raises(ValueError):
        Decision(stage="nope", outcome="deny", policy={"name": "p", "version": "1", "digest": "d"})


def test_a_rule_set_past_the_budget_is_interpreted() -> None:
    from guardrails.codegen import MAX_RULES

    many = "\n".join(f'  rule r{i}: deny "over {i}" when principal.level > {i} and context.flag'
                     for i in range(MAX_RULES + 1))
    small = 'tools reads = ["read"]\n'
    engine = Engine.from_source(f'{HEADER}{small}tool_call {{\n  rule ok: allow when principal.ok\n{many}\n}}\n'
                                'output {\n  rule flag: deny "flagged" when context.flagged\n}\n')
    graph = engine.get_policy().stages["tool_call"]
    assert graph.compiled_for("anything") is None  # 258 rules: interpreted, not generated
    assert engine.get_policy().stages["output"].compiled_for() is not None  # each stage has its own budget
    d = engine.check_tool_call("x", {}, principal={"ok": True, "level": 3}, context={"flag": True})
    assert d.denied and d.rule_ids == ["r0", "r1", "r2"]


def test_policy_text_never_becomes_code() -> None:
    """Tool names and regexes reach the generated source only as literals
    and one-line comments: a name that would end a docstring, a carriage
    return in a regex, a character no identifier may hold."""
    name = 'x""" ; raise SystemExit(3) ; """'
    source = (
        'policy "inj" version "1.0.0"\n'
        "tool_call {\n"
        f'  rule a: allow when tool == {json.dumps(name)} and args.note == "a\\r raise SystemExit(4)"\n'
        '  rule b: allow when tool == "t²" and args.n > 1\n'
        "}\n")
    engine = Engine.from_source(source, warm_up=False)
    graph = engine.get_policy().stages["tool_call"]
    assert graph.code is not None and graph.compiled_for(name) is not None
    for tool, args in ((name, {"note": "a\r raise SystemExit(4)"}), (name, {"note": "b"}), ("t²", {"n": 2})):
        compiled = engine.check_tool_call(tool, args)
        _same(compiled, engine.check_tool_call(tool, args, explain=True))
    assert engine.check_tool_call("t²", {"n": 2}).outcome.value == "allow"
    assert all(line.startswith("#") or "\r" not in line for line in graph.code.source.split("\n"))


@PROPS
@given(args=maps, with_detector=st.booleans())
def test_the_arguments_length_limit_counts_alike_with_and_without_text_rules(args, with_detector) -> None:
    """A tool_call stage without text detectors judges only the length of the
    joined arguments (evaluate_tools counts it without joining): a request
    exactly at max_text_length passes, one character less of limit refuses
    it, with or without a rule that reads the text."""
    from guardrails.values import ARG_SEPARATOR, string_leaves

    leaves: list = []
    string_leaves(args, "args", leaves, [])
    size = sum(len(text) for _, _, text in leaves) + len(ARG_SEPARATOR) * max(len(leaves) - 1, 0)
    extra = '  rule mail: redact [EMAIL_ADDRESS]\n' if with_detector else ""
    for limit, refused in ((max(size, 1), False), (size - 1, True)):
        if limit < 1:
            continue
        engine = Engine.from_source(HEADER + f"config {{ max_text_length = {limit} }}\n"
                                    f"tool_call {{\n  rule ok: allow\n{extra}}}\n")
        d = engine.check_tool_call("pay", args)
        assert (d.errors[0].code == "input-too-large" if d.errors else False) is refused, (size, limit, d.errors)


def test_decision_ids_are_random_uuids_distinct_across_threads_and_a_fork() -> None:
    """Ids come from a pool of OS random bytes: each is a version 4 UUID, no
    two threads get the same, and a forked child does not repeat the ids its
    parent goes on to draw (the pool is emptied in the child)."""
    import os
    import threading
    import uuid

    from guardrails.decision import new_decision_id

    new_decision_id()  # the pool holds bytes the child would inherit
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.extend(new_decision_id() for _ in range(2000))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 8000
    assert all(uuid.UUID(i).version == 4 and uuid.UUID(i).hex == i for i in seen[:100])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, ",".join(new_decision_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    mine = {new_decision_id() for _ in range(50)}
    with os.fdopen(read) as f:
        child = set(f.read().split(","))
    os.waitpid(pid, 0)
    assert len(child) == 50 and not (child & mine)
