"""Turn deploy history from files (Deployinator logs, CSV) into `DeployInput`s for `import_deploys`.

Everything here is pure: no database access. Each line or row becomes a `DeployInput` or a
`ParseError` whose text says exactly what is wrong with it. This module only reads text (fields,
times, numbers, statuses); what a deploy may carry is the deploy contract's (deploys.contract),
checked here so that every bad line is reported, in file order, before anything is stored.
"""

import csv
import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Literal

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from deploys import contract
from deploys.contract import DeployInput
from deploys.models import Deploy
from plumbing.fields import is_plausible

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


def _finish(data: DeployInput) -> DeployInput:
    try:
        contract.deploy_validate(data=data)
    except ValidationError as error:
        raise ParseError(contract.describe(error)) from None
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
# A version never starts with ":" (the colon after `new` is the label's, not the version's).
LOG_VERSIONS = re.compile(r"\bold\b:?[ \t]*(?P<old>[^,\s]*)[ \t]*,?[ \t]*\bnew\b:?[ \t]*(?P<new>[^,\s:][^,\s]*)", re.I)
LOG_NEW_LABEL = re.compile(r"\bold\b.*\bnew\b", re.I)
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
    service = raw_service[1:-1].strip().lower()

    if not LOG_TIME.fullmatch(raw_time):
        raise ParseError(f"unparsable time {raw_time!r}")
    try:
        deployed_at = dt.datetime.strptime(raw_time, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError:
        raise ParseError(f"unparsable time {raw_time!r}") from None

    versions = LOG_VERSIONS.search(raw_message)
    if versions is None:
        if LOG_NEW_LABEL.search(raw_message):
            raise ParseError("no new version after 'new' in the message")
        raise ParseError("no 'old …, new …' versions in the message")

    return _finish(
        DeployInput(
            service=service,
            environment=raw_environment.lower(),
            version=versions["new"],
            previous_version=versions["old"] or None,
            deployer=raw_deployer,
            message=raw_message,
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
    text = value.strip()
    if not text:
        raise ParseError("empty deployed_at")
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ParseError(f"unparsable deployed_at {text!r}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ParseError(f"deployed_at {text!r} has no UTC offset")
    if not is_plausible(parsed):
        # Before converting it: a year-9999 time overflows in UTC.
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
        return float(text)
    except ValueError:
        raise ParseError(f"duration_seconds {text!r} is not a number") from None


def parse_csv_row(row: Mapping[str, str]) -> DeployInput:
    """One CSV record, keyed by the (normalised) header. Optional columns may be absent or empty."""
    return _finish(
        DeployInput(
            service=row["service"].strip().lower(),
            environment=row["environment"].strip().lower(),
            deployed_at=_aware_time(row["deployed_at"]),
            deployer=row["deployer"].strip(),
            version=row["version"].strip(),
            # Empty means "not given", as in the log format: the service takes the live version.
            previous_version=row.get("previous_version", "").strip() or None,
            message=row.get("message", "").strip(),
            status=_status(row.get("status", "")),
            duration_seconds=_duration(row.get("duration_seconds", "")),
            diff_url=row.get("diff_url", "").strip(),
            external_id=row.get("external_id", "").strip(),
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
