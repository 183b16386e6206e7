"""Signals other apps listen to without deploys knowing them (integrations sends CDEvents).

``deploys_recorded`` (keyword ``deploy_ids``, in the order recorded) is sent after the transaction
that stored new deploys commits, whatever the path (API, bulk, webhook), but for a history import (`notify=False`). A listener reads
the deploys again.
"""

from django.db import transaction
from django.dispatch import Signal

deploys_recorded = Signal()


def recorded(deploy_ids: list[int]) -> None:
    """Announce, once the current transaction commits (at once outside one), that these deploys were stored."""
    if not deploy_ids:
        return
    from deploys.models import Deploy

    ids = list(deploy_ids)
    transaction.on_commit(lambda: deploys_recorded.send(sender=Deploy, deploy_ids=ids))
