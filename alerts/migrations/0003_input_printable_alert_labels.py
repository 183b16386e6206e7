"""Alerts stored before lone surrogates were refused at the door (issue #14.5) can hold one in a
label or an annotation (SQLite's JSON keeps the `\\ud800` escape; PostgreSQL's jsonb never took
one), and then their pages can't be encoded: each such string becomes its printable escape."""

import json

from django.db import migrations

CHUNK = 2000


def _printable(value):
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(key): _printable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_printable(item) for item in value]
    return value


def _unencodable(value) -> bool:
    try:
        # The JSON as Python holds it, without escapes, encoded as a page encodes it.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def printable_labels(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        return  # jsonb refuses a lone surrogate escape: no such alert was ever stored there
    Alert = apps.get_model("alerts", "Alert")
    for alert in Alert.objects.only("pk", "labels", "annotations").iterator(chunk_size=CHUNK):
        if _unencodable(alert.labels) or _unencodable(alert.annotations):
            Alert.objects.filter(pk=alert.pk).update(
                labels=_printable(alert.labels), annotations=_printable(alert.annotations)
            )


class Migration(migrations.Migration):
    dependencies = [("alerts", "0002_integration_moved")]

    operations = [migrations.RunPython(printable_labels, migrations.RunPython.noop, elidable=True)]
