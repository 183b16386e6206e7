"""Every write-up is rendered through plumbing.markdown: no known XSS vector leaves it executable."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from plumbing.markdown import render_markdown, tracker_links

VECTORS_FILE = Path(__file__).resolve().parents[1] / "support/payloads/xss_vectors.txt"
VECTORS = [
    line.replace("\\n", "\n")
    for line in VECTORS_FILE.read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]

FORBIDDEN_TAGS = {
    "script",
    "iframe",
    "object",
    "embed",
    "style",
    "form",
    "svg",
    "math",
    "base",
    "meta",
    "link",
    "frame",
    "frameset",
    "applet",
    "template",
    "input",
    "button",
    "textarea",
    "select",
}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "background", "data", "poster", "srcdoc"}
FORBIDDEN_SCHEMES = ("javascript:", "vbscript:", "data:", "livescript:")
# A browser's URL parser trims control characters and spaces around a URL and drops tabs and
# newlines inside it ("java\tscript:" is "javascript:"); old ones dropped any control character.
# A space inside the scheme ends it: "java script:x" is a relative path, not a script.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class _Findings(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        self._check(tag, attrs)

    def handle_startendtag(self, tag, attrs):
        self._check(tag, attrs)

    def _check(self, tag, attrs):
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{name} handler on <{tag}>")
            if name == "style":
                self.problems.append(f"style attribute on <{tag}>")
            if name in URL_ATTRIBUTES and value is not None:
                # html.parser has unescaped the value, as a browser does: once.
                url = _CONTROL.sub("", value).strip(" ").lower()
                if url.startswith(FORBIDDEN_SCHEMES):
                    self.problems.append(f"{name}={value!r} on <{tag}>")


def executable_content(markup: str) -> list[str]:
    parser = _Findings()
    parser.feed(markup)
    parser.close()
    return parser.problems


def test_the_data_file_holds_at_least_100_distinct_vectors():
    assert len(set(VECTORS)) >= 100
    assert len(set(VECTORS)) == len(VECTORS), "a vector is listed twice"


def test_the_checker_sees_what_it_must_refuse():
    # The check is only worth something if it catches the raw vectors themselves.
    caught = [vector for vector in VECTORS if executable_content(vector)]

    assert len(caught) >= 100
    assert executable_content('<a href="&#x6A;avascript:alert(1)">x</a>')
    assert executable_content('<a href=" java\tscript:alert(1)">x</a>')
    assert not executable_content('<a href="https://example.com/?q=javascript:">x</a>')


@pytest.mark.parametrize("tracker_url", ["", "https://tracker.example.com/browse/{key}"], ids=["plain", "tracker"])
@pytest.mark.parametrize("vector", VECTORS)
def test_rendered_vector_has_nothing_executable(settings, vector, tracker_url):
    settings.OPSLOG_TRACKER_URL = tracker_url
    settings.OPSLOG_TRACKER_PROJECTS = []

    assert executable_content(render_markdown(vector)) == []
    # Remediation descriptions and the like: plain text with tracker links.
    assert executable_content(str(tracker_links(vector))) == []
