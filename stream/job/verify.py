"""``gmv verify``: compare the ClickHouse rollups with the simulator's ledger, exactly.

Both sides become ``{(kind, window, dims...): (measures...)}`` maps; every key of either side must
match to the fen (and every count: the buyers rollups too, whose new buyers per second add up to
each festival day's unique buyers). Rollups are read with FINAL and the late corrections
(``late = 1``) added in, as the dashboard reads them. Every rollup the ledger counts is compared,
each time tier of the explore path too, over the windows the run closed: a window is written when
the job's watermark passes its end, and the ledger's summary says until when the run's last
heartbeat moved it (``closed_until``). The top brands are compared as a reader takes them: each
ranking's first ``n`` rows by the contract's ``rank_key``, against the ledger's own ranking.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stream.contract import EXPLORE, MEASURES, ROLLUPS, TEXT

# ledger kind -> (table, dimension columns, counted columns): the rollups the ledger also counts
KINDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    name: (rollup.table, rollup.dimensions, tuple(c.name for c in rollup.values if c.kind != TEXT))
    for name, rollup in ROLLUPS.items() if rollup.in_ledger
}
# A run's last heartbeat moves event time this far past its newest event when its ledger does not
# say (stream.simulator.run.END_HEARTBEAT_AHEAD_MS, less the watermark delay).
DEFAULT_CLOSED_AFTER_S = 60

Totals = dict[tuple, tuple[int, ...]]


@dataclass(frozen=True)
class Difference:
    key: tuple
    expected: tuple[int, ...] | None
    actual: tuple[int, ...] | None

    def line(self) -> str:
        kind, window, *dims = self.key
        return f"{kind} window={window} {'/'.join(map(str, dims))}: ledger {self.expected} rollups {self.actual}"


def closed_until(summary: dict) -> int:
    """Epoch s by which every window the run wrote is closed (explore rows are written then)."""
    if summary.get("closed_until") is not None:
        return int(summary["closed_until"])
    last = summary.get("last_event_ms")
    return int(last) // 1000 + DEFAULT_CLOSED_AFTER_S if last else 0


def _closed(kind: str, window: int, until: int) -> bool:
    rollup = ROLLUPS[kind]
    return rollup.path != EXPLORE or window + rollup.window_s <= until


def ledger_totals(lines: Iterable[str]) -> tuple[Totals, dict]:
    """Totals per key from ledger JSON lines (every window), and the summary record."""
    totals: Totals = {}
    summary: dict = {}
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        kind = record["kind"]
        if kind == "summary":
            summary = record
        elif kind in KINDS:
            _, dims, measures = KINDS[kind]
            key = (kind, int(record["window"]), *(record[d] for d in dims))
            totals[key] = tuple(int(record[m]) for m in measures)
    return totals, summary


def rollup_totals(client, database: str) -> Totals:
    """The same totals from ClickHouse (on-time rows plus late corrections; FINAL), the top brands
    as a reader ranks them (:func:`top_rows`)."""
    totals: Totals = {}
    for kind, (table, dims, measures) in KINDS.items():
        dim_sql = "".join(f", {d}" for d in dims)
        sums = ", ".join(f"sum({m})" for m in measures)
        rows = client.execute(
            f"SELECT toUInt32(window_start){dim_sql}, {sums} FROM {database}.{table} FINAL "
            f"GROUP BY window_start{dim_sql}"
        )
        if ROLLUPS[kind].top is not None:
            rows = top_rows(kind, rows)
        for row in rows:
            values = tuple(int(v) for v in row[1 + len(dims):])
            if any(values):  # the ledger omits all-zero rows; a brand that left a ranking is one
                totals[(kind, int(row[0]), *row[1:1 + len(dims)])] = values
    return totals


def top_rows(kind: str, rows: list[tuple]) -> list[tuple]:
    """``(window, ranking, value, *measures)`` rows of a ranking rollup as a reader takes them: per
    window and ranking, the first ``top.n`` rows with a measure above 0 by ``top.rank_key``."""
    top = ROLLUPS[kind].top
    assert top is not None
    rankings: dict[tuple, list[tuple]] = {}
    for row in rows:
        if any(row[3:]):
            rankings.setdefault((row[0], row[1]), []).append(row)
    out = []
    for ranked in rankings.values():
        ranked.sort(key=lambda r: top.rank_key(r[2], dict(zip(MEASURES, r[3:]))))
        out += ranked[:top.n]
    return out


def rejected_totals(client, database: str) -> dict[str, int]:
    rows = client.execute(
        f"SELECT source, sum(events) FROM {database}.{ROLLUPS['pipeline_events'].table} FINAL "
        "WHERE kind = 'rejected' GROUP BY source"
    )
    return {source: int(n) for source, n in rows}


def compare(expected: Totals, actual: Totals) -> list[Difference]:
    keys = sorted(set(expected) | set(actual), key=lambda k: tuple(map(str, k)))
    return [Difference(k, expected.get(k), actual.get(k)) for k in keys if expected.get(k) != actual.get(k)]


def verify(client, database: str, ledger_path: Path) -> tuple[list[Difference], dict]:
    """Differences between ledger and rollups (empty = exact), and a small report."""
    with open(ledger_path) as f:
        expected, summary = ledger_totals(f)
    until = closed_until(summary)
    expected = {k: v for k, v in expected.items() if _closed(k[0], k[1], until)}
    actual = {k: v for k, v in rollup_totals(client, database).items() if _closed(k[0], k[1], until)}
    differences = compare(expected, actual)
    malformed = summary.get("malformed_sent", {})
    rejected = rejected_totals(client, database)
    for source in ("orders", "logistics"):
        if source in malformed and malformed[source] != rejected.get(source, 0):
            differences.append(Difference(("rejected", 0, source), (malformed[source],),
                                          (rejected.get(source, 0),)))
    gmv_at = MEASURES.index("gmv_fen")
    gmv = sum(v[gmv_at] for k, v in expected.items() if k[0] == "orders_second")
    buyers_at = ROLLUPS["buyers_second"].value_names.index("new_buyers")
    buyers = sum(v[buyers_at] for k, v in expected.items() if k[0] == "buyers_second")
    tiers = sorted({k[0] for k in expected if ROLLUPS[k[0]].path == EXPLORE})
    report = {"keys": len(expected), "gmv_fen": gmv, "buyers": buyers, "rejected": rejected,
              "closed_until": until, "tiers": tiers}
    return differences, report
