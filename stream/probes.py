"""Small probes that the stack, the simulator and the tests all borrow: wait for a condition
with a deadline, and ask whether a local port is taken, answers, or is free."""
from __future__ import annotations

import errno
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers do: with SO_REUSEADDR only a listening socket (not TIME_WAIT) blocks the bind.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE or exc.errno == errno.EACCES
    return False


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# Ports free_port has handed out in this process: each once, since none is bound until later.
_HANDED_OUT: set[int] = set()
LOWEST_PORT = 10_000


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return 32_768, 60_999  # Linux's default
    return low, high


def free_port() -> int:
    """A port nothing uses now (for tests and for parallel local stacks), below the kernel's
    ephemeral range: a port from that range can be taken, between this choice and the server's
    bind, as the local port of any outgoing connection (it happened to a Flink REST port)."""
    below = _ephemeral_range()[0]
    for _ in range(200 if below - LOWEST_PORT >= 1000 else 0):
        port = random.randrange(LOWEST_PORT, below)
        if port not in _HANDED_OUT and not port_in_use(port):
            break
    else:  # no room below the ephemeral range (or no luck): the kernel chooses
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    _HANDED_OUT.add(port)
    return port


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds pass; True if it became true."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(interval, remaining))
