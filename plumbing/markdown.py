"""Markdown for people's write-ups, made safe to show: no script ever reaches the page."""

import re
import xml.etree.ElementTree as etree
from urllib.parse import quote

import markdown as markdown_lib
import nh3
from django.conf import settings
from django.utils.html import escape
from markdown.treeprocessors import Treeprocessor

ALLOWED_SCHEMES = {"http", "https", "mailto"}
# No images: a remote image in a write-up is a tracking pixel for whoever wrote it.
ALLOWED_TAGS = nh3.ALLOWED_TAGS - {"img"}
# Issue keys as Jira, Linear, YouTrack and others write them: OPS-123 — not inside a word or a URL.
TRACKER_KEY = re.compile(r"(?<![\w/.#-])([A-Z][A-Z0-9]{1,9})-(\d{1,7})\b(?!-)")
# Standards and encodings that look like keys.
NOT_TRACKER_PROJECTS = {
    "UTF",
    "ISO",
    "SHA",
    "HTTP",
    "CVE",
    "RFC",
    "TLS",
    "SSL",
    "MD",
    "UTC",
    "GMT",
    "IPV",
    "IEEE",
    "ECMA",
    "PEP",
    "X",
}


def tracker_url(key: str) -> str | None:
    template = settings.OPSLOG_TRACKER_URL
    return template.replace("{key}", quote(key)) if template else None


def _is_key(match: re.Match) -> bool:
    project = match.group(1)
    projects = settings.OPSLOG_TRACKER_PROJECTS
    return project in projects if projects else project not in NOT_TRACKER_PROJECTS


class _TrackerKeys(Treeprocessor):
    """Turns tracker keys in text into links, after inline Markdown: never inside an existing
    link, code or preformatted text, so it can't nest anchors or rewrite an author's URL."""

    SKIP = {"a", "code", "pre"}

    def run(self, root):
        self._walk(root)

    def _walk(self, element):
        for child in list(element):
            if child.tag not in self.SKIP:
                self._walk(child)
            child.tail = self._split(element, child.tail, after=child) if child.tail else child.tail
        if element.text and element.tag not in self.SKIP:
            element.text = self._split(element, element.text, after=None)

    def _split(self, parent, text, *, after):
        """Keep text up to the first key; insert a link per key, each followed by its text."""
        matches = [m for m in TRACKER_KEY.finditer(text) if _is_key(m)]
        if not matches:
            return text
        head = text[: matches[0].start()]
        position = list(parent).index(after) + 1 if after is not None else 0
        for index, match in enumerate(matches):
            end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
            link = etree.Element("a", {"href": tracker_url(match.group(0))})
            link.text = match.group(0)
            link.tail = text[match.end() : end]
            parent.insert(position, link)
            position += 1
        return head


class _TrackerExtension(markdown_lib.Extension):
    def extendMarkdown(self, md):
        # Priority below "inline" (20): runs once links, emphasis and code exist in the tree.
        md.treeprocessors.register(_TrackerKeys(md), "tracker_keys", 5)


def render_markdown(text: str) -> str:
    """HTML for `text`, sanitized with nh3 (scripts, event handlers, javascript: and data: URLs
    and images removed). Tracker keys such as OPS-123 become links when OPSLOG_TRACKER_URL is set."""
    extensions = ["extra", "sane_lists"]
    if settings.OPSLOG_TRACKER_URL:
        extensions.append(_TrackerExtension())
    html = markdown_lib.markdown(text or "", extensions=extensions, output_format="html")
    return nh3.clean(html, tags=ALLOWED_TAGS, url_schemes=ALLOWED_SCHEMES, link_rel="noopener noreferrer nofollow")


def tracker_links(text: str) -> str:
    """Plain text with tracker keys made into links (escaped, sanitized HTML)."""
    escaped = escape(text or "")
    if not settings.OPSLOG_TRACKER_URL:
        return escaped

    def link(match: re.Match) -> str:
        if not _is_key(match):
            return match.group(0)
        url = escape(tracker_url(match.group(0)))
        return f'<a href="{url}" rel="noopener noreferrer nofollow">{match.group(0)}</a>'

    return TRACKER_KEY.sub(link, escaped)
