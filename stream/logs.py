"""One logging setup for every ``gmv`` command: :func:`setup`, called once by :func:`stream.cli.main`.

Every line has the same shape, on stderr (which is the part's ``$GMV_HOME/log/<part>.log``
when ``gmv up`` started it)::

    2026-11-26 23:59:44,123 WARNING gmv.loader: ClickHouse insert failed (...); retrying in 0.5 s

The client libraries (kafka-python, clickhouse-driver; py4j and Apache Beam under PyFlink)
say a lot at INFO and log a traceback for every failed connection attempt. Below
``--log-level debug``:

* in the long-running parts (``clients=True``: the job and its loader, the simulator, the
  alert service, the dashboard) their warnings and errors pass, so a broker that drops and
  reconnects shows in the log, each as one line (a traceback is cut to its last line), and
  each kind of message (one logger, level and format string) at most once a minute, with a
  count of the ones left out;
* in the short commands (``gmv up``, ``status``, ``topics``...) they stay muted: those
  commands probe servers that may still be starting and turn a failed connection into one
  line of their own (:class:`stream.errors.GmvError`).

At ``debug`` everything passes, tracebacks included.

When stdout or stderr loses its reader (a closed terminal, a pipe into a `tee` that died), the
next write fails; :func:`echo` and the log handler then :func:`divert` it to a file and go on.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import TextIO

LEVELS = ("debug", "info", "warning", "error")
DEFAULT_LEVEL = "info"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CLIENT_LOGGERS = ("kafka", "clickhouse_driver", "py4j", "apache_beam", "pyflink")
REPEAT_EVERY_S = 60.0  # a client library's message of one kind passes at most this often

_level = DEFAULT_LEVEL
_clients = True
_lost_output_to = os.devnull  # see divert()


def level_number(level: str) -> int:
    """``"warning"`` -> ``logging.WARNING``; raises ValueError for a name not in :data:`LEVELS`."""
    name = level.lower()
    if name not in LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    return getattr(logging, name.upper())


def client_level(level: str, clients: bool) -> int:
    """The level of the client libraries' loggers for a run at ``level``."""
    number = level_number(level)
    if number <= logging.DEBUG:
        return number
    return max(number, logging.WARNING) if clients else logging.CRITICAL + 1


def _is_client(record: logging.LogRecord) -> bool:
    return record.name.split(".", 1)[0] in CLIENT_LOGGERS


class Formatter(logging.Formatter):
    """:data:`FORMAT`; with ``fold``, a client library's traceback becomes one line."""

    def __init__(self, fold: bool = True) -> None:
        super().__init__(FORMAT)
        self.fold = fold

    def format(self, record: logging.LogRecord) -> str:
        repeats = getattr(record, "gmv_repeats", 0)
        if not (repeats or (self.fold and record.exc_info and _is_client(record))):
            return super().format(record)
        message = record.getMessage()
        if self.fold and record.exc_info and record.exc_info[1] is not None and _is_client(record):
            exc = record.exc_info[1]
            detail = (str(exc).strip().splitlines() or [""])[0]
            message = f"{message} ({type(exc).__name__}{': ' + detail if detail else ''})"
        if repeats:
            message = f"{message} ({repeats} more like it left out since the last one shown)"
        copy = logging.makeLogRecord({**record.__dict__, "msg": message, "args": None,
                                      "exc_info": None, "exc_text": None})
        return super().format(copy)


class _Throttle(logging.Filter):
    """Lets each kind of client library message (logger, level, format string: the arguments
    may differ) through at most once per :data:`REPEAT_EVERY_S`."""

    def __init__(self, clock=time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self.seen: dict[tuple, list] = {}  # key -> [last time let through, repeats dropped since]

    def filter(self, record: logging.LogRecord) -> bool:
        if not _is_client(record):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        entry = self.seen.get(key)
        if entry is not None and now - entry[0] < REPEAT_EVERY_S:
            entry[1] += 1
            return False
        record.gmv_repeats = entry[1] if entry else 0
        self.seen[key] = [now, 0]
        return True


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (tests swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass

    def handleError(self, record: logging.LogRecord) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handleError(record)
            return
        divert(sys.stderr)  # stderr is gone: this line and the next go where divert() says
        with contextlib.suppress(OSError):
            sys.stderr.write(self.format(record) + self.terminator)
            sys.stderr.flush()


def send_lost_output_to(path: Path) -> None:
    """Where :func:`divert` sends stdout and stderr once their reader is gone (else /dev/null)."""
    global _lost_output_to
    _lost_output_to = str(path)


def divert(stream: TextIO) -> None:
    """Point ``stream``'s file at :func:`send_lost_output_to`'s file: its reader is gone (the `tee`
    of `make run | tee run.log` died of the same Ctrl-C, the terminal was closed) and each write
    would fail (BrokenPipeError, EIO). A command carries on without it: a supervisor still stops
    every part it started instead of dying of a line it could not show."""
    try:
        fd = os.open(_lost_output_to, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(fd, stream.fileno())
    except (OSError, ValueError):  # not a real file (a test's StringIO): nothing to divert
        pass
    finally:
        os.close(fd)


def echo(line: str) -> None:
    """Print ``line`` now (progress of a long command, also through a pipe); if stdout is gone,
    :func:`divert` it and carry on."""
    try:
        print(line, flush=True)
    except OSError:
        divert(sys.stdout)
        with contextlib.suppress(OSError):
            print(line, flush=True)


def setup(level: str = DEFAULT_LEVEL, *, clients: bool = True) -> None:
    """Log at ``level`` (one of :data:`LEVELS`) to stderr in :data:`FORMAT`; see the module docstring.

    Calling it again replaces the previous setup (tests run ``gmv`` several times in one process).
    """
    global _level, _clients
    number = level_number(level)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(Formatter(fold=number > logging.DEBUG))
    if number > logging.DEBUG:
        handler.addFilter(_Throttle())
    root.addHandler(handler)
    root.setLevel(number)
    for name in CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(client_level(level, clients))
    _level, _clients = level.lower(), clients


def reapply() -> None:
    """:func:`setup` again as last called, after a library changed the root logger (PyFlink sets it
    to WARNING when it opens a local environment: ``pyflink.fn_execution.beam.beam_worker_pool_service``)."""
    setup(_level, clients=_clients)


def current_level() -> str:
    """The level :func:`setup` was last given (the default before any call)."""
    return _level


def passed_on() -> list[str]:
    """``gmv`` arguments that give a part started from here this process's level (none at the default)."""
    return [] if _level == DEFAULT_LEVEL else ["--log-level", _level]
