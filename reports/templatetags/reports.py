"""Showing report figures: rates as percentages, counts as links to their rows."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from plumbing.templatetags.opslog import duration

register = template.Library()


@register.filter
def for_people(seconds: float | None) -> str:
    """opslog's |duration (45 s, 6.5 min, 2 h 5 min, 3.2 days), with seconds under 90 first rounded
    to a tenth: |duration alone shows a mean of 17.0364 s with all its digits."""
    if seconds is not None and seconds < 90:
        seconds = round(seconds, 1)
    return duration(seconds)


@register.filter
def percent(fraction: float | None) -> str:
    """0.0032 → "0.3 %"; None (nothing to divide by) → "—"."""
    if fraction is None:
        return "—"
    return f"{fraction * 100:.1f} %"


@register.simple_tag
def count_link(count: int, link) -> str:
    """A count as a link to the list of exactly what it counts."""
    classes = ["count"]
    if not count:
        classes.append("zero")
    return format_html('<a class="{}" href="{}">{}</a>', " ".join(classes), link.url, count)


@register.simple_tag
def rate_link(fraction: float | None, part: int, whole: int, noun: str, link) -> str:
    """A rate that leads to its numerator's rows: "7.7 %", titled "7 of 91 deploys"."""
    if fraction is None:
        return "—"
    return format_html(
        '<a class="count rate" href="{}" title="{} of {} {}">{}</a>', link.url, part, whole, noun, percent(fraction)
    )


@register.filter
def level(value: str | None) -> str:
    """A DORA level as a badge."""
    if value is None:
        return mark_safe('<span class="dora-level none" title="No data">—</span>')
    return format_html('<span class="dora-level {}">{}</span>', value, value)
