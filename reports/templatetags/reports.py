"""Showing report figures: rates as percentages, counts as links to their rows."""

from types import SimpleNamespace

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()

# (unit, seconds), largest first: a duration is shown in its largest unit and the next one down.
UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


@register.filter
def for_people(seconds: float | None) -> str:
    """Seconds for people, one format everywhere the reports show a duration (table, chart
    tooltips, summary email): the largest unit and the next, rounded to the smaller one —
    45 s, 6 min 30 s, 1 h 29 min, 3 d 5 h. A column of them never mixes "89.1 min" with
    "3 h 25 min". None (nothing qualifies) → "—"."""
    if seconds is None:
        return "—"
    total = max(0, round(seconds))
    for index, (unit, size) in enumerate(UNITS[:-1]):
        if total >= size:
            smaller, smaller_size = UNITS[index + 1]
            whole, rest = divmod(round(total / smaller_size) * smaller_size, size)
            rest //= smaller_size
            return f"{whole} {unit} {rest} {smaller}" if rest else f"{whole} {unit}"
    return f"{total} s"


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
def duration_link(seconds: float | None, link) -> str:
    """A mean or median duration as a link to the rows it averages; "—" without any."""
    if seconds is None:
        return "—"
    return format_html('<a class="count dur-link" href="{}">{}</a>', link.url, for_people(seconds))


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


@register.simple_tag
def figure_link(figure: dict) -> str:
    """An insight's count (reports.insights: {"count": …, "link": …}) as a link to its rows; the
    bare count where no list can show them (a team of no name)."""
    if not figure.get("link"):
        return str(figure["count"])
    return count_link(figure["count"], SimpleNamespace(url=figure["link"]))


@register.filter
def get(mapping: dict, key: str):
    """mapping[key] in a template, for keys held in a variable."""
    return mapping.get(key) if isinstance(mapping, dict) else None
