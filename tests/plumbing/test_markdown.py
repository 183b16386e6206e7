import re

import pytest

from plumbing.markdown import render_markdown
from plumbing.templatetags.opslog import duration
from tests.support.xss import DANGEROUS, VECTORS


@pytest.mark.parametrize("vector", VECTORS)
def test_no_script_handler_or_dangerous_url_survives(vector):
    html = render_markdown(vector)

    # Escaped text (&lt;script&gt;) is harmless; live markup is not.
    assert not DANGEROUS.search(html), html


def test_ordinary_markdown_still_renders():
    html = render_markdown("**Impact:** checkout\n\n- one\n- two\n\n[runbook](https://wiki.example.com/run)")

    assert "<strong>Impact:</strong>" in html
    assert "<li>one</li>" in html
    assert 'href="https://wiki.example.com/run"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (45, "45 s"),
        (89.5, "89.5 s"),
        (390, "6.5 min"),
        (360, "6 min"),
        (7500, "2 h 5 min"),
        (7200, "2 h"),
        (3.2 * 86400, "3.2 days"),
    ],
)
def test_durations_read_like_people_write_them(seconds, text):
    assert duration(seconds) == text


@pytest.fixture
def tracker(settings):
    settings.OPSLOG_TRACKER_URL = "https://tracker.example.com/browse/{key}"
    settings.OPSLOG_TRACKER_PROJECTS = []


def links_in(html):
    return re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', html)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("See OPS-123.", [("https://tracker.example.com/browse/OPS-123", "OPS-123")]),
        ("[OPS-5](https://y.example)", [("https://y.example", "OPS-5")]),  # the author's link stays
        ("**OPS-7** done", [("https://tracker.example.com/browse/OPS-7", "OPS-7")]),
        ("`OPS-8`", []),
        # A bare URL is a link to itself (#15.15), never a tracker link inside it.
        ("https://x.example/OPS-124", [("https://x.example/OPS-124", "https://x.example/OPS-124")]),
        ("UTF-8, ISO-8601, SHA-256 and CVE-2024", []),
        (
            "OPS-1, DEV-2.",
            [
                ("https://tracker.example.com/browse/OPS-1", "OPS-1"),
                ("https://tracker.example.com/browse/DEV-2", "DEV-2"),
            ],
        ),
    ],
)
def test_tracker_keys_become_links_only_where_they_should(tracker, text, expected):
    html = render_markdown(text)

    assert links_in(html) == expected
    assert not re.search(r"<a\b(?:(?!</a>).)*<a\b", html)  # no link inside a link


def test_tracker_projects_can_be_limited(tracker, settings):
    settings.OPSLOG_TRACKER_PROJECTS = ["OPS"]

    assert [text for _, text in links_in(render_markdown("OPS-1 and DEV-2"))] == ["OPS-1"]


def test_no_tracker_links_without_a_tracker_url(settings):
    settings.OPSLOG_TRACKER_URL = ""

    assert "<a" not in render_markdown("OPS-1")


def test_remote_images_are_dropped():
    assert "<img" not in render_markdown("![graph](https://evil.example/pixel.png)")
