"""Markdown for people's write-ups, made safe to show: no script ever reaches the page."""

import re
import xml.etree.ElementTree as etree
from urllib.parse import quote

import markdown as markdown_lib
import nh3
from django.conf import settings
from markdown.inlinepatterns import InlineProcessor

ALLOWED_SCHEMES = {"http", "https", "mailto"}
# Issue keys as Jira, Linear, YouTrack and others write them: OPS-123.
TRACKER_KEY = r"\b([A-Z][A-Z0-9]{1,9}-\d{1,7})\b"


def tracker_url(key: str) -> str | None:
    template = settings.OPSLOG_TRACKER_URL
    return template.replace("{key}", quote(key)) if template else None


class _TrackerKeys(InlineProcessor):
    def handleMatch(self, m, data):
        link = etree.Element("a")
        link.set("href", tracker_url(m.group(1)))
        link.text = m.group(1)
        return link, m.start(0), m.end(0)


class _TrackerExtension(markdown_lib.Extension):
    def extendMarkdown(self, md):
        # Below links (160) and autolinks, so a key inside a link's text stays plain text.
        md.inlinePatterns.register(_TrackerKeys(TRACKER_KEY, md), "tracker_keys", 95)


def render_markdown(text: str) -> str:
    """HTML for `text`, sanitized with nh3 (scripts, event handlers, javascript: and data: URLs
    removed). Tracker keys such as OPS-123 become links when OPSLOG_TRACKER_URL is set."""
    extensions = ["extra", "sane_lists"]
    if settings.OPSLOG_TRACKER_URL:
        extensions.append(_TrackerExtension())
    html = markdown_lib.markdown(text or "", extensions=extensions, output_format="html")
    return nh3.clean(html, url_schemes=ALLOWED_SCHEMES, link_rel="noopener noreferrer nofollow")


def tracker_links(text: str) -> str:
    """Plain text with tracker keys made into links (escaped, sanitized HTML)."""
    from django.utils.html import escape

    escaped = escape(text or "")
    if not settings.OPSLOG_TRACKER_URL:
        return escaped
    return re.sub(
        TRACKER_KEY,
        lambda m: f'<a href="{escape(tracker_url(m.group(1)))}" rel="noopener noreferrer nofollow">{m.group(1)}</a>',
        escaped,
    )
