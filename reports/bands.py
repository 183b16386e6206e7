"""The DORA bands Opslog rates a period's metrics with, per edition of the DORA report.

OPSLOG_DORA_BANDS picks the edition ("2023", the default, or "2024"); reports.apps checks it at
start-up. Each edition keeps its source and the caveats of how its figures were published: DORA
publishes clusters found in its survey (a typical value per cluster), not thresholds, so every
edition here is Opslog's reading of them as bands (docs/metrics.md, "DORA bands by edition").

The 2025 report ("State of AI-assisted Software Development") published no performance clusters:
it replaced them with seven team profiles (archetypes) over delivery and human factors, so there
is no 2025 edition of the bands.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

LEVELS = ["elite", "high", "medium", "low"]
HOUR = 3600.0
DAY = 86400.0

# The metrics rated, in the level table's order. time_to_restore is rated for reference only
# (not in the overall level): the same bands as failed deployment recovery time.
METRICS = [
    "deploy_frequency",
    "lead_time",
    "change_failure_rate",
    "failed_deployment_recovery_time",
    "time_to_restore",
]


@dataclass(frozen=True)
class MetricBands:
    """How one metric is rated: `rate(value)` gives a level (value never None), or `rated` is False
    when the edition published nothing Opslog can rate it with (then `why_not` says so)."""

    texts: tuple[str, str, str, str]  # elite, high, medium, low, in the users' words
    rate: Callable[[float], str] | None
    why_not: str = ""

    @property
    def rated(self) -> bool:
        return self.rate is not None


@dataclass(frozen=True)
class Edition:
    key: str
    report: str  # the report's name
    section: str  # where in it the clusters are
    url: str
    caveats: tuple[str, ...]
    metrics: dict[str, MetricBands]


def _at_least(bounds: tuple[float, float, float]) -> Callable[[float], str]:
    """elite when value ≥ bounds[0], high when ≥ bounds[1], medium when ≥ bounds[2], else low."""

    def rate(value: float) -> str:
        for level, bound in zip(LEVELS, bounds):
            if value >= bound:
                return level
        return "low"

    return rate


def _below(bounds: tuple[float, float, float]) -> Callable[[float], str]:
    """elite when value < bounds[0], high when < bounds[1], medium when < bounds[2], else low."""

    def rate(value: float) -> str:
        for level, bound in zip(LEVELS, bounds):
            if value < bound:
                return level
        return "low"

    return rate


def _at_most(bounds: tuple[float, float, float]) -> Callable[[float], str]:
    """elite when value ≤ bounds[0], high when ≤ bounds[1], medium when ≤ bounds[2], else low."""

    def rate(value: float) -> str:
        for level, bound in zip(LEVELS, bounds):
            if value <= bound:
                return level
        return "low"

    return rate


# Deploy frequency is deploys ÷ days in the period. "At least once a month": once in the longest
# month (31 days) still counts.
_FREQUENCY = MetricBands(("≥ 1 a day", "≥ 1 a week", "≥ 1 a month", "less"), _at_least((1.0, 1 / 7, 1 / 31)))
_LEAD_TIME = MetricBands(("< 1 day", "< 1 week", "< 1 month", "longer"), _below((DAY, 7 * DAY, 30 * DAY)))
_RECOVERY_2023 = MetricBands(("< 1 hour", "< 1 day", "< 1 week", "longer"), _below((HOUR, DAY, 7 * DAY)))
# 2024: high and medium both "less than one day"; low "between one week and one month". A
# recovery under a day rates high (the better of the two); medium has no band of its own; a day
# or more rates low.
_RECOVERY_2024 = MetricBands(
    ("< 1 hour", "< 1 day", "< 1 day (as high: none of its own)", "1 day or more"), _below((HOUR, DAY, DAY))
)

EDITIONS: dict[str, Edition] = {
    "2023": Edition(
        key="2023",
        report="Accelerate State of DevOps Report 2023 (DORA, Google Cloud)",
        section='"How do you compare?": software delivery performance clusters',
        url="https://dora.dev/research/2023/dora-report/",
        caveats=(
            "DORA published a typical value per cluster (change failure rate 5 %, 10 %, 15 %, 64 %), not "
            "thresholds; Opslog reads each as the upper bound of its band.",
            'Deploy frequency and lead time are ranges per cluster ("between once per day and once per '
            "week\"); Opslog reads each range's faster end as the band's bound.",
        ),
        metrics={
            "deploy_frequency": _FREQUENCY,
            "lead_time": _LEAD_TIME,
            "change_failure_rate": MetricBands(("≤ 5 %", "≤ 10 %", "≤ 15 %", "more"), _at_most((0.05, 0.10, 0.15))),
            "failed_deployment_recovery_time": _RECOVERY_2023,
            "time_to_restore": _RECOVERY_2023,
        },
    ),
    "2024": Edition(
        key="2024",
        report="Accelerate State of DevOps Report 2024 (DORA, Google Cloud)",
        section='"Software delivery performance": the four performance clusters',
        url="https://dora.dev/research/2024/dora-report/",
        caveats=(
            "The change failure rates are typical values per cluster (elite 5 %, high 20 %, medium 10 %, "
            "low 40 %), not thresholds, and not monotonic (high fails more often than medium): Opslog shows "
            "no rating for the change failure rate under this edition and leaves it out of the level.",
            'Failed deployment recovery time: high and medium are both "less than one day" and low is '
            '"between one week and one month": under a day rates high, medium is never given, a day or '
            "more rates low.",
            "Deploy frequency and lead time read as in 2023 (the same ranges per cluster).",
        ),
        metrics={
            "deploy_frequency": _FREQUENCY,
            "lead_time": _LEAD_TIME,
            "change_failure_rate": MetricBands(
                ("5 % (typical)", "20 % (typical)", "10 % (typical)", "40 % (typical)"),
                None,
                why_not="not banded in the 2024 edition",
            ),
            "failed_deployment_recovery_time": _RECOVERY_2024,
            "time_to_restore": _RECOVERY_2024,
        },
    ),
}
DEFAULT = "2023"


def current() -> Edition:
    """The edition OPSLOG_DORA_BANDS names (checked at start-up by reports.apps)."""
    return EDITIONS[settings.OPSLOG_DORA_BANDS]


def check_setting(value: str) -> None:
    """ImproperlyConfigured unless `value` names an edition."""
    if value not in EDITIONS:
        raise ImproperlyConfigured(
            f"OPSLOG_DORA_BANDS={value!r}: expected one of {', '.join(EDITIONS)} (the DORA report edition "
            "whose bands rate the levels). The 2025 report published no performance clusters (it replaced "
            "them with seven team profiles), so there are no 2025 bands."
        )
