"""``gmv``: one command for every part of the pipeline.

Errors a user can fix (:class:`GmvError`, including bad settings) print one line
on stderr and exit 2; ``gmv status`` exits 1 when a started part is down.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Callable, Sequence

from stream.errors import GmvError

Command = Callable[[argparse.Namespace], int]


def _settings():
    from stream import settings

    return settings.load()


def cmd_setup(args: argparse.Namespace) -> int:
    from stream import jars

    jars.ensure(_settings())
    print("jars ready")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from stream import services, stack

    settings = _settings()
    parts = stack.select(args.parts)
    services.start_all(parts, settings)
    for part in parts:
        if part.url(settings):
            print(f"{part.name:<11} {part.url(settings)}")
    if not args.wait:
        return 0
    print("running; press Ctrl-C to stop everything")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(5):
        down = [st.name for st in map(lambda p: services.state(p, settings), parts) if not st.up]
        if down:
            print(f"gmv: {', '.join(down)} went down; see {settings.log_dir}", file=sys.stderr)
    services.stop_all(stack.PARTS.values(), settings)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from stream import services, stack

    settings = _settings()
    states = [services.state(p, settings) for p in stack.PARTS.values()]
    for st in states:
        print(st.line())
    return 1 if any(st.started and not st.up for st in states) else 0


def cmd_down(args: argparse.Namespace) -> int:
    from stream import services, stack

    services.stop_all(stack.PARTS.values(), _settings())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gmv", description="Live 11.11 GMV pipeline.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("setup", help="fetch the Kafka and Flink jars with Maven").set_defaults(func=cmd_setup)
    up = sub.add_parser("up", help="start parts in the background (all when none named)")
    up.add_argument("parts", nargs="*", metavar="PART",
                    help="kafka, clickhouse, job, simulator, alerts, dashboard")
    up.add_argument("--wait", action="store_true", help="stay in the foreground; Ctrl-C stops all")
    up.set_defaults(func=cmd_up)
    sub.add_parser("status", help="state of each part; exit 1 if a started part is down") \
        .set_defaults(func=cmd_status)
    sub.add_parser("down", help="stop every part gmv started").set_defaults(func=cmd_down)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except GmvError as exc:
        print(f"gmv: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
