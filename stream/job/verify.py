"""``gmv verify``: compare the ClickHouse rollups with the simulator's ledger, exactly.

Both sides become ``{(kind, window, dims...): (measures...)}`` maps; every key of
either side must match to the fen (and every count: the buyers rollups too, whose new buyers
per second add up to each festival day's unique buyers). Rollups are read with FINAL and the late
corrections (``late = 1``) added in, as the dashboard reads them.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path

from stream.contract import MEASURES, PAIRS, ROLLUPS

# ledger kind -> (table, dimension columns, measure columns): the rollups the ledger also counts
KINDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    name: (rollup.table, rollup.dimensions, rollup.value_names)
    for name, rollup in ROLLUPS.items() if rollup.in_ledger
}
_PAIR = ROLLUPS["orders_minute_pair"]
_BREAKDOWN = ROLLUPS["orders_minute"]

Totals = dict[tuple, tuple[int, ...]]


@dataclass(frozen=True)
class Difference:
    key: tuple
    expected: tuple[int, ...] | None
    actual: tuple[int, ...] | None

    def line(self) -> str:
        kind, window, *dims = self.key
        return f"{kind} window={window} {'/'.join(map(str, dims))}: ledger {self.expected} rollups {self.actual}"


def ledger_totals(lines: Iterable[str]) -> tuple[Totals, dict]:
    """Totals per key from ledger JSON lines, and the summary record."""
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
    """The same totals from ClickHouse (on-time rows plus late corrections; FINAL)."""
    totals: Totals = {}
    for kind, (table, dims, measures) in KINDS.items():
        dim_sql = "".join(f", {d}" for d in dims)
        sums = ", ".join(f"sum({m})" for m in measures)
        rows = client.execute(
            f"SELECT window_start{dim_sql}, {sums} FROM {database}.{table} FINAL "
            f"GROUP BY window_start{dim_sql}"
        )
        for row in rows:
            window = int(row[0].replace(tzinfo=timezone.utc).timestamp())
            values = tuple(int(v) for v in row[1 + len(dims):])
            if any(values):  # the ledger omits all-zero rows
                totals[(kind, window, *row[1:1 + len(dims)])] = values
    return totals


def rejected_totals(client, database: str) -> dict[str, int]:
    rows = client.execute(
        f"SELECT source, sum(events) FROM {database}.{ROLLUPS['pipeline_events'].table} FINAL "
        "WHERE kind = 'rejected' GROUP BY source"
    )
    return {source: int(n) for source, n in rows}


def pair_mismatches(client, database: str) -> list[Difference]:
    """Drill-down pairs must add up to their parent's per-minute row (same window, same measures)."""
    sums = ", ".join(f"sum({m})" for m in MEASURES)
    parent_dims = ", ".join(f"'{parent}'" for parent, _ in PAIRS)
    pairs = client.execute(f"SELECT window_start, parent_dimension, parent_value, {sums} "
                           f"FROM {database}.{_PAIR.table} FINAL "
                           "GROUP BY window_start, parent_dimension, parent_value")
    parents = client.execute(f"SELECT window_start, dimension, value, {sums} FROM {database}.{_BREAKDOWN.table} FINAL "
                             f"WHERE dimension IN ({parent_dims}) GROUP BY window_start, dimension, value")
    by_key = {tuple(r[:3]): tuple(r[3:]) for r in parents}
    found = {tuple(r[:3]): tuple(r[3:]) for r in pairs}
    return [Difference(("pair", *k), by_key.get(k), found.get(k)) for k in set(by_key) | set(found)
            if by_key.get(k) != found.get(k)]


def compare(expected: Totals, actual: Totals) -> list[Difference]:
    keys = sorted(set(expected) | set(actual), key=lambda k: tuple(map(str, k)))
    return [Difference(k, expected.get(k), actual.get(k)) for k in keys if expected.get(k) != actual.get(k)]


def verify(client, database: str, ledger_path: Path) -> tuple[list[Difference], dict]:
    """Differences between ledger and rollups (empty = exact), and a small report."""
    with open(ledger_path) as f:
        expected, summary = ledger_totals(f)
    actual = rollup_totals(client, database)
    differences = compare(expected, actual)
    malformed = summary.get("malformed_sent", {})
    rejected = rejected_totals(client, database)
    for source in ("orders", "logistics"):
        if source in malformed and malformed[source] != rejected.get(source, 0):
            differences.append(Difference(("rejected", 0, source), (malformed[source],),
                                          (rejected.get(source, 0),)))
    differences += pair_mismatches(client, database)
    gmv_at = MEASURES.index("gmv_fen")
    gmv = sum(v[gmv_at] for k, v in expected.items() if k[0] == "orders_second")
    buyers_at = ROLLUPS["buyers_second"].value_names.index("new_buyers")
    buyers = sum(v[buyers_at] for k, v in expected.items() if k[0] == "buyers_second")
    report = {"keys": len(expected), "gmv_fen": gmv, "buyers": buyers, "rejected": rejected}
    return differences, report
