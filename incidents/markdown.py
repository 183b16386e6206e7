"""Markdown for people's write-ups, made safe to show: no script ever reaches the page."""

import markdown as markdown_lib
import nh3

ALLOWED_SCHEMES = {"http", "https", "mailto"}


def render_markdown(text: str) -> str:
    """HTML for `text`, sanitized with nh3 (scripts, event handlers, javascript: and data: URLs removed)."""
    html = markdown_lib.markdown(text or "", extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(html, url_schemes=ALLOWED_SCHEMES, link_rel="noopener noreferrer nofollow")
