import re

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from plumbing.markdown import render_markdown, tracker_links

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> str:
    # Safe because render_markdown sanitizes its output.
    return mark_safe(render_markdown(text))


@register.filter
def duration(seconds: float | None) -> str:
    """Seconds for people: 45 s, 6.5 min, 2 h 5 min, 3.2 days."""
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 90:
        return f"{round(seconds, 1):g} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min".replace(".0 min", " min")
    if seconds < 48 * 3600:
        hours, rest = divmod(int(round(seconds)), 3600)
        minutes = rest // 60
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{seconds / 86400:.1f} days"


@register.filter(name="tracker_links")
def tracker_links_filter(text: str) -> str:
    """Plain text, escaped, with tracker keys such as OPS-123 made into links (OPSLOG_TRACKER_URL)."""
    # Safe because tracker_links escapes the text before adding its links.
    return mark_safe(tracker_links(text))


@register.filter
def tracker_ref(ref: str) -> str:
    """A remediation's tracker reference as a link: an http(s) URL as it is, a key through
    OPSLOG_TRACKER_URL, anything else as escaped text."""
    ref = (ref or "").strip()
    if re.fullmatch(r"https?://[^\s<>\"']+", ref, flags=re.IGNORECASE):
        return format_html('<a href="{}" rel="noopener noreferrer nofollow">{}</a>', ref, ref)
    return tracker_links_filter(ref)


# A line break opportunity after each separator of a name ("payments-gateway.eu_west", "team/app"),
# so a narrow cell wraps a long name between its words; the cell's CSS keeps the words whole.
_SEPARATOR = re.compile(r"([-_./])")


@register.filter
def wrap_at_separators(name: str) -> str:
    """A name, escaped, with <wbr> after each -, _, . and /."""
    return mark_safe(_SEPARATOR.sub(r"\1<wbr>", escape(str(name))))
