"""Injected faults: redeliveries, late events, malformed messages, and an outage window.

Choices are drawn from the run's fault random stream (separate from the one that
draws orders), so turning a fault on does not change which orders are generated.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from stream.errors import GmvError

DUPLICATE_WITHIN_MS = (500, 30_000)  # a redelivery follows its original within 30 s of stream time

ORDER_KINDS = ("not_json", "truncated_json", "missing_field", "float_money", "string_money",
               "negative_amount", "unknown_status")
LOGISTICS_KINDS = ("not_json", "truncated_json", "missing_field", "wrong_type", "unknown_status")
MONEY = ("list_fen", "discount_fen", "paid_fen")
# Fields an event may lack and still be valid (schemas/*.schema.json): a missing_field fault never drops them.
OPTIONAL = ("origin",)


@dataclass(frozen=True)
class Outage:
    """Orders drop by ``depth`` (0..1) from ``start_s`` for ``length_s`` seconds of the run."""

    start_s: float
    length_s: float
    depth: float = 0.9

    @classmethod
    def parse(cls, text: str, depth: float) -> Outage:
        """``START:LEN`` in seconds, e.g. ``30:10``."""
        try:
            start, length = (float(x) for x in text.split(":"))
        except ValueError:
            raise GmvError(f"--outage {text!r} is not START:LEN in seconds, e.g. 30:10.") from None
        if start < 0 or length <= 0:
            raise GmvError(f"--outage {text!r}: START must be >= 0 and LEN > 0.")
        if not 0 <= depth <= 1:
            raise GmvError(f"--outage-depth {depth} must be between 0 and 1.")
        return cls(start, length, depth)


@dataclass(frozen=True)
class Faults:
    """Shares of events to redeliver, to send late, and of messages that are malformed."""

    duplicates: float = 0.0
    late: float = 0.0
    late_by_s: float = 60.0
    malformed: float = 0.0
    outage: Outage | None = None

    def __post_init__(self) -> None:
        for name in ("duplicates", "late"):
            if not 0 <= getattr(self, name) <= 1:
                raise GmvError(f"--{name} {getattr(self, name)} must be a share between 0 and 1.")
        if not 0 <= self.malformed < 1:
            raise GmvError(f"--malformed {self.malformed} must be a share between 0 and 1 (not 1).")
        if self.late_by_s < 0:
            raise GmvError(f"--late-by {self.late_by_s} must be >= 0 seconds.")


def malformed_count(rng: np.random.Generator, valid: int, share: float) -> int:
    """How many malformed messages to add to ``valid`` ones so they make ``share`` of all."""
    if share <= 0 or valid == 0:
        return 0
    return int(rng.binomial(valid, min(1.0, share / (1.0 - share))))


def corrupt(kind: str, value: bytes, rng: np.random.Generator) -> bytes:
    """A message of the given malformed ``kind`` made from a valid event's JSON."""
    if kind == "not_json":
        return b"<html><body>503 Service Unavailable</body></html>" if rng.random() < 0.5 else \
            b"order_id=" + value[20:40].replace(b'"', b"") + b";status=paid"
    if kind == "truncated_json":
        return value[: int(len(value) * (0.2 + 0.6 * rng.random()))]
    event = json.loads(value)
    if kind == "missing_field":
        names = [name for name in event if name not in OPTIONAL]
        del event[names[int(rng.integers(len(names)))]]
    elif kind == "float_money":
        event["paid_fen"] = event["paid_fen"] + 0.5  # a fraction: not even an integral number
    elif kind == "string_money":
        event["paid_fen"] = f"{event['paid_fen'] / 100:.2f}"
    elif kind == "negative_amount":
        event[MONEY[int(rng.integers(len(MONEY)))]] = -1 - int(rng.integers(100_000))
    elif kind == "wrong_type":
        event["event_time"] = str(event["event_time"])
    elif kind == "unknown_status":
        event["status"] = "shipped" if "parcel_id" in event else "pending_payment"
    else:
        raise ValueError(kind)
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
