"""One logging setup for every `gmv` command (stream/logs.py), and `gmv`'s exit codes."""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest

from stream import cli, logs, probes, registry

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: .*$")


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch):
    """Each test sets logging up its own way; the next test (and pytest) get the old setup back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    clients = {name: logging.getLogger(name).level for name in logs.CLIENT_LOGGERS}
    monkeypatch.setattr(logs, "_level", logs.DEFAULT_LEVEL)
    monkeypatch.setattr(logs, "_clients", True)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, client_level in clients.items():
        logging.getLogger(name).setLevel(client_level)


def lines(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_one_format_with_time_level_and_logger(capsys):
    logs.setup("info")
    logging.getLogger("gmv.loader").warning("ClickHouse insert failed (%s); retrying in %.1f s", "down", 0.5)
    [line] = lines(capsys)
    assert LINE.match(line), line
    assert line.endswith(" WARNING gmv.loader: ClickHouse insert failed (down); retrying in 0.5 s")


@pytest.mark.parametrize("level, shown", [
    ("debug", ["DEBUG", "INFO", "WARNING", "ERROR"]),
    ("info", ["INFO", "WARNING", "ERROR"]),
    ("warning", ["WARNING", "ERROR"]),
    ("ERROR", ["ERROR"]),
])
def test_levels(capsys, level, shown):
    logs.setup(level)
    log = logging.getLogger("gmv.test")
    for name in ("debug", "info", "warning", "error"):
        getattr(log, name)("a %s line", name)
    assert [line.split()[2] for line in lines(capsys)] == shown


def test_an_unknown_level_is_refused():
    with pytest.raises(ValueError, match="loud"):
        logs.setup("loud")


def test_setting_up_again_replaces_the_handler(capsys):
    logs.setup("info")
    logs.setup("info")
    logging.getLogger("gmv.test").info("once")
    assert len(lines(capsys)) == 1


@pytest.mark.parametrize("level, clients, expected", [
    ("info", True, logging.WARNING),  # a long-running part: warnings pass, INFO chatter stays out
    ("error", True, logging.ERROR),
    ("info", False, logging.CRITICAL + 1),  # a short command: its own one-line errors say it
    ("debug", False, logging.DEBUG),  # debug: everything
])
def test_client_library_levels(level, clients, expected):
    assert logs.client_level(level, clients) == expected
    logs.setup(level, clients=clients)
    assert all(logging.getLogger(name).level == expected for name in logs.CLIENT_LOGGERS)


def test_client_warnings_pass_their_info_does_not(capsys):
    logs.setup("info", clients=True)
    kafka = logging.getLogger("kafka.net.manager")
    kafka.info("Bootstrap succeeded")
    kafka.warning("Bootstrap connection to %s failed (backoff %.2f secs)", "bootstrap-0", 0.11)
    [line] = lines(capsys)
    assert LINE.match(line), line
    assert "WARNING kafka.net.manager: Bootstrap connection to bootstrap-0 failed" in line


def test_a_refused_clickhouse_connection_is_one_line_once_a_minute(capsys):
    """The real clickhouse-driver against a port nobody listens on: its warning carries a
    traceback; at the default level that is one line, and a repeat within the minute is dropped."""
    from clickhouse_driver import Client
    from clickhouse_driver.errors import NetworkError

    logs.setup("info", clients=True)
    port = probes.free_port()
    for _ in range(3):
        with pytest.raises(NetworkError):
            Client(host="127.0.0.1", port=port, connect_timeout=1).execute("SELECT 1")
    [line] = lines(capsys)
    assert LINE.match(line), line
    assert f"WARNING clickhouse_driver.connection: Failed to connect to 127.0.0.1:{port}" in line
    assert "ConnectionRefusedError" in line


def test_our_own_tracebacks_are_kept(capsys):
    logs.setup("info")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("gmv.alerts").exception("alerts: evaluation failed")
    err = "\n".join(lines(capsys))
    assert "Traceback" in err and "RuntimeError: boom" in err


def test_one_kind_of_client_message_passes_once_a_minute_with_a_count():
    now = [0.0]
    throttle = logs._Throttle(clock=lambda: now[0])

    def record(delay: float = 0.1) -> logging.LogRecord:  # one kind, whatever the arguments
        return logging.makeLogRecord({"name": "kafka.conn", "msg": "down; waiting %.2f secs", "args": (delay,),
                                      "levelno": logging.WARNING})

    assert throttle.filter(record())
    assert not throttle.filter(record(0.3)) and not throttle.filter(record(1.6))
    now[0] = logs.REPEAT_EVERY_S
    again = record()
    assert throttle.filter(again)
    assert logs.Formatter().format(again).endswith(
        "down; waiting 0.10 secs (2 more like it left out since the last one shown)")
    ours = logging.makeLogRecord({"name": "gmv.loader", "msg": "down"})
    assert throttle.filter(ours) and throttle.filter(ours)  # our own lines are never throttled


def test_parts_started_by_gmv_up_get_a_level_that_is_not_the_default():
    logs.setup("info")
    assert logs.passed_on() == [] and registry.JOB.command(None)[-1] == "job"
    logs.setup("debug")
    assert logs.passed_on() == ["--log-level", "debug"]
    assert registry.JOB.command(None)[-3:] == ["--log-level", "debug", "job"]
    assert registry.DASHBOARD.command(None)[-3:] == ["--log-level", "debug", "dashboard"]


# -- gmv's --log-level and exit codes -------------------------------------------------------------


@pytest.mark.parametrize("argv, level", [
    (["status"], "info"),
    (["--log-level", "debug", "status"], "debug"),
    (["status", "--log-level", "warning"], "warning"),
    (["--log-level", "error", "simulate", "--sink", "null"], "error"),
    (["simulate", "--log-level", "Debug", "--sink", "null"], "debug"),
])
def test_log_level_before_or_after_the_command(argv, level):
    assert cli.build_parser().parse_args(argv).log_level == level


def test_a_runtime_error_exits_1_with_one_line(tmp_path, capsys):
    code = cli.main(["--log-level", "warning", "verify", "--ledger", str(tmp_path / "missing.jsonl")])
    assert code == 1
    assert capsys.readouterr().err == (f"gmv: --ledger {tmp_path / 'missing.jsonl'}: no such file; "
                                       "write one with `gmv simulate --ledger PATH`.\n")
    assert logs.current_level() == "warning"


def test_a_bad_setting_exits_1(monkeypatch, capsys):
    monkeypatch.setenv("GMV_KAFKA_PORT", "abc")
    assert cli.main(["status"]) == 1
    assert capsys.readouterr().err.startswith("gmv: GMV_KAFKA_PORT=")


@pytest.mark.parametrize("argv", [
    ["bogus"], ["status", "--log-level", "loud"], ["--log-level", "loud", "status"], ["verify"],
    ["up", "--no-such-flag"], ["simulate", "--clock", "live", "--speed", "10"],
])
def test_a_bad_argument_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_reapply_restores_what_a_library_turned_down(capsys):
    logs.setup("info", clients=True)
    logging.getLogger().setLevel(logging.WARNING)  # what PyFlink does when it opens a local environment
    logs.reapply()
    logging.getLogger("gmv.job").info("job: running as %s", "abc")
    [line] = lines(capsys)
    assert line.endswith("INFO gmv.job: job: running as abc")
    assert logging.getLogger("kafka").level == logging.WARNING


def test_lines_whose_reader_is_gone_go_to_the_lost_output_file(tmp_path):
    """`make run | tee run.log` after Ctrl-C killed `tee`: stdout and stderr are a pipe nobody
    reads. Each line, the first included, lands in the lost-output file; nothing raises."""
    lost = tmp_path / "up.log"
    code = ("import logging; from stream import logs; logs.setup(); "
            f"logs.send_lost_output_to({str(lost)!r}); logs.echo('one'); "
            "logging.getLogger('gmv').warning('two'); logs.echo('three')")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([sys.executable, "-c", code], stdout=write_end, stderr=write_end, timeout=60,
                                check=False)
    finally:
        os.close(write_end)
    said = lost.read_text()
    assert result.returncode == 0, said
    assert said.startswith("one\n") and said.endswith("three\n") and " WARNING gmv: two\n" in said, said
