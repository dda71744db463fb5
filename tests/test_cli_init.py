"""`guardrails init` (issue 17 §8): a scaffold that checks and tests green, never overwriting."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "guardrails.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=120, stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_the_scaffold_checks_and_tests_green_with_full_coverage(tmp_path):
    made = cli("init", "billing-bot", "--dir", tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "billing-bot.policy").is_file() and (tmp_path / "billing-bot.tests.yaml").is_file()
    assert f"guardrails check {tmp_path}" in made.stdout
    check = cli("check", tmp_path)
    assert check.returncode == 0 and check.stdout.startswith("ok: 1 policy (billing-bot 0.1.0)"), check.stdout
    tested = cli("test", tmp_path, "--coverage", "--min-coverage", "100", "--min-branch-coverage", "100")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.rstrip().endswith("6 passed, 0 failed")
    assert not (tmp_path / "billing-bot.policy").read_text().count("import")


def test_the_scaffold_has_a_schema_stub_that_passes_strict_and_refuses_a_bad_call(tmp_path):
    assert cli("init", "billing-bot", "--dir", tmp_path).returncode == 0
    text = (tmp_path / "billing-bot.policy").read_text()
    # every tool the rules name is declared, and the principal and context too
    for declared in ("tool search_docs(q: string)", "tool lookup_order(order_id: string)", "principal {",
                     "context {"):
        assert declared in text
    strict = cli("check", "--strict", tmp_path)
    assert strict.returncode == 0 and "0 warning(s)" in strict.stdout, strict.stdout + strict.stderr
    # without the tool declarations, --strict refuses the same policy: the stub is what makes it pass
    (tmp_path / "billing-bot.policy").write_text(text.replace("tool search_docs(q: string)\n", ""))
    assert cli("check", "--strict", tmp_path).returncode == 1
    # the scaffold's own tests include a call the schema refuses before any rule runs
    cases = (tmp_path / "billing-bot.tests.yaml").read_text()
    assert "errors: [schema-violation]" in cases and "orderid" in cases


def test_beside_an_org_baseline_the_scaffold_imports_it_and_still_passes(tmp_path):
    shutil.copy(ROOT / "policies" / "org-baseline.policy", tmp_path)
    assert cli("init", "team-bot", "--dir", tmp_path).returncode == 0
    assert 'import "org-baseline"' in (tmp_path / "team-bot.policy").read_text()
    tested = cli("test", tmp_path / "team-bot.tests.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    strict = cli("check", "--strict", tmp_path)
    assert strict.returncode == 0, strict.stdout + strict.stderr


def test_existing_files_are_never_overwritten(tmp_path):
    (tmp_path / "mine.policy").write_text("keep me")
    again = cli("init", "mine", "--dir", tmp_path)
    assert again.returncode == 2
    assert "already exist" in again.stderr and "nothing was written" in again.stderr
    assert (tmp_path / "mine.policy").read_text() == "keep me"
    assert not (tmp_path / "mine.tests.yaml").exists()


def test_a_bad_name_or_directory_is_a_usage_error(tmp_path):
    bad = cli("init", "Bad Name", "--dir", tmp_path)
    assert bad.returncode == 2 and "invalid policy name 'Bad Name'" in bad.stderr
    (tmp_path / "file").write_text("")
    notdir = cli("init", "x", "--dir", tmp_path / "file")
    assert notdir.returncode == 2 and "is not a directory" in notdir.stderr
    assert "scaffold a policy" in cli("--help").stdout


def test_completion_scripts_name_every_command():
    from guardrails.cli import COMMANDS

    for shell in ("bash", "zsh"):
        proc = cli("completion", shell)
        assert proc.returncode == 0, proc.stderr
        for cmd in COMMANDS:
            assert cmd.NAME in proc.stdout, (shell, cmd.NAME)
    assert "--min-coverage" in cli("completion", "bash").stdout  # options too, not only commands
    bad = cli("completion", "fish")
    assert bad.returncode == 2 and "invalid choice: 'fish'" in bad.stderr
