"""A case's result: how a decision differs from the expectations, and the diff shown for a failure."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from guardrails.testing.model import SEQUENCE, STATIC, UNSET, Case, StaticExpect, Step


@dataclass(frozen=True, slots=True)
class Mismatch:
    field: str  # outcome, rules, messages, route, text, args, result, chunks[i], errors, labels;
    # static cases: errors, warnings, message, formatted
    expected: Any
    actual: Any


_FORWARDED = {"tool_call": "args", "tool_result": "result"}  # what `text` is called, by stage


def compare(case: Case | Step, decision: Any) -> list[Mismatch]:
    """What differs between a case's (or a step's) expectations and a decision."""
    e, d = case.expect, decision
    out: list[Mismatch] = []
    if d.outcome.value != e.outcome:
        out.append(Mismatch("outcome", e.outcome, d.outcome.value))
    for key, want, got in (("rules", e.rules, d.rule_ids), ("messages", e.messages, d.messages())):
        if want is not None and sorted(set(want)) != sorted(set(got)):
            out.append(Mismatch(key, sorted(set(want)), sorted(set(got))))
    if e.route is not UNSET and e.route != d.route:
        out.append(Mismatch("route", e.route, d.route))
    if e.labels is not None and sorted(set(e.labels)) != sorted(set(d.labels)):
        out.append(Mismatch("labels", sorted(set(e.labels)), sorted(set(d.labels))))
    if e.text is not UNSET and not _same(e.text, d.text):
        out.append(Mismatch(_FORWARDED.get(case.stage, "text"), e.text, d.text))
    for i, want in enumerate(e.chunks or ()):
        got = d.chunks[i] if d.chunks is not None and i < len(d.chunks) else None
        got_outcome = got.outcome.value if got else None
        got_text = got.text if got else None
        bad_outcome = (want.outcome is not None and want.outcome != got_outcome) or (
            want.outcome is None and got_outcome in (None, "deny"))
        if bad_outcome or (want.text is not UNSET and want.text != got_text):
            exp = {"outcome": want.outcome or "forwarded"}
            if want.text is not UNSET:
                exp["text"] = want.text
            out.append(Mismatch(f"chunks[{i}]", exp, {"outcome": got_outcome, "text": got_text}))
    got_errors = sorted({x.code for x in d.errors})
    if (e.errors is None and got_errors) or (e.errors is not None and sorted(set(e.errors)) != got_errors):
        out.append(Mismatch("errors", sorted(set(e.errors or ())),
                            [f"{x.code}: {x.rule or '-'}: {x.message}" for x in d.errors] if e.errors is None
                            else got_errors))
    return out


def compare_static(case: Case) -> tuple[list[Mismatch], str]:
    """Check or format a static case's inline policy; (what differs, the
    rendered diagnostics). Static checks run without an NER model."""
    from guardrails.diagnostics import Diagnostics
    from guardrails.engine import load_sources
    from guardrails.resolve import parse_source

    e: StaticExpect = case.expect
    inline = case.inline
    out: list[Mismatch] = []
    rendered = ""
    if e.checks:
        diags = Diagnostics()
        texts = {"<policy>": inline.source, **{f"<{name}>": text for name, text in inline.modules}}
        sources = [parse_source(text, path, diags) for path, text in texts.items()]
        result = load_sources(sources, diags=diags)
        rendered = "\n".join(d.render(texts.get(d.span.file)) for d in result.diagnostics)
        got = sorted([d.code, d.span.line, d.span.col] for d in result.diagnostics if d.is_error)
        want = sorted(list(x) for x in e.errors or ())
        if got != want:
            out.append(Mismatch("errors", want, got))
        warnings = {d.code for d in result.diagnostics if not d.is_error}
        missing = sorted(set(e.warnings) - warnings)
        if missing:
            out.append(Mismatch("warnings", sorted(set(e.warnings)), sorted(warnings)))
        if e.message is not None and e.message not in rendered:
            out.append(Mismatch("message", e.message, rendered))
    if e.formatted is not None:
        from guardrails.authoring.format import format_source

        res = format_source(inline.source, "<policy>")
        if res.text is None:
            rendered = "\n".join(d.render(inline.source) for d in res.diagnostics)
        if res.text != e.formatted:
            out.append(Mismatch("formatted", e.formatted, res.text))
        elif (again := format_source(res.text, "<policy>").text) != res.text:  # formatting is idempotent
            out.append(Mismatch("formatted", res.text, again))
    return out, rendered


def _same(a: Any, b: Any) -> bool:
    """JSON equality: True is not 1."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@dataclass(frozen=True, slots=True)
class CaseResult:
    path: str
    case: Case
    status: str  # passed | failed | skipped
    policy: str = ""  # "name version"
    mismatches: tuple[Mismatch, ...] = ()
    reason: str | None = None  # skipped: the todo; failed: an internal error
    explanation: str | None = None  # the decision, explained (failures only)
    step: Step | None = None  # a step case: the step that failed

    def to_json(self) -> dict:
        out = {
            "file": self.path, "line": self.case.line, "name": self.case.name, "policy": self.policy,
            "stage": self.case.stage, "status": self.status, "reason": self.reason,
            "mismatches": [{"field": m.field, "expected": m.expected, "actual": m.actual} for m in self.mismatches],
            "diff": format_failure(self) if self.status == "failed" else None,
        }
        if self.case.stage == SEQUENCE:
            out["steps"] = len(self.case.steps)
            out["step"] = None if self.step is None else {
                "index": self.step.index, "line": self.step.line, "stage": self.step.stage, "at": self.step.offset}
        return out


def _show(v: Any, bare: bool = False) -> str:
    if bare and isinstance(v, str):
        return v
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return "[" + ", ".join(v) + "]"
    return json.dumps(v, ensure_ascii=False, sort_keys=True)


def _diff_lines(m: Mismatch) -> list[str]:
    bare = m.field in ("outcome", "route")  # short words: no quotes, no caret
    exp, act = _show(m.expected, bare), _show(m.actual, bare)
    pad = " " * 13
    lines = [f"  {m.field + ':':<10} expected {exp}", f"{pad}got      {act}"]
    if m.field == "formatted" and isinstance(m.expected, str) and isinstance(m.actual, str):
        # Formatter output and rendered diagnostics: a line diff reads better than one escaped string.
        a, b = m.expected.splitlines(), m.actual.splitlines()
        lines = [f"  {m.field + ':':<10} (- expected, + got)"] + [
            f"{pad}{x}" for x in difflib.unified_diff(a, b, lineterm="", n=2) if not x.startswith(("---", "+++"))]
        if a == b:  # only the line ends differ
            lines.append(f"{pad}(line ends differ: expected {exp[-12:]}, got {act[-12:]})")
    elif isinstance(m.expected, str) and isinstance(m.actual, str) and not bare:
        i = next((k for k, (a, b) in enumerate(zip(m.expected, m.actual)) if a != b),
                 min(len(m.expected), len(m.actual)))
        col = len(json.dumps(m.expected[:i], ensure_ascii=False)) - 1
        lines.append(f"{pad}         {' ' * col}^ first difference at character {i}")
    elif isinstance(m.expected, list) and isinstance(m.actual, list) and m.field in ("rules", "messages"):
        missing = [x for x in m.expected if x not in m.actual]
        extra = [x for x in m.actual if x not in m.expected]
        if missing:
            lines.append(f"{pad}missing  {_show(missing)}")
        if extra:
            lines.append(f"{pad}extra    {_show(extra)}")
    elif isinstance(m.expected, dict) and isinstance(m.actual, dict) and len(exp) + len(act) > 120:
        a = json.dumps(m.expected, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
        b = json.dumps(m.actual, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
        lines = [f"  {m.field + ':':<10} (- expected, + got)"] + [
            f"{pad}{x}" for x in difflib.unified_diff(a, b, lineterm="", n=2) if not x.startswith(("---", "+++"))
        ]
    return lines


def _step_subject(s: Step) -> str:
    tool = s.request.get("tool")
    return f" {tool}" if isinstance(tool, str) and s.stage in ("tool_call", "tool_result") else ""


def format_failure(r: CaseResult) -> str:
    """The diff shown for a failed case, by the CLI and by pytest."""
    head = f"FAILED {r.path}:{r.case.line}: {r.case.name}  [{r.policy}, {r.case.stage}]"
    lines = [head]
    if r.step is not None:
        s = r.step
        rest = len(r.case.steps) - s.index - 1
        lines.append(f"  steps[{s.index}] at {r.path}:{s.line}: {s.stage}{_step_subject(s)} at {s.offset:g}s"
                     + (f" ({rest} later step(s) not run)" if rest else ""))
    if r.reason:
        lines.append(f"  error: {r.reason}")
    for m in r.mismatches:
        lines.extend(_diff_lines(m))
    if r.explanation:
        lines.append("  diagnostics:" if r.case.stage == STATIC else "  decision:")
        lines.extend("    " + x for x in r.explanation.splitlines())
    return "\n".join(lines)
