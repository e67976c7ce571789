"""``gmv bench``'s report: the figures of bench/bench_job.py and bench/bench_dashboard.py as one
table, one JSON document and one PNG (freshness percentiles against the rate).

Pure functions over the benches' JSON (no servers here); ``stream.cli`` runs the benches.
Every rate is printed beside the baseline measured in the same run (Kafka's own tools), and
when the bench ran two checkouts (``--against``), beside the other checkout's figure.
"""
from __future__ import annotations

from pathlib import Path

TARGET_P99_S = 2.0
# What freshness is measured on: per-second totals, the live breakdown rows (the new code: each
# low-cardinality field per minute; today's main: its per-minute breakdowns, pairs and cube), and
# the live top brands (which today's main does not have).
SERIES = (("orders_second", "per-second totals"), ("breakdowns", "live breakdown rows"),
          ("top_brands", "live top brands"))


def highest_rate(steps: list[dict], series: str) -> int | None:
    """The highest stepped rate at which p99 of ``series`` stayed within the target, and every
    lower step did too (None: not even the first)."""
    best = None
    for step in sorted(steps, key=lambda s: s["rate"]):
        if series not in step:
            return None
        p99 = step[series]["p99"]
        if p99 is None or p99 > TARGET_P99_S or step[series]["missing"]:
            break
        best = step["rate"]
    return best


def _by_label(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row.get("label", "new"), []).append(row)
    return out


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def lines(report: dict) -> list[str]:
    """The report as text lines (the table ``gmv bench`` prints)."""
    job = report.get("job") or {}
    out = []
    base = job.get("baselines")
    consume = base["consume_per_s"] if base else None
    if base:
        out.append(f"baseline    Kafka ProducerPerformance {base['produce_per_s']:>10,.0f} msg/s   "
                   f"ConsumerPerformance {base['consume_per_s']:>10,.0f} msg/s   "
                   f"(median of {base['runs']} x {base['records']:,} messages of 380 B)")
    labels = list(_by_label(job.get("throughput", []) + job.get("freshness", [])))
    other = labels[0] if len(labels) > 1 else None
    new = labels[-1] if labels else ""
    runs = job.get("throughput", [])
    if runs:
        head = "".join(f"{label:>12}" for label in labels)
        out.append(f"throughput  events/s draining a backlog        {head}"
                   + (f"{'new/' + other:>12}" if other else "") + f"{'of consume':>12}")
        for cluster, parallelism in dict.fromkeys((r["cluster"], r["parallelism"]) for r in runs):
            rate = {r["label"]: r["events_per_s"] for r in runs
                    if (r["cluster"], r["parallelism"]) == (cluster, parallelism)}
            cells = "".join(f"{rate.get(label, 0):>12,.0f}" for label in labels)
            out.append(f"            {cluster} cluster, parallelism {parallelism:<2}   {cells}"
                       + (f"{_ratio(rate.get(new), rate.get(other)):>12}" if other else "")
                       + (f"{rate.get(new, 0) / consume:>12.1%}" if consume else ""))
        out += _rows_written(runs, labels)
    out += _inserted(job.get("inserted", []))
    steps = _by_label(job.get("freshness", []))
    if steps:
        out.append("freshness   highest steady orders/s with p99 (event -> visible in ClickHouse) "
                   f"<= {TARGET_P99_S:g} s")
        for series, name in SERIES:
            best = {label: highest_rate(rows, series) for label, rows in steps.items()}
            cells = "".join(f"{best[label] or 0:>12,}" for label in labels if label in best)
            out.append(f"            {name:<33}{cells}"
                       + (f"{_ratio(best.get(new), best.get(other)):>12}" if other else ""))
        for label, rows in steps.items():
            for step in sorted(rows, key=lambda s: s["rate"]):
                cells = "   ".join(f"{name} p50 {_s(step[s]['p50'])} p99 {_s(step[s]['p99'])}"
                                   for s, name in SERIES if s in step)
                out.append(f"            {label} at {step['rate']:>6,} orders/s: {cells}")
    for run in job.get("explore", []):
        seen = run.get("explore") or {}
        if seen.get("rows"):
            out.append(f"explore     {run['label']}: rows of closed windows visible after their window closed: "
                       f"p50 {_s(seen['p50'])} p99 {_s(seen['p99'])} ({seen['rows']:,} rows, "
                       f"{run['rate']:,} orders/s for {run['seconds']} s)")
    dash = report.get("dashboard")
    if dash:
        poll = dash["poll_ms"]
        out.append(f"dashboard   wall poll over 11 festival days: p50 {poll['p50']:.1f} ms, p95 {poll['p95']:.1f} ms, "
                   f"max {poll['max']:.1f} ms; database queries/s: 1 screen {dash['queries_per_s_1']:.2f}, "
                   f"{dash['clients']} screens {dash['queries_per_s_many']:.2f}")
        if "explore_ms" in dash:
            view = dash["explore_ms"]
            out.append(f"            explore views (festival, day, one filter, pairs, cube combinations): computed "
                       f"p50 {view['p50']:.0f} ms, p95 {view['p95']:.0f} ms; cached p50 {view['cached_p50']:.1f} ms")
    return out


def _rows_written(runs: list[dict], labels: list[str]) -> list[str]:
    """Rollup rows the job wrote per 1,000 events (every window closed), per checkout: the total
    and the largest rollups, from its first throughput run."""
    out = []
    for label in labels:
        run = next((r for r in runs if r["label"] == label and "rollup_rows_per_1000_events" in r), None)
        if run:
            rows = run["rollup_rows_per_1000_events"]
            top = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(rows.items(), key=lambda kv: -kv[1])[:4])
            out.append(f"            {label}: {sum(rows.values()):,.0f} rollup rows written per 1,000 events ({top})")
    return out


def _inserted(runs: list[dict]) -> list[str]:
    return [f"inserted    {r['label']}: rows ClickHouse received per event over the festival replay: "
            f"{r['per_event']:.3f} as it leaves the windows, {r['per_event_all_closed']:.3f} with every window "
            f"of the day closed" for r in runs]


def _s(value: float | None) -> str:
    return f"{value:5.2f} s" if value is not None else "  -   "


def plot(report: dict, path: Path) -> None:
    """Freshness p50 and p99 against the rate, per checkout and series, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SERIES), figsize=(5.5 * len(SERIES), 4.2), sharey=True)
    steps = _by_label((report.get("job") or {}).get("freshness", []))
    for ax, (series, name) in zip(axes, SERIES):
        for label, rows in steps.items():
            rows = sorted((r for r in rows if series in r and r[series]["p99"] is not None), key=lambda r: r["rate"])
            rates = [r["rate"] for r in rows]
            line, = ax.plot(rates, [r[series]["p99"] for r in rows], marker="o", label=f"{label} p99")
            ax.plot(rates, [r[series]["p50"] for r in rows], marker=".", linestyle="--", color=line.get_color(),
                    label=f"{label} p50")
        ax.axhline(TARGET_P99_S, color="grey", linewidth=0.8)
        ax.set_title(f"event -> visible in ClickHouse: {name}")
        ax.set_xlabel("orders/s (steady, live)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("seconds")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
