"""Cold start (issue 16): what a fresh `guardrails eval` of tool rules imports,
and the syntax tree's classes that were rebuilt to load faster.

The import checks run real processes (`python -X importtime -m
guardrails.cli eval ...`, the command the benchmark's startup section times)
and read the modules they imported, so a module that starts importing one
of these at its top again fails here.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from guardrails import ast
from guardrails.diagnostics import Span

ROOT = Path(__file__).resolve().parent.parent

TOOL_POLICY = """
policy "cold" version "1.0.0"
tools reads = ["lookup_order", "track_shipment"]
tool_call {
  rule reads-for-all: allow when tool in reads
  rule suspended: deny "suspended users may not call tools" when principal.suspended
}
"""

#: Modules a tool-only eval never uses, each imported lazily now: Lark (the
#: hand-written reader reads a clean policy), asyncio (the engine's async
#: twins only), logging (`serve` and the PII timeout watch), the PII fast
#: path, and the heavy libraries the benchmark already watched.
NEVER = ("lark", "asyncio", "logging", "guardrails.tree_to_ast", "guardrails.detectors.pii.fastpath",
         "guardrails.detectors.pii.timeouts", "presidio_analyzer", "spacy")


def _imported(stderr: str) -> set[str]:
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[-1].strip())
    return names


def _run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-X", "importtime", *args], input=stdin, capture_output=True, check=False,
                          text=True, cwd=ROOT, timeout=120)


def test_a_tool_only_eval_decides_without_the_modules_it_never_uses(tmp_path):
    policy = tmp_path / "tools.policy"
    policy.write_text(TOOL_POLICY, encoding="utf-8")
    request = json.dumps({"tool": "lookup_order", "args": {}, "principal": {"role": "agent", "suspended": False}})
    proc = _run(["-m", "guardrails.cli", "eval", str(policy), "--stage", "tool_call", "--format", "json"], request)
    assert proc.returncode == 0, proc.stderr[-2000:]
    decision = json.loads(proc.stdout)
    assert decision["outcome"] == "allow"
    assert [v["rule"] for v in decision["violations"]] == ["reads-for-all"]
    imported = _imported(proc.stderr)
    assert "guardrails.engine" in imported  # the probe sees the process's imports
    assert sorted(m for m in NEVER if m in imported) == []


def test_the_import_probe_sees_lark_when_a_parse_needs_it(tmp_path):
    """A policy with a syntax error goes to Lark for its report: the lazy
    import works, and the probe above would see Lark if it were loaded."""
    policy = tmp_path / "bad.policy"
    policy.write_text(TOOL_POLICY.replace("allow when", "allow wehn"), encoding="utf-8")
    proc = _run(["-m", "guardrails.cli", "check", str(policy)])
    assert proc.returncode == 1
    assert "E001" in proc.stdout + proc.stderr
    assert {"lark", "guardrails.tree_to_ast"} <= _imported(proc.stderr)


def test_importing_the_package_loads_the_engine_only_when_asked():
    code = ("import sys, guardrails\n"
            "print(sorted(m for m in ('guardrails.engine', 'guardrails.decision', 'pydantic') if m in sys.modules))\n"
            "from guardrails import Engine, Decision, Violation, PolicyError, __version__\n"
            "import guardrails.engine, guardrails.decision\n"
            "assert Engine is guardrails.engine.Engine and Decision is guardrails.decision.Decision\n"
            "assert guardrails.compiler.__name__ == 'guardrails.compiler'\n"  # a submodule, as attribute
            "assert not hasattr(guardrails, 'no_such_name')\n"
            "assert set(guardrails.__all__) <= set(dir(guardrails))\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "ok"]


# ---- the syntax tree: the same classes dataclass(frozen=True, slots=True) made

NODES = sorted((c for c in vars(ast).values()
                if isinstance(c, type) and c.__module__ == "guardrails.ast" and dataclasses.is_dataclass(c)),
               key=lambda c: c.__name__)
SPAN = Span("f.policy", 2, 3, 2, 9, 10, 16)
OTHER_SPAN = Span("g.policy", 7, 1, 7, 5, 80, 84)


def _twin(cls: type) -> type:
    """`cls` as the dataclass decorator builds it, from the same fields."""
    spec = [(f.name, f.type, dataclasses.field(default=f.default, compare=f.compare, repr=f.repr))
            if f.default is not dataclasses.MISSING else (f.name, f.type) for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=True, slots=True)


def _values(cls: type, salt: str) -> dict:
    return {f.name: SPAN if f.type == "Span" else f"{salt}-{i}" for i, f in enumerate(dataclasses.fields(cls))}


def test_the_tree_has_every_node_class():
    assert len(NODES) == 47
    assert {"Policy", "Rule", "Compare", "Literal", "ToolDecl"} <= {c.__name__ for c in NODES}


@pytest.mark.parametrize("cls", NODES, ids=lambda c: c.__name__)
def test_a_node_behaves_as_a_frozen_slotted_dataclass(cls):
    twin = _twin(cls)
    vals = _values(cls, "a")
    node, ref = cls(**vals), twin(**vals)
    assert repr(node) == repr(ref)
    assert hash(node) == hash(ref)  # the same hash: sets of nodes iterate as before
    assert cls.__match_args__ == twin.__match_args__
    assert cls.__slots__ == twin.__slots__ and not hasattr(node, "__dict__")
    assert cls(*vals.values()) == node
    spanned = [f.name for f in dataclasses.fields(cls) if f.type == "Span"]
    moved = cls(**{**vals, **{name: OTHER_SPAN for name in spanned}})
    assert moved == node and hash(moved) == hash(node)  # spans are not compared
    compared = [f.name for f in dataclasses.fields(cls) if f.compare]
    if compared:
        changed = cls(**{**vals, compared[0]: "else"})
        assert changed != node and twin(**{**vals, compared[0]: "else"}) != ref
    assert node != ref  # another class, as two dataclasses never compare equal
    assert node.__eq__(ref) is NotImplemented
    # A name that is no field is refused too. (The decorator's own
    # __setattr__ raised TypeError for it on Python 3.11: its super() call
    # names the class as it was before the slots were added.)
    for name in (*vals, "not_a_field"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(node, name, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(node, next(iter(vals)))
    assert pickle.loads(pickle.dumps(node)) == node
    assert copy.deepcopy(node) == node and copy.copy(node) == node
    first = next(iter(vals))
    assert dataclasses.replace(node, **{first: "z"}) == cls(**{**vals, first: "z"})
    assert dataclasses.astuple(node) == dataclasses.astuple(ref)
    assert [(f.name, f.default, f.compare, f.repr) for f in dataclasses.fields(node)] == \
        [(f.name, f.default, f.compare, f.repr) for f in dataclasses.fields(ref)]


@pytest.mark.parametrize("cls", NODES, ids=lambda c: c.__name__)
def test_a_node_built_from_required_fields_takes_the_defaults(cls):
    required = {f.name: 0 for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
    node, ref = cls(**required), _twin(cls)(**required)
    for f in dataclasses.fields(cls):
        assert getattr(node, f.name) == getattr(ref, f.name)
    with pytest.raises(TypeError):
        cls(**required, not_a_field=1)
    if required:
        with pytest.raises(TypeError):
            cls()
