"""The report API's answers: the weekly, monthly, quarterly and yearly figures, as JSON and as flat
CSV rows."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from reports import bands
from reports.periods import quarter_label, week_label
from reports.selectors import LEVELS, Dora, Figures, LeftOut, Report

# Every metric's level and the overall one: one enum in the schema (ENUM_NAME_OVERRIDES). The bands
# behind each level are in the field's description, from the edition in use (OPSLOG_DORA_BANDS).
LEVEL_CHOICES = [(level, level) for level in LEVELS]


def bands_text(metric: str) -> str:
    """The bands of `metric` in the edition in use, for the schema: "Bands (2023): elite ≥ 1 a day, …"."""
    edition = bands.current()
    rated = edition.metrics[metric]
    levels = ", ".join(f"{level} {text}" for level, text in zip(LEVELS, rated.texts))
    if not rated.rated:
        return f"Always null under the {edition.key} bands ({rated.why_not}); its published figures: {levels}."
    return f"Bands ({edition.key}): {levels}."


class ReportDurationsSerializer(serializers.Serializer):
    mean = serializers.FloatField(allow_null=True, help_text="Seconds, unrounded; null when no incident qualifies.")
    median = serializers.FloatField(
        allow_null=True, help_text="Seconds; interpolated between the two middle values for an even count."
    )


class ReportMedianSerializer(serializers.Serializer):
    median = serializers.FloatField(allow_null=True, help_text="Seconds, unrounded; null when no commit qualifies.")


class ReportLeftOutSerializer(serializers.Serializer):
    metric = serializers.ChoiceField(
        choices=["lead_time", "change_failure_rate", "failed_deployment_recovery_time"],
        help_text="The metric left out of the level.",
    )
    reason = serializers.ChoiceField(
        choices=[
            "no commits",
            "no deploys",
            "no failed deploys",
            "no recovered failed deploys",
            *sorted({m.why_not for e in bands.EDITIONS.values() for m in e.metrics.values() if m.why_not}),
        ],
        help_text=(
            "Why: it had nothing to measure, or the DORA edition in use (OPSLOG_DORA_BANDS) publishes no bands for it."
        ),
    )


class ReportDoraSerializer(serializers.Serializer):
    # (field, the metric whose bands rate it, what it rates)
    BANDED = (
        ("deploy_frequency", "deploy_frequency", "Deploys ÷ days in the period."),
        ("lead_time", "lead_time", "Median lead time."),
        ("change_failure_rate", "change_failure_rate", "Failed deploys ÷ deploys."),
        (
            "time_to_restore",
            "failed_deployment_recovery_time",
            "Median time to restore, the earlier definition of recovery: rated for reference with the same "
            "bands as failed_deployment_recovery_time, never in overall nor left_out.",
        ),
        (
            "failed_deployment_recovery_time",
            "failed_deployment_recovery_time",
            "Median failed deployment recovery time: DORA's current recovery metric, in overall.",
        ),
    )

    deploy_frequency = serializers.ChoiceField(choices=LEVEL_CHOICES, allow_null=True)
    lead_time = serializers.ChoiceField(choices=LEVEL_CHOICES, allow_null=True)
    change_failure_rate = serializers.ChoiceField(choices=LEVEL_CHOICES, allow_null=True)
    time_to_restore = serializers.ChoiceField(choices=LEVEL_CHOICES, allow_null=True)
    overall = serializers.ChoiceField(
        choices=LEVEL_CHOICES,
        allow_null=True,
        help_text=(
            "The lowest of the four (deploy frequency, lead time, change failure rate, failed deployment "
            "recovery time), over those with a level (see left_out). No deploys is measured: deploy "
            "frequency 0 rates low."
        ),
    )
    left_out = ReportLeftOutSerializer(
        many=True,
        help_text=(
            "The metrics left out of the overall level, with why: lead_time (no commits), change_failure_rate "
            "(no deploys, or no bands in the edition in use), failed_deployment_recovery_time (no failed "
            "deploys, no recovered failed deploys). Deploy frequency is never left out. In the CSV, one "
            'column: "lead time (no commits); failed deployment recovery time (no failed deploys)".'
        ),
    )
    failed_deployment_recovery_time = serializers.ChoiceField(choices=LEVEL_CHOICES, allow_null=True)

    def get_fields(self):
        # Read each time the schema is drawn: the bands are the edition in use's, not those of
        # whichever edition was set when this module was imported.
        fields = super().get_fields()
        for name, metric, what in self.BANDED:
            fields[name].help_text = f"{what} {bands_text(metric)}"
        return fields


def _rate(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(
        allow_null=True, help_text=f"{help_text}; a fraction (0.0032, not 0.32 %); null without deploys."
    )


class ReportInferredSerializer(serializers.Serializer):
    """With attribution=both: a period's (or the totals') figures that depend on the attribution
    rule, under the inferred rule."""

    deploy_related_incidents = serializers.IntegerField(help_text="Incidents with a linked or an inferred cause.")
    failed_deploys = serializers.IntegerField(
        help_text="Deploys rolled back or causing ≥ 1 incident (linked or inferred)."
    )
    change_failure_rate = _rate("Failed deploys ÷ deploys, inferred causes included")
    incident_rate = _rate("Deploy-related incidents ÷ deploys, inferred causes included")
    failed_deployment_recovery_seconds = ReportDurationsSerializer(
        help_text="Failed deployment recovery time over these failed deploys (inferred causes included)."
    )
    unrecovered_failed_deploys = serializers.IntegerField(help_text="Of these failed deploys, those not recovered yet.")
    dora = ReportDoraSerializer(help_text="The DORA level with this change failure rate and recovery time.")


class OnlyWithBothField(serializers.Field):
    """`inferred`, which _ReportSerializer adds to each period with attribution=both: never read from
    the figures; the schema shows it as an optional ReportInferred (OnlyWithBothFieldExtension)."""

    def __init__(self, **kwargs):
        # Not read_only: the schema would list a read-only field as required. Nothing is ever
        # written through these serializers.
        super().__init__(required=False, source="*", **kwargs)

    def to_representation(self, value):
        return None


class OnlyWithBothFieldExtension(OpenApiSerializerFieldExtension):
    target_class = OnlyWithBothField

    def map_serializer_field(self, auto_schema, direction):
        return auto_schema.resolve_serializer(ReportInferredSerializer, direction).ref


class ReportFiguresSerializer(serializers.Serializer):
    """One period's figures, as the glossary defines them."""

    deploys = serializers.IntegerField(help_text="Production deploys that succeeded or were rolled back.")
    deployers = serializers.IntegerField(help_text="Distinct deployers of those deploys.")
    incidents = serializers.IntegerField(help_text="Incidents whose impact started in the period.")
    deploy_related_incidents = serializers.IntegerField(help_text="Those with at least one causing deploy.")
    unresolved_incidents = serializers.IntegerField(help_text="Those with no resolved_at.")
    incident_rate = _rate("Deploy-related incidents ÷ deploys")
    change_failure_rate = _rate("Deploys that caused an incident or were rolled back ÷ deploys")
    rework_rate = _rate("Deploys that remediate an incident ÷ deploys")
    mttd_seconds = ReportDurationsSerializer(help_text="detected_at − started_at.")
    mttr_seconds = ReportDurationsSerializer(help_text="resolved_at − detected_at, over resolved incidents.")
    time_to_restore_seconds = ReportDurationsSerializer(help_text="resolved_at − started_at, over resolved incidents.")
    mtta_seconds = ReportDurationsSerializer(help_text="acknowledged_at − detected_at, over acknowledged incidents.")
    lead_time_seconds = ReportMedianSerializer(help_text="Commit authored → its first production deploy.")
    dora = ReportDoraSerializer(
        help_text="DORA level per metric and overall, in the bands of OPSLOG_DORA_BANDS (default: the 2023 report)."
    )
    partial = serializers.BooleanField(
        help_text=(
            "The period hasn't ended yet in the reporting time zone: its figures are so far. In the totals: "
            "some period of the range is partial, and the totals' DORA level leaves it out unless "
            "include_partial=1."
        )
    )
    failed_deployment_recovery_seconds = ReportDurationsSerializer(
        help_text=(
            "Per failed deploy of the period (rolled back, or the cause of an incident; by its deployed_at): "
            "from its deployed_at to the first of its rollback deploy, its remediating deploy and the "
            "resolution of the last incident it caused. Over the recovered ones; null when none is."
        )
    )
    unrecovered_failed_deploys = serializers.IntegerField(
        help_text="Failed deploys of the period not recovered yet: left out of failed_deployment_recovery_seconds."
    )
    # Added by _ReportSerializer with attribution=both only; declared so the schema describes it.
    inferred = OnlyWithBothField(
        help_text=(
            "Only with attribution=both (absent otherwise): the figures that depend on the attribution "
            "rule, under the inferred rule."
        )
    )

    def to_representation(self, figures: Figures) -> dict:
        data = super().to_representation(figures)
        del data["inferred"]
        return data


def _with_inferred(data: dict, inferred_figures: Figures) -> dict:
    return {**data, "inferred": ReportInferredSerializer(inferred_figures).data}


class ReportMonthSerializer(ReportFiguresSerializer):
    month = serializers.SerializerMethodField(help_text="YYYY-MM, in the reporting time zone.")

    def get_fields(self):
        fields = super().get_fields()
        return {"month": fields.pop("month"), **fields}

    def get_month(self, figures: Figures) -> str:
        return f"{figures.start:%Y-%m}"


class ReportYearSerializer(ReportFiguresSerializer):
    year = serializers.SerializerMethodField(help_text="YYYY, in the reporting time zone.")

    def get_fields(self):
        fields = super().get_fields()
        return {"year": fields.pop("year"), **fields}

    def get_year(self, figures: Figures) -> str:
        return f"{figures.start:%Y}"


class _ReportSerializer(serializers.Serializer):
    # `from` and `to` are Python keywords, so they are added in get_fields().

    period_format = "%Y-%m"
    periods_name = "months"
    period_serializer = ReportMonthSerializer

    time_zone = serializers.CharField(help_text="The reporting time zone (OPSLOG_REPORT_TIME_ZONE).")

    def get_fields(self):
        fields = super().get_fields()
        return {
            "time_zone": fields["time_zone"],
            "from": serializers.SerializerMethodField(method_name="get_from", help_text=self.from_help),
            "to": serializers.SerializerMethodField(method_name="get_to", help_text=self.to_help),
            "attribution": serializers.SerializerMethodField(
                help_text=(
                    "The attribution rule the figures follow: linked, inferred, or both (the figures are the "
                    "linked rule's, and each period and the totals add `inferred`)."
                )
            ),
            "window_seconds": serializers.SerializerMethodField(
                help_text="The inferred rule's window in seconds; null with attribution=linked."
            ),
            self.periods_name: self.period_serializer(many=True, source="periods"),
            "totals": ReportFiguresSerializer(help_text="The same figures over the whole range."),
        }

    def to_representation(self, report: Report) -> dict:
        data = super().to_representation(report)
        inferred: Report | None = self.context.get("inferred")
        if inferred is not None:
            data[self.periods_name] = [
                _with_inferred(period, figures) for period, figures in zip(data[self.periods_name], inferred.periods)
            ]
            data["totals"] = _with_inferred(data["totals"], inferred.totals)
        return data

    def get_attribution(self, report: Report) -> str:
        return self.context.get("attribution", "linked")

    def get_window_seconds(self, report: Report) -> float | None:
        return self.context.get("window_seconds")

    def get_from(self, report: Report) -> str:
        return f"{report.first_month:{self.period_format}}"

    def get_to(self, report: Report) -> str:
        return f"{report.last_month:{self.period_format}}"


class MonthlyReportSerializer(_ReportSerializer):
    """Every month of the range (also empty ones), and totals over the range."""

    from_help = "The first month, YYYY-MM."
    to_help = "The last month, YYYY-MM (included)."


class YearlyReportSerializer(_ReportSerializer):
    """Every calendar year of the range (also empty ones), and totals over the range."""

    period_format = "%Y"
    periods_name = "years"
    period_serializer = ReportYearSerializer
    from_help = "The first year, YYYY."
    to_help = "The last year, YYYY (included)."


class _BoundedPeriodSerializer(ReportFiguresSerializer):
    """A week or a quarter: its label first, then its bounds (local days; `end` excluded)."""

    label_name = ""

    start = serializers.DateField(help_text="The period's first day, YYYY-MM-DD, in the reporting time zone.")
    end = serializers.DateField(
        help_text="The day after its last one (excluded): the period is [start 00:00, end 00:00) local time."
    )

    def get_fields(self):
        fields = super().get_fields()
        head = {self.label_name: serializers.SerializerMethodField(method_name="get_label", help_text=self.label_help)}
        return {**head, "start": fields.pop("start"), "end": fields.pop("end"), **fields}


class ReportWeekSerializer(_BoundedPeriodSerializer):
    label_name = "week"
    label_help = (
        "The ISO week, YYYY-Www (e.g. 2026-W05; its ISO year, which for the first days of January can be the "
        "year before). Monday 00:00 to the next Monday 00:00 in the reporting time zone: 167 or 169 hours "
        "across a summer-time change."
    )

    def get_label(self, figures: Figures) -> str:
        return week_label(figures.start)


class ReportQuarterSerializer(_BoundedPeriodSerializer):
    label_name = "quarter"
    label_help = "The calendar quarter, YYYY-Qn (e.g. 2026-Q1), in the reporting time zone."

    def get_label(self, figures: Figures) -> str:
        return quarter_label(figures.start)


class WeeklyReportSerializer(_ReportSerializer):
    """Every ISO week of the range (also empty ones), and totals over the range."""

    periods_name = "weeks"
    period_serializer = ReportWeekSerializer
    from_help = "The first ISO week, YYYY-Www."
    to_help = "The last ISO week, YYYY-Www (included)."

    def get_from(self, report: Report) -> str:
        return week_label(report.periods[0].start)

    def get_to(self, report: Report) -> str:
        return week_label(report.periods[-1].start)


class QuarterlyReportSerializer(_ReportSerializer):
    """Every calendar quarter of the range (also empty ones), and totals over the range."""

    periods_name = "quarters"
    period_serializer = ReportQuarterSerializer
    from_help = "The first quarter, YYYY-Qn."
    to_help = "The last quarter, YYYY-Qn (included)."

    def get_from(self, report: Report) -> str:
        return quarter_label(report.periods[0].start)

    def get_to(self, report: Report) -> str:
        return quarter_label(report.periods[-1].start)


class ReportErrorSerializer(serializers.Serializer):
    """A 400: a list of messages per query parameter at fault."""

    def get_fields(self):
        return {
            name: serializers.ListField(child=serializers.CharField(), required=False)
            for name in (
                "from",
                "to",
                "service",
                "team",
                "environment",
                "severity",
                "include_partial",
                "attribution",
                "window",
            )
        }


# --- CSV -----------------------------------------------------------------------------------------

DURATION_FIELDS = ["mttd_seconds", "mttr_seconds", "time_to_restore_seconds", "mtta_seconds"]
# Columns added after the CSV was first published go last, so spreadsheets that read the earlier
# columns by position keep reading the right ones.
APPENDED_COLUMNS = [
    "mtta_seconds_mean",
    "mtta_seconds_median",
    "dora_left_out",
    "failed_deployment_recovery_seconds_mean",
    "failed_deployment_recovery_seconds_median",
    "unrecovered_failed_deploys",
    "dora_failed_deployment_recovery_time",
]


def flat_row(period: dict) -> dict:
    """One period of the JSON answer as flat columns: mttd_seconds_mean, dora_overall, …"""
    row = {}
    for key, value in period.items():
        if key == "inferred":
            continue
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                name = f"dora_{inner}" if key == "dora" else f"{key}_{inner}"
                row[name] = inner_value
            if key == "dora":
                row["dora_left_out"] = Dora(
                    left_out=tuple(LeftOut(**item) for item in value["left_out"])
                ).left_out_text()
        else:
            row[key] = value
    for name in APPENDED_COLUMNS:
        row[name] = row.pop(name)
    # attribution=both: the inferred rule's figures, last.
    inferred = period.get("inferred")
    if inferred is not None:
        for name in ("deploy_related_incidents", "failed_deploys", "change_failure_rate", "incident_rate"):
            row[f"inferred_{name}"] = inferred[name]
        for name in ("change_failure_rate", "overall"):
            row[f"inferred_dora_{name}"] = inferred["dora"][name]
        recovery = inferred["failed_deployment_recovery_seconds"]
        row["inferred_failed_deployment_recovery_seconds_mean"] = recovery["mean"]
        row["inferred_failed_deployment_recovery_seconds_median"] = recovery["median"]
        row["inferred_unrecovered_failed_deploys"] = inferred["unrecovered_failed_deploys"]
    return row


# A week's or quarter's bounds go after every column the monthly CSV has, so the columns a
# spreadsheet reads by position are the same whatever the period.
BOUND_COLUMNS = ["start", "end"]


def flat_period_row(period: dict) -> dict:
    """flat_row, with a week's or quarter's `start` and `end` (when present) as the last columns."""
    row = flat_row(period)
    for name in BOUND_COLUMNS:
        if name in row:
            row[name] = row.pop(name)
    return row
