"""API write throttling: a runaway script or a leaked token can't flood the database."""

from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle


class WriteRateThrottle(UserRateThrottle):
    """DRF's per-user throttle (per IP address for a request without a user), counting only
    writes: POST, PUT, PATCH and DELETE. Rate: OPSLOG_API_WRITE_RATE; counts in Django's cache."""

    scope = "write"

    def get_rate(self):
        # Read when the throttle is made, not when the class was defined (DRF's THROTTLE_RATES
        # is a snapshot), so a changed setting takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)
