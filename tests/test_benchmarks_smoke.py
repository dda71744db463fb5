"""The benchmark harness runs end to end (in its tiny mode) and checks what it claims.

No timing is asserted: these machines are noisy, and the harness reports
ratios for people to read. What must hold is the structure of the report
and its correctness checks: identical PII spans, identical tool-call
decisions, flat memory, bounded caches.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import sections  # noqa: E402,F401  (registers the sections)
from benchmarks.harness import SECTIONS, Measured, Row, Timing, interleave, measure, run, write_json  # noqa: E402

EXPECTED = ["pii", "injection", "detectors", "grounding", "tools", "sessions", "rules", "schema", "prove", "scaling", "startup", "sidecar", "streaming", "soak", "hostile"]


@pytest.fixture(scope="module")
def report() -> dict:
    out = io.StringIO()
    rep = run("tiny", out=out)
    rep["_table"] = out.getvalue()
    return rep


def test_every_section_is_registered_in_order() -> None:
    assert list(SECTIONS) == EXPECTED


def test_sections_run_or_say_why_not(report) -> None:
    for name in EXPECTED:
        sec = report["sections"][name]
        if sec["skipped"]:
            missing = [m for m in SECTIONS[name].needs if find_spec(m) is None]
            assert missing, f"{name} was skipped although {SECTIONS[name].needs} are importable"
            assert "bench" in sec["skipped"]
        else:
            assert sec["rows"], f"{name} reported no rows"


def test_rows_are_ratios_against_a_peer(report) -> None:
    for name, sec in report["sections"].items():
        for row in sec["rows"]:
            assert row["peer"], (name, row["case"])
            assert row["kind"] in ("speedup", "relative")
            assert isinstance(row["ratio_median"], float) and row["ratio_median"] > 0, (name, row["case"])
            assert isinstance(row["ratio_p99"], float)
            assert row["met"] in (True, False, None)
            if row["goal"] is None:
                assert row["met"] is None


def test_every_row_reports_the_ratio_over_repetitions(report) -> None:
    for name, sec in report["sections"].items():
        for row in sec["rows"]:
            where = (name, row["case"])
            assert row["repetitions"] >= 2, where
            assert len(row["ratios"]) == row["repetitions"], where
            assert row["ratio_min"] <= row["ratio_median"] <= row["ratio_max"], where
            assert row["ours"]["median_" + ("bytes" if row["unit"] == "MB" else "s")] > 0, where


def test_the_new_cases_ran(report) -> None:
    secs = report["sections"]
    pii = {r["case"] for r in secs["pii"]["rows"]}
    assert pii == {f"{size} {label} text" for size in ("100 B", "1 KB", "10 KB") for label in ("clean", "numbers", "PII")}
    if not secs["rules"]["skipped"]:
        rules = {r["case"] for r in secs["rules"]["rows"]}
        assert {"no-tool decision, 10 rules", "no-tool decision, 100 rules", "no-tool decision, 100 rules vs 10",
                "compile 100 rules"} <= rules
        assert secs["rules"]["checks"] == {"identical decisions to cedarpy's at every size": True}
    assert secs["schema"]["checks"] == {"identical decisions with and without the schema on matching requests": True,
                                        "no request refused by the schema": True}
    assert [r["case"] for r in secs["schema"]["rows"]] == ["tool decision with the schema check"]
    assert any("fresh process" in n for n in secs["soak"]["notes"])
    assert "new words" in " ".join(r["case"] for r in secs["soak"]["rows"])


def test_the_report_names_the_commit_measured(report) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    assert len(report["meta"]["commit"]) == 40
    assert isinstance(report["meta"]["uncommitted_changes"], list)


def test_interleave_calls_every_side_on_every_request_in_a_random_order() -> None:
    import random

    calls: list[tuple[str, int]] = []
    fns = [lambda x: calls.append(("a", x)), lambda x: calls.append(("b", x)), lambda x: calls.append(("c", x))]
    samples, _ = interleave(fns, [list(range(40)), list(range(40)), list(range(3))], random.Random(1))
    assert [len(s) for s in samples] == [40, 40, 3]
    # Request by request: each request's calls come together, one per side still holding inputs.
    i = 0
    firsts = set()
    for req in range(40):
        width = 3 if req < 3 else 2
        group = calls[i:i + width]
        i += width
        assert sorted(side for side, _ in group) == ["a", "b", "c"][:width]
        assert {x for _, x in group} == {req}
        firsts.add(group[0][0])
    assert firsts == {"a", "b", "c"}  # the order is drawn per request, so every side sometimes goes first


def test_measure_keeps_results_and_a_ratio_per_repetition() -> None:
    import random

    m = measure([lambda x: x * 2, lambda x: x + 1], lambda rep: [[rep, rep + 10], [rep, rep + 10]], 5,
                random.Random(2), keep=True)
    assert len(m.samples) == 5 and m.results_of(0) == [2 * x for r in range(5) for x in (r, r + 10)]
    assert m.results_of(1) == [x + 1 for r in range(5) for x in (r, r + 10)]
    row = m.row("case", "peer")
    assert len(row.ratios) == 5 and row.to_json()["repetitions"] == 5


def test_a_row_reads_its_ratio_from_the_repetitions() -> None:
    row = Row("c", Timing([1.0, 1.0]), "p", Timing([3.0, 3.0]), ratios=[2.0, 9.0, 4.0])
    data = row.to_json()
    assert (data["ratio_median"], data["ratio_min"], data["ratio_max"]) == (4.0, 2.0, 9.0)
    assert data["ratio_p99"] == 3.0  # pooled p99s, peer / ours
    slower = Measured([[[2.0], [1.0]], [[4.0], [1.0]]]).row("c", "p", kind="relative", goal=3.0)
    assert slower.ratios == [2.0, 4.0] and slower.ratio("median") == 3.0 and slower.met


def test_correctness_checks_pass(report) -> None:
    failed = {(n, c) for n, s in report["sections"].items() for c, ok in s["checks"].items() if not ok}
    assert not failed


def test_the_checks_that_matter_were_made(report) -> None:
    secs = report["sections"]
    assert any("identical spans" in c for c in secs["pii"]["checks"])
    if not secs["tools"]["skipped"]:
        assert any("identical decisions" in c for c in secs["tools"]["checks"])
    assert "tool-only policy imports no Presidio or spaCy" in secs["startup"]["checks"]
    assert "detector cache bounded (size <= maxsize)" in secs["soak"]["checks"]
    if not secs["sidecar"]["skipped"]:
        assert secs["sidecar"]["checks"]["sidecar decisions equal the engine's"]
    assert secs["hostile"]["checks"]["no regex-timeout with a busy thread in the process"]
    assert secs["hostile"]["extra"]["regex_timeouts"]["decisions"] > 0


def test_the_worst_case_inputs_are_measured_for_linearity(report) -> None:
    rows = {r["case"]: r for r in report["sections"]["hostile"]["rows"]}
    for shape in ("'1-'", "'1a'", "'3,'"):
        for what in ("text", "tool-call note"):
            linear = rows[f"{shape} x N as {what}: cost per KB at 32 KB"]
            assert linear["peer"] == "per KB at 8 KB" and linear["goal"] == 1.5
            assert rows[f"{shape} x N as {what}, 32 KB"]["peer"] == "prose of 32 KB"


def test_table_names_every_section(report) -> None:
    for name in EXPECTED:
        assert f"[{name}]" in report["_table"]


def test_json_report_is_written(report, tmp_path) -> None:
    path = tmp_path / "bench.json"
    write_json({k: v for k, v in report.items() if not k.startswith("_")}, str(path))
    data = json.loads(path.read_text())
    assert data["meta"]["mode"] == "tiny"
    assert set(data["sections"]) == set(EXPECTED)


def test_the_command(tmp_path) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--tiny", "--only", "streaming", "soak",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "[streaming]" in proc.stdout and "[soak]" in proc.stdout
    data = json.loads(out.read_text())
    assert set(data["sections"]) == {"streaming", "soak"}


def _sidecar_report(report: dict, loadgen: str) -> dict:
    """The tiny run's sidecar section if it used this load generator, else a run with it."""
    sec = report["sections"]["sidecar"]
    if sec["extra"].get("load_generator") == {"python": "Python clients", "h2load": "h2load"}[loadgen]:
        return sec
    rep = run("tiny", only=["sidecar"], out=io.StringIO(), loadgen=loadgen)
    return rep["sections"]["sidecar"]


def test_sidecar_with_python_clients_reports_the_budgets(report) -> None:
    sec = _sidecar_report(report, "python")
    assert not [c for c, ok in sec["checks"].items() if not ok]
    cases = {r["case"]: r for r in sec["rows"]}
    assert {"p50 at 1,000/s vs 0.5 ms budget", "max decisions/s vs 3,000/s budget"} <= set(cases)
    assert sec["extra"]["load_generator"] == "Python clients"
    assert sec["extra"]["decisions_per_second"] > 0


@pytest.mark.skipif(shutil.which("h2load") is None,
                    reason="h2load (Debian package nghttp2-client) is not installed; the Python-client path "
                           "is tested above")
def test_sidecar_with_h2load_checks_every_request_was_decided(report) -> None:
    sec = _sidecar_report(report, "h2load")
    assert sec["checks"]["every h2load request got a decision, none refused"]
    assert not [c for c, ok in sec["checks"].items() if not ok]
    assert sec["extra"]["load_generator"] == "h2load"


def test_a_failing_section_is_reported_not_raised(monkeypatch) -> None:
    from benchmarks.harness import SECTIONS, Section

    def broken(ctx, res):
        raise RuntimeError("the peer is missing")

    monkeypatch.setitem(SECTIONS, "broken", Section("broken", "A broken section", broken))
    rep = run("tiny", only=["broken"], out=io.StringIO())
    sec = rep["sections"]["broken"]
    assert sec["checks"] == {"the section ran to the end": False}
    assert "RuntimeError: the peer is missing" in sec["notes"][0]


def test_loadgen_h2load_without_h2load_is_a_usage_error(tmp_path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # nothing on this PATH
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--tiny", "--only", "sidecar", "--loadgen", "h2load"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2
    assert "h2load is not on the PATH" in proc.stderr and "Traceback" not in proc.stderr
