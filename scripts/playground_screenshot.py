"""Take docs/img/playground.png: the browser test's own screenshot of the playground.

    .venv/bin/python scripts/playground_screenshot.py

Runs tests/test_playground_browser.py with GUARDRAILS_SCREENSHOT=1, so the
picture in the docs is the page the test drove (support-bot, a redacted
request, the fired rule lit in the graph). Needs Playwright and a Chromium,
as the test does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    env = dict(os.environ, GUARDRAILS_SCREENSHOT="1", PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    test = "tests/test_playground_browser.py::test_break_fix_evaluate_and_test_a_policy"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", test], cwd=ROOT, env=env, check=False)
    shot = ROOT / "docs" / "img" / "playground.png"
    if r.returncode == 0 and shot.exists():
        print(f"wrote {shot.relative_to(ROOT)}")
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
