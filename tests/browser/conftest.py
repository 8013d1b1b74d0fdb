"""Fixtures of the browser tests: a live server, headless Chromium, a signed-in page.

The server is Django's ``LiveServerThread`` on 127.0.0.1 with an ephemeral
port, serving the test's own copy of the migrated database (``gateway_db``).
pytest-django's ``live_server`` fixture is not used, because it flushes the
database after each test and the append-only triggers reject that DELETE.

The browser is Debian's Chromium at ``/usr/bin/chromium``. Playwright never
downloads a browser here, so tests marked ``browser`` are skipped when that
binary or the playwright package is missing.
"""

import importlib.util
import os
import secrets
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")

# Without these switches Chromium opens background connections (component
# updates, sync, QUIC) that a closed network rejects. Chromium refuses to
# start as root with its sandbox on, and CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Timeout of every Playwright action, in milliseconds, the same as the default
# of ``expect``. Each page here renders in well under a second, and a missing
# element fails the test within this time instead of Playwright's 30 seconds.
TIMEOUT_MS = 5_000

# Screenshots and the default page size of every browser context, in CSS
# pixels, so the images in docs/screenshots keep one size across runs.
VIEWPORT = {"width": 1600, "height": 900}

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def browser_unavailable_reason():
    """Return why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed; run pip install -r requirements-dev.txt"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing; run apt-get install chromium"
    return None


def pytest_collection_modifyitems(config, items):
    reason = browser_unavailable_reason()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module", autouse=True)
def allow_django_in_event_loop():
    """Let Django's ORM run while Playwright's event loop runs in this thread.

    Playwright's synchronous API keeps an asyncio loop running in the test
    thread, and Django raises ``SynchronousOnlyOperation`` on any query made
    while a loop runs. The variable is set for this module only, because the
    loop stops when the module's browser closes.
    """
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def chromium(allow_django_in_event_loop):
    """Yield a headless Chromium shared by the tests of one module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def live_server_url(gateway_db):
    """Serve the gateway, static files included, and yield its base URL.

    The server thread opens its own connections with the settings that
    ``gateway_db`` changed, so it reads and writes this test's database.
    """
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread

    server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
    server.daemon = True
    server.start()
    if not server.is_ready.wait(timeout=30):
        raise RuntimeError("the live server thread did not start within 30 s")
    if server.error is not None:
        raise server.error
    yield f"http://127.0.0.1:{server.port}"
    server.terminate()


@pytest.fixture
def fast_passwords(settings):
    # Django 5.2's PBKDF2 runs 1,000,000 iterations, about 0.9 s per hash on
    # a two-core CI machine; a test needs two (create and sign in).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def superuser(gateway_db, fast_passwords):
    """Create a staff superuser and return its user name and password."""
    from django.contrib.auth.models import User

    password = secrets.token_urlsafe(24)
    User.objects.create_superuser("reviewer", "reviewer@example.invalid", password)
    return "reviewer", password


@pytest.fixture
def admin_page(chromium, live_server_url, superuser):
    """Yield a page signed in to the admin as the superuser.

    The page's ``base_url`` is the live server, so tests pass paths such as
    ``/admin/audit/auditevent/`` to ``page.goto``.
    """
    username, password = superuser
    context = chromium.new_context(
        base_url=live_server_url, viewport=VIEWPORT, accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    yield page
    context.close()


@pytest.fixture
def save_screenshot():
    """Return a function that saves a page's screenshot to docs/screenshots.

    It writes only when ``UPDATE_SCREENSHOTS=1``, so a normal test run
    leaves the committed images unchanged. It first collapses the admin's
    navigation sidebar, because the change list's columns do not fit beside
    it.
    """

    def save(page, name):
        if os.environ.get("UPDATE_SCREENSHOTS") != "1":
            return
        if page.locator("#nav-sidebar").is_visible():
            page.click("#toggle-nav-sidebar")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / name, full_page=True)

    return save
