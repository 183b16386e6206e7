from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection, transaction


class Command(BaseCommand):
    help = (
        "Recount the monthly report's rollups (reports.models) from the deploys and commits, in "
        "OPSLOG_REPORT_TIME_ZONE. Needed after changing that setting (until then the report scans the "
        "deploys, exact but slower) or after loading data with triggers disabled "
        "(pg_restore --disable-triggers). Writes to deploys wait while it runs. PostgreSQL only."
    )

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            self.stdout.write("Nothing to do: the report rollups exist on PostgreSQL only.")
            return
        zone = settings.OPSLOG_REPORT_TIME_ZONE
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT reports_rollup_rebuild(%s)", [zone])
            cursor.execute("SELECT (SELECT count(*) FROM reports_deployrollup), "
                           "(SELECT count(*) FROM reports_leadtimerollup)")
            deploy_rows, lead_rows = cursor.fetchone()
        self.stdout.write(f"Report rollups rebuilt in {zone}: {deploy_rows} deploy rows, {lead_rows} lead-time rows.")
