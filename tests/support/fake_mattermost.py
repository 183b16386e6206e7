"""A local fake of Mattermost's REST API v4 (and of a slash command's response_url), a small HTTP
server in the test process.

Opslog's own client is pointed at it (the server's URL), so the real HTTP code runs. Every call is
recorded and checked as Mattermost would: a known method and path, the bot's bearer token, the
fields each call needs (a post's channel_id and message; a PUT's id matching its path; a dialog's
trigger id, URL and a title within 24 characters; button actions with a type, a name and an
integration URL). A problem is kept in `problems`, which the fixture asserts empty.
`fail(route, status, body=None, headers=None)` queues an error answer, e.g.
`fail("POST /posts", 429, headers={"X-Ratelimit-Reset": "0"})`.
"""

import itertools
import json
import re
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

TOKEN = "test-mattermost-bot-token"
ROUTES = {
    ("POST", re.compile(r"^/api/v4/posts$")): "POST /posts",
    ("PUT", re.compile(r"^/api/v4/posts/([a-z0-9]+)$")): "PUT /posts/{id}",
    ("POST", re.compile(r"^/api/v4/posts/ephemeral$")): "POST /posts/ephemeral",
    ("GET", re.compile(r"^/api/v4/users/([a-z0-9]+)$")): "GET /users/{id}",
    ("POST", re.compile(r"^/api/v4/actions/dialogs/open$")): "POST /actions/dialogs/open",
}
MESSAGE_MAX = 16383


class FakeMattermost:
    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.responses: list[dict] = []  # what was sent to response_url
        self.problems: list[str] = []
        self.users: dict[str, dict] = {}  # user id → {"email":…, "username":…}
        self.posts: dict[str, dict] = {}  # post id → the post as last written
        self._failures: dict[str, list[tuple[int, dict, dict]]] = defaultdict(list)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def response_url(self, name: str = "r") -> str:
        # Mattermost's own shape: {site}/hooks/commands/{id}.
        return f"{self.url}/hooks/commands/{name}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def add_user(self, user_id: str, *, email: str, username: str = "") -> None:
        self.users[user_id] = {"email": email, "username": username or user_id}

    def fail(self, route: str, status: int, body: dict | None = None, headers: dict | None = None, times: int = 1):
        body = body or {"id": "api.error", "message": f"fake error {status}", "status_code": status}
        for _ in range(times):
            self._failures[route].append((status, body, headers or {}))

    def called(self, route: str) -> list[dict]:
        return [args for name, args in self.calls if name == route]

    # --- checks ---------------------------------------------------------------------------------

    def _check(self, route: str, args: dict, match) -> None:
        if route in ("POST /posts", "PUT /posts/{id}"):
            if route == "POST /posts" and not args.get("channel_id"):
                self.problems.append(f"{route}: no channel_id")
            if route == "PUT /posts/{id}" and args.get("id") != match.group(1):
                self.problems.append(f"{route}: body id {args.get('id')!r} isn't the path's {match.group(1)!r}")
            if not args.get("message") or len(args["message"]) > MESSAGE_MAX:
                self.problems.append(f"{route}: message missing or over {MESSAGE_MAX} characters")
            for attachment in (args.get("props") or {}).get("attachments") or []:
                for action in attachment.get("actions") or []:
                    integration = action.get("integration") or {}
                    if action.get("type") not in ("button", "select") or not action.get("name"):
                        self.problems.append(f"{route}: an action without type or name: {action}")
                    if not str(integration.get("url", "")).startswith(("http://", "https://")):
                        self.problems.append(f"{route}: an action without an absolute integration URL")
        if route == "POST /posts/ephemeral":
            post = args.get("post") or {}
            if not args.get("user_id") or not post.get("channel_id") or not post.get("message"):
                self.problems.append(f"{route}: needs user_id, post.channel_id and post.message: {args}")
        if route == "POST /actions/dialogs/open":
            dialog = args.get("dialog") or {}
            if not args.get("trigger_id") or not str(args.get("url", "")).startswith(("http://", "https://")):
                self.problems.append(f"{route}: needs a trigger_id and an absolute url")
            if not dialog.get("title") or len(dialog["title"]) > 24:
                self.problems.append(f"{route}: a dialog's title is 1 to 24 characters")
            for element in dialog.get("elements") or []:
                if len(element.get("display_name", "")) > 24 or element.get("type") not in (
                    "text",
                    "textarea",
                    "select",
                    "bool",
                    "radio",
                ):
                    self.problems.append(f"{route}: element {element.get('name')} isn't valid")

    def _answer(self, method: str, path: str, args: dict, token: str) -> tuple[int, dict, dict]:
        route, match = None, None
        for (verb, pattern), name in ROUTES.items():
            found = pattern.match(path)
            if verb == method and found:
                route, match = name, found
                break
        with self._lock:
            self.calls.append((route or f"{method} {path}", args))
            if route is None:
                self.problems.append(f"unexpected call {method} {path}")
                return 404, {"id": "api.context.404.app_error", "status_code": 404}, {}
            if token != TOKEN:
                self.problems.append(f"{route}: token {token!r}")
                return 401, {"id": "api.context.session_expired.app_error", "status_code": 401}, {}
            self._check(route, args, match)
            if self._failures[route]:
                return self._failures[route].pop(0)
            if route == "POST /posts":
                post_id = f"post{next(self._ids):022d}"
                self.posts[post_id] = {**args, "id": post_id}
                return 201, self.posts[post_id], {}
            if route == "PUT /posts/{id}":
                if match.group(1) not in self.posts:
                    return 404, {"id": "app.post.get.app_error", "status_code": 404}, {}
                self.posts[match.group(1)] = dict(args)
                return 200, args, {}
            if route == "POST /posts/ephemeral":
                return 201, {"id": f"eph{next(self._ids):023d}", **(args.get("post") or {})}, {}
            if route == "GET /users/{id}":
                user = self.users.get(match.group(1))
                if user is None:
                    return 404, {"id": "app.user.missing_account.const", "status_code": 404}, {}
                return 200, {"id": match.group(1), **user}, {}
            return 200, {"status": "OK"}, {}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict, headers: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self):
                path = urlparse(self.path).path
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                args = json.loads(raw) if raw else {}
                if path.startswith("/hooks/commands/"):
                    with fake._lock:
                        fake.responses.append(args)
                    self._send(200, {}, {})
                    return
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                status, body, headers = fake._answer(self.command, path, args, token)
                self._send(status, body, headers)

            do_GET = do_POST = do_PUT = _handle

        return Handler
