"""Start, health-check and stop each part of the stack as a plain local process.

``gmv up``/``status``/``down`` and the test fixtures use this same code. Each
started part leaves a pid file (JSON) in ``$GMV_HOME/run`` and a log in
``$GMV_HOME/log``; a part is *up* when its process is alive and it answers its
health check.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from stream.errors import GmvError, one_line
from stream.probes import port_in_use, wait_for
from stream.settings import Settings

log = logging.getLogger("gmv.stack")

@dataclass(frozen=True)
class Part:
    """How to run one part: its ports, its preparation, its command and its health check."""

    name: str
    ports: Callable[[Settings], dict[str, int]]  # setting (env var) name -> port
    command: Callable[[Settings], list[str]]
    healthy: Callable[[Settings], bool]
    prepare: Callable[[Settings], None] = lambda s: None
    after_start: Callable[[Settings], None] = lambda s: None
    url: Callable[[Settings], str] = lambda s: ""
    env: Callable[[Settings], dict[str, str]] = lambda s: {}


@dataclass(frozen=True)
class PartState:
    name: str
    started: bool  # a pid file exists: `gmv up` started it and `gmv down` has not stopped it
    up: bool
    pid: int | None
    ports: tuple[int, ...]
    restarts: int = 0  # times `gmv up --wait` started it again after it died

    def line(self) -> str:
        state = "up" if self.up else ("DOWN" if self.started else "down")
        ports = ",".join(str(p) for p in self.ports) or "-"
        restarts = f"  restarted {self.restarts}x" if self.restarts else ""
        return f"{self.name:<19} {state:<5} port {ports:<11} pid {self.pid or '-'}{restarts}"


class StopFlag:
    """Set by a signal handler, polled by :func:`supervise` and :func:`start`. Not a threading.Event:
    its set() takes a lock that the interrupted thread may hold inside Event.wait, and a supervisor
    deadlocked there would leave every part running."""

    def __init__(self) -> None:
        self.reason = ""

    def set(self, reason: str = "stop") -> None:
        self.reason = self.reason or reason

    def is_set(self) -> bool:
        return bool(self.reason)

    def wait(self, timeout: float) -> bool:
        """True once set (within 0.1 s), False after ``timeout`` seconds."""
        return wait_for(self.is_set, timeout, interval=0.1)


# -- pid files ---------------------------------------------------------------------------


def _pid_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"{name}.json"


def log_path(settings: Settings, name: str) -> Path:
    return settings.log_dir / f"{name}.log"


def _read_pid_file(settings: Settings, name: str) -> dict | None:
    try:
        return json.loads(_pid_file(settings, name).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_pid_file(settings: Settings, name: str, info: dict) -> None:
    """Written whole or not at all (a reader never sees half a file): a temp file, then rename."""
    path = _pid_file(settings, name)
    temp = path.with_suffix(f".tmp{os.getpid()}")
    temp.write_text(json.dumps(info))
    os.replace(temp, path)


def _start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot, /proc/PID/stat field 22): with the pid,
    what tells our process from a stranger that reused its pid."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _is_ours(info: dict) -> bool:
    """Whether the pid file's process is alive and is the one we started (same start time)."""
    pid = int(info["pid"])
    if not pid_alive(pid):
        return False
    recorded = info.get("start_ticks")
    return recorded is None or _start_ticks(pid) == recorded


# pid -> exit status of a child reaped by pid_alive (so a supervisor can say how a part died)
EXIT_STATUS: dict[int, int] = {}


def pid_alive(pid: int) -> bool:
    try:
        # Reap it first if it is our own exited child, or kill(0) would see a zombie as alive.
        reaped, status = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            EXIT_STATUS[pid] = status
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie that is not ours counts as dead
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# -- start / stop / state ------------------------------------------------------------------


def state(part: Part, settings: Settings) -> PartState:
    info = _read_pid_file(settings, part.name)
    ports = tuple(part.ports(settings).values())
    if info is None:
        return PartState(part.name, False, False, None, ports)
    pid = int(info["pid"])
    up = _is_ours(info) and _safe_healthy(part, settings)
    return PartState(part.name, True, up, pid, tuple(info.get("ports", ports)), int(info.get("restarts", 0)))


def _safe_healthy(part: Part, settings: Settings) -> bool:
    try:
        return part.healthy(settings)
    except Exception as exc:  # noqa: BLE001 - a health check that raises is simply "not healthy yet"
        log.debug("%s: health check: %s: %s", part.name, type(exc).__name__, str(exc).strip().split("\n")[0])
        return False


def start(part: Part, settings: Settings, echo: Callable[[str], None] = lambda line: None,
          restarts: int = 0, stop_flag: StopFlag | None = None) -> PartState:
    """Start ``part`` in the background and return once it is healthy.

    Idempotent: a part that is already up is left alone. Raises :class:`GmvError`
    with one sentence naming the cause, the fix and the log when it cannot start.
    ``echo`` is told "starting <part>..." when it is actually started (the wait that
    follows can take up to ``settings.start_timeout``). Once ``stop_flag`` is set it returns without
    waiting longer for health: the part is left running, for the caller to stop with the others.
    """
    current = state(part, settings)
    if current.up:
        return current
    echo(f"starting {part.name}...")
    if current.started:  # a stale pid file from a crash: clear it before starting again
        stop(part, settings)
    for env_name, port in part.ports(settings).items():
        if port_in_use(port):
            raise GmvError(
                f"{part.name}: port {port} is in use by another process; stop that process "
                f"or set {env_name} to a free port."
            )
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    part.prepare(settings)
    logfile = log_path(settings, part.name)
    cmd = part.command(settings)
    log.debug("%s: running %s (output to %s)", part.name, " ".join(cmd), logfile)
    with open(logfile, "ab") as log_file:
        log_file.write(f"\n==== gmv: starting {part.name}: {' '.join(cmd)}\n".encode())
        log_file.flush()
        proc = subprocess.Popen(
            cmd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=settings.home,
            env={**os.environ, **settings.to_env(), **part.env(settings)},
            start_new_session=True,  # own process group: `gmv down` stops its children too
        )
    info = {"pid": proc.pid, "start_ticks": _start_ticks(proc.pid), "ports": list(part.ports(settings).values()),
            "log": str(logfile), "cmd": cmd, "restarts": restarts}
    _write_pid_file(settings, part.name, info)
    stopping = stop_flag.is_set if stop_flag is not None else lambda: False
    healthy = wait_for(
        lambda: proc.poll() is not None or stopping() or _safe_healthy(part, settings), settings.start_timeout
    )
    if stopping():
        return state(part, settings)
    if proc.poll() is not None:
        _pid_file(settings, part.name).unlink(missing_ok=True)
        raise GmvError(
            f"{part.name}: the server exited during start (exit code {proc.returncode}); "
            f"read {logfile} for the cause."
        )
    if not healthy:
        stop(part, settings)
        raise GmvError(
            f"{part.name}: the server did not become healthy within {settings.start_timeout:.0f} s; "
            f"read {logfile} for the cause (or raise GMV_START_TIMEOUT on a slow machine)."
        )
    try:
        part.after_start(settings)  # e.g. migrations, which need ZooKeeper on a replica
    except Exception as exc:  # whatever failed, the part is not ready: stopped, a supervisor tries again
        stop(part, settings)
        raise GmvError(f"{part.name}: started, but its set-up failed: {one_line(exc)}") from exc
    return state(part, settings)


def stop(part: Part, settings: Settings, timeout: float = 30.0) -> bool:
    """Stop ``part`` and every process of its group; True if something was running."""
    info = _read_pid_file(settings, part.name)
    if info is None:
        return False
    pid = int(info["pid"])
    was_alive = _is_ours(info)
    if pid_alive(pid) and not was_alive:  # the pid now belongs to a stranger: never signal it
        log.warning("%s: pid %d is no longer the process gmv started; not signalling it", part.name, pid)
        _pid_file(settings, part.name).unlink(missing_ok=True)
        return False
    _write_pid_file(settings, part.name, {**info, "stopping": True})  # a supervisor leaves it be
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        if wait_for(lambda: not _group_alive(pid), wait, interval=0.1):
            break
    _pid_file(settings, part.name).unlink(missing_ok=True)
    return was_alive


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running (the leader may exit first)."""
    pid_alive(pgid)  # reaps the leader if it is our child
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def start_all(parts: Iterable[Part], settings: Settings, echo: Callable[[str], None] = print,
              keep_going: bool = False, stop_flag: StopFlag | None = None) -> list[str]:
    """Start each part in turn: "starting <part>..." (unless it is up already), then its state line.

    The first part that cannot start raises its error; with ``keep_going`` (a supervisor follows)
    it is reported in one line and the others are started: returns the names of those that did
    not start, for :func:`supervise` to try again. Once ``stop_flag`` is set it starts no more."""
    failed = []
    for part in parts:
        if stop_flag is not None and stop_flag.is_set():
            break
        t0 = time.monotonic()
        try:
            st = start(part, settings, echo, stop_flag=stop_flag)
        except GmvError as exc:
            if not keep_going:
                raise
            echo(f"{part.name:<19} did not start: {exc} It is tried again while `gmv up` runs.")
            failed.append(part.name)
            continue
        if stop_flag is not None and stop_flag.is_set():
            break  # stopped before it was healthy
        echo(f"{st.line()}  healthy after {time.monotonic() - t0:.1f} s")
    return failed


def stop_all(parts: Iterable[Part], settings: Settings, echo: Callable[[str], None] = print) -> None:
    for part in reversed(list(parts)):
        if stop(part, settings):
            echo(f"{part.name:<19} stopped")


# -- one `gmv up` per state folder, and its supervision ------------------------------------


@contextlib.contextmanager
def exclusive(settings: Settings) -> Iterator[None]:
    """Hold the state folder's lock: a second `gmv up` on the same folder stops with one line
    instead of racing the first one to start (and supervise) the same parts."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    path = settings.run_dir / "up.lock"
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            raise GmvError(f"another `gmv up` (pid {holder}) manages {settings.run_dir}; stop it first "
                           "(Ctrl-C there, or `gmv down`), or set GMV_HOME to another folder.") from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _how_it_ended(pid: int) -> str:
    status = EXIT_STATUS.pop(pid, None)
    if status is None:
        return "its process is gone"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.WEXITSTATUS(status)}"


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines()[-20:] if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:200] if lines else ""


@dataclass
class _Watch:
    restarts: int = 0
    backoff: float = 1.0
    next_try: float = 0.0
    up_since: float = 0.0


def supervise(parts: Iterable[Part], settings: Settings, stop: StopFlag,
              every_s: float = 2.0, max_backoff_s: float = 60.0, pending: Iterable[str] = ()) -> None:
    """Until ``stop``: start again any part whose process died (not one `gmv down` is stopping),
    with backoff doubling from 1 s to ``max_backoff_s`` (back to 1 s once it stayed up a minute),
    logging how it ended and its log's last line. A part alive but not answering its health check
    is only reported: it may be waiting for a neighbour. ``pending`` parts did not start at all
    (:func:`start_all`): they are started with the same backoff. Returns early when `gmv down` has
    stopped every part."""
    parts = list(parts)
    watches = {part.name: _Watch(up_since=time.monotonic()) for part in parts}
    waiting = set(pending)
    reported: set[str] = set()
    while not stop.wait(every_s):
        infos = {part.name: _read_pid_file(settings, part.name) for part in parts}
        if all(info is None for info in infos.values()):
            log.info("every part was stopped (gmv down); nothing left to supervise")
            return
        stopping = any(info and info.get("stopping") for info in infos.values())
        for part in parts:
            if stop.is_set():
                return  # the caller stops every part now: start none again
            info, watch, now = infos[part.name], watches[part.name], time.monotonic()
            if info is None and part.name in waiting and not stopping and now >= watch.next_try:
                _start_pending(part, settings, watch, waiting, max_backoff_s, stop)
                continue
            if info is None or info.get("stopping"):
                continue
            if _is_ours(info):
                if now - watch.up_since > 60:
                    watch.backoff = 1.0
                if _safe_healthy(part, settings):
                    reported.discard(part.name)
                elif part.name not in reported:
                    reported.add(part.name)
                    log.warning("%s is running but not answering its health check; see %s",
                                part.name, log_path(settings, part.name))
                continue
            if now < watch.next_try:
                continue
            watch.restarts = int(info.get("restarts", 0)) + 1
            log.warning("%s died (%s; last log line: %s); starting it again (restart %d)", part.name,
                        _how_it_ended(int(info["pid"])), _last_line(log_path(settings, part.name)) or "-",
                        watch.restarts)
            try:
                start(part, settings, restarts=watch.restarts, stop_flag=stop)
                if stop.is_set():
                    return
                watch.up_since = time.monotonic()
                log.info("%s is up again after restart %d", part.name, watch.restarts)
            except GmvError as exc:
                _write_pid_file(settings, part.name, {**info, "restarts": watch.restarts, "pid": info["pid"]})
                log.warning("%s: restart %d failed (%s); next try in %.0f s", part.name, watch.restarts, exc,
                            watch.backoff)
                watch.next_try = time.monotonic() + watch.backoff
                watch.backoff = min(watch.backoff * 2, max_backoff_s)


def _start_pending(part: Part, settings: Settings, watch: _Watch, waiting: set[str], max_backoff_s: float,
                   stop: StopFlag) -> None:
    """One more try at a part that did not start when `gmv up` began."""
    watch.restarts += 1
    try:
        start(part, settings, restarts=watch.restarts, stop_flag=stop)
    except GmvError as exc:
        log.warning("%s: start %d failed (%s); next try in %.0f s", part.name, watch.restarts + 1, exc, watch.backoff)
        watch.next_try = time.monotonic() + watch.backoff
        watch.backoff = min(watch.backoff * 2, max_backoff_s)
        return
    if stop.is_set():
        return
    waiting.discard(part.name)
    watch.up_since = time.monotonic()
    log.info("%s is up (start %d; it could not start when gmv up began)", part.name, watch.restarts + 1)
