"""Marks the timeline entries a request makes with where it came from: the API or the web page."""

from incidents.models import TimelineEntry, entries_from


class TimelineSourceMiddleware:
    """`/api/…` → "api"; `/hooks/…` is left to the sender's own processing, which runs in a task
    and marks its entries itself (Slack: "slack", other webhooks: "hook"); anything else → "web"
    (the pages, the admin)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith("/hooks/"):
            return self.get_response(request)
        source = TimelineEntry.Source.API if request.path_info.startswith("/api/") else TimelineEntry.Source.WEB
        with entries_from(source):
            return self.get_response(request)
