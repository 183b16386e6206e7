from django import template
from django.utils.safestring import mark_safe

from incidents.markdown import render_markdown

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
        return f"{seconds:g} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min".replace(".0 min", " min")
    if seconds < 48 * 3600:
        hours, rest = divmod(int(round(seconds)), 3600)
        minutes = rest // 60
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{seconds / 86400:.1f} days"
