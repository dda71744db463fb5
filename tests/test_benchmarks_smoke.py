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
from benchmarks.harness import SECTIONS, run, write_json  # noqa: E402

EXPECTED = ["pii", "injection", "detectors", "tools", "scaling", "startup", "sidecar", "streaming", "soak"]


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


def _sidecar_report(loadgen: str) -> dict:
    rep = run("tiny", only=["sidecar"], out=io.StringIO(), loadgen=loadgen)
    return rep["sections"]["sidecar"]


def test_sidecar_with_python_clients_reports_the_budgets() -> None:
    sec = _sidecar_report("python")
    assert not [c for c, ok in sec["checks"].items() if not ok]
    cases = {r["case"]: r for r in sec["rows"]}
    assert {"p50 at 1,000/s vs 0.5 ms budget", "max decisions/s vs 3,000/s budget"} <= set(cases)
    assert sec["extra"]["load_generator"] == "Python clients"
    assert sec["extra"]["decisions_per_second"] > 0


@pytest.mark.skipif(shutil.which("h2load") is None,
                    reason="h2load (Debian package nghttp2-client) is not installed; the Python-client path "
                           "is tested above")
def test_sidecar_with_h2load_checks_every_request_was_decided() -> None:
    sec = _sidecar_report("h2load")
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
