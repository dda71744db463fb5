"""The language reference is tested: every ```policy block in docs/language.md
loads exactly as the text around it says.

Info strings:

- ```policy                    loads with no errors;
- ```policy error=E101         fails, and E101 is the only error code;
- ```policy warning=W102       loads with no errors and reports W102;
- ```policy ner-model=NAME     loads with that NER model when it is installed,
                               and otherwise fails with E601 only.

A block whose first statement is a `policy` or `module` header is a whole
file; any other block is a fragment and gets `policy "doc" version "1.0.0"`
in front. Imports resolve against the `module` blocks of the document itself
(all their versions), so the import examples load the modules they show.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from guardrails.diagnostics import CODES, Diagnostics
from guardrails.engine import LoadResult, load_sources
from guardrails.resolve import parse_source

DOC = Path(__file__).resolve().parent.parent / "docs" / "language.md"
# Every document whose ```policy blocks are checked here, the language reference first.
CHECKED_DOCS = (DOC, DOC.parent / "sessions.md", DOC.parent / "schema.md")
FRAGMENT_HEADER = 'policy "doc" version "1.0.0"\n'
OPTIONS = {"error", "warning", "ner-model"}

_HEADER = re.compile(r'(policy|module)\s+"')
_MODULE_NAME = re.compile(r'^\s*module\s+"([^"]+)"', re.M)
_IMPORT = re.compile(r'^\s*import\s+"([^"]+)"', re.M)


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    options: dict[str, str]
    body: str
    doc: str = "language.md"

    @property
    def whole_file(self) -> bool:
        for raw in self.body.splitlines():
            stripped = raw.strip()
            if stripped and not stripped.startswith("#"):
                return bool(_HEADER.match(stripped))
        return False

    @property
    def source(self) -> str:
        return self.body if self.whole_file else FRAGMENT_HEADER + self.body

    @property
    def path(self) -> str:
        return f"{self.doc}:{self.line}"


def _fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """(line, info string, body) of every fenced block, any language."""
    out = []
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            start, info = i + 1, lines[i][3:].strip()
            i += 1
            body = []
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            assert i < len(lines), f"language.md:{start}: unclosed code fence"
            out.append((start, info, "".join(body)))
        i += 1
    return out


def _policy_blocks() -> list[Block]:
    blocks = []
    for doc in CHECKED_DOCS:
        for line, info, body in _fenced_blocks(doc.read_text(encoding="utf-8")):
            words = info.split()
            if not words or words[0] != "policy":
                continue
            words = words[1:]
            options = dict(w.split("=", 1) if "=" in w else (w, "") for w in words)
            blocks.append(Block(line, options, body, doc.name))
    return blocks


BLOCKS = _policy_blocks()
# The document's own modules, importable by the other blocks.
LIBRARY: dict[str, list[Block]] = {}
for _b in BLOCKS:
    _m = _MODULE_NAME.search(_b.body) if _b.whole_file else None
    if _m and "error" not in _b.options:
        LIBRARY.setdefault(_m.group(1), []).append(_b)


def _imported(block: Block) -> list[Block]:
    """The document's module blocks that `block` imports, transitively."""
    out: list[Block] = []
    todo = list(_IMPORT.findall(block.body))
    while todo:
        name = todo.pop()
        for dep in LIBRARY.get(name, []):
            if dep is not block and dep not in out:
                out.append(dep)
                todo.extend(_IMPORT.findall(dep.body))
    return out


def _load(block: Block, ner_model: str | None = None) -> LoadResult:
    diags = Diagnostics()
    files = [parse_source(block.source, block.path, diags)]
    files += [parse_source(dep.source, dep.path, diags) for dep in _imported(block)]
    return load_sources(files, ner_model=ner_model, diags=diags)


def _report(result: LoadResult) -> str:
    return "\n".join(d.render(result.sources.get(d.span.file)) for d in result.diagnostics)


def _error_codes(result: LoadResult) -> set[str]:
    return {d.code for d in result.diagnostics if d.is_error}


def test_the_document_has_policy_blocks():
    assert len(BLOCKS) >= 40, "docs/language.md lost its examples"
    assert "doc-baseline" in LIBRARY


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.doc}-line-{b.line}" for b in BLOCKS])
def test_policy_block(block: Block):
    unknown = set(block.options) - OPTIONS
    assert not unknown, f"{block.path}: unknown option(s) {sorted(unknown)} in the info string"

    if "ner-model" in block.options:
        model = block.options["ner-model"]
        if importlib.util.find_spec(model) is not None:
            result = _load(block, ner_model=model)
            assert not _error_codes(result), _report(result)
        else:
            # Without the model the same block must fail for that reason only.
            result = _load(block)
            assert _error_codes(result) == {"E601"}, _report(result)
        return

    result = _load(block)
    if "error" in block.options:
        code = block.options["error"]
        assert code in CODES, f"{block.path}: {code} is not a diagnostic code"
        assert _error_codes(result) == {code}, _report(result)
        return

    assert not _error_codes(result), _report(result)
    if "warning" in block.options:
        code = block.options["warning"]
        own = {d.code for d in result.diagnostics if not d.is_error and d.span.file == block.path}
        assert code in own, _report(result)


def test_every_diagnostic_code_is_documented():
    text = DOC.read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `([EW]\d{3})` \|", text, re.M))
    missing = sorted(set(CODES) - table)
    stale = sorted(table - set(CODES))
    assert not missing, f"codes missing from the table in docs/language.md: {missing}"
    assert not stale, f"codes in docs/language.md that guardrails.diagnostics.CODES lacks: {stale}"
    for code in CODES:
        assert code in text


def test_every_runtime_error_code_is_documented():
    from guardrails.diagnostics import RUNTIME_CODES, RuntimeCode

    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Runtime semantics and errors"):text.index("## Evasion-resistant matching")]
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", section, re.M)) | set(re.findall(r"`(guard-unavailable)`", section))
    assert documented == set(RUNTIME_CODES)
    # The constants and the table are the same vocabulary.
    constants = {v for k, v in vars(RuntimeCode).items() if k.isupper()}
    assert constants == set(RUNTIME_CODES)


def test_the_readme_agent_policy_is_an_excerpt_of_the_real_one():
    """The README shows policies/agent-assistant.policy: every line it shows is in the file."""
    root = DOC.parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Guard an agent's whole run"):readme.index("## Run it as a sidecar")]
    (block,) = [body for _line, info, body in _fenced_blocks(section) if info == "policy"]
    policy = {line.rstrip() for line in (root / "policies" / "agent-assistant.policy").read_text().splitlines()}
    missing = [line for line in block.splitlines() if line.strip() and line.rstrip() not in policy]
    assert not missing, f"README lines not in policies/agent-assistant.policy: {missing}"
