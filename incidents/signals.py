"""Signals other apps listen to without incidents knowing them (integrations posts to chat).

``incident_changed`` (keyword ``incident_id``) is sent after the transaction that filed or moved an
incident commits: its status, severity, services, a role holder (lead, comms lead, scribe) or archiving changed. A listener reads
the incident again, so several changes in a row are seen in their latest state.
"""

from django.db import transaction
from django.dispatch import Signal

incident_changed = Signal()


def changed(incident_id: int) -> None:
    """Announce, once the current transaction commits (at once outside one), that the incident changed."""
    from incidents.models import Incident

    transaction.on_commit(lambda: incident_changed.send(sender=Incident, incident_id=incident_id))
