"""Per-month (and per-ISO-week) rollups of deploys and lead times: a derived cache, never a source of truth.

Every figure is still defined over deploys and commits (docs/metrics.md); these tables only
let the PostgreSQL report read a few thousand pre-counted rows instead of scanning a million
deploys. They exist on PostgreSQL only and are kept exact by database triggers on
`deploys_deploy` and `deploys_deploycommit` (SQL in reports/rollup_sql.py, run by
reports/migrations/0001_rollup.py), so every write path — the services, `bulk_create`,
`queryset.update()`, the admin, raw SQL, `COPY`, restores — keeps them right without the deploys
app knowing about them. `manage.py rebuild_report_rollup` recomputes them from the rows (and
switches them to a new reporting time zone).

Unmanaged: the migration creates the tables with SQL, `flush` and `dumpdata` leave them alone
(a `TRUNCATE` of deploys empties them through a trigger; a fixture loaded with `loaddata` fills
them through the triggers, where loading a dumped copy of them as well would count twice).

Rows are appended, never updated in place: each statement that changes deploys adds one row per
key with its change and folds the key's older rows into it, skipping rows another transaction
holds (SKIP LOCKED). So concurrent ingests never wait for each other here and can't deadlock on a
rollup row; a key has a few rows while transactions overlap, and readers sum them.
"""

from django.db import models


class RollupZone(models.Model):
    """The one row naming the time zone the rollups' months are in. No row: not maintained."""

    id = models.SmallIntegerField(primary_key=True, default=1)
    zone = models.CharField(max_length=64)
    built_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "reports_rollupzone"

    def __str__(self):
        return f"rollups in {self.zone}"


class DeployRollup(models.Model):
    """Counted deploys (succeeded or rolled back) per month of deployed_at, service, environment
    and deployer. Production-ness, team and slugs are joined at report time, so editing an
    environment or a service needs no upkeep here."""

    month = models.DateField()  # first day of the month, in RollupZone.zone
    service_id = models.BigIntegerField()
    environment_id = models.BigIntegerField()
    deployer = models.CharField(max_length=200)
    deploys = models.IntegerField()
    rolled_back = models.IntegerField()

    class Meta:
        managed = False
        db_table = "reports_deployrollup"

    def __str__(self):
        return f"{self.month:%Y-%m} service {self.service_id}: {self.deploys} deploys"


class LeadTimeRollup(models.Model):
    """Commits with a lead time (first production deliveries, lead > 0) per month of delivery,
    service of the delivering deploy and lead-time bucket (reports_lead_bucket: 1/16 of a
    doubling wide). It says which bucket holds a median; the exact value is then read off
    reports_commit_lead_bucket_idx."""

    month = models.DateField()
    service_id = models.BigIntegerField()
    bucket = models.IntegerField()
    commits = models.IntegerField()

    class Meta:
        managed = False
        db_table = "reports_leadtimerollup"

    def __str__(self):
        return f"{self.month:%Y-%m} service {self.service_id} bucket {self.bucket}: {self.commits} commits"


class DeployWeekRollup(models.Model):
    """DeployRollup per ISO week (Monday 00:00 local to Monday 00:00 local, in RollupZone.zone),
    for the weekly report; kept by its own triggers (reports/migrations/0003_week_rollup.py)."""

    week = models.DateField()  # the Monday starting the week, in RollupZone.zone
    service_id = models.BigIntegerField()
    environment_id = models.BigIntegerField()
    deployer = models.CharField(max_length=200)
    deploys = models.IntegerField()
    rolled_back = models.IntegerField()

    class Meta:
        managed = False
        db_table = "reports_deployweekrollup"

    def __str__(self):
        return f"week of {self.week} service {self.service_id}: {self.deploys} deploys"


class LeadTimeWeekRollup(models.Model):
    """LeadTimeRollup per ISO week of delivery."""

    week = models.DateField()
    service_id = models.BigIntegerField()
    bucket = models.IntegerField()
    commits = models.IntegerField()

    class Meta:
        managed = False
        db_table = "reports_leadtimeweekrollup"

    def __str__(self):
        return f"week of {self.week} service {self.service_id} bucket {self.bucket}: {self.commits} commits"


class EnvLeadTimeRollup(models.Model):
    """Commits with a lead time within their environment (first deliveries to that environment,
    lead > 0: deploys_deploycommit.env_lead_seconds) per month of delivery, service, environment and
    lead-time bucket, for a report filtered on one environment (reports/migrations/0005)."""

    month = models.DateField()
    service_id = models.BigIntegerField()
    environment_id = models.BigIntegerField()
    bucket = models.IntegerField()
    commits = models.IntegerField()

    class Meta:
        managed = False
        db_table = "reports_envleadtimerollup"

    def __str__(self):
        return f"{self.month:%Y-%m} service {self.service_id} environment {self.environment_id} bucket {self.bucket}"


class EnvLeadTimeWeekRollup(models.Model):
    """EnvLeadTimeRollup per ISO week of delivery."""

    week = models.DateField()
    service_id = models.BigIntegerField()
    environment_id = models.BigIntegerField()
    bucket = models.IntegerField()
    commits = models.IntegerField()

    class Meta:
        managed = False
        db_table = "reports_envleadtimeweekrollup"

    def __str__(self):
        return f"week of {self.week} service {self.service_id} environment {self.environment_id} bucket {self.bucket}"


class DeployWeekAllRollup(models.Model):
    """DeployWeekRollup over all services, for a weekly report without a service or team filter
    (reports/migrations/0006_week_all_services.py)."""

    week = models.DateField()
    environment_id = models.BigIntegerField()
    deployer = models.CharField(max_length=200)
    deploys = models.IntegerField()
    rolled_back = models.IntegerField()

    class Meta:
        managed = False
        db_table = "reports_deployweekallrollup"

    def __str__(self):
        return f"week of {self.week}: {self.deploys} deploys"


class LeadTimeWeekAllRollup(models.Model):
    """LeadTimeWeekRollup over all services."""

    week = models.DateField()
    bucket = models.IntegerField()
    commits = models.IntegerField()

    class Meta:
        managed = False
        db_table = "reports_leadtimeweekallrollup"

    def __str__(self):
        return f"week of {self.week} bucket {self.bucket}: {self.commits} commits"


class SummarySent(models.Model):
    """The monthly summary emails beat has sent: one row per month, so a redelivered or doubled
    beat task doesn't email everyone twice (reports.tasks.send_monthly_summary)."""

    month = models.DateField(unique=True)  # first day of the month summarized
    sent_at = models.DateTimeField()
    recipients = models.PositiveIntegerField()

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} summary, sent {self.sent_at:%Y-%m-%d %H:%M}"
