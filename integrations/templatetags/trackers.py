"""The tracker part of a remediation's row on the post-mortem page (the postmortems app shows it
without knowing of trackers: its template includes this tag's partial)."""

from django import template

from integrations.models import TrackerConnection, TrackerLink

register = template.Library()


@register.inclusion_tag("integrations/remediation_tracker.html", takes_context=True)
def remediation_tracker(context, remediation):
    # One query per page, however many remediations (and included column templates) it shows:
    # kept in the outermost context, which every {% include %} of the page shares.
    cache = context.dicts[0]
    if "tracker_connections" not in cache:
        cache["tracker_connections"] = list(TrackerConnection.objects.filter(is_active=True).order_by("name"))
    try:
        link = remediation.tracker_link
    except TrackerLink.DoesNotExist:
        link = None
    return {
        "remediation": remediation,
        "link": link,
        "connections": cache["tracker_connections"],
        "can_respond": context.get("can_respond"),
        "printing": context.get("printing"),
        "csrf_token": context.get("csrf_token"),
    }
