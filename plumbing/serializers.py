"""Serializers and fields that refuse what they don't take, and lists with limits the schema shows."""

from collections.abc import Mapping

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

UNKNOWN = "Unknown field."
READ_ONLY = "This field is read-only."


class StrictInputSerializer(serializers.Serializer):
    """Refuses keys it doesn't take instead of dropping them: a misspelt `acknowleged_at` or a
    `status` must not look as if it had been saved."""

    # Keys of the output that can't be written here, with the reason.
    read_only_keys: dict[str, str] = {}

    def to_internal_value(self, data):
        errors = {}
        if isinstance(data, Mapping):
            for key in data:
                # The browsable API's forms send the CSRF token along.
                if key not in self.fields and key != "csrfmiddlewaretoken":
                    errors[key] = [self.read_only_keys.get(key, UNKNOWN)]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if errors and isinstance(exc.detail, Mapping):
                raise serializers.ValidationError({**exc.detail, **errors}) from None
            raise
        if errors:
            raise serializers.ValidationError(errors)
        return value


class BoundedListSerializer(serializers.ListSerializer):
    """A list of objects whose length limits the schema shows as maxItems and minItems (drf-spectacular
    leaves a ListSerializer's max_length and allow_empty out)."""


class _BoundedListSerializerSchema(OpenApiSerializerFieldExtension):
    target_class = BoundedListSerializer
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if self.target.max_length is not None:
            schema["maxItems"] = self.target.max_length
        if not self.target.allow_empty:
            schema["minItems"] = max(1, self.target.min_length or 0)
        return schema


class StrictCharField(serializers.CharField):
    """A CharField that takes JSON strings only: DRF's reads `5` as "5", so `"service": 5` would
    make a service named 5, and a version 1.10 sent as a number would be stored as 1.1."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
