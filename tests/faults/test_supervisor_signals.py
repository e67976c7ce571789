"""`gmv up --wait` (what `make run` runs) stops every part it started when its terminal closes
(SIGHUP) or Ctrl-C reaches `make run | tee run.log` (SIGINT to the whole group), also when the
reader of its output died first: no process of its state folder is left running."""
from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import subprocess
import termios
import threading
import time
from pathlib import Path

import pytest

from stream.probes import port_in_use, wait_for
from stream.settings import PROJECT_ROOT
from stream.stack import processes
from tests.integration.test_cli import GMV, stack_env

pytestmark = pytest.mark.slow

PARTS = ("clickhouse", "dashboard")  # two that start in seconds, a server and an application part
STOPPED_WITHIN_S = 45.0


def started_parts(home: Path) -> dict[str, int]:
    """Part name -> pid (its process group) from the supervisor's pid files."""
    return {name: json.loads((home / "run" / f"{name}.json").read_text())["pid"] for name in PARTS}


def supervising(output: Path) -> bool:
    return output.exists() and "running; a part that dies" in output.read_text(errors="replace")


def processes_of(home: Path) -> list[str]:
    """Live processes of the state folder: its path in their command line or GMV_HOME in their
    environment (the dashboard's command line, `python -m stream.cli dashboard`, does not name it)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            environ, cmdline = (proc / "environ").read_bytes(), (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if f"GMV_HOME={home}\0".encode() in environ or str(home).encode() in cmdline:
            found.append(proc.name + ": " + cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def assert_nothing_left(home: Path, env: dict[str, str], pids: dict[str, int]) -> None:
    """Each part's whole process group has exited, its pid file is gone and its ports are free (and
    no other process has the state folder in its command line or environment)."""
    ports = [int(env[name]) for name in ("GMV_CLICKHOUSE_PORT", "GMV_CLICKHOUSE_HTTP_PORT", "GMV_DASHBOARD_PORT")]
    assert wait_for(lambda: not any(processes._group_alive(pid) for pid in pids.values())
                    and not any(port_in_use(port) for port in ports), STOPPED_WITHIN_S), processes_of(home)
    assert processes_of(home) == []
    assert not any((home / "run" / f"{name}.json").exists() for name in PARTS)


def gmv_down(env: dict[str, str]) -> None:
    """Whatever a failed case left running is stopped, so the next case finds free ports."""
    subprocess.run([*GMV, "down"], env=env, cwd=PROJECT_ROOT, capture_output=True, timeout=120, check=False)


def assert_stopped(supervisor: subprocess.Popen, home: Path, env: dict[str, str], pids: dict[str, int],
                   said: str | None = None) -> None:
    """The supervisor exited 0 within STOPPED_WITHIN_S and left nothing of its state folder running."""
    assert supervisor.wait(STOPPED_WITHIN_S) == 0, said if said is not None else what_it_said(home / "log" / "up.log")
    assert_nothing_left(home, env, pids)


def as_from_a_terminal() -> None:
    """In the child: SIGHUP and SIGINT as a shell in a terminal leaves them (the default), also when
    the tests themselves run under nohup or as a background job, whose ignored signals a child
    inherits (and `gmv up` keeps ignoring, as it should under nohup)."""
    for sig in (signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


def what_it_said(*files: Path) -> str:
    return "".join(path.read_text(errors="replace") for path in files if path.exists())


def test_sighup_after_the_reader_of_its_output_died_stops_every_part(tmp_path):
    """A closed terminal: the `tee` reading the supervisor's output is gone, then SIGHUP arrives."""
    home, seen = tmp_path / "home", tmp_path / "tee.out"
    env = stack_env(home)
    tee = subprocess.Popen(["tee", str(seen)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                           start_new_session=True)
    supervisor = subprocess.Popen([*GMV, "up", "--wait", *PARTS], env=env, cwd=PROJECT_ROOT, stdout=tee.stdin,
                                  stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=as_from_a_terminal)
    assert tee.stdin is not None
    tee.stdin.close()  # the supervisor holds the only write end: the pipe breaks when `tee` dies
    pids: dict[str, int] = {}
    try:
        assert wait_for(lambda: supervising(seen), 120), what_it_said(seen)
        pids = started_parts(home)
        tee.kill()
        tee.wait(10)
        t0 = time.monotonic()
        supervisor.send_signal(signal.SIGHUP)
        assert_stopped(supervisor, home, env, pids, what_it_said(seen, home / "log" / "up.log"))
        print(f"every part stopped {time.monotonic() - t0:.1f} s after SIGHUP, its output gone")
    finally:
        supervisor.kill()
        gmv_down(env)
    # what it said after its output was gone went to its own log
    said = what_it_said(home / "log" / "up.log")
    print(f"after the pipe broke:\n{said}")
    assert "SIGHUP: stopping every part" in said and f"{'clickhouse':<19} stopped" in said, said


def read_available(fd: int) -> bytes:
    out = b""
    while select.select([fd], [], [], 0)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        out += chunk
    return out


def test_closing_its_terminal_stops_every_part(tmp_path):
    """The terminal window closes: the kernel hangs up the pseudo-terminal that is the supervisor's
    controlling terminal and its output (SIGHUP, then each write to it fails with EIO)."""
    home = tmp_path / "home"
    env = stack_env(home)
    terminal, its_side = os.openpty()

    def take_the_terminal() -> None:  # in the child, after setsid: as a shell in a terminal window
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        as_from_a_terminal()

    supervisor = subprocess.Popen([*GMV, "up", "--wait", *PARTS], env=env, cwd=PROJECT_ROOT, stdin=its_side,
                                  stdout=its_side, stderr=its_side, start_new_session=True,
                                  preexec_fn=take_the_terminal)
    os.close(its_side)
    shown = b""
    pids: dict[str, int] = {}
    try:
        def on_screen() -> bool:
            nonlocal shown
            shown += read_available(terminal)
            return b"running; a part that dies" in shown
        assert wait_for(on_screen, 120), shown.decode(errors="replace")
        pids = started_parts(home)
        t0 = time.monotonic()
        os.close(terminal)  # the window closes
        assert_stopped(supervisor, home, env, pids)
        print(f"every part stopped {time.monotonic() - t0:.1f} s after its terminal closed")
    finally:
        supervisor.kill()
        gmv_down(env)
    said = what_it_said(home / "log" / "up.log")
    print(f"after its terminal closed:\n{said}")
    assert "SIGHUP: stopping every part" in said and f"{'clickhouse':<19} stopped" in said, said


def test_ctrl_c_to_make_run_piped_into_tee_stops_every_part(tmp_path):
    """`make run | tee run.log`, then Ctrl-C: SIGINT to the whole foreground process group, so
    `tee` dies with it while the supervisor still has lines to write; make waits for it."""
    home, seen = tmp_path / "home", tmp_path / "run.log"
    env = stack_env(home)
    makefile = tmp_path / "Makefile"
    makefile.write_text(f"run:\n\t{' '.join(GMV)} up --wait {' '.join(PARTS)}\n")
    # one process group, as a shell's foreground job: bash, make, the supervisor and tee
    group = subprocess.Popen(["bash", "-c", f"make -f {makefile} run 2>&1 | tee {seen}"], env=env,
                             cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True, preexec_fn=as_from_a_terminal)
    pids: dict[str, int] = {}
    try:
        assert wait_for(lambda: supervising(seen), 120), what_it_said(seen)
        pids = started_parts(home)
        t0 = time.monotonic()
        os.killpg(group.pid, signal.SIGINT)
        group.wait(STOPPED_WITHIN_S)  # make waits for the supervisor, bash for make and tee
        assert_nothing_left(home, env, pids)
        print(f"every part stopped {time.monotonic() - t0:.1f} s after Ctrl-C to `make run | tee`")
    finally:
        if group.poll() is None:
            os.killpg(group.pid, signal.SIGKILL)
        gmv_down(env)
    said = what_it_said(seen, home / "log" / "up.log")
    print(f"run.log, then what came after its pipe broke:\n{said}")
    assert "SIGINT: stopping every part" in said and f"{'clickhouse':<19} stopped" in said, said


def test_ctrl_c_while_the_parts_start_stops_those_already_started(tmp_path):
    """Ctrl-C before every part is up (the job can take a minute to start): no more parts are
    started, and those started, the one still starting included, are stopped."""
    home = tmp_path / "home"
    env = stack_env(home)
    supervisor = subprocess.Popen([*GMV, "up", "--wait", *PARTS], env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                  preexec_fn=as_from_a_terminal)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(supervisor.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: f"starting {PARTS[-1]}...\n" in lines, 120), lines
        pid = json.loads((home / "run" / f"{PARTS[0]}.json").read_text())["pid"]
        supervisor.send_signal(signal.SIGINT)
        assert_stopped(supervisor, home, env, {PARTS[0]: pid}, str(lines))
    finally:
        supervisor.kill()
        reader.join(10)
        gmv_down(env)
    assert "SIGINT: stopping every part\n" in lines and f"{'clickhouse':<19} stopped\n" in lines, lines
    assert not any(line.startswith("running;") for line in lines), lines


def test_under_nohup_sighup_leaves_it_running(tmp_path):
    """`nohup make run &`: SIGHUP ignored by whoever started it stays ignored; SIGTERM still stops all."""
    home = tmp_path / "home"
    env = stack_env(home)
    supervisor = subprocess.Popen([*GMV, "up", "--wait", PARTS[0]], env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                  preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(supervisor.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: any(line.startswith("running;") for line in lines), 120), lines
        pid = json.loads((home / "run" / f"{PARTS[0]}.json").read_text())["pid"]
        supervisor.send_signal(signal.SIGHUP)
        assert wait_for(lambda: supervisor.poll() is not None, 3) is False, lines
        assert processes._group_alive(pid)
        supervisor.send_signal(signal.SIGTERM)
        assert_stopped(supervisor, home, env, {PARTS[0]: pid}, str(lines))
    finally:
        supervisor.kill()
        reader.join(10)
        gmv_down(env)
    assert "SIGTERM: stopping every part\n" in lines, lines
