from django.core.management.base import BaseCommand

from deploys.services import commit_deliveries_refresh_all


class Command(BaseCommand):
    help = (
        "Recompute which deploy shipped each commit to production first, and its lead time. "
        "Ingest (API, bulk, import, webhooks, admin) keeps these right; run this after changing "
        "deploys or commits with raw SQL or restoring a partial backup."
    )

    def handle(self, *args, **options):
        changed = commit_deliveries_refresh_all()
        self.stdout.write(f"{changed} commit(s) updated.")
