"""A remediation's tracker reference (`OPS-123`, or a link to the issue) as a web address."""

import re

from plumbing.markdown import TRACKER_KEY, _is_key, tracker_url

# An http(s) address with nothing a page or a client could mistake for the end of an attribute or
# the start of a tag: the same as the pages' `tracker_ref` filter links.
WEB_ADDRESS = re.compile(r"https?://[^\s<>\"'`\\{}|^]+", re.IGNORECASE)


def tracker_ref_url(ref: str) -> str | None:
    """The reference itself when it is a plain web address; OPSLOG_TRACKER_URL with it when the
    whole reference is one tracker key (a project the settings allow); None for anything else,
    so a reference holding `"` or `<` is never echoed as a link."""
    ref = (ref or "").strip()
    if WEB_ADDRESS.fullmatch(ref):
        return ref
    match = TRACKER_KEY.fullmatch(ref)
    if match is not None and _is_key(match):
        return tracker_url(ref)
    return None
