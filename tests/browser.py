"""Browser fixtures shared by every browser test (tests/e2e and per-app browser tests).

Loaded once from tests/conftest.py as a plugin: a test module must not import these fixtures
itself, or pytest would start a second Playwright in the same session and both would fail.
Debian's chromium is driven by Playwright against pytest-django's live server.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make around it
# are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("FIDELE_CHROMIUM", "/usr/bin/chromium")
AXE_JS = Path(__file__).parent / "e2e" / "vendor" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("FIDELE_TEST_ARTIFACTS", "test-artifacts"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    """A page whose test fails if the browser reports a Content-Security-Policy violation (the
    policy is in config/settings.py: a page that needs more than it allows is broken)."""
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    if request.node.get_closest_marker("hostile_content"):
        # Blocking the attacker's inline handlers is the policy doing its job.
        violations = [v for v in violations if "inline event handler" not in v]
    assert violations == [], "Content-Security-Policy violations:\n" + "\n".join(violations)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def log_in(live_server):
    def log_in(page, user, password="correct horse battery"):
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", password)
        page.locator("form button[type=submit], form button:not([name=language])").last.click()
        page.wait_for_url(lambda url: "/login/" not in url)

    return log_in


@pytest.fixture
def axe_violations():
    """Serious and critical WCAG 2.1 A/AA violations axe-core finds on the page."""

    def check(page) -> list[dict]:
        # Evaluated rather than added as an inline <script>, which the page's CSP refuses.
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
        result = page.evaluate(
            """async () => await axe.run(document, {runOnly: {type: 'tag',
                 values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"""
        )
        return [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]

    return check
