"""The front-door packages' shape: guard/ and sidecar/ import in one
direction, at module level, and export what their docs show.

tests/test_layout.py checks the whole package (no cycles, no private names
across modules, module sizes); these pin the layering inside the two front
doors, so a shared helper cannot drift back up into a module that imports it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRONT_DOORS = [ROOT / "guardrails" / "guard", ROOT / "guardrails" / "sidecar"]


def _sources() -> list[Path]:
    return sorted(p for d in FRONT_DOORS for p in d.glob("*.py"))


def _package_imports(path: Path) -> set[str]:
    """The guardrails modules `path` imports (`from P import m` counts as P.m when m is a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("guardrails"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if (ROOT / Path(*sub.split("."))).with_suffix(".py").exists() else node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("guardrails"))
    return out


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_front_door_modules_import_at_module_level(path):
    # A late import hides a dependency (and once hid cycles); these modules have no reason for one.
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    late = [f"line {n.lineno}: {ast.unparse(n)}" for n in ast.walk(tree)
            if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in top]
    assert late == []


@pytest.mark.parametrize("module, must_not_import", [
    # Shared parts sit below the modules that use them.
    ("guard/steps", {"decorator", "tool", "call", "inputs", "stream_adapter"}),
    ("guard/inputs", {"decorator", "tool", "call", "steps", "stream_adapter"}),
    ("guard/call", {"decorator", "tool", "stream_adapter"}),
    ("guard/stream_adapter", {"decorator", "tool"}),
    ("guard/tool", {"decorator", "call", "stream_adapter"}),
    ("sidecar/admission", {"rpc", "rpc_stream", "server", "config"}),
    ("sidecar/config", {"rpc", "rpc_stream", "server", "admission"}),
    ("sidecar/rpc", {"rpc_stream", "server"}),
    ("sidecar/rpc_stream", {"server"}),
])
def test_front_door_layers(module, must_not_import):
    package, name = module.split("/")
    imported = _package_imports(ROOT / "guardrails" / package / f"{name}.py")
    forbidden = {f"guardrails.{package}.{m}" for m in must_not_import}
    assert imported & forbidden == set()


def test_the_sidecar_package_exports_the_client_and_the_server_lazily():
    code = (
        "import sys\n"
        "import guardrails.sidecar as s\n"
        "assert 'grpc' not in sys.modules, 'importing guardrails.sidecar loaded grpc'\n"
        "from guardrails.sidecar import ServerConfig\n"
        "assert 'grpc' not in sys.modules, 'ServerConfig loaded grpc'\n"
        "from guardrails.sidecar import GuardrailsClient, SidecarServer\n"
        "from guardrails.sidecar.client import GuardrailsClient as C\n"
        "from guardrails.sidecar.server import ServerConfig as SC, SidecarServer as SS\n"
        "assert (GuardrailsClient, ServerConfig, SidecarServer) == (C, SC, SS)\n"
        "assert sorted(s.__all__) == ['GuardrailsClient', 'ServerConfig', 'SidecarServer']\n"
        "try:\n"
        "    s.NoSuchName\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise AssertionError('an unknown name resolved')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_the_guard_package_exports_its_documented_names():
    import guardrails.guard as g
    from guardrails.guard.call import ToolCall
    from guardrails.guard.tool import guard_tool

    assert g.ToolCall is ToolCall and g.guard_tool is guard_tool
    assert sorted(g.__all__) == ["CONTINUE", "EscalationRequired", "PolicyViolation", "ToolCall",
                                 "current_session", "guard", "guard_tool", "session"]
