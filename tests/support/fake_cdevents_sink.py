"""A local CDEvents sink: a small HTTP server in the test process that receives binary-mode
CloudEvents as a CDEvents receiver would (the CloudEvents SDK's from_http reads each one).

Every request is kept in `requests`; each event the sink accepted (2xx) in `events`, in arrival
order. `fail(status, times=1, retry_after=None)` queues failing answers (500, 429 with a
Retry-After…); `hang(seconds, times=1)` makes the next answers come late (a timeout for a client
waiting less, answered 504 and not taken); `redirect(location)` answers the next one with a 302. A request that is not a
well-formed binary CloudEvent is kept in `problems`, which the fixture asserts empty.
"""

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cloudevents.http import from_http


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int


class FakeCDEventsSink:
    def __init__(self):
        self.requests: list[Received] = []
        self.events: list[dict] = []  # accepted CloudEvents: {"id", "type", "source", "data", "headers"}
        self.problems: list[str] = []
        self._answers: deque = deque()  # ("status", code, retry_after) | ("hang", seconds) | ("redirect", url)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/events"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def fail(self, status: int = 500, *, times: int = 1, retry_after: str | None = None) -> None:
        for _ in range(times):
            self._answers.append(("status", status, retry_after))

    def hang(self, seconds: float, *, times: int = 1) -> None:
        for _ in range(times):
            self._answers.append(("hang", seconds, None))

    def redirect(self, location: str) -> None:
        self._answers.append(("redirect", location, None))

    def ids(self) -> list[str]:
        return [event["id"] for event in self.events]

    def _handler(self):
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                received = Received(headers, body, 0)
                with sink._lock:
                    # Kept in the order they arrive, answered or not.
                    sink.requests.append(received)
                    answer = sink._answers.popleft() if sink._answers else ("status", 202, None)
                if answer[0] == "hang":
                    # Late, then a failure: the client gave up waiting, so this one is not taken.
                    time.sleep(answer[1])
                    answer = ("status", 504, None)
                if answer[0] == "redirect":
                    received.status = 302
                    self.send_response(302)
                    self.send_header("Location", answer[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, retry_after = answer[1], answer[2]
                received.status = status
                if 200 <= status < 300:
                    with sink._lock:
                        sink._accept(headers, body)
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler

    def _accept(self, headers: dict[str, str], body: bytes) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        for name in ("ce-specversion", "ce-id", "ce-type", "ce-source"):
            if name not in lower:
                self.problems.append(f"no {name} header: not a binary-mode CloudEvent")
                return
        try:
            event = from_http(headers, body)
        except Exception as exc:
            self.problems.append(f"not a CloudEvent: {exc}")
            return
        data = event.data if isinstance(event.data, dict) else json.loads(body)
        self.events.append(
            {
                "id": event["id"],
                "type": event["type"],
                "source": event["source"],
                "data": data,
                "headers": lower,
                "body": body,
            }
        )
