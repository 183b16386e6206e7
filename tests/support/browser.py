"""Shared by the browser tests (their fixtures are in tests/browser/conftest.py)."""

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError


def log_in(page, live_server, user, password="correct-horse-battery", next_path="/"):
    page.goto(f"{live_server.url}{next_path}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def assert_fits_width(page, label=""):
    """The page never scrolls sideways. Charts resize on a ResizeObserver after a viewport change,
    so the check waits (up to 5 s) for the layout to settle instead of reading it at once."""
    fits = "() => document.documentElement.scrollWidth <= window.innerWidth"
    try:
        page.wait_for_function(fits, timeout=5000)
    except PlaywrightTimeoutError:
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        raise AssertionError(f"{label}: the page scrolls sideways (scrollWidth, innerWidth) = {widths}") from None
