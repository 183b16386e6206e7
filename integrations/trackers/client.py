"""Talking to the trackers: GitHub's REST API (issues) and Jira's (Cloud REST v3, Server / Data
Center REST v2), with `requests` and the few documented calls Opslog makes.

- GitHub: https://docs.github.com/en/rest/issues/issues (create, get) and
  https://docs.github.com/en/rest/search/search#search-issues-and-pull-requests; a bearer token.
- Jira Cloud: https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/ (the
  description in Atlassian Document Format), search by JQL at /rest/api/3/search/jql; basic auth
  with the account's e-mail and an API token.
- Jira Server / Data Center: https://docs.atlassian.com/software/jira/docs/api/REST/latest/ (REST v2,
  a plain-text description, /rest/api/2/search); a personal access token as a bearer token.

Every call has a timeout (OPSLOG_TRACKER_TIMEOUT). What is not a 2xx becomes a TrackerError saying,
for people, what went wrong, and whether trying again later may help (429, 5xx, no answer).
"""

import base64
import datetime as dt
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import requests
from django.conf import settings
from django.utils import timezone

from integrations.models import TrackerConnection

USER_AGENT = "Opslog (remediation sync)"


class TrackerError(Exception):
    """A call that failed. `retryable`: a later attempt may succeed (rate limited, the tracker's
    own error, no answer); `retry_after`: seconds the tracker asked to wait, if it said."""

    def __init__(self, message: str, *, status: int = 0, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class Issue:
    key: str  # GitHub: the number ("123"); Jira: the key ("OPS-12")
    url: str  # the issue's page, for people
    done: bool | None = None  # closed / in a Done status category, when the call says


def _retry_after(response: requests.Response) -> float | None:
    raw = (response.headers.get("Retry-After") or "").strip()
    if not raw:
        # GitHub's secondary limits say when the window resets instead.
        if response.headers.get("X-RateLimit-Remaining") == "0" and response.headers.get("X-RateLimit-Reset"):
            try:
                return max(float(response.headers["X-RateLimit-Reset"]) - timezone.now().timestamp(), 0.0)
            except ValueError:
                return None
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:  # An HTTP date is allowed too.
        return max((parsedate_to_datetime(raw) - timezone.now()).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def _their_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = []
    if isinstance(body.get("message"), str):  # GitHub
        parts.append(body["message"])
    for error in body.get("errors") or []:  # GitHub's 422 details
        if isinstance(error, dict):
            parts.append(str(error.get("message") or f"{error.get('field', '')} {error.get('code', '')}".strip()))
    if isinstance(body.get("errorMessages"), list):  # Jira
        parts.extend(str(m) for m in body["errorMessages"])
    if isinstance(body.get("errors"), dict):  # Jira's per-field errors
        parts.extend(f"{k}: {v}" for k, v in body["errors"].items())
    return "; ".join(p for p in parts if p)[:300]


class _Client:
    name = ""

    def __init__(self, connection: TrackerConnection):
        self.connection = connection
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def _where(self) -> str:
        return self.connection.where

    def _call(self, method: str, path: str, *, json: dict | None = None, params: dict | None = None) -> dict:
        try:
            response = self.session.request(
                method,
                self.connection.api_url + path,
                json=json,
                params=params,
                timeout=settings.OPSLOG_TRACKER_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise TrackerError(f"{self.name} did not answer ({type(exc).__name__})", retryable=True) from exc
        if 200 <= response.status_code < 300:
            try:
                body = response.json()
            except ValueError:
                return {}
            return body if isinstance(body, dict) else {"items": body}
        raise self._error(response)

    def _error(self, response: requests.Response) -> TrackerError:
        status = response.status_code
        theirs = _their_message(response)
        detail = f": {theirs}" if theirs else ""
        check = " — check the connection in the admin"
        rate_limited = status == 429 or (status == 403 and response.headers.get("X-RateLimit-Remaining") == "0")
        if rate_limited:
            wait = _retry_after(response)
            return TrackerError(
                f"{self.name} is rate limiting Opslog ({status})"
                + (f", asking to wait {wait:.0f} s" if wait is not None else ""),
                status=status,
                retryable=True,
                retry_after=wait,
            )
        if status >= 500:
            return TrackerError(f"{self.name} had an error ({status}){detail}", status=status, retryable=True)
        if status == 401:
            return TrackerError(f"{self.name} refused the token ({status}){check}.", status=status)
        if status == 403:
            return TrackerError(f"{self.name} says the token may not do this ({status}){detail}{check}.", status=status)
        if status == 404:
            return TrackerError(
                f"{self.name} can't find {self._where()} or the issue ({status}), or the token can't see it{check}.",
                status=status,
            )
        if status == 410:
            return TrackerError(
                f"{self.name} says this is gone ({status}): issues may be turned off on {self._where()}.", status=status
            )
        if status in (400, 422):
            return TrackerError(f"{self.name} refused the issue ({status}){detail}{check}.", status=status)
        return TrackerError(f"{self.name} answered {status}{detail}.", status=status)


class GitHubClient(_Client):
    name = "GitHub"

    def __init__(self, connection: TrackerConnection):
        super().__init__(connection)
        self.session.headers["Authorization"] = f"Bearer {connection.token}"
        self.session.headers["Accept"] = "application/vnd.github+json"
        self.session.headers["X-GitHub-Api-Version"] = "2022-11-28"
        self.repo = connection.repository

    def create_issue(self, *, title: str, body: str, labels: list[str]) -> Issue:
        issue = self._call("POST", f"/repos/{self.repo}/issues", json={"title": title, "body": body, "labels": labels})
        return self._issue(issue)

    def find_marker(self, marker: str, *, since: dt.datetime | None = None) -> Issue | None:
        """The issue whose body carries `marker`, if one exists. First the repository's issues
        changed since `since` (the REST list is up to date at once), then the search API (its
        index can lag a minute behind, but reaches further back)."""
        if since is not None:
            recent = self._call(
                "GET",
                f"/repos/{self.repo}/issues",
                params={
                    "state": "all",
                    "sort": "created",
                    "direction": "desc",
                    "per_page": 100,
                    "since": since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )
            for item in recent.get("items") or []:
                if isinstance(item, dict) and marker in (item.get("body") or "") and "pull_request" not in item:
                    return self._issue(item)
        # The marker is one word of letters, digits and hyphens: quoted, it matches it exactly.
        found = self._call("GET", "/search/issues", params={"q": f'"{marker}" repo:{self.repo} is:issue in:body'})
        for item in found.get("items") or []:
            if isinstance(item, dict) and marker in (item.get("body") or ""):
                return self._issue(item)
        return None

    def get_issue(self, key: str) -> Issue:
        return self._issue(self._call("GET", f"/repos/{self.repo}/issues/{quote(key)}"))

    def _issue(self, issue: dict) -> Issue:
        number = issue.get("number")
        if not isinstance(number, int):
            raise TrackerError("GitHub's answer has no issue number.", retryable=True)
        url = issue.get("html_url") if isinstance(issue.get("html_url"), str) else ""
        return Issue(key=str(number), url=url, done=issue.get("state") == "closed" if "state" in issue else None)


class JiraClient(_Client):
    name = "Jira"

    def __init__(self, connection: TrackerConnection):
        super().__init__(connection)
        self.cloud = connection.flavour == TrackerConnection.Flavour.CLOUD
        self.api = "/rest/api/3" if self.cloud else "/rest/api/2"
        self.session.headers["Accept"] = "application/json"
        if self.cloud:
            pair = f"{connection.email}:{connection.token}".encode()
            self.session.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            self.session.headers["Authorization"] = f"Bearer {connection.token}"

    def _description(self, text: str) -> dict | str:
        if not self.cloud:
            return text
        # Atlassian Document Format: one paragraph per line, a link where a line is an address.
        content = []
        for line in text.splitlines():
            if not line.strip():
                continue
            if re.fullmatch(r"https?://\S+", line.strip()):
                node = {
                    "type": "text",
                    "text": line.strip(),
                    "marks": [{"type": "link", "attrs": {"href": line.strip()}}],
                }
            else:
                node = {"type": "text", "text": line}
            content.append({"type": "paragraph", "content": [node]})
        return {"type": "doc", "version": 1, "content": content}

    def create_issue(self, *, title: str, body: str, labels: list[str]) -> Issue:
        fields = {
            "project": {"key": self.connection.project_key},
            "summary": title,
            "issuetype": {"name": self.connection.issue_type},
            "labels": labels,
            "description": self._description(body),
        }
        created = self._call("POST", f"{self.api}/issue", json={"fields": fields})
        key = created.get("key")
        if not isinstance(key, str) or not key:
            raise TrackerError("Jira's answer has no issue key.", retryable=True)
        return Issue(key=key, url=self.browse_url(key))

    def find_marker(self, marker: str, *, since: dt.datetime | None = None) -> Issue | None:
        # The marker is also a label: JQL matches labels exactly, where text search is fuzzy.
        jql = f'project = "{self.connection.project_key}" AND labels = "{marker}"'
        path = f"{self.api}/search/jql" if self.cloud else f"{self.api}/search"
        found = self._call("GET", path, params={"jql": jql, "fields": "status", "maxResults": 1})
        for item in found.get("issues") or []:
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                return Issue(key=item["key"], url=self.browse_url(item["key"]))
        return None

    def get_issue(self, key: str) -> Issue:
        issue = self._call("GET", f"{self.api}/issue/{quote(key)}", params={"fields": "status"})
        real = issue.get("key") if isinstance(issue.get("key"), str) else key
        category = (((issue.get("fields") or {}).get("status") or {}).get("statusCategory") or {}).get("key")
        return Issue(key=real, url=self.browse_url(real), done=(category == "done") if category else None)

    def browse_url(self, key: str) -> str:
        return f"{self.connection.base_url.rstrip('/')}/browse/{key}"


def client_for(connection: TrackerConnection) -> GitHubClient | JiraClient:
    if connection.kind == TrackerConnection.Kind.GITHUB:
        return GitHubClient(connection)
    return JiraClient(connection)
