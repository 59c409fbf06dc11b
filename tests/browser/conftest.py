"""A real browser on the app as production serves it.

The site: the Procfile's release, then its web process (gunicorn) with a production environment,
behind nginx terminating TLS on loopback as Heroku's router would (tests.support.router). The browser:
Debian's Chromium driven by Playwright, which never downloads a browser of its own. It ignores
certificate errors only because the router's CA is made up for the run; the origin is still
https, so Secure cookies, HSTS and the CSP behave as in production.

Chromium and nginx come from Debian's packages (bin/test installs them as root or through sudo);
TEST_CHROMIUM may name another Chromium build. Where one is missing the tests are skipped, saying
how to install it; in CI (CI=true) they fail.
"""

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.dyno import ROOT, WebDyno, dyno_environment, run_process
from tests.support.router import Router, RouterUnavailable

# Debian's Chromium, unless TEST_CHROMIUM names another build (Heroku CI's Chrome for Testing).
CHROMIUM = os.environ.get("TEST_CHROMIUM") or "/usr/bin/chromium"
INSTALL_CHROMIUM = "apt-get install chromium (Debian; bin/test does it as root or through sudo)"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
}

# Playwright's own scripts, added before any of the page's; the CSP does not apply to them.
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI || "inline code"}`);
});
"""


def missing(reason):
    """Skip on a developer's machine, fail in CI: the convention of tests.support.services.missing()."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI needs the browser tests' tools: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class Site:
    url: str
    admin: dict
    dyno: WebDyno
    router: Router


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The app as a production dyno serves it, behind the TLS router, with one admin user."""
    directory = tmp_path_factory.mktemp("site")
    env = dyno_environment(
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=f"sqlite:///{directory / 'db.sqlite3'}",
        ALLOWED_HOSTS="localhost",
        WEB_CONCURRENCY=1,
    )
    release = run_process("release", env)
    assert release.returncode == 0, release.stdout + release.stderr
    admin = {"username": "browser-admin", "password": secrets.token_urlsafe(16), "email": "admin@example.com"}
    superuser = subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env | {f"DJANGO_SUPERUSER_{key.upper()}": value for key, value in admin.items()},
    )
    assert superuser.returncode == 0, superuser.stderr
    dyno = WebDyno(env).start()
    router = Router(dyno.port, directory / "router")
    try:
        router.start()
    except RouterUnavailable as error:
        dyno.kill()
        missing(str(error))
    yield Site(url=router.url, admin=admin, dyno=dyno, router=router)
    router.stop()
    dyno.kill()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        missing(f"Chromium is not installed at {CHROMIUM}; {INSTALL_CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


class Problems(list):
    """What a page reported while the test ran: console errors, uncaught exceptions, failed
    requests and Content-Security-Policy violations, one line each."""

    def watch(self, page):
        page.add_init_script(RECORD_CSP_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.append(f"uncaught: {error}"))
        page.on("requestfailed", lambda request: self.append(f"failed: {request.url} ({request.failure})"))
        return page

    def _console(self, message):
        if message.type == "error":
            self.append(f"console: {message.text}")

    def collect_csp_violations(self, page):
        self.extend(f"CSP: {violation}" for violation in page.evaluate("window.cspViolations"))


def reader_agent(browser):
    """The User-Agent this Chromium sends with a window. Headless, it says HeadlessChrome, which
    counter.features.bots takes for a bot's, as it does any automated browser's: its views would not count."""
    return (
        f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{browser.version} Safari/537.36"
    )


def new_page(browser, problems, viewport="desktop", color_scheme="light"):
    context = browser.new_context(
        ignore_https_errors=True, color_scheme=color_scheme, user_agent=reader_agent(browser), **VIEWPORTS[viewport]
    )
    return problems.watch(context.new_page())


@pytest.fixture
def problems():
    return Problems()


@pytest.fixture
def page(browser, problems):
    """A fresh desktop page in light mode (a context of its own: no cookies from other tests)."""
    page = new_page(browser, problems)
    yield page
    page.context.close()
