"""What a red-team run found, and the report in text and JSON.

The report holds no timings and no dates: two runs with the same seed, the
same corpus and the same policies write the same bytes. Variant texts are
exact in JSON; the text form writes invisible and control characters as
escapes (``\\u200b``) so that a reader can see them, and
:func:`visible` is that rule.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import regex

from guardrails.redteam.families import FAMILIES
from guardrails.redteam.targets import Skipped, Target, path_text

__all__ = ["BenignResult", "PolicyReport", "Report", "RuleReport", "Tally", "visible"]

#: Passed variants quoted per rule in the text form (JSON and HTML list them all).
TEXT_PASSED_SHOWN = 25


class Tally:
    """Cases tried, caught by the rule under attack, and stopped by the policy."""

    __slots__ = ("caught", "stopped", "tried")

    def __init__(self, tried: int = 0, caught: int = 0, stopped: int = 0) -> None:
        self.tried, self.caught, self.stopped = tried, caught, stopped

    def add(self, caught: bool, stopped: bool) -> None:
        self.tried += 1
        self.caught += caught
        self.stopped += stopped

    def merge(self, other: Tally) -> Tally:
        return Tally(self.tried + other.tried, self.caught + other.caught, self.stopped + other.stopped)

    @property
    def rate(self) -> float:
        """Share stopped (1.0 when nothing was tried: nothing slipped through)."""
        return self.stopped / self.tried if self.tried else 1.0

    @property
    def caught_rate(self) -> float:
        return self.caught / self.tried if self.tried else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {"tried": self.tried, "caught": self.caught, "stopped": self.stopped,
                "caught_rate": round(self.caught_rate, 4), "stopped_rate": round(self.rate, 4)}


def _total(tallies: list[Tally]) -> Tally:
    out = Tally()
    for t in tallies:
        out = out.merge(t)
    return out


@dataclass(slots=True)
class RuleReport:
    target: Target
    tally: Tally
    families: dict[str, Tally]
    passed: list[tuple[str, str, str, str]]  # (family, how, what it hides, exact text)
    listed: dict[str, bool]  # secrets: issue-listed format -> caught

    def as_dict(self) -> dict[str, Any]:
        t = self.target
        return {
            "rule": t.rule, "stage": t.stage, "effect": t.effect, "kind": t.kind, "what": t.what,
            "location": t.location, "note": t.note,
            "attacked_fields": [path_text(p) for p in t.attacked],
            **self.tally.as_dict(),
            "families": {f: tally.as_dict() for f, tally in self.families.items()},
            "passed": [{"family": f, "how": h, "hides": w, "text": x} for f, h, w, x in self.passed],
            **({"listed_formats": self.listed} if self.listed else {}),
        }


@dataclass(slots=True)
class BenignResult:
    lines: int
    stages: tuple[str, ...]
    flagged: int = 0
    sections: dict[str, list[int]] = field(default_factory=dict)  # section -> [lines, flagged]
    by_rule: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)  # lines flagged by rules of each target kind
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, section: str, text: str, rules: list[str], stages: list[str], kinds: set[str], *,
            shown: int) -> None:
        counts = self.sections.setdefault(section, [0, 0])
        counts[0] += 1
        if rules:
            self.flagged += 1
            counts[1] += 1
            self.by_rule.update(rules)
            self.by_kind.update(kinds)
            if len(self.examples) < shown:
                self.examples.append({"section": section, "text": text, "rules": rules, "stages": stages})

    @property
    def rate(self) -> float:
        return self.flagged / self.lines if self.lines else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "stages": list(self.stages), "flagged": self.flagged,
                "rate": round(self.rate, 4),
                "sections": {s: {"lines": n, "flagged": f} for s, (n, f) in self.sections.items()},
                "by_rule": dict(sorted(self.by_rule.items())), "by_kind": dict(sorted(self.by_kind.items())),
                "flagged_lines": self.examples}


@dataclass(slots=True)
class PolicyReport:
    name: str
    version: str
    digest: str
    rules: list[RuleReport]
    skipped: list[Skipped]
    benign: BenignResult

    @property
    def tally(self) -> Tally:
        return _total([r.tally for r in self.rules])

    def families(self) -> dict[str, Tally]:
        out: dict[str, Tally] = {}
        for r in self.rules:
            for f, t in r.families.items():
                out[f] = out.get(f, Tally()).merge(t)
        return {f: out[f] for f in FAMILIES if f in out}

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "digest": self.digest, **self.tally.as_dict(),
                "families": {f: t.as_dict() for f, t in self.families().items()},
                "rules": [r.as_dict() for r in self.rules],
                "skipped": [{"rule": s.rule, "stage": s.stage, "reason": s.reason} for s in self.skipped],
                "benign": self.benign.as_dict()}


def _kind_tally(policies: list[PolicyReport], kind: str, *, plain: bool = True) -> Tally:
    out = Tally()
    for p in policies:
        for r in p.rules:
            if r.target.kind != kind:
                continue
            for f, t in r.families.items():
                if plain or f != "plain":
                    out = out.merge(t)
    return out


@dataclass(slots=True)
class Report:
    seed: int
    sample: int | None
    families: tuple[str, ...] | None
    corpus_digest: str
    policies: list[PolicyReport]
    fail_under: float | None = None
    max_false_positives: float | None = None

    @property
    def tally(self) -> Tally:
        return _total([p.tally for p in self.policies])

    def figures(self) -> dict[str, Any]:
        """The headline figures, summed over the policies run."""
        listed: dict[str, bool] = {}
        for p in self.policies:
            for r in p.rules:
                for label, caught in r.listed.items():
                    listed[label] = listed.get(label, True) and caught
        lines = sum(p.benign.lines for p in self.policies)
        flagged = sum(p.benign.flagged for p in self.policies)
        return {
            "obfuscated_terms": _kind_tally(self.policies, "terms", plain=False).as_dict(),
            "obfuscated_topic_words": _kind_tally(self.policies, "topic", plain=False).as_dict(),
            "injection": _kind_tally(self.policies, "injection").as_dict(),
            "secret_formats": _kind_tally(self.policies, "secrets").as_dict(),
            "listed_secret_formats": {"formats": len(listed), "caught": sum(listed.values()),
                                      "missed": sorted(k for k, v in listed.items() if not v)},
            "pii_formats": _kind_tally(self.policies, "pii").as_dict(),
            "fields": _kind_tally(self.policies, "fields").as_dict(),
            "benign": {"checked": lines, "flagged": flagged, "rate": round(flagged / lines, 4) if lines else 0.0,
                       "by_kind": {k: {"flagged": n, "rate": round(n / lines, 4)} for k, n in sorted(
                           sum((p.benign.by_kind for p in self.policies), Counter()).items())}},
        }

    def failures(self) -> list[str]:
        """Why the run fails its gate (empty when it passes or has none)."""
        out = []
        for p in self.policies:
            if self.fail_under is not None and p.tally.rate < self.fail_under:
                out.append(f"{p.name} stops {p.tally.rate:.1%} of {p.tally.tried:,} variants, "
                           f"under --fail-under {self.fail_under:g}")
            if self.max_false_positives is not None and p.benign.rate > self.max_false_positives:
                out.append(f"{p.name} flags {p.benign.rate:.1%} of the benign corpus, "
                           f"over --max-false-positives {self.max_false_positives:g}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": "guardrails redteam", "seed": self.seed, "sample": self.sample,
            "families": list(self.families) if self.families else None, "corpus_digest": self.corpus_digest,
            **self.tally.as_dict(), "figures": self.figures(),
            "gate": {"fail_under": self.fail_under, "max_false_positives": self.max_false_positives,
                     "failures": self.failures()},
            "policies": [p.as_dict() for p in self.policies],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_text(self) -> str:
        return render_text(self)


_HIDDEN = regex.compile(r"[\p{Default_Ignorable_Code_Point}\p{C}\p{Z}\\]")
_NAMED = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", " ": " "}


def visible(text: str) -> str:
    """``text`` with what a reader cannot see (invisible, control and space
    characters other than the plain space) written as escapes; a backslash
    is doubled, so the escapes are unambiguous."""
    def escape(m: regex.Match[str]) -> str:
        ch = m.group()
        if ch in _NAMED:
            return _NAMED[ch]
        return f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"

    return _HIDDEN.sub(escape, text)


def _pct(t: Tally) -> str:
    return f"{t.stopped}/{t.tried} stopped ({t.rate:.1%}), {t.caught} caught by the rule ({t.caught_rate:.1%})"


def render_text(report: Report) -> str:
    lines = [f"guardrails redteam: {len(report.policies)} polic{'y' if len(report.policies) == 1 else 'ies'}, "
             f"seed {report.seed}" + (f", at most {report.sample} variants per rule and family" if report.sample
                                      else "") + f", corpus {report.corpus_digest[:12]}", ""]
    for p in report.policies:
        b = p.benign
        lines.append(f"{p.name} {p.version}: {_pct(p.tally)}")
        lines.append(f"  benign corpus: {b.flagged}/{b.lines} lines flagged ({b.rate:.1%}) "
                     f"in {', '.join(b.stages) or 'no stage'}")
        lines.append("")
        width = max([len(r.target.rule) for r in p.rules] + [4])
        lines.append(f"  {'rule':<{width}}  {'stage':<11} {'kind':<9} {'tried':>6} {'caught':>6} {'stopped':>7}")
        for r in p.rules:
            t = r.tally
            lines.append(f"  {r.target.rule:<{width}}  {r.target.stage:<11} {r.target.kind:<9} "
                         f"{t.tried:>6} {t.caught:>6} {t.stopped:>7}")
        lines.append("")
        lines.append("  families: " + ", ".join(f"{f} {t.stopped}/{t.tried}" for f, t in p.families().items()))
        for s in p.skipped:
            lines.append(f"  not attacked: {s.rule} ({s.stage}): {s.reason}")
        for r in p.rules:
            if r.target.note:
                lines.append(f"  note: {r.target.rule}: {r.target.note}")
        passed = [(r, x) for r in p.rules for x in r.passed]
        if passed:
            lines.append("")
            lines.append(f"  passed ({len(passed)}):")
        for r in p.rules:
            if not r.passed:
                continue
            lines.append(f"    {r.target.rule} ({r.target.what}): {len(r.passed)} passed")
            for family, how, hides, text in r.passed[:TEXT_PASSED_SHOWN]:
                lines.append(f"      [{family}: {visible(how)}] hides {visible(hides)!s}: \"{visible(text)}\"")
            if len(r.passed) > TEXT_PASSED_SHOWN:
                lines.append(f"      ... and {len(r.passed) - TEXT_PASSED_SHOWN} more (the JSON and HTML "
                             "reports list every one)")
        if b.examples:
            lines.append("")
            lines.append("  benign lines flagged:")
            for e in b.examples:
                lines.append(f"    [{e['section']}] \"{visible(e['text'])}\" -> {', '.join(e['rules'])} "
                             f"({', '.join(e['stages'])})")
        lines.append("")
    f = report.figures()
    lines.append("figures (summed over the policies run):")
    for key, label in (("obfuscated_terms", "obfuscated banned-term variants"),
                       ("obfuscated_topic_words", "obfuscated topic-word variants"),
                       ("injection", "injection variants"), ("secret_formats", "secret formats x layouts"),
                       ("pii_formats", "PII formats"), ("fields", "tool-call and metadata tricks")):
        t = f[key]
        if t["tried"]:
            lines.append(f"  {label}: {t['caught']}/{t['tried']} caught by the rule ({t['caught_rate']:.1%}), "
                         f"{t['stopped']} stopped ({t['stopped_rate']:.1%})")
    ls = f["listed_secret_formats"]
    if ls["formats"]:
        lines.append(f"  secret formats issue 14 lists: {ls['caught']}/{ls['formats']} caught by every secrets rule"
                     + (f"; missed: {', '.join(ls['missed'])}" if ls["missed"] else ""))
    bf = f["benign"]
    lines.append(f"  benign false positives: {bf['flagged']}/{bf['checked']} ({bf['rate']:.1%})" + (
        "; by the kind of rule: " + ", ".join(f"{k} {v['flagged']} ({v['rate']:.1%})" for k, v in bf["by_kind"].items())
        if bf["by_kind"] else ""))
    failures = report.failures()
    if report.fail_under is not None or report.max_false_positives is not None:
        lines.append("")
        lines.append("gate: " + ("FAILED: " + "; ".join(failures) if failures else "passed"))
    return "\n".join(lines) + "\n"
