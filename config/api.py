"""What every API view shares."""

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import exceptions, serializers, status
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self):
        super().__init__(f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")


def drf_validation_error(exc: DjangoValidationError) -> serializers.ValidationError:
    """A service's ValidationError as DRF's: the messages under the fields it names (→ a 400)."""
    if hasattr(exc, "error_dict"):
        return serializers.ValidationError(
            {
                (api_settings.NON_FIELD_ERRORS_KEY if name == NON_FIELD_ERRORS else name): messages
                for name, messages in exc.message_dict.items()
            }
        )
    return serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: exc.messages})


def exception_handler(exc, context):
    """DRF's, plus: a service's ValidationError is a 400 naming the fields, from any view; a body
    over Django's size or field-count limits is a 413 or a 400 with a message, not an HTML page; a
    record a service found gone (deleted meanwhile: DoesNotExist) is a 404."""
    if isinstance(exc, DjangoValidationError):
        exc = drf_validation_error(exc)
    elif isinstance(exc, ObjectDoesNotExist):
        exc = exceptions.NotFound()
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, TooManyFieldsSent):
        exc = exceptions.ParseError(f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} form fields.")
    return drf_exception_handler(exc, context)


def not_found(request, exception):
    """Django's 404 page, except under /api/: a URL no API route matches (`/api/deploys/abc/`) is
    answered in JSON like DRF's own 404s."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)
