"""Webhook delivery: HTTP POST (``urllib.request``) with a timeout, retries with exponential
backoff, and a log line for every attempt that fails and for the outcome.

Each webhook has its own worker thread and queue, so a receiver that is down delays only
its own deliveries, and each receiver gets one rule's alerts in the order they happened.
When every webhook an alert went to is done, ``on_done(alert, delivery, attempts)`` is
called with ``delivered`` (all took it) or ``failed`` and the attempts made in all. What is
delivered is anything with a ``label`` for the logs: an alert (``pipeline-stall firing``) or a
milestone's announcement (``milestone ¥1亿``), each with its own ``on_done``.

Retried: network errors, timeouts, HTTP 5xx, 408 and 429. Any other status (a 4xx, or a
redirect, which is not followed) fails at once: trying again would not help.

With a standby (:mod:`stream.alerts.lease`), the dispatcher is given the service's ``fence``:
each attempt is made only while ``fence.holding()`` (asked of ZooKeeper) and carries
``X-Gmv-Fencing-Token: fence.token``; a receiver answering 409 to that token has heard from a
newer leader. Either way the item is *fenced*: not sent, not recorded (it stays pending, and the
leader that replaced this one delivers what is pending). Logs name a
webhook by its name and host only; the URL's path (often a token) and the secret never
appear.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from stream.alerts.config import Webhook
from stream.alerts.payload import TOKEN_HEADER

log = logging.getLogger("gmv.alerts.delivery")

DELIVERED, FAILED, PENDING, NONE = "delivered", "failed", "pending", "none"
FENCED = "fenced"  # not sent: this service no longer holds the alert lease
STALE_TOKEN_STATUS = 409  # what a receiver answers to a fencing token older than one it has seen
RETRY_STATUSES = frozenset({408, 429})


class Deliverable(Protocol):
    """What is POSTed: an alert or a milestone; logs name it by its label."""

    @property
    def label(self) -> str: ...


OnDone = Callable[[Deliverable, str, int], None]  # (item, delivered | failed, attempts in all)


class Fence(Protocol):
    """The alert lease as delivery sees it (:class:`stream.alerts.lease.Lease`)."""

    token: int

    def holding(self) -> bool: ...


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    attempts: int
    detail: str  # "HTTP 200", "connection refused", ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib would turn the POST into a GET: report the 3xx instead


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST ``body``; the HTTP status (raises ``urllib.error.HTTPError`` for >= 300, ``OSError``
    for network errors and timeouts)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with _OPENER.open(request, timeout=timeout) as response:
        response.read(64 * 1024)
        return response.status


def _attempt(hook: Webhook, body: bytes, headers: dict[str, str]) -> tuple[bool, bool, str]:
    """One try: (delivered, worth retrying, detail)."""
    try:
        status = post(hook.url, body, headers, hook.timeout_seconds)
    except urllib.error.HTTPError as exc:
        if exc.code == STALE_TOKEN_STATUS and TOKEN_HEADER in headers:
            return False, False, FENCED
        return False, exc.code >= 500 or exc.code in RETRY_STATUSES, f"HTTP {exc.code}"
    except urllib.error.URLError as exc:
        return False, True, _reason(exc.reason)
    except (OSError, ValueError) as exc:  # timeouts, resets; ValueError: a malformed response
        return False, True, _reason(exc)
    return (True, False, f"HTTP {status}") if 200 <= status < 300 else (False, False, f"HTTP {status}")


def _reason(exc: object) -> str:
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return "timed out"
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).splitlines()[0][:200].lower() or type(exc).__name__


def backoff(hook: Webhook, attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): 1, 2, 4, ... x backoff."""
    return min(hook.backoff_seconds * 2 ** (attempt - 1), hook.max_backoff_seconds)


def deliver(hook: Webhook, item: Deliverable, body: bytes, headers: dict[str, str],
            stop: threading.Event | None = None, fence: Fence | None = None) -> Outcome:
    """POST to ``hook`` until it takes it, a try fails for good, or ``hook.attempts`` are spent;
    with a ``fence``, each try only while it holds (else the outcome is ``fenced``)."""
    stop = stop or threading.Event()
    what = f"webhook {hook.name} ({hook.where}): {item.label}"
    if fence is not None:
        headers = {**headers, TOKEN_HEADER: str(fence.token)}
    for attempt in range(1, hook.attempts + 1):
        if fence is not None and not fence.holding():
            log.warning("%s not sent: this service no longer holds the alert lease (token %d)", what, fence.token)
            return Outcome(False, attempt - 1, FENCED)
        began = time.monotonic()
        delivered, retry, detail = _attempt(hook, body, headers)
        took = (time.monotonic() - began) * 1000
        if delivered:
            log.info("%s delivered (%s, attempt %d/%d, %.0f ms)", what, detail, attempt, hook.attempts, took)
            return Outcome(True, attempt, detail)
        if detail == FENCED:
            log.warning("%s refused: the receiver has heard from a newer leader than token %d", what,
                        fence.token if fence else 0)
            return Outcome(False, attempt, FENCED)
        if not retry or attempt == hook.attempts:
            log.error("%s FAILED after %d attempt%s (%s)", what, attempt, "s" * (attempt > 1), detail)
            return Outcome(False, attempt, detail)
        wait = backoff(hook, attempt)
        log.warning("%s attempt %d/%d failed (%s); retrying in %.1f s", what, attempt, hook.attempts,
                    detail, wait)
        if stop.wait(wait):
            log.warning("%s left pending: the service is stopping", what)
            return Outcome(False, attempt, "stopped")
    raise AssertionError("unreachable")


@dataclass
class _Job:
    item: Deliverable
    body: bytes
    headers: dict[str, str]
    waiting: int  # webhooks not done yet
    on_done: OnDone
    delivered: bool = True
    attempts: int = 0
    stopped: bool = False


class Dispatcher:
    """One worker thread per webhook; ``submit`` queues an alert (or a milestone) for the webhooks
    it goes to; ``on_done`` is called when they are all done (or the one given to ``submit``)."""

    def __init__(self, hooks: tuple[Webhook, ...], on_done: OnDone, fence: Fence | None = None) -> None:
        self.on_done = on_done
        self.fence = fence
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._queues: dict[str, queue.Queue] = {hook.name: queue.Queue() for hook in hooks}
        self._hooks = {hook.name: hook for hook in hooks}
        self._threads = [threading.Thread(target=self._work, args=(hook,), name=f"webhook-{hook.name}",
                                          daemon=True) for hook in hooks]
        self._busy = 0

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, item: Deliverable, body: bytes, headers: dict[str, str], hooks: tuple[Webhook, ...],
               on_done: OnDone | None = None) -> None:
        job = _Job(item, body, headers, waiting=len(hooks), on_done=on_done or self.on_done)
        with self._lock:
            self._busy += len(hooks)
        for hook in hooks:
            self._queues[hook.name].put(job)

    def idle(self) -> bool:
        """Nothing queued or being delivered."""
        with self._lock:
            return self._busy == 0

    def close(self, timeout: float = 5.0) -> None:
        """Stop: deliveries in progress end after their current attempt; queued ones stay pending."""
        self.stop_event.set()
        for q in self._queues.values():
            q.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _work(self, hook: Webhook) -> None:
        jobs = self._queues[hook.name]
        while True:
            job = jobs.get()
            if job is None or self.stop_event.is_set():
                return
            try:
                outcome = deliver(hook, job.item, job.body, job.headers, self.stop_event, self.fence)
            except Exception as exc:  # a bug must not kill the worker: count it as a failed delivery
                log.exception("webhook %s: delivery crashed", hook.name)
                outcome = Outcome(False, 1, type(exc).__name__)
            self._finish(job, outcome)

    def _finish(self, job: _Job, outcome: Outcome) -> None:
        with self._lock:
            job.waiting -= 1
            job.attempts += outcome.attempts
            job.delivered &= outcome.delivered
            job.stopped |= outcome.detail in ("stopped", FENCED)  # left pending: not recorded
            done = job.waiting == 0
        if done and not job.stopped:
            try:
                job.on_done(job.item, DELIVERED if job.delivered else FAILED, job.attempts)
            except Exception:
                log.exception("recording the delivery of %s failed", job.item.label)
        with self._lock:
            self._busy -= 1
