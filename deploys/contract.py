"""The one deploy contract: what a deploy may carry, whichever way it arrives.

Every path that records a deploy consults the rules written here, and only here: the API (single
deploys and the bulk endpoint's slow path run them as DRF field validators, its fast path calls
`deploy_problems`), the GitHub and GitLab webhooks (deploys.services.deploy_record_from_hook and
pushed_commits_record, with the webhooks' rules), `import_deploys` and the admin; and
deploys.services.deploy_record checks them for any caller that names whose rules apply. Each path
only turns the problems into its own form of error: a 400 naming the field, a failed delivery with
the reason, an import line number, a form error. The messages are the API's (DRF's wording), which
its clients already parse and show.

Parsing is each path's own (a JSON type, a CSV cell, a GitLab time): the rules take parsed values,
strings already stripped. A change of limit is one edit, in deploys.limits or the model's column.
"""

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinLengthValidator,
    MinValueValidator,
    RegexValidator,
    URLValidator,
)
from django.utils import timezone

from deploys.limits import (
    COMMIT_SHA_CHARACTERS,
    COMMIT_SHA_MAX_LENGTH,
    COMMIT_SHA_MESSAGE,
    COMMIT_SHA_MIN_LENGTH,
    MAX_DEPLOY_COMMITS,
    MAX_DEPLOY_DURATION_SECONDS,
    MAX_DEPLOY_MESSAGE_LENGTH,
)
from deploys.models import Deploy, Environment, Service
from plumbing.fields import FUTURE_SLACK, RANGE_MESSAGE, is_plausible
from plumbing.validators import single_line_validator, slug_validator

Validator = Callable[[object], None]


def normalise_sha(value: str) -> str:
    """A commit id as Opslog stores and looks it up: stripped, in lowercase. Git's shas are hex in
    either case, so `DA1560…` from one sender and `da1560…` from another are one commit, stored
    once and counted once in the lead time."""
    return value.strip().lower()


@dataclass(frozen=True)
class CommitInput:
    sha: str
    authored_at: datetime | None = None
    message: str = ""

    def __post_init__(self) -> None:
        # Every path builds its commits as CommitInputs: normalised here, they are normalised everywhere.
        if isinstance(self.sha, str):
            object.__setattr__(self, "sha", normalise_sha(self.sha))


@dataclass
class DeployInput:
    """One deploy as a sender describes it, before it is stored."""

    service: str
    environment: str
    version: str
    deployer: str
    deployed_at: datetime | None = None
    previous_version: str | None = None
    message: str = ""
    duration_seconds: float | None = None
    status: str = Deploy.Status.SUCCEEDED
    diff_url: str = ""
    external_id: str = ""
    commits: Sequence[CommitInput] = field(default_factory=tuple)
    change_record_id: int | None = None


# --- The rules ------------------------------------------------------------------------------------
# Django validators, so that DRF runs them as field validators (and drf-spectacular shows the
# limits in the schema: maxLength, minimum, pattern…) and the other paths run the very same objects.
#
# The bulk endpoint's fast path checks a thousand deploys a request: Django's validators build their message parameters and resolve a lazily compiled pattern on
# every call, a few µs each. These subclasses (still what drf-spectacular reads) only do that
# for a value that fails.


class _MaxLength(MaxLengthValidator):
    def __call__(self, value) -> None:
        if len(value) > self.limit_value:
            super().__call__(value)


class _MinLength(MinLengthValidator):
    def __call__(self, value) -> None:
        if len(value) < self.limit_value:
            super().__call__(value)


class _MaxValue(MaxValueValidator):
    def __call__(self, value) -> None:
        if value > self.limit_value:
            super().__call__(value)


class _MinValue(MinValueValidator):
    def __call__(self, value) -> None:
        if value < self.limit_value:
            super().__call__(value)


class _Regex(RegexValidator):
    def __init__(self, regex, message: str) -> None:
        super().__init__(regex, message)
        self._compiled = re.compile(self.regex.pattern, self.regex.flags)

    def __call__(self, value) -> None:
        if not self._compiled.search(value):
            super().__call__(value)


def _max_length(limit: int) -> MaxLengthValidator:
    return _MaxLength(limit, message=f"Ensure this field has no more than {limit} characters.")


def _min_length(limit: int) -> MinLengthValidator:
    return _MinLength(limit, message=f"Ensure this field has at least {limit} characters.")


# plumbing's rule, checked the fast way.
_single_line = _Regex(single_line_validator.regex.pattern, single_line_validator.message)


def _column_length(model: type, name: str) -> MaxLengthValidator:
    # The stored column's own limit: a longer value would fail on PostgreSQL and be cut on SQLite.
    return _max_length(model._meta.get_field(name).max_length)


_slug_pattern = _Regex(slug_validator.regex.pattern, slug_validator.message)


def _slug(value: str) -> None:
    # Service and environment names are matched case-insensitively: "Production" is "production".
    _slug_pattern(value.lower())


def _plausible(value: datetime) -> None:
    if not is_plausible(value):
        raise ValidationError(RANGE_MESSAGE, code="range")


def _not_in_future(value: datetime) -> None:
    # A little slack for CI clocks running ahead of ours.
    if value > timezone.now() + FUTURE_SLACK:
        raise ValidationError("A deploy can't have gone live in the future.", code="future")


def _finite(value: float) -> None:
    # NaN passes every comparison, and an infinity is no duration.
    if not math.isfinite(value):
        raise ValidationError("A valid number is required.", code="invalid")


_STATUSES = frozenset(Deploy.Status.values)


def _status(value: str) -> None:
    if value not in _STATUSES:
        raise ValidationError(f'"{value}" is not a valid choice.', code="invalid_choice")


def _commit_count(commits: Sequence) -> None:
    # Checked before any commit is: a list of ten thousand gets one message, not ten thousand.
    if len(commits) > MAX_DEPLOY_COMMITS:
        raise ValidationError(
            f"A deploy may list up to {MAX_DEPLOY_COMMITS:,} commits; this one lists {len(commits):,}.",
            code="max_length",
        )


def _http_url(value: str) -> None:
    if not value.lower().startswith(("https://", "http://")):
        raise ValidationError("Enter an http(s) URL.", code="invalid")


@dataclass(frozen=True)
class Rules:
    """The validators of each field of a deploy (`deploy`) and of each of its commits (`commit`), in
    the order their messages are given. Fields without rules take any value of their type."""

    deploy: Mapping[str, tuple[Validator, ...]]
    commit: Mapping[str, tuple[Validator, ...]]


def _rules(*, commit_sha: tuple[Validator, ...], diff_url: Validator) -> Rules:
    slug = (_column_length(Service, "slug"), _slug)
    return Rules(
        deploy={
            "service": slug,
            "environment": (_column_length(Environment, "slug"), _slug),
            "version": (_single_line, _column_length(Deploy, "version")),
            "previous_version": (_single_line, _column_length(Deploy, "previous_version")),
            "deployer": (_single_line, _column_length(Deploy, "deployer")),
            "message": (_max_length(MAX_DEPLOY_MESSAGE_LENGTH),),
            "deployed_at": (_plausible, _not_in_future),
            "duration_seconds": (
                _finite,
                _MaxValue(
                    MAX_DEPLOY_DURATION_SECONDS,
                    message=f"Ensure this value is less than or equal to {MAX_DEPLOY_DURATION_SECONDS}.",
                ),
                _MinValue(0, message="Ensure this value is greater than or equal to 0."),
            ),
            "status": (_status,),
            "diff_url": (_column_length(Deploy, "diff_url"), diff_url),
            "external_id": (_single_line, _column_length(Deploy, "external_id")),
            "commits": (_commit_count,),
        },
        commit={"sha": commit_sha, "authored_at": (_plausible,)},
    )


# The API, the admin and imports: any version control's commit ids (see deploys.limits).
API = _rules(
    commit_sha=(
        _Regex(COMMIT_SHA_CHARACTERS, COMMIT_SHA_MESSAGE),
        _max_length(COMMIT_SHA_MAX_LENGTH),
        _min_length(COMMIT_SHA_MIN_LENGTH),
    ),
    diff_url=URLValidator(),
)

# Webhooks differ on purpose in two rules:
# - commit ids are git's own, 7 to 64 lowercase hex digits: GitHub and GitLab name full or
#   abbreviated shas, a deploy's version is its head sha, and compare links are built from two;
# - a diff link need only be http(s): it is made from the repository's URL, which a self-hosted
#   GitLab may give on an intranet host name (http://gitlab:8080/…) that URLValidator refuses, while
#   a javascript: link must never become a deploy's link on every page that lists it.
GIT_SHA = re.compile(r"[0-9a-f]{7,64}")
HOOKS = _rules(
    commit_sha=(_Regex(rf"\A{GIT_SHA.pattern}\Z", "Enter a git commit sha: 7 to 64 lowercase hex digits."),),
    diff_url=_http_url,
)

# The API's CharField and the admin's form field refuse these as part of their type (with these
# messages); deploy_problems applies the same to the paths that have no such type.
_REQUIRED = frozenset({"service", "environment", "version", "deployer", "sha"})
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
# The JSON types, for the paths that don't parse with the API's strict fields: text is a string,
# a duration a number and never a boolean (`true` would be stored as 1.0, a `1` message as "1").
_TEXT_FIELDS = frozenset(
    {"service", "environment", "version", "previous_version", "deployer", "message", "diff_url", "external_id", "sha"}
)
_NUMBER_FIELDS = frozenset({"duration_seconds"})


def _text_problems(value: str) -> list[str]:
    found = _NOT_TEXT.search(value)
    if found is None:
        return []
    if found[0] == "\x00":
        return ["Null characters are not allowed."]
    return [f"Surrogate characters are not allowed: U+{ord(found[0]):X}."]


def _check(values: Mapping[str, object], table: Mapping[str, tuple[Validator, ...]], problems, prefix: str) -> None:
    for name, value in values.items():
        # None and "" are "not given": whether a field may be left out is each path's parsing.
        if value is None or value == "":
            if name in _REQUIRED and value == "":
                problems[prefix + name] = ["This field may not be blank."]
            continue
        if name in _TEXT_FIELDS and not isinstance(value, str):
            problems[prefix + name] = ["Not a valid string."]
            continue
        if name in _NUMBER_FIELDS and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems[prefix + name] = ["A valid number is required."]
            continue
        found = _text_problems(value) if type(value) is str and _NOT_TEXT.search(value) else []
        for validator in table.get(name, ()):
            try:
                validator(value)
            except ValidationError as exc:
                found.extend(exc.messages)
        if found:
            problems[prefix + name] = found


def _as_values(item) -> Mapping[str, object]:
    return item if type(item) is dict or isinstance(item, Mapping) else vars(item)


def _check_commits(commits: Sequence, rules: Rules, problems: dict[str, list[str]]) -> None:
    for index, commit in enumerate(commits):
        _check(_as_values(commit), rules.commit, problems, f"commits.{index}.")


def deploy_problems(data: DeployInput | Mapping[str, object], *, rules: Rules = API) -> dict[str, list[str]]:
    """What is wrong with a deploy: messages by field, empty when nothing is.

    `data` is a DeployInput or a mapping of some of its fields (what a form or a serializer has
    parsed so far); only the fields given are checked, and None or "" means "not given" except
    for the names a deploy (service, environment, version, deployer) or a commit (sha) can't do
    without, which "" breaks. A commit's problems are keyed
    `commits.<index>.<field>`; past the commit limit the commits themselves aren't looked at.
    """
    problems: dict[str, list[str]] = {}
    values = _as_values(data)
    _check(values, rules.deploy, problems, "")
    if "commits" not in problems:
        _check_commits(values.get("commits") or (), rules, problems)
    return problems


def commit_problems(commit: CommitInput | Mapping[str, object], *, rules: Rules = API) -> dict[str, list[str]]:
    """What is wrong with one commit of a deploy, by field (as deploy_problems, without the prefix)."""
    problems: dict[str, list[str]] = {}
    _check(_as_values(commit), rules.commit, problems, "")
    return problems


def deploy_validate(*, data: DeployInput | Mapping[str, object], rules: Rules = API) -> None:
    """Raise ValidationError with deploy_problems' messages by field, if there are any."""
    if problems := deploy_problems(data, rules=rules):
        raise ValidationError(problems)


def field_validate(*, name: str, value, rules: Rules = API) -> None:
    """One field's rules, for a value a path derives after the rest was checked (a webhook's compare
    link): ValidationError naming the field."""
    deploy_validate(data={name: value}, rules=rules)


def commits_validate(*, commits: Sequence[CommitInput], rules: Rules = API) -> None:
    """Each commit's rules, whatever their number: a push may carry more commits than a deploy may
    list (GitHub lists up to 2,048). ValidationError keyed `commits.<index>.<field>`."""
    problems: dict[str, list[str]] = {}
    _check_commits(commits, rules, problems)
    if problems:
        raise ValidationError(problems)


def describe(error: ValidationError) -> str:
    """One line for a person: `message: Ensure this field has no more than 10000 characters.`,
    problems of several fields joined with "; "."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in error.message_dict.items())
