"""How every API view picks the format of its answer (REST_FRAMEWORK's DEFAULT_CONTENT_NEGOTIATION_CLASS)."""

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.settings import api_settings


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's, except that a `?format=` no renderer of the view has is a 400 naming the formats it
    has (`{"format": ["Unknown format “xml”: use json or csv."]}`), not a 404 as for a missing
    record. The error is answered in the view's first renderer, JSON."""

    def filter_renderers(self, renderers, format):
        matching = [renderer for renderer in renderers if renderer.format == format]
        if not matching:
            # The browsable API (`format=api`) still works, but is for people in a browser: the
            # message names the formats the schema documents.
            formats = [r.format for r in renderers if not isinstance(r, BrowsableAPIRenderer)]
            raise exceptions.ValidationError(
                {
                    api_settings.URL_FORMAT_OVERRIDE or "format": [
                        f"Unknown format “{format}”: use {' or '.join(formats)}."
                    ]
                }
            )
        return matching
