// The rule graph, drawn from `guardrails graph --format mermaid` output.
// A small reader of the flowchart subset the exporter writes (subgraphs, four
// node shapes, plain edges) and a layered left-to-right layout. No library.
"use strict";

const RuleGraph = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const unquote = (s) => s.replace(/#quot;/g, '"').replace(/#lt;/g, "<").replace(/#gt;/g, ">").replace(/#amp;/g, "&");
  // id, then one of the shapes the exporter writes: (["..."]) {"..."} [("...")] ["..."]
  const NODE = /^([A-Za-z0-9_]+)(\(\["(.*)"\]\)|\{"(.*)"\}|\[\("(.*)"\)\]|\["(.*)"\])$/;
  const EDGE = /^([A-Za-z0-9_]+)\s*-->\s*([A-Za-z0-9_]+)$/;
  const SUB = /^subgraph\s+([A-Za-z0-9_]+)\["(.*)"\]$/;

  function parse(src) {
    const groups = [];
    let group = null;
    for (const raw of src.split("\n")) {
      const line = raw.trim();
      let m;
      if (!line || line.startsWith("flowchart") || line.startsWith("%%")) continue;
      if ((m = SUB.exec(line))) { group = { id: m[1], label: unquote(m[2]), nodes: [], edges: [] }; groups.push(group); continue; }
      if (line === "end") { group = null; continue; }
      if (!group) continue;
      if ((m = EDGE.exec(line))) { group.edges.push([m[1], m[2]]); continue; }
      if ((m = NODE.exec(line))) {
        const kind = m[3] !== undefined ? "request" : m[4] !== undefined ? "combine" : m[5] !== undefined ? "index" : "box";
        const text = m[3] ?? m[4] ?? m[5] ?? m[6];
        const lines = text.split("<br/>").map(unquote);
        let k = kind;
        if (kind === "box") k = m[1].startsWith(`${group.id}_rule_`) ? "rule" : "detector";
        group.nodes.push({ id: m[1], kind: k, lines });
      }
    }
    return groups;
  }

  const CH = 6.7, LH = 14, PAD = 8, GAPX = 46, GAPY = 10, MAXCH = 42;

  function layout(group) {
    const byId = new Map(group.nodes.map((n) => [n.id, n]));
    const preds = new Map(group.nodes.map((n) => [n.id, []]));
    group.edges.forEach(([a, b]) => preds.get(b) && byId.has(a) && preds.get(b).push(a));
    // The exporter's graphs have four ranks: the request, the detectors and
    // the tool index, the rules, the combiner. A node of another kind takes
    // the rank after its furthest predecessor.
    const RANK = { request: 0, detector: 1, index: 1, rule: 2, combine: 3 };
    const layer = new Map();
    const depth = (id, seen = new Set()) => {
      if (layer.has(id)) return layer.get(id);
      if (seen.has(id)) return 0;
      seen.add(id);
      const kind = byId.get(id).kind;
      const d = kind in RANK ? RANK[kind] :
        (preds.get(id).length ? 1 + Math.max(...preds.get(id).map((p) => depth(p, seen))) : 0);
      layer.set(id, d);
      return d;
    };
    group.nodes.forEach((n) => depth(n.id));
    const columns = [];
    group.nodes.forEach((n) => {
      n.full = n.lines.join("\n");
      n.lines = n.lines.map((l) => (l.length > MAXCH ? `${l.slice(0, MAXCH - 1)}…` : l));
      n.w = Math.max(...n.lines.map((l) => l.length)) * CH + 2 * PAD + (n.kind === "combine" ? 40 : 0);
      n.h = n.lines.length * LH + 2 * PAD - 2 + (n.kind === "combine" ? 16 : 0);
      (columns[layer.get(n.id)] ||= []).push(n);
    });
    let x = 0, height = 0;
    columns.filter(Boolean).forEach((col, i) => {
      if (i > 0) col.sort((a, b) => bary(a) - bary(b)); // nearer its predecessors: fewer crossings
      let y = 0;
      const w = Math.max(...col.map((n) => n.w));
      col.forEach((n) => { n.x = x + (w - n.w) / 2; n.y = y; y += n.h + GAPY; });
      height = Math.max(height, y - GAPY);
      x += w + GAPX;
    });
    columns.filter(Boolean).forEach((col) => { // centre each column on the tallest
      const h = col.reduce((s, n) => s + n.h + GAPY, -GAPY);
      col.forEach((n) => { n.y += (height - h) / 2; });
    });
    function bary(n) {
      const ps = preds.get(n.id).map((p) => byId.get(p)).filter((p) => p.y !== undefined);
      return ps.length ? ps.reduce((s, p) => s + p.y, 0) / ps.length : 0;
    }
    return { width: x - GAPX, height, byId };
  }

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  // marks: {stage: {ruleId: "fired" | "quiet" | "skipped" | "failed"}}; effects: ruleId -> effect
  function draw(container, src, marks = {}) {
    const groups = parse(src);
    container.textContent = "";
    if (!groups.length) { container.textContent = "no rules to draw"; return; }
    const svg = el("svg", { xmlns: NS, role: "img", "aria-label": "rule graph" }, container);
    const defs = el("defs", {}, svg);
    for (const [id, color] of [["arrow", "#a5acba"], ["arrow-hot", "#d2691e"]]) {
      const mk = el("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, defs);
      el("path", { d: "M0,0 L10,5 L0,10 z", fill: color }, mk);
    }
    let top = 8, width = 0;
    for (const g of groups) {
      const { width: w, height: h, byId } = layout(g);
      const box = el("g", { class: "cluster-group", "data-stage": g.label, transform: `translate(8,${top})` }, svg);
      el("rect", { class: "cluster", x: 0, y: 0, width: w + 24, height: h + 40, rx: 8 }, box);
      el("text", { class: "cluster-label", x: 10, y: 17 }, box).textContent = g.label;
      const inner = el("g", { transform: "translate(12,28)" }, box);
      const stageMarks = marks[g.label] || {};
      const state = (n) => (n.kind === "rule" ? stageMarks[n.lines[0]] : undefined);
      for (const [a, b] of g.edges) {
        const p = byId.get(a), q = byId.get(b);
        if (!p || !q) continue;
        const hot = state(p) === "fired" || state(q) === "fired";
        const x1 = p.x + p.w, y1 = p.y + p.h / 2, x2 = q.x - 2, y2 = q.y + q.h / 2, mx = (x1 + x2) / 2;
        el("path", { class: `edge${hot ? " hot" : ""}`, d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`,
          "marker-end": `url(#${hot ? "arrow-hot" : "arrow"})` }, inner);
      }
      for (const n of g.nodes) {
        const cls = ["node", `k-${n.kind}`];
        if (n.kind === "rule") {
          const effect = (n.lines[1] || "").split(" ")[0];
          cls.push(`e-${effect}`);
          if (state(n)) cls.push(state(n));
        }
        const node = el("g", { class: cls.join(" "), transform: `translate(${n.x},${n.y})`, "data-id": n.id,
          "data-rule": n.kind === "rule" ? n.lines[0] : "" }, inner);
        if (n.kind === "combine") {
          el("path", { d: `M0,${n.h / 2} L${n.w / 2},0 L${n.w},${n.h / 2} L${n.w / 2},${n.h} z` }, node);
        } else {
          el("rect", { width: n.w, height: n.h, rx: n.kind === "request" ? n.h / 2 : n.kind === "rule" ? 6 : 2 }, node);
        }
        el("title", {}, node).textContent = n.full;
        n.lines.forEach((line, i) => {
          const t = el("text", { x: n.w / 2, y: (n.h - n.lines.length * LH) / 2 + LH * (i + 1) - 3, "text-anchor": "middle" }, node);
          t.textContent = line;
        });
      }
      top += h + 52;
      width = Math.max(width, w + 40);
    }
    svg.setAttribute("width", width);
    svg.setAttribute("height", top);
    svg.setAttribute("viewBox", `0 0 ${width} ${top}`);
  }

  return { parse, draw };
})();
