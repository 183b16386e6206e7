"""A local fake of the GitHub REST API (issues, search) and of Jira's (Cloud REST v3, Server / Data
Center REST v2), a small HTTP server in the test process.

Opslog's own client is pointed at it (the connection's base URL), so the real HTTP code runs. Every
call is recorded and checked as the tracker would: a known method and path, the connection's
credentials in the right scheme (GitHub: a bearer token; Jira Cloud: basic auth with e-mail and API
token; Server / DC: a bearer PAT), the fields each call needs (GitHub: a title, labels as strings;
Jira: project key, summary, issue type, labels without spaces, and the description as an ADF
document on v3, plain text on v2). A problem is kept in `problems`, which the fixture asserts empty.

`fail(route, status, headers=None, times=1)` queues an error answer, e.g.
`fail("POST issue", 429, headers={"Retry-After": "7"})`; `lose(route)` makes the next call do its
work and then drop the connection without answering (a lost response).
"""

import base64
import itertools
import json
import re
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

GITHUB_TOKEN = "github_pat_test_token"
JIRA_EMAIL = "opslog@example.com"
JIRA_TOKEN = "jira-api-token"
JIRA_PAT = "jira-personal-access-token"
REPO = "acme/web"
PROJECT = "OPS"


class FakeTrackers:
    def __init__(self):
        self.calls: list[tuple[str, dict]] = []  # (route, {"body":…, "query":…, "auth":…, "path":…})
        self.problems: list[str] = []
        self.github_issues: dict[int, dict] = {}
        self.jira_issues: dict[str, dict] = {}
        # True: the REST list of issues answers nothing (as if the issue were older than `since`),
        # so only the search API can find a marker.
        self.search_only = False
        self._failures: dict[str, list[tuple[int, dict]]] = defaultdict(list)
        self._lost: dict[str, int] = defaultdict(int)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def fail(self, route: str, status: int, headers: dict | None = None, times: int = 1) -> None:
        for _ in range(times):
            self._failures[route].append((status, headers or {}))

    def lose(self, route: str, times: int = 1) -> None:
        self._lost[route] += times

    def called(self, route: str) -> list[dict]:
        return [args for name, args in self.calls if name == route]

    # --- routing and checks -----------------------------------------------------------------------

    def _route(self, method: str, path: str) -> tuple[str, str]:
        """(route, api): api is "github", "jira3" or "jira2"."""
        if method == "POST" and path == f"/repos/{REPO}/issues":
            return "POST issue", "github"
        if method == "GET" and path == f"/repos/{REPO}/issues":
            return "GET list", "github"
        if method == "GET" and re.fullmatch(rf"/repos/{REPO}/issues/\d+", path):
            return "GET issue", "github"
        if method == "GET" and path == "/search/issues":
            return "GET search", "github"
        found = re.fullmatch(r"/rest/api/([23])/(issue|search|search/jql|issue/[A-Z][A-Z0-9]*-\d+)", path)
        if found:
            api = f"jira{found.group(1)}"
            what = found.group(2)
            if method == "POST" and what == "issue":
                return "POST issue", api
            if method == "GET" and what.startswith("issue/"):
                return "GET issue", api
            if method == "GET" and what == ("search/jql" if api == "jira3" else "search"):
                return "GET search", api
        return f"{method} {path}", ""

    def _check_auth(self, api: str, auth: str) -> bool:
        if api == "github":
            return auth == f"Bearer {GITHUB_TOKEN}"
        if api == "jira3":
            return auth == "Basic " + base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode()
        return auth == f"Bearer {JIRA_PAT}"

    def _check_create(self, api: str, body: dict) -> None:
        if api == "github":
            if not isinstance(body.get("title"), str) or not body["title"].strip() or len(body["title"]) > 256:
                self.problems.append(f"github create: a bad title {body.get('title')!r}")
            if not all(isinstance(label, str) and label for label in body.get("labels", [])):
                self.problems.append(f"github create: labels must be strings: {body.get('labels')}")
            if not isinstance(body.get("body"), str):
                self.problems.append("github create: the body must be a string")
            return
        fields = body.get("fields") or {}
        if (fields.get("project") or {}).get("key") != PROJECT:
            self.problems.append(f"jira create: project {fields.get('project')}")
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip() or len(summary) > 255 or "\n" in summary:
            self.problems.append(f"jira create: a bad summary {summary!r}")
        if not (fields.get("issuetype") or {}).get("name"):
            self.problems.append("jira create: no issuetype.name")
        if any(not isinstance(label, str) or " " in label for label in fields.get("labels", [])):
            self.problems.append(f"jira create: labels can't hold spaces: {fields.get('labels')}")
        description = fields.get("description")
        if api == "jira3":
            ok = isinstance(description, dict) and description.get("type") == "doc" and description.get("version") == 1
            ok = ok and all(node.get("type") == "paragraph" for node in description.get("content", []))
            if not ok:
                self.problems.append(f"jira v3 create: the description must be an ADF document: {description!r}"[:300])
        elif not isinstance(description, str):
            self.problems.append("jira v2 create: the description must be plain text")

    def _answer(self, method: str, path: str, query: dict, body: dict, auth: str) -> tuple[int, dict, dict, bool]:
        route, api = self._route(method, path)
        with self._lock:
            self.calls.append((route, {"body": body, "query": query, "auth": auth, "path": path, "api": api}))
            if not api:
                self.problems.append(f"unexpected call {method} {path}")
                return 404, {"message": "Not Found"}, {}, False
            if not self._check_auth(api, auth):
                return 401, {"message": "Bad credentials"}, {}, False
            if self._failures[route]:
                status, headers = self._failures[route].pop(0)
                if api == "github":
                    answer = {"message": f"fake error {status}", "documentation_url": "https://docs.github.com/rest"}
                else:
                    answer = {"errorMessages": [f"fake {status}"], "errors": {}}
                return status, answer, headers, False
            lost = self._lost[route] > 0
            if lost:
                self._lost[route] -= 1
            if route == "POST issue":
                self._check_create(api, body)
                if api == "github":
                    number = next(self._numbers)
                    issue = {
                        "number": number,
                        "html_url": f"https://github.example/{REPO}/issues/{number}",
                        "state": "open",
                        **body,
                    }
                    self.github_issues[number] = issue
                    return 201, issue, {}, lost
                key = f"{PROJECT}-{next(self._numbers)}"
                self.jira_issues[key] = {
                    "key": key,
                    "id": str(10000 + len(self.jira_issues)),
                    "fields": body.get("fields", {}),
                }
                return (
                    201,
                    {"id": self.jira_issues[key]["id"], "key": key, "self": f"{self.url}/rest/api/x/issue/{key}"},
                    {},
                    lost,
                )
            if route == "GET list":
                # The REST list: up to date at once (unless `search_only`), newest first.
                if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", (query.get("since") or [""])[0]):
                    self.problems.append(f"github list: since must be an ISO 8601 UTC time: {query.get('since')}")
                if (query.get("state") or [""])[0] != "all":
                    self.problems.append("github list: state=all, or a closed duplicate is missed")
                items = [] if self.search_only else sorted(self.github_issues.values(), key=lambda i: -i["number"])
                return 200, items, {}, False
            if route == "GET search":
                if api == "github":
                    q = (query.get("q") or [""])[0]
                    found = re.search(r'"([^"]+)"', q)
                    if f"repo:{REPO}" not in q or not found:
                        self.problems.append(f"github search: a query without the repo or a quoted marker: {q}")
                    items = [i for i in self.github_issues.values() if found and found.group(1) in i.get("body", "")]
                    return 200, {"total_count": len(items), "incomplete_results": False, "items": items}, {}, False
                jql = (query.get("jql") or [""])[0]
                found = re.search(r'labels = "([^"]+)"', jql)
                if f'project = "{PROJECT}"' not in jql or not found:
                    self.problems.append(f"jira search: unexpected JQL {jql}")
                issues = [
                    {"key": i["key"], "id": i["id"]}
                    for i in self.jira_issues.values()
                    if found and found.group(1) in i["fields"].get("labels", [])
                ]
                return 200, {"issues": issues}, {}, False
            if route == "GET issue":
                if api == "github":
                    number = int(path.rsplit("/", 1)[1])
                    if number not in self.github_issues:
                        return 404, {"message": "Not Found"}, {}, False
                    return 200, self.github_issues[number], {}, False
                key = path.rsplit("/", 1)[1]
                if key not in self.jira_issues:
                    return (
                        404,
                        {"errorMessages": ["Issue does not exist or you do not have permission to see it."]},
                        {},
                        False,
                    )
                issue = self.jira_issues[key]
                status = {"name": "To Do", "statusCategory": {"key": "new"}}
                return 200, {"key": key, "id": issue["id"], "fields": {"status": status}}, {}, False
        return 404, {}, {}, False

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str):
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    fake.problems.append(f"{method} {parsed.path}: the body is not JSON")
                    body = {}
                status, answer, headers, lost = fake._answer(
                    method, parsed.path, parse_qs(parsed.query), body, self.headers.get("Authorization", "")
                )
                if lost:
                    # The work is done; the answer never arrives.
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def log_message(self, *args):
                pass

        return Handler
