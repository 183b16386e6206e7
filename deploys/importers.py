"""Turn deploy history from files (Deployinator logs, CSV) into `DeployInput`s for `import_deploys`.

Everything here is pure: no database access. Each line or row becomes a `DeployInput` or a
`ParseError` whose text says exactly what is wrong with it.
"""

import csv
import datetime as dt
import hashlib
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Literal

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.dateparse import parse_datetime

from deploys.limits import MAX_DEPLOY_DURATION_SECONDS, MAX_DEPLOY_MESSAGE_LENGTH
from deploys.models import Deploy, Environment, Service
from deploys.services import DeployInput
from plumbing.fields import is_plausible
from plumbing.validators import slug_validator

Format = Literal["log", "csv"]

CSV_REQUIRED = ("service", "environment", "deployed_at", "deployer", "version")
CSV_OPTIONAL = ("previous_version", "message", "status", "duration_seconds", "diff_url", "external_id")
STATUSES = tuple(Deploy.Status.values)


class ParseError(ValueError):
    """One line or row can't be imported; the text is the reason, for `line N: <reason>`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HeaderError(ValueError):
    """The CSV header itself is wrong, so no row can be read."""


def _max_length(model: type, field: str) -> int:
    return model._meta.get_field(field).max_length


def is_skipped(line: str) -> bool:
    """Blank lines and `#` comments carry no deploy and are not errors."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def detect_format(filename: str, lines: Iterable[str]) -> Format:
    if filename.lower().endswith(".csv"):
        return "csv"
    for line in lines:
        if is_skipped(line):
            continue
        return "csv" if line.strip().lower().replace('"', "").startswith("service,") else "log"
    return "log"


def import_key(*, service: str, environment: str, deployed_at: dt.datetime, deployer: str, version: str) -> str:
    """A stable external_id for a row that has none, so importing a file twice stores each deploy once."""
    utc = deployed_at.astimezone(dt.UTC).isoformat()
    digest = hashlib.sha256(f"{service}|{environment}|{utc}|{deployer}|{version}".encode()).hexdigest()
    return "import:" + digest[:40]


def _slug(kind: str, value: str, model: type) -> str:
    slug = value.strip().lower()
    if not slug:
        raise ParseError(f"empty {kind}")
    if len(slug) > _max_length(model, "slug"):
        raise ParseError(f"{kind} {value.strip()!r} is longer than {_max_length(model, 'slug')} characters")
    try:
        slug_validator(slug)
    except ValidationError:
        raise ParseError(
            f"{kind} {value.strip()!r} is not a valid slug "
            "(lowercase letters, digits, '.', '_' and '-', starting with a letter or digit)"
        ) from None
    return slug


def _text(name: str, value: str, *, required: bool, max_length: int | None = None) -> str:
    text = value.strip()
    if required and not text:
        raise ParseError(f"empty {name}")
    if max_length is not None and len(text) > max_length:
        raise ParseError(f"{name} is longer than {max_length} characters")
    return text


def _deploy_field(name: str, value: str, *, required: bool = False) -> str:
    return _text(name, value, required=required, max_length=_max_length(Deploy, name))


def _message(value: str) -> str:
    # The API's limit (deploys.limits): the message is shown whole on the deploy's page.
    return _text("message", value, required=False, max_length=MAX_DEPLOY_MESSAGE_LENGTH)


def _finish(data: DeployInput) -> DeployInput:
    if not data.external_id:
        assert data.deployed_at is not None
        data.external_id = import_key(
            service=data.service,
            environment=data.environment,
            deployed_at=data.deployed_at,
            deployer=data.deployer,
            version=data.version,
        )
    return data


# --- Deployinator log lines ------------------------------------------------------------------

LOG_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
# `old 25134, new: 25145`: either colon optional, the old version may be empty.
LOG_VERSIONS = re.compile(r"\bold\b:?[ \t]*(?P<old>[^,\s]*)[ \t]*,?[ \t]*\bnew\b:?[ \t]*(?P<new>[^,\s]+)", re.I)
LOG_FIELDS = 5


def parse_log_line(line: str) -> DeployInput:
    """`[web] | 2010-05-18 22:20:50 | PRODUCTION | sandrews | Production Deploy: old 25134, new: 25145`."""
    # The message is the last field, so a `|` inside it stays part of the message.
    fields = line.strip().split("|", LOG_FIELDS - 1)
    if len(fields) < LOG_FIELDS:
        raise ParseError(f"expected {LOG_FIELDS} fields separated by '|', found {len(fields)}")
    raw_service, raw_time, raw_environment, raw_deployer, raw_message = (f.strip() for f in fields)

    if not (raw_service.startswith("[") and raw_service.endswith("]")):
        raise ParseError(f"service {raw_service!r} is not in [brackets]")
    service = _slug("service", raw_service[1:-1], Service)

    if not LOG_TIME.fullmatch(raw_time):
        raise ParseError(f"unparsable time {raw_time!r}")
    try:
        deployed_at = dt.datetime.strptime(raw_time, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError:
        raise ParseError(f"unparsable time {raw_time!r}") from None

    environment = _slug("environment", raw_environment, Environment)
    deployer = _deploy_field("deployer", raw_deployer, required=True)

    versions = LOG_VERSIONS.search(raw_message)
    if versions is None:
        raise ParseError("no 'old …, new …' versions in the message")
    version = _deploy_field("version", versions["new"], required=True)
    previous_version = _deploy_field("previous_version", versions["old"]) or None

    return _finish(
        DeployInput(
            service=service,
            environment=environment,
            version=version,
            previous_version=previous_version,
            deployer=deployer,
            message=_message(raw_message),
            deployed_at=deployed_at,
            status=Deploy.Status.SUCCEEDED,
        )
    )


# --- CSV -------------------------------------------------------------------------------------


def check_csv_header(row: Sequence[str]) -> list[str]:
    """The column names, normalised; HeaderError names every missing, unknown or repeated column."""
    columns = [name.strip().lower() for name in row]
    problems = []
    missing = [name for name in CSV_REQUIRED if name not in columns]
    if missing:
        problems.append("missing required column(s): " + ", ".join(missing))
    unknown = [name for name in columns if name not in CSV_REQUIRED + CSV_OPTIONAL]
    if unknown:
        problems.append("unknown column(s): " + ", ".join(repr(name) for name in unknown))
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        problems.append("repeated column(s): " + ", ".join(repeated))
    if problems:
        raise HeaderError("; ".join(problems))
    return columns


def _aware_time(value: str) -> dt.datetime:
    text = _text("deployed_at", value, required=True)
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ParseError(f"unparsable deployed_at {text!r}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ParseError(f"deployed_at {text!r} has no UTC offset")
    if not is_plausible(parsed):
        raise ParseError(f"deployed_at {text!r} is not between 1970 and 2999")
    return parsed.astimezone(dt.UTC)


def _status(value: str) -> str:
    status = value.strip().lower() or Deploy.Status.SUCCEEDED
    if status not in STATUSES:
        raise ParseError(f"status {value.strip()!r} is not one of {', '.join(STATUSES)}")
    return status


def _duration(value: str) -> float | None:
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        raise ParseError(f"duration_seconds {text!r} is not a number") from None
    if not math.isfinite(seconds):
        raise ParseError(f"duration_seconds {text!r} is not a finite number")
    if seconds < 0:
        raise ParseError(f"duration_seconds {text!r} is negative")
    if seconds > MAX_DEPLOY_DURATION_SECONDS:
        raise ParseError(f"duration_seconds {text!r} is more than {MAX_DEPLOY_DURATION_SECONDS} (a week)")
    return seconds


def _diff_url(value: str) -> str:
    url = _deploy_field("diff_url", value)
    if url:
        try:
            URLValidator()(url)
        except ValidationError:
            raise ParseError(f"diff_url {url!r} is not a valid URL") from None
    return url


def parse_csv_row(row: Mapping[str, str]) -> DeployInput:
    """One CSV record, keyed by the (normalised) header. Optional columns may be absent or empty."""
    return _finish(
        DeployInput(
            service=_slug("service", row["service"], Service),
            environment=_slug("environment", row["environment"], Environment),
            deployed_at=_aware_time(row["deployed_at"]),
            deployer=_deploy_field("deployer", row["deployer"], required=True),
            version=_deploy_field("version", row["version"], required=True),
            # Empty means "not given", as in the log format: the service takes the live version.
            previous_version=_deploy_field("previous_version", row.get("previous_version", "")) or None,
            message=_message(row.get("message", "")),
            status=_status(row.get("status", "")),
            duration_seconds=_duration(row.get("duration_seconds", "")),
            diff_url=_diff_url(row.get("diff_url", "")),
            external_id=_deploy_field("external_id", row.get("external_id", "")),
        )
    )


class _RecordLines:
    """Feeds csv.reader physical lines, dropping blank and comment lines between records.

    Tracks where each record starts so errors name the physical line, even after quoted
    fields that span several lines; a `#` line inside such a field is kept.
    """

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = enumerate(lines, start=1)
        self._between_records = True
        self.record_start = 0

    def __iter__(self) -> "_RecordLines":
        return self

    def __next__(self) -> str:
        while True:
            number, line = next(self._lines)
            if self._between_records:
                if is_skipped(line):
                    continue
                self.record_start = number
                self._between_records = False
            return line

    def next_record(self) -> None:
        self._between_records = True


Parsed = tuple[int, DeployInput | ParseError]


def read_csv(lines: Iterable[str]) -> Iterator[Parsed]:
    """(line number, DeployInput or ParseError) per record. HeaderError before any row if the header is bad.

    `lines` should keep their line endings (a file opened with newline="").
    """
    source = _RecordLines(lines)
    reader = csv.reader(source)
    try:
        header = next(reader)
    except StopIteration:
        raise HeaderError("no header row") from None
    columns = check_csv_header(header)
    while True:
        source.next_record()
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield source.record_start, ParseError(f"bad CSV: {error}")
            continue
        if len(values) != len(columns):
            yield source.record_start, ParseError(f"expected {len(columns)} fields, found {len(values)}")
            continue
        try:
            yield source.record_start, parse_csv_row(dict(zip(columns, values, strict=True)))
        except ParseError as error:
            yield source.record_start, error


def read_log(lines: Iterable[str]) -> Iterator[Parsed]:
    for number, line in enumerate(lines, start=1):
        if is_skipped(line):
            continue
        try:
            yield number, parse_log_line(line)
        except ParseError as error:
            yield number, error


def read_deploys(lines: Sequence[str], fmt: Format) -> Iterator[Parsed]:
    return read_csv(lines) if fmt == "csv" else read_log(lines)
