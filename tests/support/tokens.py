"""People's API tokens for tests: only a digest is stored, so the key is kept on the object made."""

from deploys.models import ApiToken
from deploys.services import api_token_create


def api_token(user) -> ApiToken:
    """A new API token for `user`, with its key as `.key`, as the person was shown it."""
    token, key = api_token_create(user=user)
    token.key = key
    return token
