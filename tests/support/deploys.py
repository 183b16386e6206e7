"""Deploy ingest helpers several test modules share: the bulk fast path's answer, and import_deploys run."""

import io

from django.core.management import CommandError, call_command

from deploys.api.serializers import DeployInputSerializer, _Defer


def fast(data):
    """The fast path's validated data, or None where it leaves the item to DRF."""
    serializer = DeployInputSerializer(many=True)
    try:
        return serializer.child.fast_internal_value(data)
    except _Defer:
        return None


def run_import(path, **options):
    """Run import_deploys; returns (stdout, stderr, the CommandError or None)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_deploys", str(path), stdout=out, stderr=err, **options)
    except CommandError as error:
        return out.getvalue(), err.getvalue(), error
    return out.getvalue(), err.getvalue(), None
