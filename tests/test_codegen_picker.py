"""An indexed rule set's generated dispatch (rule_index.Picker) decides as the
interpreter does.

The interpreter (``explain=True``: run_rules over the attribute index's
pick) is the reference, and an engine without the index (rule_index's
MIN_RULES raised past the rule count) is a second one. Policies of 16 to
2,000 rules that name no tool are generated from a seed: first tests the
index files (``==`` or ``in`` a list of strings, on nested paths) and first
tests it cannot (numbers, negations, ``has``), every effect, conditions that
fail (missing attributes, a string compared with a number, a non-boolean
condition). Requests leave attributes out, put a string or a list where the
rules expect an object, and give numbers, booleans and nulls where they
expect strings. Each request is decided three ways: by the engine's fast
path, by evaluate_tool_call (the policy named with its version), and by the
interpreter; the decisions must be the same in outcome, rules, violations
(messages, routes, errors), errors and labels.

Every group of the dispatch gets its function (its shape's template, with
its own literals) at load; with rule_index.BIND off, every group runs its
rules' closures instead: both are run.
"""

from __future__ import annotations

import json
import random

import pytest

from guardrails import Engine, rule_index
from guardrails.decision import Decision
from guardrails.diagnostics import PolicyError

ROLES = [f"role_{i}" for i in range(12)]
TEAMS = [f"team_{i}" for i in range(8)]
PATHS = ("principal.role", "context.team", "args.project", "principal.org.unit", "context.env")


def _value(path: str, rnd: random.Random) -> str:
    return json.dumps({"principal.role": rnd.choice(ROLES), "context.team": rnd.choice(TEAMS)}.get(
        path, f"v{rnd.randrange(30)}"))


def _condition(rnd: random.Random, filed: float) -> str:
    path = rnd.choice(PATHS)
    shape = rnd.random()
    if shape < filed * 0.7:  # filed: PATH == "s"
        first = f"{path} == {_value(path, rnd)}" if rnd.random() < 0.8 else f"{_value(path, rnd)} == {path}"
    elif shape < filed:  # filed: PATH in [strings]
        first = f"{path} in [{', '.join(_value(path, rnd) for _ in range(rnd.randrange(1, 4)))}]"
    else:  # not filed
        first = rnd.choice([f"args.amount <= {rnd.randrange(200)}", f"not ({path} == {_value(path, rnd)})",
                            "context has ticket", f"{path} != {_value(path, rnd)}", "context.frozen",
                            f"{path} in [{_value(path, rnd)}, 3]"])
    rest = rnd.choice(["", " and args.amount <= 100", " and context.frozen", " and not context.frozen",
                       " and args.amount > 50 and principal.level >= 2", " and (context.flag or args.amount < 10)",
                       " and args.note == \"x\""])
    return first + rest


EFFECTS = ("allow", 'deny "no {k}"', 'escalate to review "look {k}"', 'warn "hm {k}"', "label risky")


def _policy(n: int, seed: int, extra: str = "") -> str:
    rnd = random.Random(seed)
    filed = 0.6 if n < 200 else 0.97  # a large set is mostly filed, as large sets are
    lines = [f'policy "pick" version "1.{seed}.{n}"', "label risky", "tool_call {"]
    if seed % 2:  # fail open: a failing rule does not fire (and the other rules' outcomes show)
        lines.insert(1, 'config { on_error = "fail_open" }')
    for k in range(n):
        effect = rnd.choice(EFFECTS).format(k=k)
        # A deny or an escalation that an allow implies is refused by the checker (E502): a test no other rule makes.
        extra_test = f" and not (context has d{k})" if effect.startswith(("deny", "escalate")) else ""
        lines.append(f"  rule r{k:04d}: {effect} when {_condition(rnd, filed)}{extra_test}")
    if rnd.random() < 0.3:
        lines.append('  rule always: warn "always on"')
    lines.append(extra + "}")
    return "\n".join(lines) + "\n"


def _request(rnd: random.Random) -> tuple[str, dict, dict | None, dict | None]:
    """A clean request (every attribute there, of the kind the rules expect)
    half of the time; else one with one or two attributes taken out or
    swapped for a value of another kind (a string or a list where an object
    was, a number, boolean, null, list or object where a string was)."""
    def pick(*choices):
        return rnd.choice(choices)

    args = {"amount": pick(5, 60, 150), "project": f"v{rnd.randrange(30)}", "note": "x"}
    principal = {"role": rnd.choice(ROLES), "org": {"unit": f"v{rnd.randrange(30)}"}, "level": pick(1, 2, 3)}
    context = {"team": rnd.choice(TEAMS), "env": f"v{rnd.randrange(30)}", "frozen": pick(True, False),
               "flag": pick(True, False), **pick({}, {"ticket": "t1"})}
    if rnd.random() < 0.5:
        for _ in range(rnd.randrange(1, 3)):
            org = principal.get("org")
            where = pick(args, principal, context, org if isinstance(org, dict) else args)
            key = rnd.choice(list(where) or ["x"])
            odd = pick(None, "missing", 5, True, ["role_1"], {}, "org", 99.5, "7", "no", 0)
            if odd == "missing":
                where.pop(key, None)
            else:
                where[key] = odd
    return pick("send", "read", "pay"), args, principal, context


def _same(a: Decision, b: Decision) -> None:
    assert a.outcome is b.outcome
    assert a.rule_ids == b.rule_ids
    assert a.violations == b.violations
    assert a.errors == b.errors
    assert (a.route, a.labels) == (b.route, b.labels)
    assert json.dumps(a.text, sort_keys=True) == json.dumps(b.text, sort_keys=True)


def _engine(source: str) -> Engine:
    return Engine.from_source(source, warm_up=False)


def _accepted(n: int, seed: int, extra: str = "") -> tuple[str, Engine]:
    """The first policy from seed, seed + 1000, ... the checker accepts (it
    refuses one where, say, a deny always fires with an allow)."""
    for attempt in range(30):
        source = _policy(n, seed + 1000 * attempt, extra)
        try:
            return source, _engine(source)
        except PolicyError:
            continue
    raise AssertionError("no generated policy was accepted")


def _unindexed(source: str) -> Engine:
    saved = rule_index.MIN_RULES
    rule_index.MIN_RULES = 10**9
    try:
        return _engine(source)
    finally:
        rule_index.MIN_RULES = saved


def _decide_alike(engine: Engine, plain: Engine | None, rnd: random.Random, count: int) -> tuple[set[str], int]:
    """Decide `count` requests, each twice with the fast path: the outcomes
    seen, and how many the dispatch decided (not deferred to the interpreter)."""
    p = engine.get_policy()
    named = f"{p.name}@{p.version}"
    seen = set()
    f = p.stages["tool_call"].compiled_for("send")
    dispatched = 0
    for _ in range(count):
        tool, args, principal, context = _request(rnd)
        if f is not None and f.picks:
            dispatched += f(tool, args or {}, principal or {}, context or {}) != -1
        reference = engine.check_tool_call(tool, args, principal=principal, context=context, explain=True)
        for d in (engine.check_tool_call(tool, args, principal=principal, context=context),
                  engine.check_tool_call(tool, args, principal=principal, context=context),
                  engine.check_tool_call(tool, args, principal=principal, context=context, policy=named)):
            _same(d, reference)
        if plain is not None:
            _same(plain.check_tool_call(tool, args, principal=principal, context=context), reference)
        seen.add(reference.outcome.value + ("+error" if reference.errors else ""))
    return seen, dispatched


@pytest.mark.parametrize("bind", [True, False])
@pytest.mark.parametrize(("n", "seed"), [(16, 1), (30, 2), (40, 3), (120, 4), (400, 5), (2000, 7)])
def test_the_dispatch_decides_as_the_interpreter(monkeypatch, bind, n, seed) -> None:
    monkeypatch.setattr(rule_index, "BIND", bind)
    source, engine = _accepted(n, seed)
    graph = engine.get_policy().stages["tool_call"]
    f = graph.compiled_for("send")
    if n >= 40:
        assert graph.index is not None  # (below, too few rules may be filed for an index)
    # An indexed set is dispatched, not interpreted; a set too small for the index is generated whole.
    assert f is not None and f.picks is (graph.index is not None)
    seen, dispatched = _decide_alike(engine, _unindexed(source) if n <= 400 else None, random.Random(seed),
                                     300 if n <= 400 else 100)
    assert any("+error" in s for s in seen) and (dispatched > 20 or not f.picks), (seen, dispatched)
    if n < 200:
        assert len({s.split("+")[0] for s in seen}) >= 2, seen


def test_every_group_is_bound_at_load_and_decides_alike() -> None:
    """Before any request, every group whose rules the generator inlines
    runs its shape's template (not its rules' closures); a group that needs
    the Ctx runs its closures."""
    engine = _accepted(60, 11)[1]
    picker = engine.get_policy().stages["tool_call"].code._pickers[0]
    functions = _functions(picker)
    generated = [getattr(f, "func", f).__name__.startswith("pick_") for f in functions]
    assert len(generated) == len(picker.groups) and any(generated), "no group was generated"
    for f, made in zip(functions, generated):
        assert made or f.func is rule_index.run_closures
    # The dispatch calls a group it does not inline: that group's function
    # was bound at load, and is the one group_function gives.
    called = [f for f in picker.run if f is not None]
    assert called and all(f is functions[g] for g, f in enumerate(picker.run) if f is not None)
    _decide_alike(engine, None, random.Random(11), 400)


def _functions(picker) -> list:
    """Every group's function, as group_function binds it (an inlined group's when first asked)."""
    return [picker.group_function(g) for g in range(len(picker.groups))]


def test_the_pickers_of_a_stage_share_their_groups_functions() -> None:
    """A tool's indexed set holds the rules for any tool again: it binds no
    group again, it reuses the function of the set for any tool."""
    lines = ['policy "share" version "1.0.0"', "tool_call {"]
    lines += [f'  rule role{k:02d}: allow when principal.role == "role_{k}" and args.amount <= {10 * k}'
              for k in range(20)]
    lines += [f'  rule send{k:02d}: deny "no" when tool == "send" and context.team == "team_{k}"' for k in range(20)]
    engine = _engine("\n".join([*lines, "}"]) + "\n")
    pickers = engine.get_policy().stages["tool_call"].code._pickers
    assert len(pickers) == 2
    by_rules = [{tuple(r.qid for r in g): f for g, f in zip(p.groups, _functions(p))} for p in pickers]
    common = set(by_rules[0]) & set(by_rules[1])
    assert len(common) == 20 and all(by_rules[0][k] is by_rules[1][k] for k in common)
    for role, team, amount in (("role_3", "team_1", 20), ("role_3", "team_99", 20), ("role_4", "team_9", 90)):
        for tool in ("send", "read"):
            a = ({"amount": amount}, {"role": role}, {"team": team})
            _same(engine.check_tool_call(tool, a[0], principal=a[1], context=a[2]),
                  engine.check_tool_call(tool, a[0], principal=a[1], context=a[2], explain=True))


def test_an_unknown_path_or_a_failing_rule_defers_to_the_interpreter() -> None:
    engine = _accepted(30, 12)[1]
    f = engine.get_policy().stages["tool_call"].compiled_for("x")
    base = {"role": "role_1", "org": {"unit": "v1"}, "level": 2}
    ctx = {"team": "team_1", "env": "v2", "frozen": False, "flag": True}
    args = {"amount": 5, "project": "v3"}
    assert f("x", args, base, ctx) != -1
    assert f("x", args, {**base, "org": "flat"}, ctx) == -1  # a step that is not an object
    assert f("x", args, {k: v for k, v in base.items() if k != "role"}, ctx) == -1  # missing
    assert f("x", args, {**base, "role": 5}, ctx) != -1  # not a string: no rule filed under it can hold


def test_a_set_with_a_redaction_keeps_the_interpreter() -> None:
    engine = _accepted(30, 13, extra="  rule mail: redact secrets using mask when principal.role == \"role_1\"\n")[1]
    assert engine.get_policy().stages["tool_call"].compiled_for("x") is None
    _decide_alike(engine, None, random.Random(13), 100)


def test_the_groups_source_is_shown_and_compiles() -> None:
    engine = _accepted(40, 14)[1]
    source = engine.get_policy().stages["tool_call"].code.source
    assert "def pick_tool_call(tool, args, principal, context):" in source
    assert "# principal.role:" in source and "def pick_tool_call__g1(tool, args, principal, context):" in source
    compile(source, "shown.py", "exec")


def test_groups_of_one_shape_share_one_compiled_template() -> None:
    """Groups whose conditions differ only in their literals run one code
    object, each with its own literals, and decide as the interpreter does;
    a group of another shape gets another."""
    lines = ['policy "shapes" version "1.0.0"', "tool_call {"]
    for k in range(20):
        lines.append(f'  rule role{k:02d}: allow when principal.role == "role_{k}" and args.amount <= {10 * k}')
    lines.append('  rule odd: deny "odd" when principal.role == "role_99" and context.team in ["a", "b"]')
    engine = _engine("\n".join([*lines, "}"]) + "\n")
    picker = engine.get_policy().stages["tool_call"].code._pickers[0]
    for k in (3, 7, 99):
        for amount in (25, 45, 70):
            principal, args = {"role": f"role_{k}"}, {"amount": amount}
            for team in ("a", "z"):
                context = {"team": team}
                _same(engine.check_tool_call("x", args, principal=principal, context=context),
                      engine.check_tool_call("x", args, principal=principal, context=context, explain=True))
    by_rule = {g[0].qid: f for g, f in zip(picker.groups, _functions(picker))}
    bound = [by_rule["role03"], by_rule["role07"], by_rule["odd"]]
    assert len(picker.run) == 21 and len(picker.templates) == 2
    assert bound[0].func is bound[1].func and bound[0].func is not bound[2].func
    assert {f.args for f in bound[:2]} == {("role_3", 30), ("role_7", 70)}
    assert engine.check_tool_call("x", {"amount": 25}, principal={"role": "role_3"}).outcome.value == "allow"
    assert engine.check_tool_call("x", {"amount": 35}, principal={"role": "role_3"}).outcome.value == "deny"


def test_an_indexed_set_builds_its_rules_violations_at_load() -> None:
    """A large indexed set fires many rules for the first time: their shared
    violations are built when it is compiled, and a decision then uses the
    very object built (not a new one)."""
    from guardrails import decision

    engine = _accepted(40, 15)[1]
    picker = engine.get_policy().stages["tool_call"].code._pickers[0]
    rules = [rule for group in picker.groups for rule in group]
    built = {rule.qid: decision._bare[id(rule)][1] for rule in rules}  # KeyError: one was not built
    assert len(built) == len({id(rule) for rule in rules}) >= 16  # (a rule filed under two values is in two groups)
    rnd = random.Random(15)
    seen = 0
    for _ in range(200):
        tool, args, principal, context = _request(rnd)
        d = engine.check_tool_call(tool, args, principal=principal, context=context)
        for v in d.violations:
            if v.rule in built and not v.spans and v.error is None:
                assert v is built[v.rule]
                seen += 1
    assert seen, "no rule of the set fired"


def test_the_dispatch_inlines_each_paths_commonest_shape() -> None:
    """Under an indexed path, the groups of its commonest shape run inline in
    the dispatch, their literals read from the path's table; a group of
    another shape, and one whose rule needs the Ctx (a function call), call
    their functions. All decide as the interpreter does."""
    lines = ['policy "inline" version "1.0.0"', "tool_call {"]
    lines += [f'  rule role{k:02d}: allow when principal.role == "role_{k}" and args.amount <= {10 * k}'
              for k in range(20)]
    lines.append('  rule odd: deny "odd" when principal.role == "role_98" and context.team in ["a", "b"]')
    lines.append('  rule call: warn "long" when principal.role == "role_99" and length(args.note) > 3')
    engine = _engine("\n".join([*lines, "}"]) + "\n")
    picker = engine.get_policy().stages["tool_call"].code._pickers[0]
    assert "        e = P0.get(v)" in picker.source and "(g := Q0.get(v))" in picker.source
    assert "# 20 groups of one shape, with their literals; the first: rule role00:" in picker.source
    by_rule = {g[0].qid: f for g, f in zip(picker.groups, _functions(picker))}
    assert getattr(by_rule["call"], "func", None) is rule_index.run_closures
    # Only the groups the dispatch calls were bound at load: "odd" and "call", not the 20 inlined.
    assert sorted(g[0].qid for g, f in zip(picker.groups, picker.run) if f is not None) == ["call", "odd"]
    for role in ("role_3", "role_7", "role_98", "role_99", "role_50", 5):
        for amount, team, note in ((25, "a", "abcdef"), (75, "z", "ab")):
            a = ({"amount": amount, "note": note}, {"role": role}, {"team": team})
            _same(engine.check_tool_call("x", a[0], principal=a[1], context=a[2]),
                  engine.check_tool_call("x", a[0], principal=a[1], context=a[2], explain=True))
    assert engine.check_tool_call("x", {"amount": 25, "note": "abcdef"}, principal={"role": "role_99"}).violations
