"""Shared by the browser tests (their fixtures are in tests/browser/conftest.py)."""


def log_in(page, live_server, user, password="correct-horse-battery", next_path="/"):
    page.goto(f"{live_server.url}{next_path}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
