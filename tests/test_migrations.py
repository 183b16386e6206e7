"""Moving models between apps keeps every row: a database at the schema before the moves (post-mortems
and alerts out of incidents, integrations out of deploys), holding seed_demo's data and webhook deliveries, migrates forward with the same row count in every table, permissions that still
point at the moved models, and working pages."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import F, Q

from alerts.models import Alert
from deploys.models import Deploy, DeployCommit
from incidents.models import Incident
from integrations.factories import DeliveryFactory, IntegrationFactory
from postmortems.defaults import DEFAULT_FACTORS
from postmortems.models import PostMortem

pytestmark = pytest.mark.django_db(transaction=True)

# The schema as it was before post-mortems and alerts left the incidents app and integrations the
# deploys app: every app's last migration from then, and none of the apps that the moves made.
BEFORE_THE_MOVE = [
    ("deploys", "0007_ingest_token_services"),
    ("incidents", "0005_responders_group"),
    ("reports", "0002_summary_sent"),
    ("postmortems", None),
    ("alerts", None),
    ("integrations", None),
]
MOVED = {
    ("incidents", "postmortem"): "postmortems",
    ("incidents", "postmortemrevision"): "postmortems",
    ("incidents", "remediation"): "postmortems",
    ("incidents", "alert"): "alerts",
    ("deploys", "integration"): "integrations",
    ("deploys", "delivery"): "integrations",
}


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def row_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        tables = sorted(connection.introspection.table_names(cursor))
        counts = {}
        for table in tables:
            if table == "django_migrations":  # the migrations applied, which is what changes
                continue
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


def test_moving_postmortems_and_alerts_out_of_incidents_keeps_every_row(client, django_user_model):
    # Seeded with today's code, then taken back to the schema before the moves: the columns and tables
    # added since go, the rows of that time stay (today's models can't write to the old schema).
    call_command("seed_demo", "--days", "60", "--no-login", verbosity=0)
    delivery = DeliveryFactory(integration=IntegrationFactory(kind="github"))
    migrate(BEFORE_THE_MOVE)
    # The content types as the old schema had them, with a permission given to a group through one.
    ContentType.objects.filter(model__in=[model for _, model in MOVED]).delete()
    for old_app, model in MOVED:
        ContentType.objects.create(app_label=old_app, model=model)
    old_type = ContentType.objects.get(app_label="incidents", model="postmortem")
    # And one type already made under its new label, as a post_migrate in between would have.
    ContentType.objects.create(app_label="alerts", model="alert")
    old_alert_type = ContentType.objects.get(app_label="incidents", model="alert")
    group = Group.objects.create(name="Reviewers")
    group.permissions.add(
        Permission.objects.create(content_type=old_type, codename="review_postmortem", name="Can review"),
        Permission.objects.create(content_type=old_alert_type, codename="silence_alert", name="Can silence"),
    )
    before = row_counts()
    assert before["incidents_postmortem"] > 0 and before["incidents_remediation"] > 0
    assert before["incidents_alert"] > 0 and before["incidents_postmortemrevision"] > 0
    assert before["deploys_integration"] == 1 and before["deploys_delivery"] == 1

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    after = row_counts()
    # Deploy notifications became outbox messages since, one for one (deploys' 0010_outbox_…).
    after["deploys_deploynotification"] = after.pop("deploys_outboxmessage")
    # The data migration rendered the Markdown the rows already had (#14.1).
    assert not PostMortem.objects.exclude(impact="").filter(impact_html="").exists()
    assert PostMortem.objects.exclude(impact_html="").exists()
    # One content type fewer: the old alert type, whose permission joined the one made meanwhile.
    assert after.pop("django_content_type") == before.pop("django_content_type") - 1
    # Tables that later migrations add (e.g. deploys' API tokens) start empty, but for the default
    # contributing factors, which their migration seeds.
    added = {table: count for table, count in after.items() if table not in before}
    assert added.pop("postmortems_contributingfactor") == len(DEFAULT_FACTORS)
    # reports/0003 builds the weekly rollups from the deploys already there (PostgreSQL): derived
    # rows, as many deploys in them as in the monthly rollups.
    # reports/0006 likewise, over all services.
    for week_table, month_table, column in (
        ("reports_deployweekrollup", "reports_deployrollup", "deploys"),
        ("reports_leadtimeweekrollup", "reports_leadtimerollup", "commits"),
        ("reports_deployweekallrollup", "reports_deployrollup", "deploys"),
        ("reports_leadtimeweekallrollup", "reports_leadtimerollup", "commits"),
        # reports/0009 likewise per month.
        ("reports_deploymonthallrollup", "reports_deployrollup", "deploys"),
        ("reports_leadtimemonthallrollup", "reports_leadtimerollup", "commits"),
    ):
        if added.pop(week_table, None):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT (SELECT sum({column}) FROM {week_table}), (SELECT sum({column}) FROM {month_table})"
                )
                weekly, monthly = cursor.fetchone()
            assert weekly == monthly > 0
    # reports/0004 fills reports_deploylink from the links already there (PostgreSQL): one row each.
    if (links := added.pop("reports_deploylink", None)) is not None:
        assert links == after["incidents_incidentdeploy"] > 0
    # deploys/0020 marks each sha's first delivery to each environment, and reports/0005 counts
    # them (PostgreSQL): every first production delivery is also the first to its environment,
    # with the same lead time, and the rollup counts every marked row once.
    assert DeployCommit.objects.filter(lead_seconds__isnull=False).exists()
    assert not DeployCommit.objects.filter(lead_seconds__isnull=False).exclude(env_lead_seconds=F("lead_seconds"))
    for table in ("reports_envleadtimerollup", "reports_envleadtimeweekrollup"):
        if added.pop(table, None):
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT sum(commits) FROM {table}")
                counted = cursor.fetchone()[0]
            assert counted == DeployCommit.objects.filter(env_lead_seconds__isnull=False).count() > 0
    # reports/0007 keeps each rolled-back deploy's rollback time (PostgreSQL), nothing logged yet.
    if (rollbacks := added.pop("reports_rollbacktime", None)) is not None:
        assert rollbacks == Deploy.objects.filter(status=Deploy.Status.ROLLED_BACK).count() > 0
    assert added.pop("reports_rollbackchange", 0) == 0
    # reports/0010 keeps each failed deploy's recovery (PostgreSQL): every deploy that went live and
    # was rolled back or caused an incident not archived, in any environment.
    if (recoveries := added.pop("reports_recoverytime", None)) is not None:
        failed = Deploy.objects.filter(status__in=Deploy.COUNTED_STATUSES).filter(
            Q(status=Deploy.Status.ROLLED_BACK)
            | Q(incident_links__relation="cause", incident_links__incident__archived_at__isnull=True)
        )
        assert recoveries == failed.distinct().count() > 0
        # And counts them per month and per week.
        for table in ("reports_recoveryrollup", "reports_recoveryweekrollup"):
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT sum(deploys) FROM {table}")
                assert cursor.fetchone()[0] == recoveries
            added.pop(table)
    # reports/0008 counts the incidents already there (PostgreSQL) per month and per week: every
    # incident not archived once under the 'incidents' measure.
    for table in ("reports_incidentrollup", "reports_incidentweekrollup"):
        if added.pop(table, None):
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT sum(incidents) FROM {table} WHERE measure = 'incidents'")
                counted = cursor.fetchone()[0]
            assert counted == Incident.objects.filter(archived_at__isnull=True).count() > 0
    assert set(added.values()) <= {0}
    assert {table: count for table, count in after.items() if table in before} == before
    for (old_app, model), app in MOVED.items():
        assert ContentType.objects.filter(app_label=app, model=model).count() == 1
        assert not ContentType.objects.filter(app_label=old_app, model=model).exists()
    moved = {p.codename: p.content_type.model_class() for p in Group.objects.get(name="Reviewers").permissions.all()}
    assert moved == {"review_postmortem": PostMortem, "silence_alert": Alert}
    reviewer = django_user_model.objects.create_user("reviewer", password="a-long-test-password")
    reviewer.groups.add(group)
    assert reviewer.has_perm("postmortems.review_postmortem") and reviewer.has_perm("alerts.silence_alert")
    admin = django_user_model.objects.create_superuser("admin", "admin@example.com", "a-long-test-password")
    client.force_login(admin)
    postmortem = PostMortem.objects.order_by("pk").first()
    for url in [
        "/postmortems/",
        "/remediations/",
        "/alerts/",
        "/alerts/review/",
        f"/incidents/{postmortem.incident_id}/",
        f"/incidents/{postmortem.incident_id}/postmortem/",
        f"/incidents/{postmortem.incident_id}/postmortem/history/",
        "/api/postmortems/",
        "/api/remediations/",
        "/api/alerts/review/",
        "/admin/postmortems/postmortem/",
        f"/admin/postmortems/postmortem/{postmortem.pk}/change/",
        "/admin/alerts/alert/",
        "/integrations/deliveries/",
        f"/integrations/deliveries/{delivery.pk}/",
        "/admin/integrations/integration/",
        "/admin/integrations/delivery/",
        "/",
    ]:
        assert client.get(url).status_code == 200, url
