"""`gmv up/status/down` as a user runs them: subprocesses, a private state folder and ports."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from stream import registry
from stream.probes import wait_for
from tests.support.stack import SHARED_JARS, command_lines, distinct_free_ports

pytestmark = pytest.mark.slow
GMV = [sys.executable, "-m", "stream.cli"]


def stack_env(home: Path) -> dict[str, str]:
    k, kc, ch, chh, dash, flink = distinct_free_ports(6)
    env = {key: value for key, value in os.environ.items() if not key.startswith("GMV_")}
    env.update(
        GMV_HOME=str(home), GMV_JARS_DIR=str(SHARED_JARS), GMV_KAFKA_PORT=str(k),
        GMV_KAFKA_CONTROLLER_PORT=str(kc), GMV_CLICKHOUSE_PORT=str(ch), GMV_CLICKHOUSE_HTTP_PORT=str(chh),
        GMV_DASHBOARD_PORT=str(dash), GMV_FLINK_PORT=str(flink),
        GMV_START_TIMEOUT="240",  # the Flink job's start on a shared 2-core machine (12 s when idle)
    )
    return env


def gmv(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*GMV, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def processes_under(home: Path) -> list[str]:
    """Live processes that mention the state folder (ours, if any leaked)."""
    return [text for text in command_lines() if str(home) in text and "pytest" not in text]


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr  # a runtime error (argparse's usage errors exit 2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gmv: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_up_status_down_leaves_no_process(tmp_path):
    env = stack_env(tmp_path)
    try:
        up = gmv(env, "up")  # every part, as `make run` does
        assert up.returncode == 0, up.stderr
        status = gmv(env, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        part_lines = status.stdout.splitlines()[: len(registry.PARTS)]  # then the lag and freshness lines
        lines = {line.split()[0]: line.split()[1] for line in part_lines}
        assert "kafka lag" in status.stdout and "freshness" in status.stdout
        assert all(lines[name] == "up" for name in registry.PARTS), status.stdout
        assert f"port {env['GMV_KAFKA_PORT']}" in status.stdout
        again = gmv(env, "up", "kafka", "clickhouse")  # idempotent: already up, nothing new started
        assert again.returncode == 0, again.stderr
        pids = {json.loads(p.read_text())["pid"] for p in (tmp_path / "run").glob("*.json")}
        assert len(pids) == len(registry.PARTS)
    finally:
        down = gmv(env, "down")
    assert down.returncode == 0, down.stderr
    assert all(name in down.stdout for name in registry.PARTS)
    assert processes_under(tmp_path) == []
    assert not list((tmp_path / "run").glob("*.json"))
    status = gmv(env, "status")
    assert status.returncode == 0 and "up " not in status.stdout


def test_status_fails_when_a_started_part_dies(tmp_path):
    env = stack_env(tmp_path)
    try:
        assert gmv(env, "up", "clickhouse").returncode == 0
        pid = json.loads((tmp_path / "run" / "clickhouse.json").read_text())["pid"]
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: gmv(env, "status").returncode == 1, timeout=20)
        assert "DOWN" in gmv(env, "status").stdout
    finally:
        gmv(env, "down")
    assert processes_under(tmp_path) == []


def test_port_in_use_is_one_line_naming_the_setting(tmp_path):
    env = stack_env(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(env["GMV_KAFKA_PORT"])))
        squatter.listen()
        message = one_line_error(gmv(env, "up", "kafka"))
    assert f"port {env['GMV_KAFKA_PORT']} is in use" in message and "GMV_KAFKA_PORT" in message


def test_missing_java_is_one_line(tmp_path):
    env = stack_env(tmp_path)
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("mvn",):  # a PATH with the tools but java
        if shutil.which(tool):
            (bare / tool).symlink_to(shutil.which(tool))
    env["PATH"] = str(bare)
    env.pop("JAVA_HOME", None)
    message = one_line_error(gmv(env, "up", "kafka"))
    assert "java is not on PATH" in message and "Java 17" in message


def test_a_server_that_exits_names_its_log(tmp_path):
    env = stack_env(tmp_path)
    data = tmp_path / "data" / "kafka"
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("version=1\ncluster.id=broken\nnode.id=99\n")  # wrong node id
    try:
        message = one_line_error(gmv(env, "up", "kafka"))
    finally:
        gmv(env, "down")
    assert "exited during start" in message and str(tmp_path / "log" / "kafka.log") in message
    assert processes_under(tmp_path) == []


def test_a_server_that_never_gets_healthy_times_out_cleanly(tmp_path):
    env = stack_env(tmp_path)
    # 1 ms: one health check right after the spawn, before the binary can even listen. (At 50 ms a
    # check that began in time could block on a socket the server was just opening, and pass.)
    env["GMV_START_TIMEOUT"] = "0.001"
    try:
        message = one_line_error(gmv(env, "up", "clickhouse"))
    finally:
        gmv(env, "down")
    assert "did not become healthy" in message and "clickhouse.log" in message
    assert processes_under(tmp_path) == []


@pytest.mark.parametrize(
    "args, extra_env, words",
    [
        (["status"], {"GMV_KAFKA_PORT": "not-a-port"}, ["GMV_KAFKA_PORT", "whole number"]),
        (["up", "kafka"], {"GMV_KAFKA_PARTITIONS": "0"}, ["GMV_KAFKA_PARTITIONS"]),
        (["up", "kafak"], {}, ["unknown part 'kafak'"]),
        (["status"], {"GMV_CLICKHOUSE_PROT": "1"}, ["unknown setting GMV_CLICKHOUSE_PROT"]),
    ],
)
def test_bad_config_and_arguments_are_one_line(tmp_path, args, extra_env, words):
    env = stack_env(tmp_path) | extra_env
    message = one_line_error(gmv(env, *args))
    for word in words:
        assert word in message


def test_migrate_against_a_server_that_is_down_is_one_line(tmp_path):
    message = one_line_error(gmv(stack_env(tmp_path), "migrate", timeout=60))
    assert "cannot reach ClickHouse" in message and "gmv up clickhouse" in message


@pytest.mark.slow
def test_bench_measures_the_brokers_own_produce_and_consume_rates(kafka_settings, tmp_path):
    out = tmp_path / "baseline.json"
    env = {**os.environ, **kafka_settings.to_env()}
    result = gmv(env, "bench", "--only", "baselines", "--records", "20000", "--json", str(out), timeout=180)
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert figures["produce"]["messages"] == 20000 and figures["consume"]["messages"] == 20000
    assert figures["produce"]["per_second"] > 0 and figures["consume"]["per_second"] > 0
    assert "ConsumerPerformance" in result.stdout


def test_bench_refuses_a_bad_record_count():
    result = subprocess.run([*GMV, "bench", "--records", "0"], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "must be at least 1" in result.stderr



def test_up_wait_restarts_a_part_that_died_and_holds_the_folder(tmp_path):
    """`gmv up --wait` (what `make run` runs) supervises: a part killed -9 is started again by
    itself, `gmv status` counts the restart, and a second `gmv up` on the folder is refused."""
    env = stack_env(tmp_path)
    supervisor = subprocess.Popen([*GMV, "up", "--wait", "clickhouse"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, start_new_session=True)
    pid_file = tmp_path / "run" / "clickhouse.json"
    lines: list[str] = []  # the supervisor's output so far, read as it comes
    reader = threading.Thread(target=lambda: lines.extend(iter(supervisor.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        # supervising once every part started, its migrations applied (killed before, the supervisor
        # would start it again too, but this test is about a part that dies later)
        assert wait_for(lambda: any(line.startswith("running; a part that dies") for line in lines), 120), lines
        assert gmv(env, "status").stdout.split("\n")[1].split()[1:2] == ["up"]
        first = json.loads(pid_file.read_text())["pid"]
        message = one_line_error(gmv(env, "up", "clickhouse"))
        assert "another `gmv up`" in message and str(supervisor.pid) in message
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: "restarted 1x" in gmv(env, "status").stdout
                        and gmv(env, "status").returncode == 0, 120), gmv(env, "status").stdout
        assert json.loads(pid_file.read_text())["pid"] != first
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=60)
        reader.join(10)
    out = "".join(lines)
    assert supervisor.returncode == 0, out
    assert "clickhouse died (killed by SIGKILL" in out, out
    assert processes_under(tmp_path) == []


def test_up_wait_starts_later_a_part_that_could_not_start_at_first(tmp_path):
    """A part that cannot start when `gmv up --wait` begins (its port taken by another program) does
    not stop the others: one line says why, and the supervisor starts it once it can."""
    env = stack_env(tmp_path)
    port = int(env["GMV_DASHBOARD_PORT"])
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    supervisor = subprocess.Popen([*GMV, "up", "--wait", "clickhouse", "dashboard"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(supervisor.stdout.readline, "")), daemon=True)
    reader.start()

    def state_of(name: str) -> str:
        line = next(line for line in gmv(env, "status").stdout.splitlines() if line.startswith(name))
        return line.split()[1]

    try:
        assert wait_for(lambda: any(line.startswith("running; a part that dies") for line in lines), 120), lines
        refused = [line for line in lines if line.startswith("dashboard") and "did not start" in line]
        assert refused and f"port {port} is in use" in refused[0], lines
        assert (state_of("clickhouse"), state_of("dashboard")) == ("up", "down")
        squatter.close()
        assert wait_for(lambda: state_of("dashboard") == "up", 120), gmv(env, "status").stdout
        assert gmv(env, "status").returncode == 0
    finally:
        squatter.close()
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=60)
        reader.join(10)
    out = "".join(lines)
    assert supervisor.returncode == 0, out
    assert processes_under(tmp_path) == []


def test_down_never_signals_a_stranger_that_reused_the_pid(tmp_path):
    """A pid file whose process is gone, its pid now someone else's: `gmv down` leaves that alone."""
    env = stack_env(tmp_path)
    stranger = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "clickhouse.json").write_text(json.dumps(
            {"pid": stranger.pid, "start_ticks": 1, "ports": [], "cmd": ["clickhouse-server"]}))
        assert gmv(env, "down").returncode == 0
        assert stranger.poll() is None  # still running: not ours, not signalled
        assert not (tmp_path / "run" / "clickhouse.json").exists()
    finally:
        stranger.kill()
        stranger.wait()
