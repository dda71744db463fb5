"""The TextMate grammar of ``.policy`` files (editors/textmate/) and the VS
Code extension that carries it (editors/vscode/).

The grammar is run here by a small TextMate tokenizer written for the test
(match, begin/end, captures, includes, a rule stack across lines), its
regexes compiled with the `regex` module, whose syntax covers what the
grammar uses of Oniguruma's (lookarounds, classes, anchors). With it:

- every example policy tokenises with no gaps: each non-blank character
  gets a scope of its own, never only the file's base scope or a ``meta.``
  block, and never ``invalid.illegal``;
- every keyword of the Lark grammar (grammar/policy.lark) is highlighted as
  a keyword, a type or a language constant, not as a plain name;
- words that are keywords elsewhere stay names inside a rule id
  (``redact-contact``), and ``label`` is a declaration at the top level but
  an effect inside a stage.

Where node and the packages of editors/textmate/check/ are installed, VS
Code's own engine (vscode-textmate on Oniguruma) tokenises the same texts
and must give every character the same scopes as the tokenizer here, so the
checks above hold for the engine editors run too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import regex

from guardrails.lsp.lexicon import keywords

ROOT = Path(__file__).resolve().parent.parent
GRAMMAR_PATH = ROOT / "editors" / "textmate" / "guardrails-policy.tmLanguage.json"
#: VS Code's own TextMate engine (vscode-textmate on Oniguruma), installed by
#: the CI command with `npm ci` in this folder.
VSCODE_ENGINE = ROOT / "editors" / "textmate" / "check"
VSCODE = ROOT / "editors" / "vscode"
EXAMPLES = sorted([*ROOT.glob("policies/*.policy"), *ROOT.glob("examples/**/*.policy")])
BASE = "source.guardrails-policy"
#: What counts as highlighted for a keyword: anything but a plain name.
KEYWORD_SCOPES = ("keyword.", "storage.", "constant.language.", "variable.language.", "support.")


@dataclass
class Frame:
    """An open begin/end rule: its end regex and the scopes inside it."""

    rule: dict
    end: regex.Pattern | None
    scopes: tuple[str, ...]


class Tokenizer:
    def __init__(self, grammar: dict):
        self.grammar = grammar
        self.repo = grammar["repository"]
        self._compiled: dict[str, regex.Pattern] = {}

    def compile(self, pattern: str) -> regex.Pattern:
        if pattern not in self._compiled:
            self._compiled[pattern] = regex.compile(pattern)
        return self._compiled[pattern]

    def rules(self, patterns: list[dict]) -> list[dict]:
        """The patterns with includes replaced by what they name, in order."""
        out: list[dict] = []
        for p in patterns:
            if "include" in p:
                ref = p["include"]
                target = self.grammar if ref == "$self" else self.repo[ref.removeprefix("#")]
                out.extend(self.rules([target]) if "match" in target or "begin" in target
                           else self.rules(target["patterns"]))
            elif "match" in p or "begin" in p:
                out.append(p)
            else:
                out.extend(self.rules(p["patterns"]))
        return out

    def tokenize(self, text: str) -> list[list[tuple[str, ...]]]:
        """Per line, the scopes of each character (outermost first)."""
        stack = [Frame(self.grammar, None, (BASE,))]
        lines = []
        for line in text.split("\n"):
            scopes: list[tuple[str, ...]] = [()] * len(line)
            pos = 0
            while pos <= len(line):
                top = stack[-1]
                best = None  # (start, order, kind, rule, match)
                if top.end is not None:
                    m = top.end.search(line, pos)
                    if m:
                        best = (m.start(), -1, "end", top.rule, m)
                for order, rule in enumerate(self.rules(top.rule["patterns"])):
                    m = self.compile(rule.get("match") or rule["begin"]).search(line, pos)
                    if m and (best is None or (m.start(), order) < best[:2]):
                        best = (m.start(), order, "match" if "match" in rule else "begin", rule, m)
                if best is None:
                    break
                start, _, kind, rule, m = best
                for i in range(pos, start):
                    scopes[i] = top.scopes
                if kind == "end":
                    self._paint(scopes, m, top.scopes, rule.get("endCaptures", {}))
                    stack.pop()
                elif kind == "match":
                    inner = top.scopes + ((rule["name"],) if "name" in rule else ())
                    self._paint(scopes, m, inner, rule.get("captures", {}))
                else:
                    inner = top.scopes + ((rule["name"],) if "name" in rule else ())
                    self._paint(scopes, m, inner, rule.get("beginCaptures", {}))
                    stack.append(Frame(rule, self.compile(rule["end"]), inner))
                if m.end() == pos and kind == "match":
                    if pos < len(line):
                        scopes[pos] = top.scopes
                    pos += 1  # an empty match must not stop the scan
                else:
                    pos = m.end()
                    if kind == "end" and m.end() == m.start() and pos == len(line):
                        continue
                if pos == len(line) and top is stack[-1] and kind != "begin":
                    break
            for i in range(pos, len(line)):
                if not scopes[i]:
                    scopes[i] = stack[-1].scopes
            lines.append(scopes)
        return lines

    @staticmethod
    def _paint(scopes, m, inner, captures) -> None:
        for i in range(m.start(), m.end()):
            scopes[i] = inner
        for group, cap in sorted(captures.items(), key=lambda kv: int(kv[0])):
            g = int(group)
            if m.start(g) < 0 or "name" not in cap:
                continue
            for i in range(m.start(g), m.end(g)):
                scopes[i] = inner + (cap["name"],)


@pytest.fixture(scope="module")
def grammar() -> dict:
    return json.loads(GRAMMAR_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tok(grammar) -> Tokenizer:
    return Tokenizer(grammar)


def _leaf(scopes: tuple[str, ...]) -> str:
    return scopes[-1] if scopes else ""


def _gaps(tok: Tokenizer, text: str, where: str) -> list[str]:
    problems = []
    for n, (line, scopes) in enumerate(zip(text.split("\n"), tok.tokenize(text)), 1):
        for col, (ch, sc) in enumerate(zip(line, scopes), 1):
            leaf = _leaf(sc)
            if not ch.isspace() and (leaf in ("", BASE) or leaf.startswith(("meta.", "invalid."))):
                problems.append(f"{where}:{n}:{col}: {ch!r} has scope {leaf or 'none'}: {line.strip()}")
    return problems


def _scope_of(tok: Tokenizer, text: str, needle: str, nth: int = 0) -> str:
    """The innermost scope of the first character of the `nth` `needle` in `text`."""
    offset = -1
    for _ in range(nth + 1):
        offset = text.index(needle, offset + 1)
    line = text.count("\n", 0, offset)
    col = offset - (text.rfind("\n", 0, offset) + 1)
    return _leaf(tok.tokenize(text)[line][col])


def test_the_grammar_is_well_formed(grammar, tok):
    assert grammar["scopeName"] == BASE and grammar["fileTypes"] == ["policy"]
    seen = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("match", "begin", "end"):
                if key in node:
                    tok.compile(node[key])
                    seen.append(node[key])
            if "include" in node and node["include"] != "$self":
                assert node["include"].removeprefix("#") in grammar["repository"], node["include"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(grammar)
    assert len(seen) > 20


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_policy_tokenises_without_gaps(tok, path):
    assert _gaps(tok, path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))) == []


def test_there_are_example_policies():
    assert len(EXAMPLES) >= 5


def test_every_keyword_of_the_lark_grammar_is_highlighted(tok):
    words = keywords()
    assert {"policy", "rule", "deny", "when", "matches", "redact", "tool_call"} <= set(words)
    missing = []
    for word in words:
        top = f'policy "p" version "1.0.0"\n{word}\n'
        in_rule = f'policy "p" version "1.0.0"\ninput {{\n  rule r: deny "x" when {word}\n}}\n'
        scopes = {_leaf(tok.tokenize(top)[1][0]), _leaf(tok.tokenize(in_rule)[2][len('  rule r: deny "x" when ')])}
        if not any(s.startswith(KEYWORD_SCOPES) for s in scopes):
            missing.append(f"{word}: {sorted(scopes)}")
    assert missing == []


def test_context_decides_what_a_word_is(tok):
    text = ('policy "p" version "1.0.0"\nlabel untrusted "outside"\n'
            'input {\n  rule redact-contact: label untrusted when text contains "x"\n}\n')
    assert _scope_of(tok, text, "label") == "storage.type.declaration.guardrails-policy"
    assert _scope_of(tok, text, "untrusted") == "entity.name.type.guardrails-policy"
    assert _scope_of(tok, text, "redact-contact") == "entity.name.function.rule.guardrails-policy"
    assert _scope_of(tok, text, "label", 1) == "keyword.control.effect.guardrails-policy"
    assert _scope_of(tok, text, "contains") == "keyword.operator.word.guardrails-policy"
    assert _scope_of(tok, text, "text contains") == "variable.language.guardrails-policy"
    assert _scope_of(tok, text, '"x"') == "punctuation.definition.string.begin.guardrails-policy"
    # A '#' inside a string is no comment; one after it is.
    text = 'policy "p" version "1.0.0"\ninput {\n  rule r: deny "a # b" # why\n}\n'
    assert _scope_of(tok, text, "# b") == "string.quoted.double.guardrails-policy"
    assert _scope_of(tok, text, "# why") == "comment.line.number-sign.guardrails-policy"
    text = 'policy "p" version "1.0.0"\ninput {\n  rule r: deny "a" when pii(EMAIL_ADDRESS) and args.to == 1\n}\n'
    assert _scope_of(tok, text, "pii") == "support.function.guardrails-policy"
    assert _scope_of(tok, text, "EMAIL_ADDRESS") == "constant.other.entity.guardrails-policy"
    assert _scope_of(tok, text, "to ==") == "variable.other.property.guardrails-policy"


def test_a_stray_character_is_marked_invalid(tok):
    text = 'policy "p" version "1.0.0"\ninput {\n  rule r: deny "a" when text ~ "b"\n}\n'
    assert _scope_of(tok, text, "~") == "invalid.illegal.guardrails-policy"
    assert _gaps(tok, text, "t")  # and the gap check sees it


def test_the_vscode_extension_is_complete(grammar):
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    for key in ("name", "version", "engines", "main", "contributes", "activationEvents"):
        assert key in manifest, key
    assert (VSCODE / manifest["main"]).is_file()
    [language] = manifest["contributes"]["languages"]
    assert language["extensions"] == [".policy"]
    assert (VSCODE / language["configuration"]).is_file()
    [tm] = manifest["contributes"]["grammars"]
    assert tm["language"] == language["id"] and tm["scopeName"] == grammar["scopeName"]
    # The extension carries its own copy (a packaged extension holds only its
    # folder); it must be the grammar above, byte for byte.
    assert (VSCODE / tm["path"]).read_bytes() == GRAMMAR_PATH.read_bytes()
    assert "vscode-languageclient" in manifest["dependencies"]
    source = (VSCODE / manifest["main"]).read_text(encoding="utf-8")
    assert '"lsp"' in source and "vscode-languageclient" in source
    config = json.loads((VSCODE / language["configuration"]).read_text(encoding="utf-8"))
    assert config["comments"]["lineComment"] == "#"


#: Texts beyond the example policies that both engines must agree on: the
#: schema declarations, `unless`, a stray character, an unclosed string.
EXTRA_TEXTS = {
    "schemas.policy": (
        'policy "p" version "1.0.0"\n'
        'tool refund(order_id: string, amount: number, note?: string, tags: list[string], '
        'meta: {a: integer, ...}) with owner = "finance", risk = ["high"]\n'
        'tool "web.fetch"(url: string)\n'
        'principal { id: string, role: "employee" | "admin", ... }\n'
        'context { ticket?: string }\n'
        'tools analyst = [readonly, "payments"]\n'
        'tool_call {\n'
        '  rule r: deny "x" when tool.owner == "finance" unless principal.role == "admin"\n'
        '  rule s: warn "a \\"b\\" {entity}" when text ~ "open\n'
        '}\n'),
    "keywords.policy": 'policy "p" version "1.0.0"\n' + "\n".join(keywords()) + "\ninput {\n"
    + "".join(f'  rule r{i}: deny "x" when {w}\n' for i, w in enumerate(keywords())) + "}\n",
}


def _vscode_scopes(paths: list[Path]) -> dict[str, list[list[tuple[str, ...]]]]:
    """Per file and line, each character's scopes from vscode-textmate."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: VS Code's TextMate engine cannot run")
    if not (VSCODE_ENGINE / "node_modules" / "vscode-textmate").is_dir():
        pytest.skip("vscode-textmate is not installed: run `npm ci` in editors/textmate/check")
    proc = subprocess.run([node, str(VSCODE_ENGINE / "tokenize.js"), *map(str, paths)], check=False,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = {}
    for file, lines in json.loads(proc.stdout).items():
        text_lines = Path(file).read_text(encoding="utf-8").split("\n")
        per_line = []
        for line, toks in zip(text_lines, lines):
            scopes: list[tuple[str, ...]] = [()] * len(line)
            for start, end, names in toks:
                for i in range(start, min(end, len(line))):
                    scopes[i] = tuple(names)
            per_line.append(scopes)
        out[file] = per_line
    return out


def test_vscode_textmate_gives_the_same_scopes(tok, tmp_path):
    paths = list(EXAMPLES)
    for name, text in EXTRA_TEXTS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(tmp_path / name)
    theirs = _vscode_scopes(paths)
    differences = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        ours = tok.tokenize(text)
        for n, (line, mine, vs) in enumerate(zip(text.split("\n"), ours, theirs[str(path)]), 1):
            for col, (ch, a, b) in enumerate(zip(line, mine, vs), 1):
                if not ch.isspace() and a != b:
                    differences.append(f"{path.name}:{n}:{col} {ch!r}: here {a[-1:]}, vscode-textmate {b[-1:]}")
    assert differences == []
    # The engines agree on the texts above, so the gap check holds for VS Code too.
    assert _gaps(tok, EXTRA_TEXTS["keywords.policy"], "keywords.policy") == []
