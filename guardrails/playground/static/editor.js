// The policy editor: a transparent textarea over a highlighted copy of its text.
// Written for the playground; no library. Diagnostics are underlined in place.
"use strict";

const PolicyEditor = (() => {
  const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

  // Tokens of the policy language, in the order they are tried.
  const TOKEN = /(#[^\n]*)|("(?:\\.|[^"\\\n])*"?)|(\/(?:\\.|[^\/\\\n])+\/[a-z]*)|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_-]*)|([\s\S])/g;
  const REGEX_BEFORE = /(?:matches|=|\(|,|\[)\s*$/;

  function tokens(text, keywords) {
    const out = [];
    let m, prevWord = "";
    TOKEN.lastIndex = 0;
    while ((m = TOKEN.exec(text)) !== null) {
      const start = m.index, end = start + m[0].length;
      let cls = null;
      if (m[1]) cls = "tok-com";
      else if (m[2]) cls = "tok-str";
      else if (m[3]) {
        if (REGEX_BEFORE.test(text.slice(Math.max(0, start - 12), start))) cls = "tok-re";
        else { TOKEN.lastIndex = start + 1; out.push({ start, end: start + 1, cls: null }); continue; }
      } else if (m[4]) cls = "tok-num";
      else if (m[5]) {
        cls = keywords.has(m[5]) ? "tok-kw" : (prevWord === "rule" ? "tok-id" : null);
        prevWord = m[5];
      }
      out.push({ start, end, cls });
    }
    return out;
  }

  function lineStarts(text) {
    const starts = [0];
    for (let i = 0; i < text.length; i++) if (text[i] === "\n") starts.push(i + 1);
    return starts;
  }

  // A diagnostic's [start, end) offsets from its 1-based line and column.
  function range(d, starts, length) {
    const at = (line, col) => Math.min(length, (starts[Math.max(0, Math.min(line, starts.length) - 1)] || 0) + col - 1);
    const start = at(d.line, d.col);
    let end = at(d.end_line || d.line, d.end_col || d.col + 1);
    if (end <= start) end = Math.min(length, start + 1);
    return [start, end];
  }

  function render(text, keywords, diags) {
    const starts = lineStarts(text);
    const ranges = diags.map((d) => [...range(d, starts, text.length), d]);
    const cuts = new Set();
    ranges.forEach(([s, e]) => { cuts.add(s); cuts.add(e); });
    let html = "";
    for (const t of tokens(text, keywords)) {
      const points = [t.start, ...[...cuts].filter((c) => c > t.start && c < t.end).sort((a, b) => a - b), t.end];
      for (let i = 0; i + 1 < points.length; i++) {
        const a = points[i], b = points[i + 1];
        const hit = ranges.find(([s, e]) => s <= a && b <= e);
        const classes = [t.cls, hit ? `diag-${hit[2].severity}` : null].filter(Boolean);
        const body = esc(text.slice(a, b));
        const title = hit ? ` title="${esc(`${hit[2].severity}[${hit[2].code}]: ${hit[2].message}`).replace(/"/g, "&quot;")}"` : "";
        html += classes.length ? `<span class="${classes.join(" ")}"${title}>${body}</span>` : body;
      }
    }
    // A diagnostic at the very end (an unexpected end of file) still shows.
    if (ranges.some(([s]) => s >= text.length)) html += '<span class="diag-error"> </span>';
    return html + "\n";
  }

  class Editor {
    constructor(root, keywords) {
      this.text = root.querySelector("textarea");
      this.view = root.querySelector("pre");
      this.keywords = new Set(keywords);
      this.diags = [];
      this.listeners = [];
      this.text.addEventListener("input", () => { this.paint(); this.listeners.forEach((f) => f(this.value)); });
      this.text.addEventListener("scroll", () => this.sync());
      this.text.addEventListener("keydown", (e) => {
        if (e.key === "Tab" && !e.ctrlKey && !e.altKey) {
          e.preventDefault();
          document.execCommand("insertText", false, "  ");
        }
      });
    }
    get value() { return this.text.value; }
    set value(v) { this.text.value = v; this.paint(); }
    onChange(f) { this.listeners.push(f); }
    setDiagnostics(diags) { this.diags = diags; this.paint(); }
    paint() { this.view.innerHTML = render(this.text.value, this.keywords, this.diags); this.sync(); }
    sync() { this.view.scrollTop = this.text.scrollTop; this.view.scrollLeft = this.text.scrollLeft; }
    goto(line, col) {
      const starts = lineStarts(this.text.value);
      const at = Math.min(this.text.value.length, (starts[line - 1] || 0) + Math.max(0, col - 1));
      this.text.focus();
      this.text.setSelectionRange(at, at);
      const lh = parseFloat(getComputedStyle(this.text).lineHeight) || 19;
      this.text.scrollTop = Math.max(0, (line - 4) * lh);
      this.sync();
    }
  }

  return { Editor, tokens, render };
})();
