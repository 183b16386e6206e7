"""Read settings from the environment and fail loudly, naming the variable, on a bad value."""

import os
import zoneinfo
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (or 1/0, yes/no), not {raw!r}.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, default: str = "", *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    raw = os.environ.get(name, default).strip()
    if not raw:
        return ""
    parsed = urlparse(raw)
    try:
        parsed.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ImproperlyConfigured(f"{name} has a malformed port: {raw!r}.") from None
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        raise ImproperlyConfigured(
            f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}, not {raw!r}."
        )
    return raw


def env_origins(name: str) -> list[str]:
    origins = env_list(name)
    for origin in origins:
        if not origin.startswith(("http://", "https://")):
            raise ImproperlyConfigured(f"{name} entries must start with https:// or http://, not {origin!r}.")
    return origins


def env_emails(name: str, default: list[str] | None = None) -> list[str]:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    addresses = env_list(name, default)
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            raise ImproperlyConfigured(f"{name} has an invalid email address: {address!r}.") from None
    return addresses


def env_sender(name: str, default: str) -> str:
    """An address, optionally with a display name: `Opslog <opslog@example.com>`."""
    from email.utils import parseaddr

    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    raw = os.environ.get(name, default).strip()
    try:
        validate_email(parseaddr(raw)[1])
    except ValidationError:
        raise ImproperlyConfigured(f"{name} must be an email address, not {raw!r}.") from None
    return raw


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = os.environ.get(name, default).strip()
    value = raw.upper() if all(c.isupper() for c in choices) else raw
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {raw!r}.")
    return value


# IANA names that PostgreSQL reads as fixed-offset abbreviations, without the summer time Python
# applies: the database and the app would disagree about when a month starts.
ABBREVIATION_ZONES = {"CET": "Europe/Paris", "EET": "Europe/Athens", "MET": "Europe/Paris", "WET": "Europe/Lisbon"}


def env_time_zone(name: str, default: str = "UTC") -> str:
    raw = os.environ.get(name, default).strip() or default
    if raw.upper() in ABBREVIATION_ZONES:
        raise ImproperlyConfigured(
            f"{name}: {raw!r} means different things to PostgreSQL (a fixed offset) and to Python (with "
            f"summer time); use a place name such as {ABBREVIATION_ZONES[raw.upper()]!r}."
        )
    try:
        zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"{name} must be an IANA time zone name such as 'UTC' or 'Europe/Berlin', not {raw!r}."
        ) from None
    return raw


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def env_working_hours(name: str, default: str) -> tuple[int, int]:
    """`HH:MM-HH:MM` as (start, end) minutes after midnight, start before end (no shift across midnight)."""
    raw = os.environ.get(name, default).strip() or default
    try:
        first, last = (part.strip() for part in raw.split("-"))
        minutes = []
        for part in (first, last):
            hours, _, mins = part.partition(":")
            if not (hours.isdigit() and mins.isdigit() and len(mins) == 2):
                raise ValueError
            value = int(hours) * 60 + int(mins)
            if int(mins) > 59 or value > 24 * 60:
                raise ValueError
            minutes.append(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be HH:MM-HH:MM, e.g. 09:00-18:00, not {raw!r}.") from None
    if minutes[0] >= minutes[1]:
        raise ImproperlyConfigured(f"{name}: the start ({first}) must be before the end ({last}), not {raw!r}.")
    return minutes[0], minutes[1]


def env_weekdays(name: str, default: str) -> frozenset[int]:
    """`mon-fri`, `mon,tue,thu` or both (`mon-wed,fri`) as Python weekday numbers (Monday 0)."""
    raw = os.environ.get(name, default).strip().lower() or default
    days: set[int] = set()
    for item in (part.strip() for part in raw.split(",")):
        first, dash, last = item.partition("-")
        if first not in WEEKDAYS or (dash and last not in WEEKDAYS):
            raise ImproperlyConfigured(
                f"{name} must be days such as mon-fri or mon,tue,thu (mon tue wed thu fri sat sun), not {raw!r}."
            )
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        if end < start:
            raise ImproperlyConfigured(f"{name}: {item!r} runs backwards; write it from the earlier day.")
        days.update(range(start, end + 1))
    return frozenset(days)


def env_database(name: str, default: str) -> dict:
    import dj_database_url

    raw = os.environ.get(name, "").strip() or default
    try:
        config = dj_database_url.parse(raw, conn_max_age=60, conn_health_checks=True)
    except Exception as exc:  # dj-database-url raises several unrelated types on a malformed URL
        raise ImproperlyConfigured(
            f"{name} is not a database URL Opslog understands ({exc}); "
            "use e.g. postgres://user:password@host:5432/opslog or sqlite:///path/to/opslog.sqlite3."
        ) from None
    if config.get("ENGINE") not in ("django.db.backends.postgresql", "django.db.backends.sqlite3"):
        raise ImproperlyConfigured(f"{name} must point at PostgreSQL or SQLite, not {raw!r}.")
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} names no database: {raw!r}.")
    return config


# DRF's throttles read only the period's first letter, so "5/month" would mean five a minute:
# accept only the spellings that mean what they say.
_RATE_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def env_rate(name: str, default: str) -> str | None:
    """A request rate such as "120/minute" (also /second, /hour, /day); "off": no limit (None)."""
    raw = os.environ.get(name, "").strip() or default
    if raw.lower() in ("off", "none"):
        return None
    count, _, period = raw.partition("/")
    if not (count.strip().isdigit() and int(count) > 0 and period.strip().lower() in _RATE_PERIODS):
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 120/minute (per second, minute, hour or day) or off, not {raw!r}."
        )
    return f"{int(count)}/{period.strip().lower()}"


def env_cache(name: str) -> dict:
    """Django's cache: Redis at a redis:// or rediss:// URL, shared by every process; unset, each
    process keeps its own in memory."""
    url = env_url(name, schemes=("redis", "rediss"))
    if not url:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
