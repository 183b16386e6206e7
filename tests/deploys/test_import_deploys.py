import datetime as dt
import hashlib
import io

import pytest
from django.core.management import CommandError, call_command

from deploys.models import Deploy, Environment, Service
from tests.support.deploys import run_import

pytestmark = pytest.mark.django_db

UTC = dt.UTC

EXAMPLE = "[web] | 2010-05-18 22:20:50 | PRODUCTION | sandrews | Production Deploy: old 25134, new: 25145 diff"

CSV_HEADER = (
    "service,environment,deployed_at,deployer,version,"
    "previous_version,message,status,duration_seconds,diff_url,external_id"
)


def write(tmp_path, name, *lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_example_log_line_imports_every_field(tmp_path):
    path = write(tmp_path, "deploys.log", EXAMPLE)

    out, err, error = run_import(path)

    assert error is None
    assert err == ""
    assert out.strip() == "Imported 1 deploy, skipped 0 duplicates, 0 lines with errors."
    deploy = Deploy.objects.select_related("service", "environment").get()
    assert deploy.service.slug == "web"
    assert deploy.environment.slug == "production"
    assert deploy.deployed_at == dt.datetime(2010, 5, 18, 22, 20, 50, tzinfo=UTC)
    assert deploy.deployed_at.utcoffset() == dt.timedelta(0)
    assert deploy.deployer == "sandrews"
    assert deploy.version == "25145"
    assert deploy.previous_version == "25134"
    assert deploy.message == "Production Deploy: old 25134, new: 25145 diff"
    assert deploy.status == Deploy.Status.SUCCEEDED
    key = hashlib.sha256(b"web|production|2010-05-18T22:20:50+00:00|sandrews|25145").hexdigest()[:40]
    assert deploy.external_id == "import:" + key


def test_empty_old_version_is_filled_from_the_earlier_deploy_in_the_same_file(tmp_path):
    path = write(
        tmp_path,
        "deploys.log",
        "[api] | 2010-05-18 10:00:00 | PRODUCTION | alice | Production Deploy: old 100, new: 101",
        "[api] | 2010-05-18 11:00:00 | PRODUCTION | bob | Production Deploy: old: , new: 102",
        "[api] | 2010-05-18 12:00:00 | staging | carol | Staging Deploy: old: , new: 103",
    )

    _, err, error = run_import(path)

    assert error is None, err
    versions = dict(Deploy.objects.values_list("version", "previous_version"))
    assert versions == {
        "101": "100",
        "102": "101",
        # Nothing earlier in staging: there is no previous version to take.
        "103": "",
    }


def test_importing_the_same_file_twice_creates_nothing_the_second_time(tmp_path):
    path = write(
        tmp_path,
        "deploys.log",
        "[web] | 2010-05-18 10:00:00 | PRODUCTION | alice | Production Deploy: old 1, new: 2",
        "[web] | 2010-05-18 11:00:00 | PRODUCTION | bob | Production Deploy: old 2, new: 3",
        # The same line again in the same file is a duplicate too.
        "[web] | 2010-05-18 11:00:00 | PRODUCTION | bob | Production Deploy: old 2, new: 3",
    )

    first_out, _, first_error = run_import(path)
    ids = set(Deploy.objects.values_list("pk", flat=True))
    second_out, second_err, second_error = run_import(path)

    assert first_error is None and second_error is None
    assert first_out.strip() == "Imported 2 deploys, skipped 1 duplicate, 0 lines with errors."
    assert second_out.strip() == "Imported 0 deploys, skipped 3 duplicates, 0 lines with errors."
    assert second_err == ""
    assert set(Deploy.objects.values_list("pk", flat=True)) == ids
    assert sorted(Deploy.objects.values_list("version", flat=True)) == ["2", "3"]


def test_bad_lines_are_reported_and_the_good_ones_imported(tmp_path):
    path = write(
        tmp_path,
        "deploys.log",
        "# Deployinator log, exported 2010-05-19",
        "[web] | 2010-05-18 09:00:00 | PRODUCTION | alice | Production Deploy: old 1, new: 2",
        "",
        "[web] | 2010-13-45 99:00:00 | PRODUCTION | bob | Production Deploy: old 2, new: 3",
        "[web] | 2010-05-18 10:00:00 | PRODUCTION | carol | Production Deploy: rebuilt the cache",
        "[web] | 2010-05-18 11:00:00 | PRODUCTION",
        "web | 2010-05-18 12:00:00 | PRODUCTION | dave | Production Deploy: old 2, new: 4",
        "   ",
        "[web] | 2010-05-18 13:00:00 | PRODUCTION | erin | Production Deploy: old 2, new: 5",
    )

    out, err, error = run_import(path)

    assert error is not None
    assert out.strip() == "Imported 2 deploys, skipped 0 duplicates, 4 lines with errors."
    assert err.splitlines() == [
        "line 4: unparsable time '2010-13-45 99:00:00'",
        "line 5: no 'old …, new …' versions in the message",
        "line 6: expected 5 fields separated by '|', found 3",
        "line 7: service 'web' is not in [brackets]",
    ]
    assert sorted(Deploy.objects.values_list("deployer", "version")) == [("alice", "2"), ("erin", "5")]


def test_csv_with_every_column(tmp_path):
    path = write(
        tmp_path,
        "history.csv",
        CSV_HEADER,
        "search,production,2010-05-18T22:20:50+02:00,sandrews,v2.1,v2.0,"
        '"Rolled back: slow, noisy queries",rolled_back,34.5,'
        "https://git.example.com/acme/search/compare/v2.0...v2.1,ci-4411",
        "search,staging,2010-05-18T08:00:00Z,ekastner,v2.2,,,,,,",
    )

    out, err, error = run_import(path)

    assert error is None, err
    assert out.strip() == "Imported 2 deploys, skipped 0 duplicates, 0 lines with errors."
    full = Deploy.objects.select_related("service", "environment").get(external_id="ci-4411")
    assert full.service.slug == "search"
    assert full.environment.slug == "production"
    # 22:20:50 at +02:00 is 20:20:50 UTC.
    assert full.deployed_at == dt.datetime(2010, 5, 18, 20, 20, 50, tzinfo=UTC)
    assert full.deployer == "sandrews"
    assert full.version == "v2.1"
    assert full.previous_version == "v2.0"
    assert full.message == "Rolled back: slow, noisy queries"
    assert full.status == Deploy.Status.ROLLED_BACK
    assert full.duration_seconds == 34.5
    assert full.diff_url == "https://git.example.com/acme/search/compare/v2.0...v2.1"

    bare = Deploy.objects.select_related("environment").get(version="v2.2")
    assert bare.environment.slug == "staging"
    assert bare.deployed_at == dt.datetime(2010, 5, 18, 8, 0, tzinfo=UTC)
    assert bare.status == Deploy.Status.SUCCEEDED
    assert bare.previous_version == ""
    assert bare.message == ""
    assert bare.duration_seconds is None
    assert bare.diff_url == ""
    key = hashlib.sha256(b"search|staging|2010-05-18T08:00:00+00:00|ekastner|v2.2").hexdigest()[:40]
    assert bare.external_id == "import:" + key

    second_out, _, second_error = run_import(path)
    assert second_error is None
    assert second_out.strip() == "Imported 0 deploys, skipped 2 duplicates, 0 lines with errors."
    assert Deploy.objects.count() == 2


def test_csv_header_is_detected_without_the_csv_extension(tmp_path):
    path = write(
        tmp_path,
        "history.txt",
        "",
        "service,environment,deployed_at,deployer,version",
        "web,production,2010-05-18T22:20:50Z,sandrews,25145",
    )

    _, err, error = run_import(path)

    assert error is None, err
    assert Deploy.objects.get().deployed_at == dt.datetime(2010, 5, 18, 22, 20, 50, tzinfo=UTC)


def test_csv_naive_time_is_an_error_for_that_line(tmp_path):
    path = write(
        tmp_path,
        "history.csv",
        "service,environment,deployed_at,deployer,version",
        "web,production,2010-05-18T21:00:00Z,alice,25144",
        "# the next one was typed by hand",
        "web,production,2010-05-18T22:20:50,sandrews,25145",
    )

    out, err, error = run_import(path)

    assert error is not None
    assert err.splitlines() == ["line 4: deployed_at '2010-05-18T22:20:50' has no UTC offset"]
    assert out.strip() == "Imported 1 deploy, skipped 0 duplicates, 1 line with errors."
    assert list(Deploy.objects.values_list("version", flat=True)) == ["25144"]


def test_csv_bad_status_is_an_error_for_that_line(tmp_path):
    path = write(
        tmp_path,
        "history.csv",
        "service,environment,deployed_at,deployer,version,status",
        "web,production,2010-05-18T22:20:50Z,sandrews,25145,exploded",
        "web,production,2010-05-18T23:00:00Z,sandrews,25146,failed",
    )

    out, err, error = run_import(path)

    assert error is not None
    assert err.splitlines() == ["line 2: status 'exploded' is not one of succeeded, failed, rolled_back"]
    assert out.strip() == "Imported 1 deploy, skipped 0 duplicates, 1 line with errors."
    assert list(Deploy.objects.values_list("version", "status")) == [("25146", "failed")]


def test_csv_rows_past_the_apis_limits_are_errors_for_their_lines(tmp_path):
    path = write(
        tmp_path,
        "history.csv",
        "service,environment,deployed_at,deployer,version,message,duration_seconds",
        f"web,production,2010-05-18T21:00:00Z,alice,25144,{'m' * 10_000},604800",
        f"web,production,2010-05-18T22:00:00Z,alice,25145,{'m' * 10_001},30",
        "web,production,2010-05-18T22:20:50Z,sandrews,25146,Production Deploy,1e308",
    )

    out, err, error = run_import(path)

    assert error is not None
    assert err.splitlines() == [
        "line 3: message: Ensure this field has no more than 10000 characters.",
        "line 4: duration_seconds: Ensure this value is less than or equal to 604800.",
    ]
    assert out.strip() == "Imported 1 deploy, skipped 0 duplicates, 2 lines with errors."
    assert list(Deploy.objects.values_list("version", "duration_seconds")) == [("25144", 604800.0)]


def test_a_log_line_with_a_message_past_the_apis_limit_is_an_error_for_that_line(tmp_path):
    path = write(tmp_path, "deploys.log", EXAMPLE + " " + "m" * 10_000, EXAMPLE.replace("25145", "25146"))

    out, err, error = run_import(path)

    assert error is not None
    assert err.splitlines() == ["line 1: message: Ensure this field has no more than 10000 characters."]
    assert list(Deploy.objects.values_list("version", flat=True)) == ["25146"]


def test_csv_header_missing_required_columns_aborts(tmp_path):
    path = write(
        tmp_path,
        "history.csv",
        "service,environment,deployed_at,message",
        "web,production,2010-05-18T22:20:50Z,hello",
    )

    with pytest.raises(CommandError) as raised:
        call_command("import_deploys", str(path), stdout=io.StringIO(), stderr=io.StringIO())

    assert "missing required column(s): deployer, version" in str(raised.value)
    assert Deploy.objects.count() == 0


def test_csv_header_with_an_unknown_column_aborts(tmp_path):
    path = write(
        tmp_path,
        "history.csv",
        "service,environment,deployed_at,deployer,version,ticket",
        "web,production,2010-05-18T22:20:50Z,sandrews,25145,OPS-1",
    )

    with pytest.raises(CommandError) as raised:
        call_command("import_deploys", str(path), stdout=io.StringIO(), stderr=io.StringIO())

    assert "unknown column(s): 'ticket'" in str(raised.value)
    assert Deploy.objects.count() == 0


def test_unknown_service_and_environment_are_created_not_production(tmp_path):
    assert not Service.objects.filter(slug="thumbnailer").exists()
    assert not Environment.objects.filter(slug="canary").exists()
    path = write(
        tmp_path,
        "deploys.log",
        "[thumbnailer] | 2010-05-18 22:20:50 | Canary | sandrews | Canary Deploy: old 7, new: 8",
    )

    _, err, error = run_import(path)

    assert error is None, err
    deploy = Deploy.objects.select_related("service", "environment").get()
    assert deploy.service == Service.objects.get(slug="thumbnailer")
    assert deploy.environment == Environment.objects.get(slug="canary")
    assert deploy.environment.is_production is False


def test_uppercase_production_maps_to_the_existing_production_environment(tmp_path):
    production = Environment.objects.get(slug="production")
    environments = Environment.objects.count()
    path = write(tmp_path, "deploys.log", EXAMPLE)

    _, err, error = run_import(path)

    assert error is None, err
    deploy = Deploy.objects.select_related("environment").get()
    assert deploy.environment.pk == production.pk
    assert deploy.environment.is_production is True
    assert Environment.objects.count() == environments


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.log"

    with pytest.raises(CommandError, match="nope.log"):
        call_command("import_deploys", str(path), stdout=io.StringIO(), stderr=io.StringIO())
