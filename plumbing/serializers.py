"""Serializers and fields that refuse what they don't take, and lists with limits the schema shows."""

from collections.abc import Mapping

from django.http import QueryDict
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
        # A form (the browsable API's, a multipart post) sends text only: types are JSON's to check.
        typed = not isinstance(data, QueryDict)
        if isinstance(data, Mapping):
            for key, value in data.items():
                field = self.fields.get(key)
                # The browsable API's forms send the CSRF token along.
                if field is None and key != "csrfmiddlewaretoken":
                    errors[key] = [self.read_only_keys.get(key, UNKNOWN)]
                elif typed and field is not None and not field.read_only and (problem := wrong_type(field, value)):
                    errors[key] = problem
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if errors and isinstance(exc.detail, Mapping):
                raise serializers.ValidationError({**exc.detail, **errors}) from None
            raise
        if errors:
            raise serializers.ValidationError(errors)
        return value


def _message(field: serializers.Field, key: str, **kwargs) -> list:
    try:
        field.fail(key, **kwargs)
    except serializers.ValidationError as exc:
        return exc.detail
    return []


def wrong_type(field: serializers.Field, value):
    """DRF's message when `value` is not of the JSON type `field` stands for, or None. DRF converts
    where it can: a number where text goes is stored as "1", `true` or `"12"` where a number goes
    as 1.0 or 12, `"2"` where an integer choice goes as 2. Here text is a JSON string, a number a
    JSON number (not a boolean), an id a number, a yes/no `true` or `false` (DRF reads "no", "off"
    and 0 as false but also "yes" and 1 as true, so `"confirm": "no"` would publish past the
    checklist). None is left to the field (allow_null)."""
    if value is None:
        return None
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else _message(field, "invalid", input=value)
    if isinstance(field, serializers.CharField):
        return None if isinstance(value, str) else _message(field, "invalid")
    if isinstance(field, serializers.IntegerField | serializers.FloatField | serializers.DecimalField):
        return _message(field, "invalid") if isinstance(value, bool | str) else None
    if isinstance(field, serializers.PrimaryKeyRelatedField):
        return _message(field, "incorrect_type", data_type=type(value).__name__) if isinstance(value, str) else None
    if isinstance(field, serializers.SlugRelatedField):
        return None if isinstance(value, str) else _message(field, "invalid")
    if isinstance(field, serializers.ChoiceField) and isinstance(value, bool | str):
        # Integer choices (a severity) take a number; text choices a string (DRF refuses `true` there).
        if isinstance(value, bool) or all(isinstance(choice, int) for choice in field.choices):
            return _message(field, "invalid_choice", input=value)
        return None
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        problems = {index: problem for index, item in enumerate(value) if (problem := wrong_type(field.child, item))}
        return problems or None
    return None


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
