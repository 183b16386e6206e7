"""The API schema: drf-spectacular's, plus the error answers every view can give."""

from django.conf import settings
from drf_spectacular import openapi
from rest_framework import serializers
from rest_framework.settings import api_settings


class ErrorSerializer(serializers.Serializer):
    """DRF's answer to a refused request: {"detail": "Not found."} (401, 403, 404, 413, 415, 429)."""

    detail = serializers.CharField()


# A 400 names the fields it refuses ({"version": ["This field is required."]}, nested for bulk items)
# or, for a body that isn't JSON, says so under "detail".
VALIDATION_ERROR = {
    "type": "object",
    "additionalProperties": {},
    "description": "Messages per invalid field (a list of strings, or nested per item), or a detail.",
}

WRITES = ("POST", "PUT", "PATCH", "DELETE")


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, plus the error responses DRF gives for every operation where they can
    happen, each with its body: views then only declare the errors particular to them."""

    def _error_codes(self) -> dict[str, str]:
        codes = {
            "401": "No credentials, or a token that isn't valid.",
            "403": "The credentials don't allow this.",
        }
        parameters = self._get_parameters()
        if (
            any(p["in"] == "path" for p in parameters)
            or (self._is_list_view() and self._get_paginator())
            or any(p["in"] == "query" and p["name"] == api_settings.URL_FORMAT_OVERRIDE for p in parameters)
        ):
            codes["404"] = "No such record, page or format."
        if self.method in ("POST", "PUT", "PATCH") or any(p["in"] == "query" for p in parameters):
            codes["400"] = "Invalid input."
        if self.method in WRITES:
            codes["429"] = "Too many writes; retry after the Retry-After header's seconds."
            if self._get_request_body():
                codes["413"] = f"The body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
                codes["415"] = "A body in a content type the API doesn't read."
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in self._error_codes().items():
            body = VALIDATION_ERROR if code == "400" else ErrorSerializer
            content = self._get_response_for_code(body, code, direction=direction)["content"]
            response = responses.setdefault(code, {"description": description})
            response.setdefault("content", content)
        return responses
