"""A solver model as a concrete request, replayed on the real engine.

The request is built from the path variables (a map gets its children, a
list its elements and the members the model says it holds), the free
detector inputs become the engine's ``overrides`` (what a policy test's
``with:`` fixes), and each policy decides it through
:class:`guardrails.Engine`. A counterexample is shown only when the engine
agrees with the solver.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from guardrails.prove.symbolic import Space


@dataclass(slots=True)
class Witness:
    request: dict  # tool, args, principal, context
    fixed: dict  # the `with:` fixtures of a test case
    overrides: dict[str, dict]  # per policy ref: detector node id -> result
    unfixable: list[str] = field(default_factory=list)  # free inputs a test case cannot fix


def _number(v: Any) -> int | float:
    frac = Fraction(v.numerator_as_long(), v.denominator_as_long())
    return int(frac) if frac.denominator == 1 else float(frac)


def _string(z3: Any, model: Any, s: Any) -> str:
    n = model.eval(z3.Length(s), model_completion=True).as_long()
    return "".join(chr(model.eval(z3.StrToCode(z3.SubString(s, i, 1)), model_completion=True).as_long())
                   for i in range(n))


class _Builder:
    def __init__(self, space: Space, model: Any, fillers: dict[str, Any] | None = None):
        self.s, self.m, self.z3, self.J = space, model, space.z3, space.J
        self.children: dict[str, list[tuple[str | int, str]]] = {}
        for name, (parent, key) in space.parents.items():
            self.children.setdefault(parent, []).append((key, name))
        self.fillers = fillers or {}

    def value(self, path: str) -> Any:
        z3, J, m = self.z3, self.J, self.m
        v = m.eval(self.s.paths[path], model_completion=True)
        if z3.is_true(m.eval(J.is_absent(v))):
            return _ABSENT
        if z3.is_true(m.eval(J.is_null(v))):
            return None
        if z3.is_true(m.eval(J.is_boolean(v))):
            return z3.is_true(m.eval(J.b(v), model_completion=True))
        if z3.is_true(m.eval(J.is_number(v))):
            return _number(m.eval(J.n(v), model_completion=True))
        if z3.is_true(m.eval(J.is_string(v))):
            return _string(z3, m, J.s(v))
        if z3.is_true(m.eval(J.is_map(v))):
            out: dict[str, Any] = {}
            for key, name in self.children.get(path, ()):
                if isinstance(key, str):
                    item = self.value(name)
                    if item is not _ABSENT:
                        out[key] = item
            want = m.eval(J.keys(v), model_completion=True).as_long()
            n = 0
            while len(out) < want:  # keys no rule reads
                n += 1
                out.setdefault(f"extra_{n}", self.fillers.get(path, 0))
            return out
        length = m.eval(J.len(v), model_completion=True).as_long()
        items: list[Any] = [_ABSENT] * length
        for key, name in self.children.get(path, ()):
            if isinstance(key, int) and key < length:
                items[key] = self.value(name)
        for lit, b in self.s.members.get(path, {}).values():
            if z3.is_true(m.eval(b, model_completion=True)) and not any(_same(x, lit) for x in items):
                free = next((i for i, x in enumerate(items) if x is _ABSENT), None)
                if free is not None:
                    items[free] = lit
        filler = self.fillers.get(path + "[]", {})
        return [filler if x is _ABSENT else x for x in items]


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def _same(a: Any, b: Any) -> bool:
    from guardrails.values import strict_eq

    return a is not _ABSENT and strict_eq(a, b)


def build(space: Space, model: Any, graphs: dict[str, Any]) -> Witness:
    """The request of `model`, and its detector results per policy (`graphs`: ref -> StageGraph)."""
    z3 = space.z3
    b = _Builder(space, model, space.fillers)
    request: dict[str, Any] = {}
    if space.tool is not None:
        request["tool"] = _string(z3, model, space.tool)
    from guardrails.prove.symbolic import ROOTS

    for root in ROOTS[space.stage]:
        omitted = space.free.get(f"omitted:{root}")
        if omitted is not None and z3.is_true(model.eval(omitted.var, model_completion=True)):
            request[root] = None  # left out: the rules read {} and the schema does not check it
        else:
            request[root] = b.value(root)
    if space.text is not None and space.stage != "tool_result":
        request["text"] = _string(z3, model, space.text)
    values = {k: model.eval(f.var, model_completion=True) for k, f in space.free.items()}
    fixed, unfixable = _fixtures(space, values)
    overrides = {ref: _overrides(space, values, g) for ref, g in graphs.items()}
    return Witness(request, fixed, overrides, unfixable)


def _val(z3: Any, v: Any) -> Any:
    if z3.is_true(v) or z3.is_false(v):
        return z3.is_true(v)
    if z3.is_rational_value(v):
        return float(Fraction(v.numerator_as_long(), v.denominator_as_long()))
    return None


def _fixtures(space: Space, values: dict[str, Any]) -> tuple[dict, list[str]]:
    """The free inputs as a test case's `with:`; what `with:` cannot fix is listed."""
    z3 = space.z3
    fixed: dict[str, Any] = {}
    unfixable: list[str] = []
    for key, f in sorted(space.free.items()):
        v = _val(z3, values[key])
        if f.kind == "pii":
            if v:
                fixed.setdefault("pii", []).append({"entity": f.name, "start": 0, "end": 0, "score": round(v, 6)})
        elif f.kind == "secret":
            if v:
                fixed.setdefault("secrets", []).append({"entity": f.name, "start": 0, "end": 0})
        elif f.kind == "topic":
            fixed.setdefault("topic", {})[f.name] = round(v or 0.0, 6)
        elif f.kind in ("terms", "pattern"):
            fixed.setdefault(f.kind, {})[f.name] = [{"start": 0, "end": 0}] if v else []
        elif f.kind == "injection":
            if v:
                unfixable.append(f"injection() = {v:g} (a test case cannot fix it)")
        elif f.kind == "session":
            unfixable.append(f"{f.name} = {v} (session state: give the case steps)")
    return fixed, unfixable


def _overrides(space: Space, values: dict[str, Any], graph: Any) -> dict[str, Any]:
    """The free inputs as engine overrides for one stage graph's detector nodes."""
    from guardrails.detectors import Finding, TopicResult
    from guardrails.detectors.injection import InjectionResult

    z3 = space.z3
    out: dict[str, Any] = {}
    nodes = graph.detectors
    pii: list[Finding] = []
    secrets: list[Finding] = []
    for key, f in space.free.items():
        v = _val(z3, values[key])
        if f.kind == "pii" and v:
            pii.append(Finding(0, 0, f.name, v))
        elif f.kind == "secret" and v:
            secrets.append(Finding(0, 0, f.name.upper(), 1.0))
        elif f.kind == "topic" and f"topic:{f.name}" in nodes:
            out[f"topic:{f.name}"] = TopicResult(v or 0.0, ())
        elif f.kind in ("terms", "pattern") and f"{f.kind}:{f.name}" in nodes:
            label = f.name.upper().replace("-", "_")
            out[f"{f.kind}:{f.name}"] = [Finding(0, 0, label, 1.0)] if v else []
        elif f.kind == "injection" and "injection" in nodes:
            out["injection"] = InjectionResult(v or 0.0, v or 0.0, 0.0, ())
    if "pii" in nodes:
        out["pii"] = pii
    for node in nodes:
        if node == "secrets" or node.startswith("secrets:"):
            kinds = None if node == "secrets" else {k.upper() for k in node.split(":", 1)[1].split(",")}
            out[node] = [x for x in secrets if kinds is None or x.entity in kinds]
    for node in nodes:  # detectors no rule's free input fixed: nothing found
        if node.startswith(("terms:", "pattern:")) and node not in out:
            out[node] = []
    return out


def decide(engine: Any, ref: str, stage: str, w: Witness) -> Any:
    """The engine's decision on the witness for the policy `ref` (name@version)."""
    r = w.request
    over = w.overrides.get(ref) or None
    if stage == "tool_call":
        return engine.check_tool_call(r["tool"], r["args"], principal=r.get("principal"), context=r.get("context"),
                                      policy=ref, overrides=over)
    if stage == "tool_result":
        return engine.check_tool_result(r["tool"], r["result"], args=r["args"], principal=r.get("principal"),
                                        context=r.get("context"), policy=ref, overrides=over)
    if stage == "retrieval":
        d = engine.check_retrieval([{"text": r["text"], "metadata": r["metadata"]}], context=r.get("context"),
                                   policy=ref, overrides=over)
        return d
    method = engine.check_input if stage == "input" else engine.check_output
    return method(r["text"], context=r.get("context"), policy=ref, overrides=over)


def as_json(w: Witness) -> str:
    out = dict(w.request)
    if w.fixed:
        out["with"] = w.fixed
    return json.dumps(out, ensure_ascii=False, sort_keys=False)


def as_test_case(w: Witness, stage: str, name: str, expect: str, notes: list[str]) -> str:
    """The witness as a case of a *.tests.yaml file."""
    import yaml

    case: dict[str, Any] = {"name": name, "stage": stage}
    case.update({k: v for k, v in w.request.items() if v is not None})
    if w.fixed:
        case["with"] = w.fixed
    case["expect"] = expect
    text = yaml.safe_dump([case], sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)
    lines = [f"# {n}" for n in notes + w.unfixable]
    return "\n".join(lines + [text.rstrip()])





def pin(space: Space, request: dict) -> list[Any]:
    """Facts fixing every variable of `space` to a concrete request (no free
    input is fixed): the encoding's outcome on it can then be read off."""
    from guardrails.prove.symbolic import ROOTS

    z3, J = space.z3, space.J
    out = []
    if space.tool is not None:
        out.append(space.tool == z3.StringVal(request["tool"]))
    if space.text is not None and "text" in request:
        out.append(space.text == z3.StringVal(request["text"]))
    values: dict[str, Any] = {root: request.get(root) or {} for root in ROOTS[space.stage]}
    for name in sorted(space.paths, key=len):
        if name not in values:
            parent, key = space.parents[name]
            box = values.get(parent, _ABSENT)
            if isinstance(key, int):
                ok = isinstance(box, list) and key < len(box)
            else:
                ok = isinstance(box, dict) and key in box
            values[name] = box[key] if ok else _ABSENT
        out.append(space.paths[name] == _term(z3, J, values[name]))
    for path, box in space.members.items():
        for lit, b in box.values():
            v = values.get(path)
            out.append(b == z3.BoolVal(isinstance(v, list) and any(_same(x, lit) for x in v)))
    for key in space.free:
        if key.startswith("omitted:"):
            out.append(space.free[key].var == z3.BoolVal(request.get(key.split(":", 1)[1]) is None))
    return out


def _term(z3: Any, J: Any, v: Any) -> Any:
    if v is _ABSENT:
        return J.absent
    if v is None:
        return J.null
    if isinstance(v, bool):
        return J.boolean(z3.BoolVal(v))
    if isinstance(v, (int, float)):
        return J.number(z3.RealVal(str(Fraction(v))))
    if isinstance(v, str):
        return J.string(z3.StringVal(v))
    if isinstance(v, dict):
        return J.map(len(v))
    return J.list(len(v))
__all__ = ["Witness", "as_json", "as_test_case", "build", "decide", "pin"]
