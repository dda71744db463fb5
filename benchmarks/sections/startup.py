"""Start-up: `guardrails eval` cold start, in a fresh process, for two policies.

A tool-only policy should never import Presidio or spaCy (they take over a
second to import); a PII policy needs them. Each is timed as the wall time
of a subprocess, against a bare interpreter start in the same run; each
repetition starts one process of each kind, in an order drawn at random.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..harness import Context, SectionResult, budget_row, measure, section
from .tools import POLICY as TOOL_POLICY

PII_POLICY = """
policy "bench-startup-pii" version "1.0.0"
entities contact = [EMAIL_ADDRESS, PHONE_NUMBER]
input {
  rule redact-contact: redact contact using replace("<{entity}>")
}
"""

HEAVY = ("presidio_analyzer", "presidio_anonymizer", "spacy")


def _run(cmd: list[str], stdin: str | None = None) -> tuple[float, subprocess.CompletedProcess]:
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    # An installed package starts from its bytecode: with PYTHONDONTWRITEBYTECODE set
    # (some CI images and sandboxes set it) every process would compile every module
    # from source, and an editable install has no bytecode until a process writes it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=120)
    return time.perf_counter() - t0, proc


def imported_heavy(cmd: list[str], stdin: str | None) -> list[str]:
    """Heavy modules a command imports (from `-X importtime`)."""
    _, proc = _run([cmd[0], "-X", "importtime", *cmd[1:]], stdin)
    seen = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:"):
            name = line.rsplit("|", 1)[-1].strip()
            top = name.split(".")[0]
            if top in HEAVY:
                seen.add(top)
    return sorted(seen)


@section("startup", "Start-up: guardrails eval cold start")
def run(ctx: Context, res: SectionResult) -> None:
    reps = ctx.pick(2, 5, 7)
    with tempfile.TemporaryDirectory() as tmp:
        tool_path = Path(tmp, "tools.policy")
        tool_path.write_text(TOOL_POLICY)
        pii_path = Path(tmp, "pii.policy")
        pii_path.write_text(PII_POLICY)
        py = sys.executable
        tool_cmd = [py, "-m", "guardrails.cli", "eval", str(tool_path), "--stage", "tool_call", "--format", "json"]
        tool_req = json.dumps({"tool": "lookup_order", "args": {}, "principal": {"role": "agent", "id": "u1",
                                                                                 "suspended": False},
                               "context": {"mfa": True, "sandbox": False}})
        pii_cmd = [py, "-m", "guardrails.cli", "eval", str(pii_path), "--stage", "input", "--format", "json",
                   "--text", "mail jane@example.com"]
        bare = [py, "-c", "pass"]
        runs = [(bare, None), (tool_cmd, tool_req), (pii_cmd, None)]
        for job in runs:  # not timed: writes the bytecode a deployed install would already have
            _run(*job)
        # One process of each kind per repetition, in an order drawn at random.
        m = measure([lambda job: _run(*job)[1]] * 3, lambda rep: [[job] for job in runs], reps,
                    random.Random(ctx.seed), keep=True)
        res.rows.append(m.row("eval, tool-only policy", "python -c pass", ours=1, peer=0, kind="relative"))
        res.rows.append(budget_row("eval, tool-only policy vs 0.5 s budget", m.timing(1).samples, 0.5,
                                   "0.5 s budget", goal=1.0))
        res.rows.append(m.row("eval, PII policy", "python -c pass", ours=2, peer=0, kind="relative",
                              note="builds Presidio and warms it up at load"))
        ok_tool = all(p.returncode == 0 and '"outcome":"allow"' in p.stdout for p in m.results_of(1))
        ok_pii = all(p.returncode == 0 and "<EMAIL_ADDRESS>" in p.stdout for p in m.results_of(2))
        res.check("both commands decide correctly", ok_tool and ok_pii)
        heavy_tool = imported_heavy(tool_cmd, tool_req)
        heavy_pii = imported_heavy(pii_cmd, None)
        res.check("tool-only policy imports no Presidio or spaCy", not heavy_tool)
        res.check("PII policy does import Presidio (the probe works)", "presidio_analyzer" in heavy_pii)
        res.extra["heavy_imports"] = {"tool": heavy_tool, "pii": heavy_pii}
        res.notes.append(f"wall time of a fresh `python -m guardrails.cli eval` process, {reps} runs each, "
                         f"after one untimed run of each that writes the bytecode (PYTHONDONTWRITEBYTECODE unset); "
                         f"heavy imports (-X importtime): tool-only {heavy_tool or 'none'}, PII {heavy_pii}")
