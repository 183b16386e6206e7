"""Render every stored Markdown field again: after OPSLOG_TRACKER_URL or OPSLOG_TRACKER_PROJECTS
change (tracker keys are linked when the text is saved), or after an upgrade of the renderer."""

from django.apps import apps
from django.core.management.base import BaseCommand

from plumbing.markdown import StoredMarkdown, render_stored_markdown


class Command(BaseCommand):
    help = "Render every stored Markdown field (summaries, notes, post-mortem sections, change descriptions) again."

    def handle(self, *args, **options):
        # Found through the app registry: plumbing never imports the apps above it.
        for model in apps.get_models():
            if not issubclass(model, StoredMarkdown):
                continue
            rows = model._base_manager.filter(**model.MARKDOWN_ROWS)
            count = render_stored_markdown(rows, model.MARKDOWN_FIELDS)
            self.stdout.write(f"{model._meta.label}: {count} rendered")
