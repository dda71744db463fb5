"""`guardrails redteam`: real command runs on the example policies (the three
report forms, seeds, the gate, bad arguments) and the generators' promises
(every Default_Ignorable code point, look-alikes from Unicode's data, valid
card numbers and IBANs, regex examples that match, requests a rule catches).

The shipped-policy runs use --sample so the whole file stays well under a
minute; the full run is what the README's figures come from.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import regex

from guardrails.redteam.corpus import load_corpus
from guardrails.redteam.families import FAMILIES
from guardrails.redteam.report import visible

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SHIPPED = ["agent-assistant", "coding-assistant", "rag-search", "support-bot"]

# No PII rules: loads without Presidio, so the gate and seed runs are quick.
WEAK = """\
policy "weak" version "1.0.0"
terms drugs = ["cocaine", "pipe bomb"]
input {
  rule literal: deny "no" when text matches /cocaine|pipe bomb/
}
"""
STRONG = """\
policy "strong" version "1.0.0"
terms drugs = ["cocaine", "pipe bomb"]
input {
  rule words: deny "no" when banned(drugs)
}
"""


def redteam(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "guardrails.cli", "redteam", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("redteam")
    (d / "weak.policy").write_text(WEAK)
    (d / "strong.policy").write_text(STRONG)
    return d


@pytest.fixture(scope="module")
def shipped_json(tmp_path_factory) -> dict:
    """Every example policy, every family, at most two variants each (seed 7)."""
    out = tmp_path_factory.mktemp("rt") / "report.json"
    proc = redteam(POLICIES, "--seed", "7", "--sample", "2", "--format", "json", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert f"json report written to {out}" in proc.stderr
    assert "checks" in proc.stderr  # progress
    return json.loads(out.read_text(encoding="utf-8"))


# ---- the example policies ---------------------------------------------------------


def test_every_example_policy_is_attacked(shipped_json: dict) -> None:
    policies = {p["name"]: p for p in shipped_json["policies"]}
    assert sorted(policies) == SHIPPED
    for name, p in policies.items():
        assert p["tried"] > 100, name
        assert p["benign"]["lines"] >= 400, name
        assert {"input", "output"} <= set(p["benign"]["stages"]), name
        for r in p["rules"]:
            assert 0 <= r["caught"] <= r["tried"] and r["stopped"] <= r["tried"], r["rule"]
            if r["effect"] != "allow":  # an exception rule can fail while another allow rule admits the call
                assert r["stopped"] >= r["caught"], r["rule"]
            assert sum(f["tried"] for f in r["families"].values()) == r["tried"], r["rule"]
            assert set(r["families"]) <= set(FAMILIES), r["rule"]
            assert len(r["passed"]) == r["tried"] - r["stopped"], r["rule"]
            for v in r["passed"]:
                assert v["text"] and v["family"] in FAMILIES
    # what each policy guards is found: its terms, topics, patterns, fields, and the baseline's rules
    kinds = {name: {r["kind"] for r in p["rules"]} for name, p in policies.items()}
    assert {"terms", "fields", "secrets", "injection", "pii"} <= kinds["coding-assistant"]
    assert {"topic", "pattern", "fields"} <= kinds["support-bot"]
    assert {"terms", "topic", "fields"} <= kinds["rag-search"]
    skipped = {s["rule"]: s["reason"] for s in policies["agent-assistant"]["skipped"]}
    assert "session history" in skipped["lethal-trifecta"]


def test_every_family_runs_on_the_example_policies(shipped_json: dict) -> None:
    ran = {f for p in shipped_json["policies"] for f in p["families"]}
    assert ran == set(FAMILIES)


def test_the_plain_form_of_every_term_topic_and_pattern_is_caught(shipped_json: dict) -> None:
    # The harness's own sanity: a request built to trip a rule, undisguised,
    # must trip it; otherwise every disguise of it would be measured wrongly.
    for p in shipped_json["policies"]:
        for r in p["rules"]:
            plain = r["families"].get("plain")
            if plain is not None:
                assert plain["caught"] == plain["tried"] > 0, (p["name"], r["rule"])


def test_the_issue_listed_secret_formats_are_always_tried(shipped_json: dict) -> None:
    listed = shipped_json["figures"]["listed_secret_formats"]
    assert listed["formats"] == 13  # even with --sample 2


def test_the_issue_listed_secret_formats_are_caught_by_every_secrets_rule(shipped_json: dict) -> None:
    # tool arguments included: the payload goes in an argument the tool's schema declares
    listed = shipped_json["figures"]["listed_secret_formats"]
    assert listed["caught"] == 13, listed["missed"]


def test_tool_call_cases_fit_the_policy_schema() -> None:
    # A call the schema refuses never reaches the rule under attack: the
    # payload goes in a declared string argument, required ones get a value.
    from guardrails import Engine
    from guardrails.diagnostics import Diagnostics
    from guardrails.redteam.attacks import build_cases
    from guardrails.redteam.runner import fit_schema, judge
    from guardrails.redteam.targets import find_targets
    from guardrails.resolve import build_units
    from guardrails.schema import request_problem
    from guardrails.sources import read_paths

    diags = Diagnostics()
    units, _ = build_units(read_paths([POLICIES], diags), diags)
    engine = Engine.from_path(POLICIES)
    for name, rule in (("coding-assistant", "shell-destructive"), ("support-bot", "org-baseline/no-secrets-in-tool-args"),
                       ("coding-assistant", "org-baseline/no-secrets-in-tool-args")):
        schema = engine.get_policy(name).schema
        unit = next(u for u in units if u.policy.name == name)
        target = next(t for t in find_targets(unit, 0)[0] if t.rule == rule and t.stage == "tool_call")
        cases = build_cases(target, load_corpus(), 0, families=frozenset({"plain", "secret-layout"}))
        assert cases, rule
        for case in cases:
            request = fit_schema(case.request, target, schema)
            assert request_problem(schema, request["tool"], request["args"]) is None, (rule, request)
            d = engine.check("tool_call", request, policy=name, exhaustive=True)
            if case.listed or case.family == "plain":
                assert judge(target, case, d)[0], (rule, request, d.violations)


def test_the_text_report_agrees_with_the_json_of_another_process(shipped_json: dict) -> None:
    # Same seed and sample, another process (another hash seed): the same variants pass.
    proc = redteam(POLICIES, "--policy", "support-bot", "--seed", "7", "--sample", "2", "-q")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    support = next(p for p in shipped_json["policies"] if p["name"] == "support-bot")
    assert text.startswith("guardrails redteam: 1 policy, seed 7, at most 2 variants per rule and family")
    assert f"support-bot 1.4.0: {support['stopped']}/{support['tried']} stopped" in text
    for r in support["rules"]:
        assert f"{r['rule']} ({r['what']}): {len(r['passed'])} passed" in text or not r["passed"]
        for v in r["passed"][:25]:
            assert f"\"{visible(v['text'])}\"" in text, v
    assert "figures (summed over the policies run):" in text
    assert "benign corpus:" in text


class _Checker(HTMLParser):
    """Tags balanced, and nothing fetched from elsewhere."""

    VOID = frozenset({"meta", "br", "img", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.errors.append(f"<{tag} {name}={value!r}> points outside the page")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def test_the_html_report_is_one_well_formed_self_contained_page(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    proc = redteam(tiny, "--format", "html", "--out", out, "--fail-under", "0.9", "-q")
    assert proc.returncode == 1  # weak is under the gate, and the page says so
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert "script" not in checker.tags and "link" not in checker.tags
    assert "strong 1.0.0" in page and "weak 1.0.0" in page and "Benign corpus" in page
    assert "Gate failed: weak stops" in page
    assert "<details>" in page and "\\\\u" not in page  # passed variants; each escape written once
    assert page.count("<tr>") > 50


# ---- seeds and the gate ---------------------------------------------------------------


@pytest.fixture(scope="module")
def weak_report(tiny: Path, tmp_path_factory) -> tuple[bytes, dict]:
    out = tmp_path_factory.mktemp("weak") / "seed3.json"
    proc = redteam(tiny, "--policy", "weak", "--seed", "3", "--format", "json", "--out", out, "-q")
    assert proc.returncode == 0, proc.stderr
    return out.read_bytes(), json.loads(out.read_bytes())


def test_the_seed_reproduces_the_report_byte_for_byte(tiny: Path, weak_report, tmp_path: Path) -> None:
    first, report = weak_report
    again, other = tmp_path / "again.json", tmp_path / "other.json"
    assert redteam(tiny, "--policy", "weak", "--seed", "3", "--format", "json", "--out", again, "-q").returncode == 0
    assert redteam(tiny, "--policy", "weak", "--seed", "4", "--format", "json", "--out", other, "-q").returncode == 0
    assert again.read_bytes() == first
    assert other.read_bytes() != first  # another seed draws other variants
    assert report["seed"] == 3 and report["policies"][0]["tried"] > 100


def test_fail_under_gates(tiny: Path, weak_report) -> None:
    weak = weak_report[1]["policies"][0]
    rate = weak["stopped"] / weak["tried"]
    assert rate < 0.5  # a literal regex misses most disguises
    below = redteam(tiny, "--policy", "weak", "--seed", "3", "--fail-under", "0.95", "-q")
    assert below.returncode == 1
    assert "redteam: below the gate: weak stops" in below.stderr and "under --fail-under 0.95" in below.stderr
    assert "gate: FAILED" in below.stdout
    at = redteam(tiny, "--policy", "weak", "--seed", "3", "--fail-under", f"{math.floor(rate * 1e4) / 1e4:.4f}", "-q")
    assert at.returncode == 0, at.stderr
    assert "gate: passed" in at.stdout


def test_max_false_positives_gates(tiny: Path) -> None:
    proc = redteam(tiny, "--policy", "strong", "--family", "plain", "--max-false-positives", "0", "-q")
    assert proc.returncode in (0, 1)
    flagged = "benign corpus: 0/" not in proc.stdout
    assert proc.returncode == int(flagged)


# ---- bad arguments: exit 2, a message, no traceback -----------------------------------


@pytest.mark.parametrize("args,message", [
    (["--fail-under", "95"], "outside 0..1"),
    (["--seed", "one"], "is not a whole number"),
    (["--sample", "0"], "must be at least 1"),
    (["--family", "nope"], "unknown family nope"),
    (["--policy", "nope"], "unknown policy 'nope'"),
    (["--out", "/no/such/dir/report.html"], "does not exist"),
    (["--corpus", "/no/such/corpus"], "no such directory"),
])
def test_bad_arguments_are_usage_errors(tiny: Path, args: list[str], message: str) -> None:
    proc = redteam(tiny, *args, "-q")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr


def test_a_missing_policy_dir_and_a_broken_policy(tmp_path: Path) -> None:
    missing = redteam(tmp_path / "nowhere")
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr
    (tmp_path / "bad.policy").write_text('policy "bad" version "1.0.0"\ninput {\n  rule r: deny when banned(nope)\n}\n')
    broken = redteam(tmp_path)
    assert broken.returncode == 1
    assert "bad.policy:3:" in broken.stderr and "error[" in broken.stderr
    modules = redteam(POLICIES / "org-baseline.policy")
    assert modules.returncode == 1 and "only modules were found" in modules.stderr


def test_docs_describe_every_family() -> None:
    page = (ROOT / "docs" / "redteam.md").read_text(encoding="utf-8")
    assert [name for name in FAMILIES if f"| `{name}` |" not in page] == []


def test_help_lists_the_families_and_exit_codes() -> None:
    proc = redteam("--help")
    assert proc.returncode == 0
    for name in FAMILIES:
        assert f"  {name} " in proc.stdout
    assert "exit codes" in proc.stdout and "--fail-under" in proc.stdout


# ---- the generators keep their promises ---------------------------------------------------


def test_the_invisible_sweep_uses_every_default_ignorable_code_point() -> None:
    from guardrails.redteam.obfuscate import default_ignorables, invisible_sweep

    every = set(default_ignorables())
    assert {"\u200b", "\u00ad", "\u3164", "\u180e", "\ufeff", "\U000e0001", "\U000e01ef"} <= every
    assert len(every) >= 4000
    used = {ch for _, _, v in invisible_sweep(["salary", "performance review"], random.Random(1)) for ch in v}
    assert every <= used


def test_look_alikes_come_from_unicodes_confusables_data() -> None:
    from importlib import resources

    from guardrails.redteam.obfuscate import lookalikes

    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    for how, variant in lookalikes("cocaine", random.Random(5)):
        for plain, used in zip("cocaine", variant):
            if used != plain:
                listed = {e["c"].strip("\u200e\u200f") for e in data[plain]}
                assert used in listed, (how, plain, used)


def test_card_numbers_pass_luhn_and_ibans_their_check_digits() -> None:
    from guardrails.redteam.formats import iban, luhn_number

    rng = random.Random(2)
    for prefix, length in (("4", 16), ("2221", 16), ("37", 15)):
        number = luhn_number(prefix, length, rng)
        digits = [int(d) for d in reversed(number)]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
        assert len(number) == length and number.startswith(prefix) and total % 10 == 0
    for country in ("DE", "GB", "FR", "NL", "ES"):
        value = iban(country, rng)
        moved = value[4:] + value[:4]
        assert int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


@pytest.mark.parametrize("pattern,flags", [
    (r"ignore (all|any|previous) instructions", "i"), (r"\bORD-\d{8}\b", ""),
    (r"^(main|master|release\/.*)$", ""), (r"(^|\/)(\.env|id_rsa|\.aws\/credentials|\.netrc)$", ""),
    (r"[A-Z]{2}\d{2}[ ]?\d{4}", ""), (r"(?i)t-\d+[^a-z]", ""),
])
def test_regex_examples_match_their_regex(pattern: str, flags: str) -> None:
    from guardrails.redteam.examples import example

    for seed in range(5):
        assert regex.search(pattern, example(pattern, flags, random.Random(seed)), regex.I if flags else 0)


def test_the_solver_builds_the_request_a_rule_catches() -> None:
    from guardrails.diagnostics import Diagnostics
    from guardrails.redteam.targets import find_targets
    from guardrails.resolve import build_units
    from guardrails.sources import read_paths

    diags = Diagnostics()
    units, _ = build_units(read_paths([POLICIES], diags), diags)
    support = next(u for u in units if u.policy.name == "support-bot")
    targets, _ = find_targets(support, seed=0)
    cap = next(t for t in targets if t.rule == "cap")
    bindings = dict(cap.bindings)
    # over the cap, no ticket, and a manager whom `managers` would otherwise allow
    assert bindings[("args", "amount")] > 5000 and bindings[("tool",)] in ("issue_refund", "void_charge")
    assert bindings[("principal", "role")] == "manager" and cap.attacked == (("tool",), ("args", "amount"))


def test_the_carriers_trip_no_rule_of_the_example_policies() -> None:
    # A carrier sentence that tripped a rule by itself would make every
    # variant set in it look caught.
    from guardrails import Engine

    engine = Engine.from_path(POLICIES)
    corpus = load_corpus()
    for name in SHIPPED:
        for carrier in corpus.carriers:
            text = carrier.replace("{}", "the new parking rules")
            for stage in ("input", "output"):
                # an answer comes with its sources, as the harness sends it (rag-search's grounding rules)
                request = {"text": text, "session": "carriers", **({"sources": [text]} if stage == "output" else {})}
                d = engine.check(stage, request, policy=name, exhaustive=True)
                assert [v.rule for v in d.violations if v.effect != "label"] == [], (name, stage, text)


# A shell rule reads the command, another reviews every shell call, and an
# output rule no variant attacks (a length check): the benign corpus goes
# through the output stage and the shell call, and only the line's own doing
# counts.
BENIGN_REACH = """\
policy "reach" version "1.0.0"
terms destructive = ["rm -rf /"]
tool run_shell(cmd: string)
input {
  rule words: deny "no" when banned(destructive)
}
output {
  rule long-answer: warn "long" when length(text) > 40
}
tool_call {
  rule review: escalate to human_review "every shell call" when tool == "run_shell"
  rule shell: deny "no" when tool == "run_shell" and banned(destructive)
}
"""


def test_the_benign_corpus_reaches_every_stage_a_rule_can_fire_in(tmp_path: Path) -> None:
    import dataclasses

    from guardrails.redteam import run_redteam

    (tmp_path / "reach.policy").write_text(BENIGN_REACH)
    lines = (("general", "Clear the cache with rm -rf /tmp/app-cache and restart."),
             ("general", "ok"), ("terms", "Never type rm -rf / on a server."))
    corpus = dataclasses.replace(load_corpus(), benign=lines)
    b = run_redteam(tmp_path, corpus=corpus, families=["plain"]).policies[0].benign.as_dict()
    assert b["stages"] == ["input", "output", "tool_call"]
    flagged = {f["text"]: (f["rules"], f["stages"]) for f in b["flagged_lines"]}
    # the long line trips the output rule no target covers; `review` fires on
    # the neutral call too, so it is not the line's doing
    assert flagged == {lines[0][1]: (["long-answer"], ["output"]),
                       lines[2][1]: (["shell", "words"], ["input", "tool_call"])}


def test_no_term_topic_secret_or_pii_rule_of_the_example_policies_flags_a_benign_line() -> None:
    # What is left of the benign flags comes from injection and grounding
    # (docs/redteam.md); the rules of the other kinds keep the corpus clean:
    # no phone number in "Invoice 40021873", no "rm -rf /" in "rm -rf /tmp/app-cache".
    from guardrails.redteam import run_redteam

    report = run_redteam(POLICIES, families=["plain"], sample=1)
    for p in report.policies:
        b = p.benign.as_dict()
        assert not {"terms", "topic", "secrets", "pii"} & set(b["by_kind"]), (p.name, b["flagged_lines"])
        assert "tool_call" in b["stages"], p.name


def test_the_example_policies_catch_at_least_98_percent_of_obfuscated_banned_terms() -> None:
    # Issue 14's goal, on the text families in full (no sample), as the
    # README's full run counts it; the other families are left out (about 10 s).
    from guardrails.redteam import run_redteam

    text_families = ["plain", "case", "invisible", "lookalikes", "width", "separators", "joined", "markup",
                     "leetspeak", "diacritics"]
    figures = run_redteam(POLICIES, families=text_families).figures()
    terms = figures["obfuscated_terms"]
    assert terms["tried"] >= 1000 and terms["caught_rate"] >= 0.98, terms
