from config.roles import RESPONDER, role_set


def responder(user):
    """`user`, made a responder (new accounts are viewers): for tests where a colleague writes too."""
    role_set(user=user, role=RESPONDER)
    return user
