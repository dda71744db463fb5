"""The schema checker is sound (docs/schema.md, "Soundness").

Generated schemas, generated tool-call policies over them (well and badly
typed, guarded and not), and generated requests that match the schema: a
policy the checker accepts never meets ``type-error`` or
``missing-attribute`` at run time on such a request. Policies the checker
refuses are the other half of the test: the generator writes plenty of
them, and the checker must find a reason for each that would go wrong.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails import Engine
from guardrails.diagnostics import PolicyError, RuntimeCode

RUNTIME_TYPE_CODES = {RuntimeCode.TYPE_ERROR, RuntimeCode.MISSING_ATTRIBUTE}

# (declaration, kind) of the types the generator declares.
TYPES = [
    ("string", "string"),
    ("number", "number"),
    ("integer", "integer"),
    ("boolean", "boolean"),
    ('"p0" | "p1" | "p2"', "enum"),
    ("list[string]", "list"),
    ("{owner: string, size?: number}", "record"),
]
ENUM = ["p0", "p1", "p2"]
LITERALS = {
    "string": ['"abc"', '"P0"', '""'],
    "number": ["3", "0", "-2.5"],
    "boolean": ["true", "false"],
    "enum": ['"p0"', '"p2"'],
    "list": ['["a", "b"]'],
    "null": ["null"],
}


def value_of(kind: str, draw) -> object:
    """A value of the declared `kind`: what a matching request carries."""
    match kind:
        case "string":
            return draw(st.sampled_from(["abc", "P0", "", "x y"]))
        case "number":
            return draw(st.sampled_from([0, 3, -2.5, 1e6]))
        case "integer":
            return draw(st.sampled_from([0, 7, -1]))
        case "boolean":
            return draw(st.booleans())
        case "enum":
            return draw(st.sampled_from(ENUM))
        case "list":
            return draw(st.lists(st.sampled_from(["a", "b", "p0"]), max_size=3))
        case "record":
            rec = {"owner": draw(st.sampled_from(["ann", "bo"]))}
            if draw(st.booleans()):
                rec["size"] = draw(st.sampled_from([1, 2.5]))
            return rec
    raise AssertionError(kind)


@st.composite
def schemas(draw):
    """{tool: [(arg, kind, optional)]}; two tools, so unnarrowed rules union them."""
    tools = {}
    for name in ("t1", "t2"):
        names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=3, unique=True))
        tools[name] = [(n, draw(st.sampled_from(TYPES)), draw(st.booleans())) for n in names]
    return tools


# Tests a value of each kind takes without error, for the well-typed atoms.
GOOD = {
    "string": ['{p} == "abc"', '{p} < "m"', '{p} contains "b"', '{p} starts_with "a"', "{p} matches /^p/",
               '{p} in ["p0", "abc"]', 'lower({p}) == "p0"', "length({p}) > 1"],
    "number": ["{p} == 3", "{p} > 0", "{p} <= -2.5", "{p} != 1"],
    "boolean": ["{p} == true", "not {p}", "{p}"],
    "enum": ['{p} == "p0"', '{p} in ["p1", "p2"]', '{p} != "p2"', '{p} < "p1"'],
    "list": ['{p} contains "a"', "length({p}) > 1", '"b" in {p}'],
    "record": ["{p} has owner", "length({p}) > 0"],
}
GOOD["integer"] = GOOD["number"]


def atom(draw, tools: dict, tool: str | None) -> str:
    """One test over a path of the schema: mostly well typed and guarded,
    sometimes not, or over a misspelt path, with operands of any kind. The
    checker's job is to tell which are sound."""
    args = tools[tool] if tool else [a for t in tools.values() for a in t]
    arg, (decl, kind), optional = draw(st.sampled_from(args))
    path = f"args.{arg}"
    if kind == "record":
        field, kind = draw(st.sampled_from([("", "record"), (".owner", "string"), (".size", "number"),
                                            (".ownr", "string")]))
        path += field
    well_typed = draw(st.integers(0, 9)) < 7
    if well_typed:
        test = draw(st.sampled_from(GOOD[kind])).format(p=path)
    else:
        if draw(st.integers(0, 4)) == 0:
            path = "args.zz"  # not declared anywhere
        test = _any_test(draw, path, kind)
    parts = path.split(".")
    if len(parts) > 2 or optional or path == "args.zz":
        if well_typed or draw(st.integers(0, 3)) > 0:
            # Guard it: every step that may be absent.
            guards = [f"{'.'.join(parts[:i])} has {parts[i]}" for i in range(1, len(parts))]
            test = " and ".join([*guards, test])
    return test


def _any_test(draw, path: str, kind: str) -> str:
    op = draw(st.sampled_from(["==", "!=", "<", ">", "in", "contains", "starts_with", "matches", "has",
                               "length", "lower", "not"]))
    lit_kind = draw(st.sampled_from([kind if kind in LITERALS else "string", "string", "number", "null",
                                     "list", "boolean"]))
    lit = draw(st.sampled_from(LITERALS.get(lit_kind, LITERALS["string"])))
    match op:
        case "in":
            container = draw(st.sampled_from(['["p0", "abc"]', "[1, 2]", lit]))
            return f"{path} in {container}"
        case "matches":
            return f"{path} matches /^p/"
        case "has":
            base, _, key = path.rpartition(".")
            return f"{base} has {key}"
        case "length":
            return f"length({path}) > 1"
        case "lower":
            return f"lower({path}) == \"p0\""
        case "not":
            return f"not {path}"
    return f"{path} {op} {lit}"


@st.composite
def cases(draw):
    tools = draw(schemas())
    decls = "\n".join(
        f"tool {name}(" + ", ".join(f"{a}{'?' if opt else ''}: {decl}" for a, (decl, _), opt in args) + ")"
        for name, args in tools.items())
    rules = []
    for i in range(draw(st.integers(1, 3))):
        tool = draw(st.sampled_from([None, "t1", "t2"]))
        parts = [atom(draw, tools, tool) for _ in range(draw(st.integers(1, 2)))]
        cond = draw(st.sampled_from([" and ", " or "])).join(f"({p})" for p in parts)
        if tool:
            cond = f'tool == "{tool}" and ({cond})'
        rules.append(f'  rule r{i}: deny "no" when {cond}')
    source = (f'policy "gen" version "1.0.0"\nconfig {{ tool_default = "allow" }}\n{decls}\n'
              "tool_call {\n" + "\n".join(rules) + "\n}\n")
    requests = []
    for _ in range(3):
        tool = draw(st.sampled_from(sorted(tools)))
        args = {}
        for arg, (_, kind), optional in tools[tool]:
            if not optional or draw(st.booleans()):
                args[arg] = value_of(kind, draw)
        requests.append((tool, args))
    return source, requests


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_a_policy_that_validates_never_meets_a_type_error_on_a_matching_request(case):
    source, requests = case
    try:
        engine = Engine.from_source(source, warm_up=False)
    except PolicyError as err:
        codes = {d.code for d in err.diagnostics if d.is_error}
        # Refused for a typing reason, never for a syntax error of the generator's.
        assert codes and codes <= {"E108", "E301", "E304", "E305", "E302", "E501", "E502"}, (source, codes)
        return
    for tool, args in requests:
        d = engine.check_tool_call(tool, args)
        assert d.request_error is None, (source, tool, args, d.request_error)
        bad = [e for e in d.errors if e.code in RUNTIME_TYPE_CODES]
        assert not bad, f"{source}\n{tool} {json.dumps(args)}\n{bad}"


def test_the_generator_writes_both_kinds():
    """Half the property is vacuous if the checker accepts nothing, or everything."""
    accepted = refused = 0
    for case in _samples(200):
        source, _ = case
        try:
            Engine.from_source(source, warm_up=False)
            accepted += 1
        except PolicyError:
            refused += 1
    assert accepted >= 20 and refused >= 20, (accepted, refused)


def _samples(n: int):
    out = []

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(cases())
    def collect(case):
        out.append(case)

    collect()
    return out
