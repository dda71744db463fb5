"""The package's shape is tested: no import cycles, no private names crossing
modules, modules of a readable size, and every documented import path works.

These read the source with :mod:`ast` (imports inside functions included), so
a cycle broken at run time by a late import still fails here.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "guardrails"
GENERATED = PKG / "sidecar" / "_proto"
#: A module may pass this many lines only if its docstring says why, in a
#: paragraph that starts "Why one module:".
MAX_LINES = 520
WHY_LONG = "Why one module:"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py")) if GENERATED not in p.parents}


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(target module, imported names, line) for every import of a guardrails module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "guardrails" or target.startswith("guardrails."):
                found.append((target, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("guardrails"):
                    found.append((alias.name, [], node.lineno))
    return found


def _edges() -> dict[str, set[str]]:
    """Module -> the package modules it imports. `from P import m` counts as an
    import of P.m when m is a module, else of P itself."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, names, _ in _imports(name, path):
            if target.startswith("guardrails.sidecar._proto"):
                continue  # generated code: no edges back into the package
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            rest = [n for n in names if f"{target}.{n}" not in MODULES]
            graph[name].update(subs)
            if (rest or not names) and target in MODULES and target != name:
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_package_has_no_import_cycles():
    cycles = _cycles(_edges())
    assert cycles == [], "import cycles (imports inside functions count):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    # The check above could pass vacuously; this one proves the finder works.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_private_name_is_imported_from_another_module():
    bad = []
    for name, path in MODULES.items():
        for target, names, line in _imports(name, path):
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    # A package may import its own private submodule (guardrails._moved).
                    if f"{target}.{n}" in MODULES and target == name:
                        continue
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {n} from {target}")
    assert bad == [], "private names imported across modules:\n" + "\n".join(bad)


def test_modules_stay_a_readable_size():
    long = []
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > MAX_LINES and WHY_LONG not in (ast.get_docstring(ast.parse(text)) or ""):
            long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert long == [], (f"modules over {MAX_LINES} lines whose docstring does not say why "
                        f"({WHY_LONG!r}):\n" + "\n".join(long))


ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _drawn_tree() -> set[str]:
    """The module paths docs/architecture.md draws in its tree block."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    block = text[text.index("```\nguardrails/"):]
    block = block[4:block.index("```", 4)]
    drawn: set[str] = set()
    parents: list[tuple[int, str]] = []
    for raw in block.splitlines():
        if not raw.strip() or raw.strip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip())
        head = raw.strip().split("  ")[0]
        while parents and parents[-1][0] >= indent:
            parents.pop()
        prefix = "".join(p for _, p in parents)
        for name in head.split(", "):
            drawn.add(prefix + name.strip())
        if head.endswith("/"):
            parents.append((indent, head))
    return drawn


def test_the_architecture_page_draws_the_whole_tree():
    drawn = _drawn_tree()
    modules = {str(p.relative_to(ROOT)) for p in PKG.rglob("*.py")
               if GENERATED not in p.parents and p.name != "__init__.py"} | {"guardrails/__init__.py"}
    packages = {str(p.parent.relative_to(ROOT)) + "/" for p in PKG.rglob("__init__.py")
                if GENERATED not in p.parents and p.parent != PKG}
    # A package drawn on one line stands for its modules; once the page lists
    # one module of a package, it must list them all.
    expanded = {pkg for pkg in packages if any(d.startswith(pkg) and d != pkg for d in drawn)}
    expected = {m for m in modules if m.rsplit("/", 1)[0] + "/" in expanded or m.count("/") == 1}
    missing = sorted((expected | packages) - drawn)
    assert missing == [], f"docs/architecture.md does not draw: {missing}"
    stale = sorted(drawn - expected - packages - {"guardrails/sidecar/_proto/", "guardrails/"})
    assert stale == [], f"docs/architecture.md draws what does not exist: {stale}"


# ---- old paths keep working ------------------------------------------------------


def test_every_moved_path_is_the_module_at_its_new_home():
    from guardrails._moved import MOVED

    assert MOVED, "the alias table is empty"
    for old, new in MOVED.items():
        assert old not in MODULES, f"{old} is both moved and present"
        assert importlib.util.find_spec(new) is not None, f"{old} -> {new}, which does not exist"
        assert importlib.import_module(old) is importlib.import_module(new)


def test_an_old_submodule_path_resolves_through_its_moved_package():
    import guardrails.server.convert as old
    import guardrails.sidecar.convert as new

    assert old is new
    assert new.__spec__.name == "guardrails.sidecar.convert"  # the alias did not rename the module


def test_a_name_that_never_existed_still_fails_to_import():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("guardrails.server.no_such_module")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("guardrails.no_such_module")


def test_old_paths_work_in_a_fresh_interpreter():
    code = ("from guardrails.client import GuardrailsClient\n"
            "from guardrails.server import ServerConfig\n"
            "from guardrails.fmt import format_source\n"
            "from guardrails.streaming import StreamGuard\n"
            "import guardrails.sidecar.client as c\n"
            "assert GuardrailsClient is c.GuardrailsClient\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_importing_the_package_imports_no_presidio_or_spacy():
    code = ("import sys, guardrails, guardrails.guard, guardrails.client\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('presidio_analyzer', 'presidio_anonymizer', 'spacy', 'tldextract')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"



def test_secret_patterns_compile_only_for_a_policy_that_scans_for_secrets():
    # 32 patterns, ~30 ms: a tool-only policy does not pay them at start-up.
    code = ("import regex\n"
            "seen = []\n"
            "real = regex.compile\n"
            "regex.compile = lambda p, *a, **k: (seen.append(p), real(p, *a, **k))[1]\n"
            "from guardrails import Engine\n"
            "from guardrails.detectors.secret_kinds import KINDS\n"
            "sources = {k.source for kinds in KINDS.values() for k in kinds}\n"
            "tools = 'policy \"t\" version \"1.0.0\"\\ntool_call {\\n  rule r: deny \"no\" when tool == \"x\"\\n}\\n'\n"
            "Engine.from_source(tools).check_tool_call('x')\n"
            "before = len(sources & set(seen))\n"
            "secrets = 'policy \"s\" version \"1.0.0\"\\ninput {\\n  rule r: deny \"no\" when secrets()\\n}\\n'\n"
            "d = Engine.from_source(secrets).check_input('key AKIAABCDEFGHIJKLMNOP')\n"
            "print(before, len(sources & set(seen)) == len(sources), d.outcome.value)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "True", "deny"]

# ---- what the docs name exists -----------------------------------------------------

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
_FROM_IMPORT = re.compile(r"^\s*from (guardrails[\w.]*) import ([\w, ]+?)(?:\s+#.*)?$", re.M)
_IMPORT = re.compile(r"^\s*import (guardrails[\w.]*)\s*$", re.M)
_PATH = re.compile(r"(?<![\w/.])(guardrails/[\w/]+\.py)\b")


def _documented_imports() -> list[tuple[str, str, list[str]]]:
    found = []
    for doc in [*DOCS, *EXAMPLES]:
        text = doc.read_text(encoding="utf-8")
        for m in _FROM_IMPORT.finditer(text):
            names = [n.strip().split(" as ")[0] for n in m.group(2).split(",") if n.strip()]
            found.append((doc.name, m.group(1), names))
        for m in _IMPORT.finditer(text):
            found.append((doc.name, m.group(1), []))
    return found


def test_the_docs_show_imports():
    assert len(_documented_imports()) >= 10


@pytest.mark.parametrize("doc,module,names", _documented_imports(),
                         ids=lambda v: v if isinstance(v, str) else ",".join(v))
def test_every_documented_import_works(doc, module, names):
    mod = importlib.import_module(module)
    for n in names:
        assert hasattr(mod, n) or importlib.util.find_spec(f"{module}.{n}") is not None, \
            f"{doc}: from {module} import {n}"


def test_the_docs_show_new_paths_not_moved_ones():
    from guardrails._moved import new_name

    old = [(doc, module) for doc, module, _ in _documented_imports() if new_name(module) is not None]
    assert old == [], f"docs show moved import paths: {old}"


def test_every_source_path_the_docs_name_exists():
    missing = []
    for doc in DOCS:
        for m in _PATH.finditer(doc.read_text(encoding="utf-8")):
            if not (ROOT / m.group(1)).exists():
                missing.append(f"{doc.name}: {m.group(1)}")
    assert missing == [], "\n".join(missing)


def test_the_code_and_tests_import_new_paths_only():
    # The aliases are for users' code; ours names each module where it lives.
    from guardrails._moved import new_name

    here = Path(__file__).resolve()
    files = [*PKG.rglob("*.py"), *(p for p in (ROOT / "tests").rglob("*.py") if p != here),
             *(ROOT / "benchmarks").rglob("*.py"), *EXAMPLES]
    old = []
    for path in files:
        if GENERATED in path.parents:
            continue
        for target, names, line in _imports(_module_name(path) if PKG in path.parents else "x", path):
            for full in [target, *(f"{target}.{n}" for n in names)]:
                if new_name(full) is not None:
                    old.append(f"{path.relative_to(ROOT)}:{line}: {full}")
    assert old == [], "imports through a moved path:\n" + "\n".join(old)


def test_no_private_name_is_read_through_another_module():
    # `from guardrails import evaluate` then `evaluate._flatten(...)` is the
    # same coupling as importing `_flatten`; the import check cannot see it.
    bad = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("guardrails"):
                for a in node.names:
                    if f"{node.module}.{a.name}" in MODULES:
                        bound[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("guardrails.") and a.asname:
                        bound[a.asname] = a.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in bound and node.attr.startswith("_") and not node.attr.startswith("__")
                    and bound[node.value.id] != name):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {bound[node.value.id]}.{node.attr}")
    assert bad == [], "private names read through another module:\n" + "\n".join(bad)
