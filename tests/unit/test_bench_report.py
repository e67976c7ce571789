"""gmv bench's report (stream/bench_report.py): the highest rate that kept p99 within 2 s, the table
with ratios to the other checkout and to Kafka's own consume rate, and the PNG."""
from __future__ import annotations

from stream import bench_report


def step(rate: int, seconds_p99: float, breakdowns_p99: float | None, label: str = "new", missing: int = 0) -> dict:
    return {"label": label, "rate": rate,
            "orders_second": {"p50": seconds_p99 / 2, "p99": seconds_p99, "missing": 0},
            "breakdowns": {"p50": None if breakdowns_p99 is None else breakdowns_p99 / 2, "p99": breakdowns_p99,
                           "missing": missing}}


def test_highest_rate_is_the_last_step_before_the_first_miss():
    steps = [step(500, 0.8, 1.0), step(1125, 2.4, 1.5), step(750, 1.2, 1.9)]  # any order
    assert bench_report.highest_rate(steps, "orders_second") == 750
    assert bench_report.highest_rate(steps, "breakdowns") == 1125
    # a later step that happens to pass again does not count: p99 must hold at every lower rate
    assert bench_report.highest_rate([*steps, step(1700, 1.0, 1.0)], "orders_second") == 750


def test_no_rate_when_the_first_step_misses_or_rows_never_show():
    assert bench_report.highest_rate([step(500, 65.0, 70.0)], "breakdowns") is None
    assert bench_report.highest_rate([step(500, 0.5, None)], "breakdowns") is None
    assert bench_report.highest_rate([step(500, 0.5, 0.5, missing=3)], "breakdowns") is None


REPORT = {
    "job": {
        "baselines": {"produce_per_s": 200_000.0, "consume_per_s": 400_000.0, "runs": 3, "records": 500_000},
        "throughput": [
            {"label": "main", "cluster": "embedded", "parallelism": 1, "events_per_s": 10_000.0},
            {"label": "new", "cluster": "embedded", "parallelism": 1, "events_per_s": 30_000.0},
        ],
        "freshness": [step(500, 1.0, 70.0, "main"), step(750, 2.5, 80.0, "main"),
                      step(500, 0.5, 0.9), step(750, 0.7, 1.1), step(1125, 3.0, 3.0)],
    },
    "dashboard": {"poll_ms": {"p50": 20.0, "p95": 35.0, "max": 80.0}, "clients": 50,
                  "queries_per_s_1": 5.0, "queries_per_s_many": 5.3},
}


def test_the_table_puts_each_figure_beside_its_baseline_and_the_other_checkout():
    text = "\n".join(bench_report.lines(REPORT))
    assert "ConsumerPerformance    400,000 msg/s" in text
    row = next(line for line in text.splitlines() if "parallelism 1" in line)
    assert "10,000" in row and "30,000" in row and "3.00x" in row and "7.5%" in row
    seconds = next(line for line in text.splitlines() if "per-second totals" in line)
    assert seconds.split()[-3:] == ["500", "750", "1.50x"]
    breakdowns = next(line for line in text.splitlines() if "breakdown rows" in line)
    assert breakdowns.split()[-3:] == ["0", "750", "-"]  # main never made it: no ratio to invent
    assert "p95 35.0 ms" in text and "50 screens 5.30" in text


def test_the_plot_is_a_png(tmp_path):
    path = tmp_path / "bench.png"
    bench_report.plot(REPORT, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
