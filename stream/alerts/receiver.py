"""A small webhook receiver: keeps every POST, checks its signature, answers as told.

For trying the alert service locally and for the tests (a real HTTP server on a real port)::

    GMV_WEBHOOK_SECRET=s3cret python -m stream.alerts.receiver --port 9999
    # then in the alerts config:  [[webhooks]]  name = "local"  url = "http://127.0.0.1:9999/hook"

Each alert is printed as one line, with whether its ``X-Signature`` verified.

Two guards a real receiver would keep too: a page whose ``X-Gmv-Fencing-Token`` is older than the
newest token seen comes from an alert leader that has been replaced, and is refused (409, kept in
``fenced``); and a page whose ``X-Gmv-Alert`` key was already taken is a redelivery (the service
sends at least once: a leader killed after the POST and before recording it), answered 200 and
left out of :meth:`Receiver.unique`.
"""
from __future__ import annotations

import argparse
import json
import os
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from stream.alerts.payload import EVENT_HEADER, SECRET_ENV, SIGNATURE_HEADER, TOKEN_HEADER, verify

if TYPE_CHECKING:
    from typing_extensions import Self


@dataclass(frozen=True)
class Received:
    at: float  # time.time() when the body had been read
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """``with Receiver() as r:`` an HTTP server on a free port of 127.0.0.1, in a thread.

    ``statuses``: the status codes to answer, in order (the last one repeats); default 200.
    """

    def __init__(self, statuses: list[int] | None = None, port: int = 0) -> None:
        self.statuses = list(statuses or [200])
        self.received: list[Received] = []  # every POST answered 2xx, repeats included
        self.answered: list[int] = []
        self.fenced: list[Received] = []  # refused: a fencing token older than newest_token
        self.newest_token: int | None = None
        self._gate: threading.Event | None = None  # hold_next(): the next POST's answer waits for it
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def hold_next(self) -> threading.Event:
        """The next POST is taken (kept in ``received``) but answered only once the returned
        event is set: a delivery in flight, for a test to kill its sender meanwhile."""
        with self._lock:
            self._gate = threading.Event()
            return self._gate

    def unique(self) -> list[Received]:
        """The first POST of each ``X-Gmv-Alert`` key: what a receiver that drops repeats acts on."""
        seen: dict[str, Received] = {}
        for item in list(self.received):  # a copy: also called from a wait() condition, under the lock
            seen.setdefault(item.headers.get(EVENT_HEADER, str(id(item))), item)
        return list(seen.values())

    def _stale(self, token: str | None) -> bool:
        """Whether ``token`` comes from a replaced leader; else remember it (call under the lock)."""
        if token is None:
            return False
        if self.newest_token is not None and int(token) < self.newest_token:
            return True
        self.newest_token = int(token)
        return False

    def wait(self, condition, timeout: float) -> bool:
        """Wait until ``condition(received)`` is true; False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(list(self.received)):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                item = Received(time.time(), self.path, dict(self.headers.items()), body)
                gate = None
                with receiver._changed:
                    if receiver._stale(self.headers.get(TOKEN_HEADER)):
                        status = 409
                        receiver.fenced.append(item)
                    else:
                        status = receiver.statuses[min(len(receiver.answered), len(receiver.statuses) - 1)]
                        receiver.answered.append(status)
                        if 200 <= status < 300:
                            receiver.received.append(item)
                            gate, receiver._gate = receiver._gate, None
                    receiver._changed.notify_all()
                if gate is not None:
                    gate.wait(60)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender is gone (killed with its delivery in flight): it never hears the answer

            def log_message(self, *args) -> None:  # quiet: the caller prints what it wants
                pass

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the alerts POSTed to http://127.0.0.1:PORT/…")
    parser.add_argument("--port", type=int, default=9999)
    port = parser.parse_args().port
    secret = os.environ.get(SECRET_ENV, "")
    with Receiver(port=port) as receiver:
        print(f"listening on {receiver.url} (signatures {'checked' if secret else 'not checked: no secret'})")
        seen = 0
        try:
            while True:
                receiver.wait(lambda got, n=seen: len(got) > n, 3600)
                for item in receiver.received[seen:]:
                    signed = verify(item.body, secret, item.headers.get(SIGNATURE_HEADER)) if secret else None
                    print(f"{'signature ok' if signed else 'UNSIGNED' if signed is None else 'BAD SIGNATURE'}: "
                          f"{item.json().get('text', item.body[:200])}", flush=True)
                seen = len(receiver.received)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
