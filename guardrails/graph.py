"""Export a compiled rule graph as Graphviz DOT or Mermaid source.

The picture shows what the compiler built: per stage, the shared detector
nodes, the rules grouped by cost tier (with the tool index for tool calls),
and the combiner that applies the precedence deny > escalate > redact/allow.
"""

from __future__ import annotations

import re

from .rulegraph import CompiledPolicy, RuleNode

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


def to_dot(p: CompiledPolicy) -> str:
    out = [f'digraph "{_dot(p.name)}" {{', "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];',
           f'  label="{_dot(p.name + " " + p.version)}"; labelloc=t;']
    for stage, g in _stages(p):
        s = _id(stage)
        out.append(f"  subgraph cluster_{s} {{")
        out.append(f'    label="{stage}"; style=rounded;')
        out.append(f'    {s}_in [label="{stage} request", shape=oval];')
        out.append(f'    {s}_combine [label="combine\\ndeny > escalate > redact/allow", shape=diamond];')
        for det in sorted(g.detectors):
            out.append(f'    {_id(s, "det", det)} [label="{_dot(det)}", shape=box, style=filled, fillcolor="#e8f0fe"];')
            out.append(f"    {s}_in -> {_id(s, 'det', det)};")
        if stage == "tool_call" and g.by_tool:
            out.append(f'    {s}_index [label="tool index\\n{len(g.by_tool)} tools", shape=cylinder];')
            out.append(f"    {s}_in -> {s}_index;")
        for r in g.rules:
            rid = _id(s, "rule", r.qid)
            color = {"deny": "#fde2e1", "allow": "#e1f5e4", "redact": "#fff4d6",
                     "escalate": "#efe1fd", "warn": "#f1f1f1"}[r.effect]
            out.append(f'    {rid} [label="{_dot(_rule_lines(r))}", shape=box, style="rounded,filled", '
                       f'fillcolor="{color}", tooltip="{_TIER_NAMES[r.tier]}"];')
            deps = [d for d in r.detectors if d in g.detectors]
            if deps:
                for d in deps:
                    out.append(f"    {_id(s, 'det', d)} -> {rid};")
            elif stage == "tool_call" and r.tools is not None:
                out.append(f'    {s}_index -> {rid} [label="{_dot(", ".join(sorted(r.tools))[:40])}"];')
            else:
                out.append(f"    {s}_in -> {rid};")
            out.append(f"    {rid} -> {s}_combine;")
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def _mm(lines: list[str] | str) -> str:
    if isinstance(lines, str):
        lines = [lines]
    return "<br/>".join(s.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;") for s in lines)


def to_mermaid(p: CompiledPolicy) -> str:
    out = ["flowchart LR"]
    for stage, g in _stages(p):
        s = _id(stage)
        out.append(f'  subgraph {s}["{stage}"]')
        out.append(f'    {s}_in(["{stage} request"])')
        out.append(f'    {s}_combine{{"combine<br/>deny > escalate > redact/allow"}}')
        for det in sorted(g.detectors):
            out.append(f'    {_id(s, "det", det)}["{_mm(det)}"]')
            out.append(f"    {s}_in --> {_id(s, 'det', det)}")
        if stage == "tool_call" and g.by_tool:
            out.append(f'    {s}_index[("tool index<br/>{len(g.by_tool)} tools")]')
            out.append(f"    {s}_in --> {s}_index")
        for r in g.rules:
            rid = _id(s, "rule", r.qid)
            out.append(f'    {rid}["{_mm(_rule_lines(r))}"]')
            deps = [d for d in r.detectors if d in g.detectors]
            if deps:
                for d in deps:
                    out.append(f"    {_id(s, 'det', d)} --> {rid}")
            elif stage == "tool_call" and r.tools is not None:
                out.append(f"    {s}_index --> {rid}")
            else:
                out.append(f"    {s}_in --> {rid}")
            out.append(f"    {rid} --> {s}_combine")
        out.append("  end")
    return "\n".join(out) + "\n"
