"""The README's benchmark table is the reference run's report, rendered by
`python -m benchmarks.readme`; these tests hold the two together and check
the renderer's rows, its markers and its errors (run as the CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.readme import BEGIN, END, ReportError, render, splice


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks.readme", *map(str, args)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL, check=False)


def _row(case: str, kind: str, goal: float | None, met: bool | None, ratio: float, **kw) -> dict:
    return {"case": case, "peer": kw.pop("peer", "peer"), "kind": kind, "goal": goal, "met": met, "unit": "s",
            "ours": {"median_s": 2e-6, "p99_s": 3e-6, "samples": 10},
            "peer_time": {"median_s": 4e-5, "p99_s": 5e-5, "samples": 10},
            "ratio_median": ratio, "ratio_min": ratio * 0.9, "ratio_max": ratio * 1.1, "repetitions": 5, **kw}


REPORT = {
    "meta": {"mode": "quick", "python": "3.11.7", "cpus": 2, "when": "2026-12-03T08:00:00+0000",
             "commit": "0123456789abcdef", "uncommitted_changes": []},
    "sections": {
        "tools": {"rows": [_row("decision per request", "speedup", 10.0, True, 12.5, peer="cedarpy")]},
        "sidecar": {"rows": [_row("tool decision at 1,000/s", "relative", 1.2, False, 1.31),
                             _row("tool decision at 100/s", "relative", None, None, 1.1)]},
        "injection": {"rows": [_row("1 KB text", "relative", None, None, 2.2, peer="terms (banned)")]},
    },
}


def test_the_table_shows_goal_rows_and_named_peers_with_their_verdicts():
    table = render(REPORT)
    assert "commit `0123456`" in table and "2026-12-03" in table
    assert "| tools | decision per request | 2.0 µs | cedarpy 40.0 µs | 12.5× faster (11.2–13.8×) | ≥ 10× | yes |" in table
    assert "| sidecar | tool decision at 1,000/s | 2.0 µs | peer 40.0 µs | 1.31× (1.18–1.44×) | ≤ 1.2× | **no** |" in table
    assert "| injection | 1 KB text |" in table  # no goal, but a cost an issue names
    assert "at 100/s" not in table  # no goal and not listed: left out


def test_a_malformed_report_is_an_error_that_names_what_is_missing():
    with pytest.raises(ReportError, match="meta"):
        render({"sections": {}})
    broken = json.loads(json.dumps(REPORT))
    del broken["sections"]["tools"]["rows"][0]["ours"]["median_s"]
    with pytest.raises(ReportError, match="median_s"):
        render(broken)


def test_splice_needs_both_markers():
    assert splice(f"a\n{BEGIN}\nold\n{END}\nb", "new\n", "R") == f"a\n{BEGIN}\nnew\n{END}\nb"
    with pytest.raises(ReportError, match="R: no"):
        splice("no markers here", "t", "R")


def test_write_then_check_round_trips_and_a_stale_table_fails_the_check(tmp_path):
    report, readme = tmp_path / "r.json", tmp_path / "README.md"
    report.write_text(json.dumps(REPORT))
    readme.write_text(f"# Title\n\n{BEGIN}\nstale\n{END}\n\nafter\n")
    assert cli(report, "--check", readme).returncode == 1
    written = cli(report, "--write", readme)
    assert written.returncode == 0, written.stderr
    text = readme.read_text()
    assert text.startswith("# Title\n") and text.endswith(f"{END}\n\nafter\n") and "stale" not in text
    assert cli(report, "--check", readme).returncode == 0


@pytest.mark.parametrize("content, message", [
    (None, "No such file"),
    ("{not json", "not JSON"),
    ('{"meta": {}}', "not a benchmark report"),
])
def test_bad_input_gets_a_clear_error_and_exit_2(tmp_path, content, message):
    report = tmp_path / "r.json"
    if content is not None:
        report.write_text(content)
    proc = cli(report)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_a_readme_without_markers_is_refused(tmp_path):
    report, readme = tmp_path / "r.json", tmp_path / "README.md"
    report.write_text(json.dumps(REPORT))
    readme.write_text("no table\n")
    proc = cli(report, "--write", readme)
    assert proc.returncode == 2 and "markers" in proc.stderr and readme.read_text() == "no table\n"


def test_the_readme_table_is_the_reference_run():
    proc = cli(ROOT / "benchmarks" / "reference-run.json", "--check", ROOT / "README.md")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((ROOT / "benchmarks" / "reference-run.json").read_text(encoding="utf-8"))
    assert report["meta"]["mode"] == "full" and not report["meta"]["uncommitted_changes"]
    assert f"commit `{report['meta']['commit'][:7]}`" in (ROOT / "README.md").read_text(encoding="utf-8")
