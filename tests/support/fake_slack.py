"""A local fake of Slack's Web API (and of response_url), a small HTTP server in the test process.

slack-sdk's own WebClient is pointed at it (OPSLOG_SLACK_API_URL), so the real client code runs.
Every call is recorded and checked as Slack would: the bot token, a known method, a channel where
the method needs one, and messages within Block Kit's limits (50 blocks; 3,000 characters of a
section's text, 2,000 a field, 150 a header). A problem is kept in `problems`, which the fixture
asserts empty. `fail(method, error, status=200, retry_after=None)` queues an error answer, e.g.
`fail("chat.postMessage", "ratelimited", status=429, retry_after=0)`.
"""

import json
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

TOKEN = "xoxb-test-bot-token"
NEEDS_CHANNEL = {
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "conversations.invite",
    "conversations.history",
    "conversations.replies",
}
METHODS = NEEDS_CHANNEL | {"users.info", "views.open", "conversations.create"}


class FakeSlack:
    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.responses: list[dict] = []  # what was sent to response_url
        self.problems: list[str] = []
        self.users: dict[str, dict] = {}  # Slack user id → {"email":…, "name":…}
        self.messages: dict[tuple[str, str], dict] = {}  # (channel, ts) → message
        self._failures: dict[str, list[tuple[str, int, int | None]]] = defaultdict(list)
        self._ts = 1_700_000_000
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "r") -> str:
        return f"{self.url}/response/{name}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def add_user(self, slack_id: str, *, email: str, name: str = "") -> None:
        self.users[slack_id] = {"email": email, "name": name or slack_id}

    def add_message(self, channel: str, ts: str, *, user: str, text: str) -> None:
        self.messages[(channel, ts)] = {"type": "message", "user": user, "text": text, "ts": ts}

    def fail(self, method: str, error: str, *, status: int = 200, retry_after: int | None = None, times: int = 1):
        for _ in range(times):
            self._failures[method].append((error, status, retry_after))

    def called(self, method: str) -> list[dict]:
        return [args for name, args in self.calls if name == method]

    # --- checks ---------------------------------------------------------------------------------

    def _check_blocks(self, method: str, blocks) -> None:
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if len(blocks) > 50:
            self.problems.append(f"{method}: {len(blocks)} blocks (Slack takes 50)")
        for block in blocks:
            text = (block.get("text") or {}).get("text", "")
            limit = 150 if block.get("type") == "header" else 3000
            if len(text) > limit:
                self.problems.append(f"{method}: a {block.get('type')} block's text is {len(text)} characters")
            for field in block.get("fields") or []:
                if len(field.get("text", "")) > 2000:
                    self.problems.append(f"{method}: a field is {len(field['text'])} characters")
            if block.get("type") == "actions" and len(block.get("elements") or []) > 25:
                self.problems.append(f"{method}: an actions block has over 25 elements")

    def _answer(self, method: str, args: dict, token: str) -> tuple[int, dict, dict]:
        with self._lock:
            self.calls.append((method, args))
            if method not in METHODS:
                self.problems.append(f"unexpected method {method}")
            if token != TOKEN:
                self.problems.append(f"{method}: token {token!r}")
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            if method in NEEDS_CHANNEL and not args.get("channel"):
                self.problems.append(f"{method}: no channel")
            if "blocks" in args:
                self._check_blocks(method, args["blocks"])
            if method in ("chat.postMessage", "chat.update") and not args.get("text"):
                self.problems.append(f"{method}: no fallback text")
            if self._failures[method]:
                error, status, retry_after = self._failures[method].pop(0)
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                return status, {"ok": False, "error": error}, headers
            self._ts += 1
            ts = f"{self._ts}.000100"
        if method == "chat.postMessage":
            return 200, {"ok": True, "channel": args["channel"], "ts": ts, "message": {"text": args.get("text")}}, {}
        if method == "chat.update":
            return 200, {"ok": True, "channel": args["channel"], "ts": args.get("ts")}, {}
        if method == "users.info":
            user = self.users.get(args.get("user", ""))
            if user is None:
                return 200, {"ok": False, "error": "user_not_found"}, {}
            profile = {"email": user["email"], "real_name": user["name"], "display_name": user["name"]}
            return 200, {"ok": True, "user": {"id": args["user"], "name": user["name"], "profile": profile}}, {}
        if method == "conversations.create":
            return 200, {"ok": True, "channel": {"id": f"C{self._ts}", "name": args.get("name")}}, {}
        if method in ("conversations.history", "conversations.replies"):
            found = self.messages.get((args.get("channel", ""), args.get("latest") or args.get("ts", "")))
            return 200, {"ok": True, "messages": [found] if found else []}, {}
        return 200, {"ok": True}, {}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _args(self) -> dict:
                url = urlparse(self.path)
                args = dict(parse_qsl(url.query))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if raw:
                    if "json" in (self.headers.get("Content-Type") or ""):
                        args.update(json.loads(raw))
                    else:
                        args.update(dict(parse_qsl(raw.decode())))
                return args

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
                args = self._args()
                if path.startswith("/response/"):
                    with fake._lock:
                        fake.responses.append(args)
                    self._send(200, {"ok": True}, {})
                    return
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ") or args.get("token", "")
                status, body, headers = fake._answer(path.removeprefix("/api/"), args, token)
                self._send(status, body, headers)

            do_GET = do_POST = _handle

        return Handler
