from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self):
        # A bad OPSLOG_DORA_BANDS stops the start, not the first report.
        from django.conf import settings

        from reports.bands import check_setting

        check_setting(settings.OPSLOG_DORA_BANDS)
