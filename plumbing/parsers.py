"""The API's parsers (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES): DRF's, with limits."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import parsers

from plumbing import jsoninput


class _SizeLimited:
    """A DRF parser that refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE before reading it: DRF
    reads the request stream itself, which Django's own check (on request.body) never sees.
    RequestDataTooBig is answered 413 with a message by the API's exception handler (config.api)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        if limit is not None and request is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                raise RequestDataTooBig()
        return super().parse(stream, media_type, parser_context)


class JSONParser(_SizeLimited, jsoninput.JSONParser):
    """Size-limited, then depth- and surrogate-checked (plumbing.jsoninput)."""


class FormParser(_SizeLimited, parsers.FormParser):
    pass


class MultiPartParser(_SizeLimited, parsers.MultiPartParser):
    pass
