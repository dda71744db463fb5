"""The report as one self-contained HTML page: inline CSS, no scripts, no
fonts or images fetched from anywhere, so it can be archived as a CI
artifact and opened offline. Passed variants are shown with
:func:`~guardrails.redteam.report.visible` escapes for invisible characters;
the JSON report holds their raw text.
"""

from __future__ import annotations

from html import escape

from guardrails.redteam.families import FAMILIES
from guardrails.redteam.report import PolicyReport, Report, RuleReport, Tally, visible

__all__ = ["render_html"]

_CSS = """
:root { --ok: #1a7f37; --warn: #b35900; --bad: #c62828; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 0;
       background: #f6f8fa; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 36px 0 8px; }
h3 { font-size: 15px; margin: 22px 0 6px; }
.sub { color: var(--muted); margin: 0 0 18px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 10px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card b { display: block; font-size: 22px; } .card span { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f4; font-weight: 600; font-size: 12px; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { position: relative; height: 10px; width: 120px; background: #fde2e1; border-radius: 5px; overflow: hidden; }
.bar i { position: absolute; inset: 0 auto 0 0; background: var(--ok); }
.ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre-wrap;
       word-break: break-all; }
details { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; padding: 4px 10px; }
summary { cursor: pointer; font-weight: 600; }
.note { color: var(--muted); font-size: 12px; }
.gate { padding: 10px 12px; border-radius: 8px; margin: 14px 0; font-weight: 600; }
.gate.pass { background: #dafbe1; } .gate.fail { background: #ffebe9; }
"""


def _cls(rate: float) -> str:
    return "ok" if rate >= 0.98 else "warn" if rate >= 0.9 else "bad"


def _bar(rate: float) -> str:
    return f'<div class="bar" title="{rate:.1%}"><i style="width:{rate * 100:.1f}%"></i></div>'


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _card(title: str, t: dict, *, caught: bool = True) -> str:
    part = t["caught"] if caught else t["stopped"]
    rate = part / t["tried"] if t["tried"] else 1.0
    return (f'<div class="card"><span>{escape(title)}</span><b class="{_cls(rate)}">{_pct(part, t["tried"])}</b>'
            f'<span>{part:,} of {t["tried"]:,}</span></div>')


def _tally_cells(t: Tally) -> str:
    return (f'<td class="n">{t.tried:,}</td><td class="n">{t.caught:,}</td>'
            f'<td class="n {_cls(t.rate)}">{t.stopped:,} ({t.rate:.1%})</td><td>{_bar(t.rate)}</td>')


def _passed(r: RuleReport) -> str:
    rows = "".join(
        f"<tr><td>{escape(f)}</td><td>{escape(visible(h))}</td><td>{escape(visible(w))}</td>"
        f"<td><code>{escape(visible(x))}</code></td></tr>" for f, h, w, x in r.passed)
    return (f"<details><summary>{escape(r.target.rule)} &middot; {escape(r.target.what)} &middot; "
            f"{len(r.passed)} passed</summary><table><tr><th>family</th><th>how</th><th>hides</th>"
            f"<th>exact text sent</th></tr>{rows}</table></details>")


def _policy(p: PolicyReport) -> str:
    t = p.tally
    out = [f'<h2 id="{escape(p.name)}">{escape(p.name)} {escape(p.version)}</h2>',
           (f'<p class="sub">{t.stopped:,} of {t.tried:,} variants stopped '
            f'(<b class="{_cls(t.rate)}">{t.rate:.1%}</b>), {t.caught:,} caught by the rule under attack; '
            f'benign corpus: {p.benign.flagged} of {p.benign.lines} lines flagged ({p.benign.rate:.1%}). '
            f'Digest <code>{escape(p.digest[:16])}</code>.</p>'),
           ("<h3>Rules</h3><table><tr><th>rule</th><th>stage</th><th>looks for</th><th>tried</th><th>caught</th>"
            "<th>stopped</th><th></th></tr>")]
    for r in p.rules:
        note = f'<div class="note">{escape(r.target.note)}</div>' if r.target.note else ""
        where = f'<div class="note">{escape(r.target.location or "")}</div>'
        out.append(f"<tr><td>{escape(r.target.rule)}{where}</td><td>{escape(r.target.stage)}</td>"
                   f"<td>{escape(r.target.kind)}: {escape(r.target.what)}{note}</td>{_tally_cells(r.tally)}</tr>")
    out.append("</table>")
    out.append("<h3>Families</h3><table><tr><th>family</th><th>what it does</th><th>tried</th><th>caught</th>"
               "<th>stopped</th><th></th></tr>")
    for name, tally in p.families().items():
        out.append(f"<tr><td>{escape(name)}</td><td class=\"note\">{escape(FAMILIES[name].doc)}</td>"
                   f"{_tally_cells(tally)}</tr>")
    out.append("</table>")
    if p.skipped:
        out.append("<h3>Not attacked</h3><ul>" + "".join(
            f"<li><b>{escape(s.rule)}</b> ({escape(s.stage)}): {escape(s.reason)}</li>" for s in p.skipped) + "</ul>")
    passed = [r for r in p.rules if r.passed]
    out.append(f"<h3>Passed variants ({sum(len(r.passed) for r in passed):,})</h3>")
    out.append('<p class="note">Escapes such as \\u200b stand for invisible characters; the JSON report '
               "holds every text raw.</p>")
    out.extend(_passed(r) for r in passed)
    if not passed:
        out.append("<p>None: every variant was stopped.</p>")
    b = p.benign
    out.append(f"<h3>Benign corpus</h3><p class=\"sub\">Checked in {escape(', '.join(b.stages))}.</p>"
               "<table><tr><th>section</th><th>lines</th><th>flagged</th><th>rate</th></tr>")
    for section, (n, f) in b.sections.items():
        out.append(f'<tr><td>{escape(section)}</td><td class="n">{n}</td><td class="n">{f}</td>'
                   f'<td class="n">{_pct(f, n)}</td></tr>')
    out.append("</table>")
    if b.examples:
        out.append("<details><summary>Flagged lines</summary><table><tr><th>section</th><th>text</th>"
                   "<th>rules</th></tr>" + "".join(
                       f"<tr><td>{escape(e['section'])}</td><td><code>{escape(visible(e['text']))}</code></td>"
                       f"<td>{escape(', '.join(e['rules']))}<div class=\"note\">{escape(', '.join(e['stages']))}"
                       "</div></td></tr>" for e in b.examples) + "</table></details>")
    return "\n".join(out)


def render_html(report: Report) -> str:
    f = report.figures()
    t = report.tally
    failures = report.failures()
    gate = ""
    if report.fail_under is not None or report.max_false_positives is not None:
        gate = (f'<div class="gate fail">Gate failed: {escape("; ".join(failures))}</div>' if failures
                else '<div class="gate pass">Gate passed.</div>')
    listed = f["listed_secret_formats"]
    benign = f["benign"]
    by_kind = ", ".join(f"{kind} {v['flagged']}" for kind, v in benign["by_kind"].items())
    cards = [
        _card("obfuscated banned-term variants caught", f["obfuscated_terms"]),
        _card("obfuscated topic-word variants caught", f["obfuscated_topic_words"]),
        _card("injection variants caught", f["injection"]),
        _card("secret formats x layouts caught", f["secret_formats"]),
        _card("PII formats caught", f["pii_formats"]),
        _card("tool-call and metadata tricks stopped", f["fields"], caught=False),
        (f'<div class="card"><span>secret formats issue 14 lists</span><b class="'
         f'{_cls(listed["caught"] / listed["formats"] if listed["formats"] else 1.0)}">{listed["caught"]} of '
         f'{listed["formats"]}</b><span>caught by every secrets rule</span></div>'),
        (f'<div class="card"><span>benign false positives</span><b class="'
         f'{"ok" if benign["rate"] <= 0.01 else "bad"}">{benign["rate"]:.1%}</b>'
         f'<span>{benign["flagged"]} of {benign["checked"]} lines; by kind of rule: '
         f'{escape(by_kind or "none")}'
         f'</span></div>'),
    ]
    nav = " &middot; ".join(f'<a href="#{escape(p.name)}">{escape(p.name)}</a>' for p in report.policies)
    sample = f", at most {report.sample} variants per rule and family" if report.sample else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>guardrails redteam: {escape(", ".join(p.name for p in report.policies))}</title>
<style>{_CSS}</style></head>
<body><main>
<h1>guardrails redteam</h1>
<p class="sub">{len(report.policies)} polic{"y" if len(report.policies) == 1 else "ies"} &middot; seed {report.seed}{sample}
&middot; corpus <code>{escape(report.corpus_digest[:12])}</code> &middot; {t.tried:,} variants, {t.stopped:,} stopped
({t.rate:.1%}) &middot; {nav}</p>
{gate}
<div class="cards">{"".join(cards)}</div>
{"".join(_policy(p) for p in report.policies)}
</main></body></html>
"""
