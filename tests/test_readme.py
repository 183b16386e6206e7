"""The README stays a short front page: at most 8,000 characters, and every link into docs/ resolves."""

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_CHARACTERS = 8_000
# Markdown links and images: [text](target) and ![alt](target).
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def docs_links() -> list[str]:
    return [target for target in LINK.findall(README.read_text()) if target.startswith("docs/")]


def test_the_readme_is_at_most_8000_characters():
    length = len(README.read_text())

    assert length <= MAX_CHARACTERS, f"README.md has {length} characters; move the detail into docs/"


def test_every_link_into_docs_points_at_a_file_that_exists():
    links = docs_links()

    assert links
    missing = [link for link in links if not (ROOT / unquote(urlsplit(link).path)).is_file()]
    assert missing == []


def test_the_readme_shows_a_screenshot():
    assert any(link.startswith("docs/screenshots/") and link.endswith(".png") for link in docs_links())
