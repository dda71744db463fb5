"""Export a compiled rule graph as Graphviz DOT or Mermaid source.

The picture shows what the compiler built: per stage, the shared detector
nodes, the rules grouped by cost tier (with the tool index for tool calls),
and the combiner that applies the precedence deny > escalate > redact/allow.
"""

from __future__ import annotations

import re

from guardrails.rulegraph import CompiledPolicy, RuleNode

_TIER_NAMES = {0: "tier 0: plain conditions", 1: "tier 1: cheap detectors", 2: "tier 2: PII analyzer"}


def _id(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


def _rule_lines(r: RuleNode) -> list[str]:
    head = r.effect + (f" -> {r.route}" if r.route else "")
    cond = r.source if len(r.source) <= 60 else r.source[:57] + "..."
    return [r.qid, head, f"when {cond}"]


def _dot(lines: list[str] | str) -> str:
    """A DOT double-quoted string body; lines joined with DOT's \\n."""
    if isinstance(lines, str):
        lines = [lines]
    return "\\n".join(s.replace("\\", "\\\\").replace('"', '\\"') for s in lines)


def _stages(p: CompiledPolicy):
    for name, g in p.stages.items():
        if g.rules:
            yield name, g


_COLORS = {"deny": "#fde2e1", "allow": "#e1f5e4", "redact": "#fff4d6", "escalate": "#efe1fd", "warn": "#f1f1f1",
           "label": "#e0f2f1"}
_COMBINE = ["combine", "deny > escalate > redact/allow"]


def _layout(g, s: str):
    """One stage's nodes (id, kind, label lines, rule) and edges (src, dst, label),
    shared by both renderers so the two pictures cannot drift apart."""
    nodes = [(f"{s}_in", "request", [f"{g.stage} request"], None),
             (f"{s}_combine", "combine", _COMBINE, None)]
    edges: list[tuple[str, str, str | None]] = []
    for det in sorted(g.detectors):
        nodes.append((_id(s, "det", det), "detector", [det], None))
        edges.append((f"{s}_in", _id(s, "det", det), None))
    if g.stage == "tool_call" and g.by_tool:
        nodes.append((f"{s}_index", "index", ["tool index", f"{len(g.by_tool)} tools"], None))
        edges.append((f"{s}_in", f"{s}_index", None))
    for r in g.rules:
        rid = _id(s, "rule", r.qid)
        nodes.append((rid, "rule", _rule_lines(r), r))
        deps = [d for d in r.detectors if d in g.detectors]
        if deps:
            edges.extend((_id(s, "det", d), rid, None) for d in deps)
        elif g.stage == "tool_call" and r.tools is not None:
            edges.append((f"{s}_index", rid, ", ".join(sorted(r.tools))[:40]))
        else:
            edges.append((f"{s}_in", rid, None))
        edges.append((rid, f"{s}_combine", None))
    return nodes, edges


_DOT_SHAPES = {
    "request": "shape=oval",
    "combine": "shape=diamond",
    "detector": 'shape=box, style=filled, fillcolor="#e8f0fe"',
    "index": "shape=cylinder",
}


def to_dot(p: CompiledPolicy) -> str:
    out = [f'digraph "{_dot(p.name)}" {{', "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];',
           '  edge [fontname="Helvetica", fontsize=9];',
           f'  label="{_dot(p.name + " " + p.version)}"; labelloc=t;']
    for stage, g in _stages(p):
        s = _id(stage)
        out.append(f"  subgraph cluster_{s} {{")
        out.append(f'    label="{stage}"; style=rounded;')
        nodes, edges = _layout(g, s)
        for nid, kind, lines, rule in nodes:
            if rule is None:
                out.append(f'    {nid} [label="{_dot(lines)}", {_DOT_SHAPES[kind]}];')
            else:
                out.append(f'    {nid} [label="{_dot(lines)}", shape=box, style="rounded,filled", '
                           f'fillcolor="{_COLORS[rule.effect]}", tooltip="{_TIER_NAMES[rule.tier]}"];')
        for src, dst, label in edges:
            out.append(f'    {src} -> {dst} [label="{_dot(label)}"];' if label else f"    {src} -> {dst};")
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def _mm(lines: list[str] | str) -> str:
    if isinstance(lines, str):
        lines = [lines]
    return "<br/>".join(s.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;") for s in lines)


_MM_SHAPES = {"request": '(["{}"])', "combine": '{{"{}"}}', "index": '[("{}")]'}


def to_mermaid(p: CompiledPolicy) -> str:
    out = ["flowchart LR"]
    for stage, g in _stages(p):
        s = _id(stage)
        out.append(f'  subgraph {s}["{stage}"]')
        nodes, edges = _layout(g, s)
        for nid, kind, lines, _rule in nodes:
            out.append(f"    {nid}" + _MM_SHAPES.get(kind, '["{}"]').format(_mm(lines)))
        for src, dst, _label in edges:
            out.append(f"    {src} --> {dst}")
        out.append("  end")
    return "\n".join(out) + "\n"


def to_python(p: CompiledPolicy) -> str:
    """The generated source of each stage (guardrails.codegen), with a note
    for each stage that has rules but is left to the interpreter."""
    out = [f"# {p.name} {p.version}: the generated decision functions, per stage"]
    for stage, g in _stages(p):
        if g.code is None:
            out.append(f"\n# stage {stage}: interpreted (rules with detectors, redactions or an attribute index)")
        else:
            out.append("\n" + g.code.source.rstrip("\n"))
    return "\n".join(out) + "\n"
