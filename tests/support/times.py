"""Times as the API writes and reads them."""

import datetime as dt


def iso(value: dt.datetime) -> str:
    """`value` as the API answers it: ISO 8601 in UTC with a Z."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def at(text: str) -> dt.datetime:
    """The aware datetime an ISO 8601 text names ("2024-03-05T10:00:00Z")."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
