"""Who may change what.

Three roles, each including the one before it:

- **viewer**: reads every page and API. The role of a new account.
- **responder**: also files and edits incidents, post-mortems and remediations, stamps and links
  them, promotes alerts, and records deploys and change records by hand or from CI.
- **admin**: also archives and unarchives incidents and post-mortems, manages integrations and
  their deliveries, users, roles and tokens (the Django admin). An admin is a Django superuser.

A responder is a member of the "Responders" group; ``manage.py set_role`` or the Django admin sets
roles. An API token acts with its user's role. An ingest token (``deploys.IngestToken``) is not a
user: it may post deploys and nothing else, for CI systems.
"""

import functools

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from rest_framework.permissions import SAFE_METHODS, BasePermission

VIEWER, RESPONDER, ADMIN = "viewer", "responder", "admin"
ROLES = (VIEWER, RESPONDER, ADMIN)
RESPONDERS_GROUP = "Responders"
_RANK = {role: rank for rank, role in enumerate(ROLES)}


def role_of(user) -> str | None:
    """The user's role; None for anonymous users and ingest tokens, which have no role."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "is_ingest_client", False):
        return None
    if user.is_superuser:
        return ADMIN
    # Kept on the user object: a request asks several times (permission, template, view).
    if not hasattr(user, "_opslog_role"):
        is_responder = user.groups.filter(name=RESPONDERS_GROUP).exists()
        user._opslog_role = RESPONDER if is_responder else VIEWER
    return user._opslog_role


def has_role(user, role: str) -> bool:
    """True when the user's role is `role` or above it."""
    actual = role_of(user)
    return actual is not None and _RANK[actual] >= _RANK[role]


@transaction.atomic
def role_set(*, user, role: str) -> None:
    """Give `user` exactly `role`. Admins are superusers (and staff, to reach the Django admin)."""
    if role not in _RANK:
        raise ValueError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")
    group, _ = Group.objects.get_or_create(name=RESPONDERS_GROUP)
    if role == RESPONDER:
        user.groups.add(group)
    else:
        user.groups.remove(group)
    user.is_superuser = user.is_staff = role == ADMIN
    user.save(update_fields=["is_superuser", "is_staff"])
    user.__dict__.pop("_opslog_role", None)


def role_required(role: str):
    """For page views: a 403 page for a logged-in user below `role` (LoginRequiredMiddleware has
    already sent anonymous users to the login page)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if not has_role(request.user, role):
                raise PermissionDenied(f"This needs the {role} role; you are a {role_of(request.user) or 'guest'}.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def admin_site_permission(request) -> bool:
    """Who may use the Django admin: active admins only."""
    return request.user.is_active and has_role(request.user, ADMIN)


class RolePermission(BasePermission):
    """DRF's default permission. Reads need any role; writes need the view's `write_role`
    (responder unless it says otherwise); actions named in the view's `admin_actions` need admin.
    An ingest token may only make the writes named in the view's `ingest_actions`."""

    message = "Your role doesn't allow this."

    def has_permission(self, request, view) -> bool:
        action = getattr(view, "action", None)
        if getattr(request.user, "is_ingest_client", False):
            self.message = "An ingest token may only post deploys."
            return request.method not in SAFE_METHODS and action in getattr(view, "ingest_actions", ())
        if request.method in SAFE_METHODS:
            # Every role reads: no need to look the role up.
            return bool(request.user and request.user.is_authenticated)
        needed = ADMIN if action in getattr(view, "admin_actions", ()) else getattr(view, "write_role", RESPONDER)
        self.message = f"This needs the {needed} role; you are a {role_of(request.user) or 'guest'}."
        return has_role(request.user, needed)


def roles(request) -> dict:
    """Template context: what the current user may do, to hide buttons they can't use."""
    return {
        "can_respond": has_role(request.user, RESPONDER),
        "is_admin": has_role(request.user, ADMIN),
    }
