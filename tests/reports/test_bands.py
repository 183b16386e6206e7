"""DORA bands by edition (OPSLOG_DORA_BANDS): every band edge under each edition, values just
inside and just outside; the setting switching the levels the API answers; a bad setting stopping
the start."""

import datetime as dt
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from reports import bands
from reports.selectors import Durations, Figures, dora_levels
from tests.support.reports import build_march

pytestmark = pytest.mark.django_db

HOUR, DAY = 3600.0, 86400.0
START = dt.date(2024, 1, 1)
# 217 days = 31 weeks = 7 × 31: deploys ÷ days hits 1/7 and 1/31 exactly (31/217, 7/217).
END = START + dt.timedelta(days=217)


def below(x):
    return math.nextafter(x, -math.inf)


def above(x):
    return math.nextafter(x, math.inf)


def figures(**kw) -> Figures:
    return Figures(start=START, end=END, **kw)


def level(metric: str, **kw) -> str | None:
    return getattr(dora_levels(figures(**kw)), metric)


# (deploys in 217 days, level): on each bound, and one deploy short of it.
FREQUENCY_EDGES = [(217, "elite"), (216, "high"), (31, "high"), (30, "medium"), (7, "medium"), (6, "low"), (0, "low")]
LEAD_EDGES = [
    (below(DAY), "elite"),
    (DAY, "high"),
    (below(7 * DAY), "high"),
    (7 * DAY, "medium"),
    (below(30 * DAY), "medium"),
    (30 * DAY, "low"),
]
RECOVERY_2023 = [
    (0.0, "elite"),
    (below(HOUR), "elite"),
    (HOUR, "high"),
    (below(DAY), "high"),
    (DAY, "medium"),
    (below(7 * DAY), "medium"),
    (7 * DAY, "low"),
]
# 2024: high and medium share "less than one day": under a day is high, a day or more low.
RECOVERY_2024 = [
    (below(HOUR), "elite"),
    (HOUR, "high"),
    (below(DAY), "high"),
    (DAY, "low"),
    (below(7 * DAY), "low"),
    (30 * DAY, "low"),
]
CHANGE_FAILURE_2023 = [
    (0.0, "elite"),
    (0.05, "elite"),
    (above(0.05), "high"),
    (0.10, "high"),
    (above(0.10), "medium"),
    (0.15, "medium"),
    (above(0.15), "low"),
    (1.0, "low"),
]


@pytest.mark.parametrize("edition", ["2023", "2024"])
@pytest.mark.parametrize(("deploys", "expected"), FREQUENCY_EDGES)
def test_deploy_frequency_edges(settings, edition, deploys, expected):
    settings.OPSLOG_DORA_BANDS = edition
    assert level("deploy_frequency", deploys=deploys) == expected


@pytest.mark.parametrize("edition", ["2023", "2024"])
@pytest.mark.parametrize(("median", "expected"), LEAD_EDGES)
def test_lead_time_edges(settings, edition, median, expected):
    settings.OPSLOG_DORA_BANDS = edition
    assert level("lead_time", lead_time_seconds=Durations(None, median)) == expected


@pytest.mark.parametrize(("rate", "expected"), CHANGE_FAILURE_2023)
def test_change_failure_rate_edges_2023(settings, rate, expected):
    settings.OPSLOG_DORA_BANDS = "2023"
    assert level("change_failure_rate", deploys=10, change_failure_rate=rate) == expected


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.10, 0.20, 0.40, 1.0])
def test_change_failure_rate_has_no_rating_in_2024(settings, rate):
    """2024 published typical values per cluster (5, 20, 10, 40 %), not monotonic: no rating, and
    left out of the level with why."""
    settings.OPSLOG_DORA_BANDS = "2024"
    dora = dora_levels(figures(deploys=217, change_failure_rate=rate))
    assert dora.change_failure_rate is None
    assert [(item.metric, item.reason) for item in dora.left_out][1] == (
        "change_failure_rate",
        "not banded in the 2024 edition",
    )


@pytest.mark.parametrize(
    ("edition", "median", "expected"),
    [("2023", m, e) for m, e in RECOVERY_2023] + [("2024", m, e) for m, e in RECOVERY_2024],
)
def test_recovery_edges_for_both_recovery_metrics(settings, edition, median, expected):
    settings.OPSLOG_DORA_BANDS = edition
    dora = dora_levels(
        figures(
            deploys=1,
            failed_deploys=1,
            failed_deployment_recovery_seconds=Durations(median, median),
            time_to_restore_seconds=Durations(median, median),
        )
    )
    # Time to restore is rated with the same bands, for reference.
    assert (dora.failed_deployment_recovery_time, dora.time_to_restore) == (expected, expected)


def test_time_to_restore_is_never_in_the_overall_level(settings):
    settings.OPSLOG_DORA_BANDS = "2023"
    dora = dora_levels(
        figures(
            deploys=217,
            change_failure_rate=0.0,
            lead_time_seconds=Durations(None, 60.0),
            failed_deployment_recovery_seconds=Durations(60.0, 60.0),
            failed_deploys=1,
            time_to_restore_seconds=Durations(30 * DAY, 30 * DAY),
        )
    )
    assert (dora.time_to_restore, dora.overall, dora.left_out) == ("low", "elite", ())


def test_every_edition_has_its_source_and_caveats():
    for key, edition in bands.EDITIONS.items():
        assert edition.key == key
        assert edition.url.startswith("https://dora.dev/research/")
        assert edition.report and edition.section and edition.caveats
        assert set(edition.metrics) == set(bands.METRICS)
        for metric in edition.metrics.values():
            assert len(metric.texts) == 4
            assert metric.rated or metric.why_not


def test_a_bad_setting_is_refused_with_what_to_set(settings):
    bands.check_setting("2023")
    bands.check_setting("2024")
    with pytest.raises(ImproperlyConfigured, match=r"OPSLOG_DORA_BANDS='2025': expected one of 2023, 2024.*2025"):
        bands.check_setting("2025")


@pytest.mark.parametrize("value", ["2025", "latest"])
def test_a_bad_setting_stops_the_start(value):
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "OPSLOG_DORA_BANDS": value, "DJANGO_DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"OPSLOG_DORA_BANDS={value!r}" in result.stderr


def test_the_setting_switches_the_levels_the_api_answers(api, settings):
    build_march()
    url = "/api/reports/monthly/?from=2024-03&to=2024-03&service=web"

    settings.OPSLOG_DORA_BANDS = "2023"
    dora_2023 = api.get(url).json()["months"][0]["dora"]
    settings.OPSLOG_DORA_BANDS = "2024"
    month_2024 = api.get(url).json()["months"][0]
    dora_2024 = month_2024["dora"]

    # Failed deployment recovery 371730 s (4.3 days): medium under 2023 (< 1 week), low under 2024
    # (a day or more). 67 % failures: low under 2023, no rating under 2024.
    assert month_2024["failed_deployment_recovery_seconds"]["median"] == 371730.0
    assert (dora_2023["failed_deployment_recovery_time"], dora_2024["failed_deployment_recovery_time"]) == (
        "medium",
        "low",
    )
    assert (dora_2023["change_failure_rate"], dora_2024["change_failure_rate"]) == ("low", None)
    assert dora_2023["left_out"] == []
    assert dora_2024["left_out"] == [{"metric": "change_failure_rate", "reason": "not banded in the 2024 edition"}]
    # Restore 21.5 min: elite in both, for reference.
    assert dora_2023["time_to_restore"] == dora_2024["time_to_restore"] == "elite"


def test_the_dashboard_and_how_we_count_show_the_edition_in_use(logged_in, settings):
    build_march()
    settings.OPSLOG_DORA_BANDS = "2024"

    html = logged_in.get("/?from=2024-03&to=2024-03&service=web").content.decode()
    assert "Accelerate State of DevOps Report 2024" in html
    assert "(2024 edition," in html
    assert "66.7 % (left out: not banded in the 2024 edition)" in html
    assert "20 % (typical)" in html

    how = logged_in.get("/reports/how-we-count/").content.decode()
    assert "2024 edition" in how and "https://dora.dev/research/2024/dora-report/" in how
    assert "not monotonic" in how

    settings.OPSLOG_DORA_BANDS = "2023"
    html = logged_in.get("/?from=2024-03&to=2024-03&service=web").content.decode()
    assert "(2023 edition," in html and "≤ 15 %" in html
