from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection, transaction

from reports import rollup_sql


class Command(BaseCommand):
    help = (
        "Recount the report rollups (reports.models: per month and per ISO week, lead times by environment; reports_deploylink, the links by "
        "their deploy's time; reports_rollbacktime, the rollback deploys' times; incidents per month and week) from the deploys, "
        "commits, links and incidents, in "
        "OPSLOG_REPORT_TIME_ZONE. Needed after changing that setting (until then the report scans the "
        "deploys, exact but slower) or after loading data with triggers disabled "
        "(pg_restore --disable-triggers). Writes to deploys and incidents wait while it runs. With --check, only "
        "compare them with a recount (read-only; exit status 1 when they differ). PostgreSQL only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Compare the rollups with a recount; change nothing.")
        parser.add_argument(
            "--lock-timeout",
            type=float,
            default=10.0,
            metavar="SECONDS",
            help="Give up when other writes hold deploys or commits this long (default 10).",
        )

    def handle(self, *args, check: bool = False, lock_timeout: float = 10.0, **options):
        if connection.vendor != "postgresql":
            self.stdout.write("Nothing to do: the report rollups exist on PostgreSQL only.")
            return
        if check:
            return self.check_rollups()
        zone = settings.OPSLOG_REPORT_TIME_ZONE
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # The rebuild locks deploys and commits against writes: rather than queue behind a
                # long write (and make every ingest queue behind it), give up and say so.
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(lock_timeout * 1000)}ms"])
                cursor.execute(rollup_sql.REBUILD, [zone])
                cursor.execute(rollup_sql.WEEK_REBUILD)  # the per-week ones, in the same zone and locks
                cursor.execute(rollup_sql.ENV_REBUILD)  # lead times by environment, likewise
                cursor.execute(rollup_sql.WEEK_ALL_REBUILD)  # per week over all services, likewise
                cursor.execute(rollup_sql.MONTH_ALL_REBUILD)  # and per month
                cursor.execute(rollup_sql.LINK_REBUILD)  # the links by their deploy's time
                cursor.execute(rollup_sql.ROLLBACK_REBUILD)  # every rollback time, the change log emptied
                cursor.execute(rollup_sql.RECOVERY_REBUILD)  # every failed deploy's recovery
                cursor.execute(rollup_sql.INCIDENT_REBUILD)  # incidents per month and week, in the same zone
                deploy_rows, lead_rows = self._rows(cursor)
                cursor.execute(rollup_sql.WEEK_ROW_COUNTS)
                week_deploy_rows, week_lead_rows = cursor.fetchone()
                cursor.execute(rollup_sql.ENV_ROW_COUNTS)
                env_lead_rows, env_week_lead_rows = cursor.fetchone()
                cursor.execute(rollup_sql.WEEK_ALL_ROW_COUNTS)
                week_all_deploy_rows, week_all_lead_rows = cursor.fetchone()
                cursor.execute(rollup_sql.MONTH_ALL_ROW_COUNTS)
                month_all_deploy_rows, month_all_lead_rows = cursor.fetchone()
                cursor.execute(rollup_sql.LINK_ROW_COUNT)
                (link_rows,) = cursor.fetchone()
                cursor.execute(rollup_sql.ROLLBACK_ROW_COUNTS)
                rollback_rows, _ = cursor.fetchone()
                cursor.execute(rollup_sql.RECOVERY_ROW_COUNTS)
                recovery_rows, recovery_month_rows, recovery_week_rows = cursor.fetchone()
                cursor.execute(rollup_sql.INCIDENT_ROW_COUNTS)
                incident_rows, incident_week_rows = cursor.fetchone()
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != "55P03":  # lock_not_available
                raise
            raise CommandError(
                f"Deploys or commits stayed locked by other writes for {lock_timeout:g} s; nothing changed. Try again."
            ) from error
        self.stdout.write(
            f"Report rollups rebuilt in {zone}: {deploy_rows} deploy rows, {lead_rows} lead-time rows "
            f"(per week: {week_deploy_rows} deploy rows, {week_lead_rows} lead-time rows, over all services "
            f"{week_all_deploy_rows} and {week_all_lead_rows}; per month over all services {month_all_deploy_rows} and "
            f"{month_all_lead_rows}; by environment: "
            f"{env_lead_rows} lead-time rows, {env_week_lead_rows} per week); {link_rows} deploy links; "
            f"{rollback_rows} rollback times; {recovery_rows} recovery times "
            f"({recovery_month_rows} monthly and {recovery_week_rows} weekly rollup rows); {incident_rows} incident rows ({incident_week_rows} per week)."
        )

    @staticmethod
    def _rows(cursor) -> tuple[int, int]:
        cursor.execute(rollup_sql.ROW_COUNTS)
        return cursor.fetchone()

    def check_rollups(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(rollup_sql.CHECK)
            zone, deploy_keys, lead_keys = cursor.fetchone()
            cursor.execute(rollup_sql.WEEK_CHECK)
            week_deploy_keys, week_lead_keys = cursor.fetchone()
            cursor.execute(rollup_sql.ENV_CHECK)
            env_lead_keys, env_week_lead_keys = cursor.fetchone()
            cursor.execute(rollup_sql.WEEK_ALL_CHECK)
            week_all_deploy_keys, week_all_lead_keys = cursor.fetchone()
            cursor.execute(rollup_sql.MONTH_ALL_CHECK)
            month_all_deploy_keys, month_all_lead_keys = cursor.fetchone()
            cursor.execute(rollup_sql.LINK_CHECK)
            (links,) = cursor.fetchone()
            cursor.execute(rollup_sql.ROLLBACK_CHECK)
            (rollbacks,) = cursor.fetchone()
            cursor.execute(rollup_sql.RECOVERY_CHECK)
            (recoveries,) = cursor.fetchone()
            cursor.execute(rollup_sql.RECOVERY_ROLLUP_CHECK)
            recovery_keys, recovery_week_keys = cursor.fetchone()
            cursor.execute(rollup_sql.INCIDENT_CHECK)
            incident_keys, incident_week_keys = cursor.fetchone()
        if zone is None:
            raise CommandError("The report rollups aren't built: run rebuild_report_rollup.")
        if deploy_keys or lead_keys:
            raise CommandError(
                f"The report rollups differ from a recount in {deploy_keys} deploy key(s) and {lead_keys} "
                "lead-time key(s): run rebuild_report_rollup."
            )
        if week_deploy_keys or week_lead_keys:
            raise CommandError(
                f"The weekly report rollups differ from a recount in {week_deploy_keys} deploy key(s) and "
                f"{week_lead_keys} lead-time key(s): run rebuild_report_rollup."
            )
        if week_all_deploy_keys or week_all_lead_keys:
            raise CommandError(
                f"The weekly report rollups over all services differ from a recount in {week_all_deploy_keys} "
                f"deploy key(s) and {week_all_lead_keys} lead-time key(s): run rebuild_report_rollup."
            )
        if month_all_deploy_keys or month_all_lead_keys:
            raise CommandError(
                f"The monthly report rollups over all services differ from a recount in {month_all_deploy_keys} "
                f"deploy key(s) and {month_all_lead_keys} lead-time key(s): run rebuild_report_rollup."
            )
        if env_lead_keys or env_week_lead_keys:
            raise CommandError(
                f"The lead-time rollups by environment differ from a recount in {env_lead_keys} monthly and "
                f"{env_week_lead_keys} weekly key(s): run rebuild_report_rollup."
            )
        if links:
            raise CommandError(
                f"The kept deploy links (reports_deploylink) differ from the links in {links} row(s): "
                "run rebuild_report_rollup."
            )
        if rollbacks:
            raise CommandError(
                f"The kept rollback times (reports_rollbacktime) differ from the deploys in {rollbacks} row(s): "
                "run rebuild_report_rollup."
            )
        if recoveries:
            raise CommandError(
                f"The kept recovery times (reports_recoverytime) differ from the deploys and incidents in "
                f"{recoveries} row(s): run rebuild_report_rollup."
            )
        if recovery_keys or recovery_week_keys:
            raise CommandError(
                f"The recovery rollups differ from the kept recovery times in {recovery_keys} monthly and "
                f"{recovery_week_keys} weekly key(s): run rebuild_report_rollup."
            )
        if incident_keys or incident_week_keys:
            raise CommandError(
                f"The incident rollups differ from a recount in {incident_keys} monthly and {incident_week_keys} "
                "weekly key(s): run rebuild_report_rollup."
            )
        note = (
            ""
            if zone == settings.OPSLOG_REPORT_TIME_ZONE
            else (
                f" They are in {zone}, not OPSLOG_REPORT_TIME_ZONE={settings.OPSLOG_REPORT_TIME_ZONE}: "
                "reports scan until rebuild_report_rollup is run."
            )
        )
        self.stdout.write(f"The report rollups match the deploys, commits, links and incidents ({zone}).{note}")
