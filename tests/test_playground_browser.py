"""`guardrails playground` in a real headless Chromium (Playwright, the system browser).

One browser for the module. The test types a broken policy and sees the
diagnostic underlined and listed, fixes it, evaluates a request and sees the
redaction highlighted and the fired rule lit in the graph, runs the tests,
compares the edit against a pinned baseline, and makes a share link that
restores the state. It waits on selectors, never
on fixed sleeps, and writes the docs' screenshot (docs/img/playground.png)
when GUARDRAILS_SCREENSHOT is set (scripts/playground_screenshot.py sets it).

Where Playwright or a Chromium is missing, the tests skip and say which; the
test command (.ci/run) installs both.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from guardrails.playground import Settings, make_server
from guardrails.playground.files import PolicyDir

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "img" / "playground.png"
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")  # never fetch a browser build

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[test]')")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH (apt-get install chromium)")


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("browser") / "policies"
    shutil.copytree(ROOT / "policies", d)
    return d


@pytest.fixture(scope="module")
def url(policy_dir):
    httpd = make_server(Settings(port=0, policy_dir=PolicyDir.open(policy_dir), eval_timeout=60))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture()
def page(browser, url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.set_default_timeout(20_000)
    pg.goto(url)
    pg.wait_for_selector("body[data-ready='1']")
    yield pg
    context.close()
    assert problems == []


def type_into_editor(page, old: str, new: str) -> None:
    """Replace `old` with `new` in the editor the way a person would: select it and type."""
    box = page.locator("#editor-text")
    start = box.input_value().index(old)
    box.focus()
    box.evaluate("(el, [a, b]) => el.setSelectionRange(a, b)", [start, start + len(old)])
    if new:
        page.keyboard.type(new)
    else:
        page.keyboard.press("Delete")


def test_break_fix_evaluate_and_test_a_policy(page, policy_dir):
    page.select_option("#policy", "support-bot")
    page.wait_for_function("document.querySelector('#file').value === 'support-bot.policy'")
    on_disk = (policy_dir / "support-bot.policy").read_text()

    # A broken policy: the diagnostic of `guardrails check`, underlined and listed.
    type_into_editor(page, "when topic(legal) >= 0.7", "when topik(legal) >= 0.7")
    diag = page.wait_for_selector("#diagnostics li.error")
    assert "support-bot.policy:" in diag.inner_text() and "error[E106]" in diag.inner_text()
    underlined = page.wait_for_selector("#editor-view .diag-error")
    assert underlined.inner_text() == "topik" and "E106" in underlined.get_attribute("title")
    assert "1 error(s)" in page.inner_text("#check-summary")

    # Fixed: the list empties and the summary says ok.
    type_into_editor(page, "topik(legal)", "topic(legal)")
    page.wait_for_selector("#check-summary.ok")
    assert page.locator("#diagnostics li").count() == 0

    # Evaluate: the email is marked in the input, its replacement in the forwarded text,
    # and the rule that fired is lit in the graph.
    page.fill("#request-text", "Email me at jane.doe@example.com, thanks")
    page.click("#evaluate")
    assert page.wait_for_selector("#outcome").inner_text().lower() == "redact"
    assert page.inner_text(".input-highlight mark.eff-redact") == "jane.doe@example.com"
    assert page.inner_text(".forward mark.fwd") == "<EMAIL_ADDRESS>"
    fired = page.wait_for_selector("#graph .cluster-group[data-stage='input'] .node.fired")
    assert fired.get_attribute("data-rule") == "redact-contact"
    assert "redact-contact" in page.inner_text("table.trace")
    if os.environ.get("GUARDRAILS_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1400, "height": 1250})
        fired.scroll_into_view_if_needed()  # the graph scrolls to the lit rule ...
        page.evaluate("window.scrollTo(0, 0)")  # ... and the page back to its top
        page.screenshot(path=str(SCREENSHOT))

    # The tests of the policy, with coverage.
    page.click("#tabs button[data-tab='tests']")
    page.wait_for_function("document.querySelector('#test-file').value === 'support-bot.tests.yaml'")
    page.click("#run-tests")
    summary = page.wait_for_selector("#test-summary.ok")
    assert " passed, 0 failed" in summary.inner_text()
    assert page.locator("tr.case .status-passed").count() > 10
    assert "rules" in page.inner_text(".coverage") and "100%" in page.inner_text(".coverage")

    # Compare: the editor against the pinned baseline, on the default pasted cases.
    page.click("#tabs button[data-tab='compare']")
    page.click("#pin")
    type_into_editor(page, 'rule redact-contact: redact contact using replace("<{entity}>")', "")
    page.click("#compare")
    assert page.wait_for_selector("#compare-summary").inner_text().startswith("3 request(s), 1 changed")
    assert page.inner_text("#compare-results .card").startswith("a contact address")

    assert (policy_dir / "support-bot.policy").read_text() == on_disk  # nothing saved without Save


def test_a_share_link_restores_the_edited_state_and_save_writes_the_file(page, browser, url, policy_dir):
    page.select_option("#policy", "rag-search")
    page.wait_for_function("document.querySelector('#file').value === 'rag-search.policy'")
    type_into_editor(page, 'policy "rag-search"', '# shared edit\npolicy "rag-search"')
    page.select_option("#stage", "output")
    page.fill("#request-text", "call 212-555-0134")
    page.click("#share")
    link = page.wait_for_selector("#share-url:not([hidden])").input_value()
    assert link.startswith(url + "#s=")

    other = browser.new_context().new_page()
    other.goto(link)
    other.wait_for_selector("body[data-ready='1']")
    assert "# shared edit\npolicy" in other.locator("#editor-text").input_value()
    assert other.input_value("#file") == "rag-search.policy" and other.input_value("#policy") == "rag-search"
    assert other.input_value("#request-text") == "call 212-555-0134"
    assert other.input_value("#stage") == "output"
    other.context.close()

    page.click("#save")
    page.wait_for_selector("#status:text-matches('saved')")
    assert page.inner_text("#status") == "saved rag-search.policy"
    assert "# shared edit\npolicy" in (policy_dir / "rag-search.policy").read_text()
