"""The insights' settings: working hours and days read strictly, each mistake naming the variable."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_weekdays, env_working_hours


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("09:00-18:00", (540, 1080)), (" 8:30 - 17:15 ", (510, 1035)), ("00:00-24:00", (0, 1440))],
)
def test_working_hours(monkeypatch, raw, expected):
    monkeypatch.setenv("OPSLOG_WORKING_HOURS", raw)
    assert env_working_hours("OPSLOG_WORKING_HOURS", "09:00-18:00") == expected


@pytest.mark.parametrize(
    "raw", ["9-18", "09:00", "18:00-09:00", "09:60-18:00", "09:00-25:00", "nine-five", "09:00-09:00"]
)
def test_bad_working_hours_name_the_variable(monkeypatch, raw):
    monkeypatch.setenv("OPSLOG_WORKING_HOURS", raw)
    with pytest.raises(ImproperlyConfigured, match="OPSLOG_WORKING_HOURS"):
        env_working_hours("OPSLOG_WORKING_HOURS", "09:00-18:00")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("mon-fri", {0, 1, 2, 3, 4}), ("Mon,Tue,Thu", {0, 1, 3}), ("mon-wed, fri", {0, 1, 2, 4}), ("sun", {6})],
)
def test_working_days(monkeypatch, raw, expected):
    monkeypatch.setenv("OPSLOG_WORKING_DAYS", raw)
    assert env_weekdays("OPSLOG_WORKING_DAYS", "mon-fri") == expected


@pytest.mark.parametrize("raw", ["monday", "fri-mon", "mon-", "1-5", "mon,,tue"])
def test_bad_working_days_name_the_variable(monkeypatch, raw):
    monkeypatch.setenv("OPSLOG_WORKING_DAYS", raw)
    with pytest.raises(ImproperlyConfigured, match="OPSLOG_WORKING_DAYS"):
        env_weekdays("OPSLOG_WORKING_DAYS", "mon-fri")
