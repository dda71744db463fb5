"""Graph export: DOT and Mermaid show every rule, detector and combiner, and
the DOT is well-formed Graphviz source (checked by a small parser below)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from guardrails import Engine
from guardrails.authoring.export import to_dot, to_mermaid

POLICIES = Path(__file__).resolve().parent.parent / "policies"
NAMES = ["support-bot", "coding-assistant", "rag-search"]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_path(POLICIES)


def _ident(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


# ---- a parser for the DOT subset the exporter writes -------------------------

_TOKEN = re.compile(r'\s*(?:(->|--)|("(?:[^"\\\n]|\\.)*")|([A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?)|([{}\[\];,=]))')


class DotError(AssertionError):
    pass


def _tokens(src: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(src):
        if src[pos:].strip() == "":
            break
        m = _TOKEN.match(src, pos)
        if m is None:
            raise DotError(f"cannot tokenise at offset {pos}: {src[pos:pos + 40]!r}")
        edge, string, ident, punct = m.groups()
        out.append(("edge", edge) if edge else ("id", string[1:-1]) if string else ("id", ident) if ident
                   else (punct, punct))
        pos = m.end()
    return out


class _Dot:
    """digraph ID { stmt* } with node, edge, attribute and subgraph statements."""

    def __init__(self, src: str):
        self.toks = _tokens(src)
        self.i = 0
        self.nodes: dict[str, dict[str, str]] = {}
        self.edges: list[tuple[str, str]] = []

    def peek(self, k: int = 0) -> tuple[str, str] | None:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else None

    def take(self, kind: str) -> str:
        tok = self.peek()
        if tok is None or tok[0] != kind:
            context = " ".join(v for _, v in self.toks[max(0, self.i - 4): self.i + 3])
            raise DotError(f"expected {kind}, found {tok!r} near: {context}")
        self.i += 1
        return tok[1]

    def parse(self) -> "_Dot":
        if self.take("id") != "digraph":
            raise DotError("a DOT graph starts with 'digraph'")
        if self.peek() and self.peek()[0] == "id":
            self.take("id")
        self.block()
        if self.peek() is not None:
            raise DotError(f"text after the closing brace: {self.peek()!r}")
        return self

    def block(self) -> None:
        self.take("{")
        while self.peek() and self.peek()[0] != "}":
            self.statement()
            if self.peek() and self.peek()[0] == ";":
                self.take(";")
        self.take("}")

    def attrs(self) -> dict[str, str]:
        out = {}
        self.take("[")
        while self.peek() and self.peek()[0] != "]":
            key = self.take("id")
            self.take("=")
            out[key] = self.take("id")
            if self.peek() and self.peek()[0] in (",", ";"):
                self.i += 1
        self.take("]")
        return out

    def statement(self) -> None:
        first = self.take("id")
        if first == "subgraph":
            if self.peek() and self.peek()[0] == "id":
                self.take("id")
            self.block()
            return
        nxt = self.peek()
        if nxt and nxt[0] == "=":
            self.take("=")
            self.take("id")
            return
        if first in ("graph", "node", "edge"):
            self.attrs()
            return
        chain = [first]
        while self.peek() and self.peek()[0] == "edge":
            if self.take("edge") != "->":
                raise DotError("a digraph uses '->'")
            chain.append(self.take("id"))
        attrs = self.attrs() if self.peek() and self.peek()[0] == "[" else {}
        if len(chain) == 1:
            self.nodes[first] = attrs
        else:
            self.edges.extend(zip(chain, chain[1:]))


def _parse_dot(src: str) -> _Dot:
    return _Dot(src).parse()


def test_the_dot_parser_rejects_an_unescaped_quote():
    with pytest.raises(DotError):
        _parse_dot('digraph "g" { a [label="x == "y""]; }')
    with pytest.raises(DotError):
        _parse_dot('digraph "g" { a [label="x"]; ')
    parsed = _parse_dot('digraph "g" { rankdir=LR; a [label="x == \\"y\\"\\n"]; subgraph c { b; } a -> b; }')
    assert set(parsed.nodes) == {"a", "b"} and parsed.edges == [("a", "b")]


# ---- DOT ---------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_dot_is_well_formed(engine, name):
    dot = to_dot(engine.get_policy(name))
    assert dot.startswith(f'digraph "{name}" {{')
    assert dot.count("{") == dot.count("}")
    _parse_dot(dot)


@pytest.mark.parametrize("name", NAMES)
def test_dot_shows_every_rule_detector_and_combiner(engine, name):
    policy = engine.get_policy(name)
    dot = to_dot(policy)
    for stage, graph in policy.stages.items():
        if not graph.rules:
            assert f"cluster_{stage}" not in dot
            continue
        assert f"subgraph cluster_{stage} {{" in dot
        assert f"{stage}_combine [" in dot
        for det in graph.detectors:
            assert f'{_ident(stage, "det", det)} [label="{det}"' in dot
        for rule in graph.rules:
            rid = _ident(stage, "rule", rule.qid)
            assert f'{rid} [label="{rule.qid}\\n{rule.effect}' in dot
            assert f"{rid} -> {stage}_combine;" in dot
            for det in rule.detectors:
                if det in graph.detectors:
                    assert f"{_ident(stage, 'det', det)} -> {rid};" in dot


def test_dot_edges_join_declared_nodes():
    # Conditions without string literals, so this holds apart from label escaping.
    policy = Engine.from_source(
        'policy "plain" version "1.0.0"\n'
        "tools refunds = [\"issue_refund\"]\n"
        "input { rule mail: redact [EMAIL_ADDRESS] using mask\n"
        "        rule big: warn \"long\" when length(text) > 10 }\n"
        "tool_call { rule ok: allow when tool in refunds and args has amount }\n"
    ).get_policy()
    parsed = _parse_dot(to_dot(policy))
    for a, b in parsed.edges:
        assert a in parsed.nodes and b in parsed.nodes, (a, b)
    assert ("input_det_pii", "input_rule_mail") in parsed.edges
    assert ("tool_call_index", "tool_call_rule_ok") in parsed.edges
    assert parsed.nodes["tool_call_index"]["label"] == "tool index\\n1 tools"
    combined = {a for a, b in parsed.edges if b == "input_combine"}
    assert combined == {"input_rule_mail", "input_rule_big"}


def test_dot_labels_keep_quotes_in_conditions():
    policy = Engine.from_source(
        'policy "q" version "1.0.0"\ninput { rule q: deny "x" when text contains "say \\"hi\\"" }\n'
    ).get_policy()
    parsed = _parse_dot(to_dot(policy))
    label = parsed.nodes["input_rule_q"]["label"]
    assert "say" in label and "hi" in label


# ---- Mermaid -----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_mermaid_shows_every_rule_detector_and_combiner(engine, name):
    policy = engine.get_policy(name)
    mm = to_mermaid(policy)
    lines = mm.splitlines()
    assert lines[0] == "flowchart LR"
    assert sum(1 for ln in lines if ln.strip().startswith("subgraph ")) == sum(1 for ln in lines if ln.strip() == "end")
    for ln in lines:
        assert ln.count('"') % 2 == 0, ln  # quotes inside labels are entities (#quot;)
    for stage, graph in policy.stages.items():
        if not graph.rules:
            continue
        assert f'  subgraph {stage}["{stage}"]' in lines
        assert any(ln.strip().startswith(f"{stage}_combine{{") for ln in lines)
        for det in graph.detectors:
            assert f'    {_ident(stage, "det", det)}["{det}"]' in lines
        for rule in graph.rules:
            rid = _ident(stage, "rule", rule.qid)
            assert any(ln.strip().startswith(f'{rid}["{rule.qid}<br/>{rule.effect}') for ln in lines), rule.qid
            assert f"    {rid} --> {stage}_combine" in lines


def test_mermaid_escapes_quotes(engine):
    mm = to_mermaid(engine.get_policy("support-bot"))
    assert 'tool == #quot;write_file#quot;' in to_mermaid(engine.get_policy("coding-assistant"))
    assert '"manager"' not in mm
