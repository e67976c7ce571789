"""`gmv simulate` from the command line: its rate report, status lines, pacing, and one-line errors."""
from __future__ import annotations

import json
import time

import pytest

from stream import cli, probes
from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT, local_ms
from stream.simulator.run import RunOptions, run, status_line
from stream.simulator.sinks import NullSink


def gmv(argv, capsys) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse errors exit from inside parse_args
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", [
    ["--rate", "abc"], ["--rate", "-5"], ["--clock", "moon"], ["--clock", "replay", "--start", "yesterday"],
    ["--speed", "10"], ["--outage", "5"], ["--outage", "a:b"], ["--duplicates", "2"], ["--events", "0"],
    ["--malformed", "1"], ["--sink", "nowhere"], ["--duration", "0"], ["--unknown-flag"],
])
def test_bad_arguments_give_one_line(argv, capsys):
    code, out, err = gmv(["simulate", "--sink", "null", "--events", "10", *argv], capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_broker_down_gives_one_line_naming_the_bootstrap(capsys, monkeypatch):
    port = probes.free_port()
    monkeypatch.setenv("GMV_KAFKA_PORT", str(port))
    code, _out, err = gmv(["simulate", "--sink", "kafka", "--events", "10"], capsys)
    assert code == 1  # a runtime error; 2 is for bad arguments
    assert len(err.strip().splitlines()) == 1 and f"127.0.0.1:{port}" in err


def test_null_sink_prints_its_rate(capsys):
    code, out, _err = gmv(["simulate", "--sink", "null", "--events", "100000", "--seed", "1"], capsys)
    assert code == 0
    assert "events/s" in out and "sent 100000 events" in out


def test_stdout_sink_writes_json_lines_and_reports_on_stderr(capfdbinary, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    code = cli.main(["simulate", "--clock", "replay", "--speed", "600", "--rate", "max", "--sink", "stdout",
                     "--events", "5000", "--seed", "2", "--ledger", str(ledger)])
    out, err = capfdbinary.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 5000
    assert all(json.loads(line)["event_id"] for line in lines)
    assert b"events/s" in err
    summary = json.loads(ledger.read_text().splitlines()[-1])
    assert summary["order_events"] + summary["logistics_events"] == 5000


@pytest.mark.parametrize("clock", ["replay", "live"])
def test_rate_is_held_within_5_percent(clock):
    """A short paced run at a modest rate: orders per wall second within +-5% of --rate."""
    if clock == "replay":
        spec = ClockSpec("replay", local_ms(2021, 11, 11, 9), 120)  # a rising morning: the curve varies
    else:
        spec = ClockSpec("live", time.time_ns() // 1_000_000, 1.0)
    options = RunOptions(clock=spec, rate=400, duration_s=3.0, seed=1)
    stats = run(DEFAULT, options, NullSink())
    assert stats.orders / stats.seconds == pytest.approx(400, rel=0.05)


def test_status_line_names_sent_rate_and_festival_time():
    festival_ms = local_ms(2021, 11, 11, 0) + (12 * 60 + 34) * 1000 + 567  # 00:12:34.567 +08:00
    assert status_line(1_234_567, 2010.4, 399.6, festival_ms) == (
        "sent 1,234,567 events so far, 2,010 events/s (400 orders/s); "
        "festival time 2021-11-11 00:12:34+08:00")


def test_a_long_run_reports_its_status_every_few_seconds():
    """A replay with a clock that moves a second per reading: a line every 5 s, festival time rising."""
    ticks = iter(range(10**6))
    lines: list[str] = []
    spec = ClockSpec("replay", local_ms(2021, 11, 11, 0), 60)
    options = RunOptions(clock=spec, rate=1000, paced=False, events=20_000, seed=1, batch_orders=200)
    stats = run(DEFAULT, options, NullSink(), clock=lambda: float(next(ticks)), status=lines.append,
                status_every_s=5)
    assert len(lines) >= 3
    sent = [int(line.split()[1].replace(",", "")) for line in lines]
    times = [line.split("festival time ")[1] for line in lines]
    assert sent == sorted(sent) and sent[-1] <= stats.messages
    assert times == sorted(times) and all(t.startswith("2021-11-11 ") and t.endswith("+08:00") for t in times)
    assert all("events/s" in line and "orders/s" in line for line in lines)


def test_status_lines_go_to_stderr_and_leave_stdout_to_the_events(capfd):
    code = cli.main(["simulate", "--clock", "replay", "--rate", "max", "--sink", "stdout",
                     "--events", "20000", "--batch-orders", "500", "--status-every", "0.000001"])
    out, err = capfd.readouterr()
    assert code == 0
    assert all(json.loads(line)["event_id"] for line in out.splitlines())
    assert "INFO gmv.simulator: sent " in err and "festival time 2021-11-11" in err


def test_status_every_0_is_quiet(capfd):
    code = cli.main(["simulate", "--clock", "replay", "--rate", "max", "--sink", "null", "--events", "20000",
                     "--batch-orders", "500", "--status-every", "0"])
    out, err = capfd.readouterr()
    assert code == 0 and "gmv.simulator" not in err and "sent 20000 events" in out


def cst_ms(*parts: int) -> int:
    from datetime import datetime

    from stream.contract import FESTIVAL_TZ

    return int(datetime(*parts, tzinfo=FESTIVAL_TZ).timestamp() * 1000)


def test_the_festival_clock_starts_at_1958_on_the_latest_nov_11_a_day_past():
    from stream.simulator.clock import festival_clock_start

    assert festival_clock_start(cst_ms(2026, 11, 27, 9)) == cst_ms(2026, 11, 11, 19, 58)
    assert festival_clock_start(cst_ms(2026, 11, 12, 10)) == cst_ms(2025, 11, 11, 19, 58)  # not a day past yet
    assert festival_clock_start(cst_ms(2026, 3, 1)) == cst_ms(2025, 11, 11, 19, 58)


def test_the_festival_clock_continues_after_the_newest_event_in_the_topics():
    from stream.simulator.clock import festival_clock_start

    now = cst_ms(2026, 11, 27, 9)
    assert festival_clock_start(now, newest_ms=cst_ms(2026, 11, 11, 20, 30) + 250) == cst_ms(2026, 11, 11, 20, 30, 1)
    assert festival_clock_start(now, newest_ms=cst_ms(2021, 11, 11)) == cst_ms(2026, 11, 11, 19, 58)  # older: ignored


def test_clock_festival_takes_a_speed_but_not_a_start(capsys):
    code, _out, err = gmv(["simulate", "--clock", "festival", "--start", "2021-11-11T00:00+08:00",
                           "--sink", "null", "--events", "10"], capsys)
    assert code == 2 and "--clock festival picks its own start" in err
    args = cli.build_parser().parse_args(["simulate", "--clock", "festival", "--speed", "2", "--sink", "null"])
    from stream.simulator.cli import build

    _config, options = build(args, now_ms=cst_ms(2026, 11, 27, 9))
    assert options.clock.start_ms == cst_ms(2026, 11, 11, 19, 58) and options.clock.speed == 2
