from rest_framework import serializers


class AlertReviewRowSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The alert's name (its `alertname` label).")
    fired = serializers.IntegerField(help_text="Times it started firing in the month.")
    signal = serializers.IntegerField(help_text="Of those, how many were promoted to an incident.")
    noise = serializers.IntegerField(help_text="Of those, how many were not.")
    signal_ratio = serializers.FloatField(allow_null=True, help_text="signal ÷ fired.")
    median_firing_seconds = serializers.FloatField(
        allow_null=True,
        help_text="Median of ends − starts over its resolved firings, in seconds; null if none resolved.",
    )


class AlertReviewMonthSerializer(serializers.Serializer):
    month = serializers.SerializerMethodField()
    fired = serializers.IntegerField()
    signal = serializers.IntegerField()
    noise = serializers.IntegerField()
    alerts = AlertReviewRowSerializer(source="rows", many=True, help_text="Noisiest first.")

    def get_month(self, review) -> str:
        return f"{review.month:%Y-%m}"


class AlertReviewSerializer(serializers.Serializer):
    time_zone = serializers.CharField(help_text="The reporting time zone the months are in.")
    months = AlertReviewMonthSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        # `from` is a Python keyword, so these two are added here.
        fields["from"] = serializers.CharField(help_text="The first month, YYYY-MM.")
        fields["to"] = serializers.CharField(help_text="The last month, YYYY-MM.")
        return fields
