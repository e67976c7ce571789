"""``gmv simulate``: the festival's orders and parcels into Kafka (or stdout), with a ledger.

Examples::

    gmv simulate --clock live --rate 200                      # into the pipeline's topics
    gmv simulate --clock festival --rate 500                  # Nov 11 from 19:58 at 4x (make run)
    gmv simulate --clock replay --start 2021-11-11T00:00+08:00 --speed 1440 --rate 2000 \\
        --duration 60 --ledger var/ledger.jsonl                # Nov 11 in a minute
    gmv simulate --sink null --events 1000000 --seed 1        # how fast can it generate?
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

from stream.argtypes import count
from stream.errors import GmvError

log = logging.getLogger("gmv.simulator")

DEFAULT_REPLAY_SPEED = 60.0
# --clock festival: 4 festival seconds a wall second: the 20:00 spike comes 30 s into a first run,
# the festival's last four hours take an hour.
FESTIVAL_CLOCK_SPEED = 4.0
STATUS_EVERY_S = 5.0  # wall seconds between status lines
REPLAY_DELAY_COMPRESSION = 24.0  # a replayed day shows its parcels delivered


def _share(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share between 0 and 1")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _positive(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _not_negative(text: str) -> float:
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def _growth(text: str) -> float:
    value = _number(text.removesuffix("%"))
    if not value > -100:
        raise argparse.ArgumentTypeError(f"{text!r} must be above -100 (percent)")
    return value


def _rate(text: str) -> float | str:
    return "max" if text == "max" else _positive(text)


def _moment(text: str) -> datetime:
    from stream.simulator.config import FESTIVAL_TZ

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO time like 2021-11-11T00:00+08:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=FESTIVAL_TZ)


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``simulate`` to ``gmv``'s subcommands."""
    from stream.simulator.run import CLOSES

    p = subparsers.add_parser("simulate", help="generate festival orders and parcels into Kafka",
                              description="Festival orders and parcels into Kafka (or stdout), with a ledger of "
                              "what was sent. See docs/simulator.md.")
    p.error = lambda message: _fail(p.prog, message)  # one line, not the whole usage
    p.parse_known_args = _strict(p)  # unknown flags too, instead of gmv's usage
    when = p.add_argument_group("clock")
    when.add_argument("--clock", choices=("live", "replay", "festival"), default="live",
                      help="live: event time is now; replay: festival time from --start at --speed; festival: "
                      "Nov 11 from 19:58 China time (a past year's), continuing after the newest event already in "
                      "the topics (default live)")
    when.add_argument("--start", type=_moment, help="replay start (default: Nov 11 00:00 Asia/Shanghai)")
    when.add_argument("--speed", type=_positive, help=f"replay and festival: festival seconds per wall second "
                      f"(default {DEFAULT_REPLAY_SPEED:g} replay, {FESTIVAL_CLOCK_SPEED:g} festival)")
    how = p.add_argument_group("volume and length")
    how.add_argument("--rate", type=_rate, help="orders per wall second averaged over the run, or 'max' "
                     "(default: the festival's real volume x --scale; unpaced with --sink null)")
    how.add_argument("--scale", type=_positive, help="simulated orders per real order when no --rate (default 1e-4)")
    how.add_argument("--duration", type=_positive, metavar="S", help="stop after S wall seconds")
    how.add_argument("--events", type=count, metavar="N", help="stop after N messages")
    how.add_argument("--seed", type=int, default=0, help="same seed and arguments give the same bytes (replay)")
    how.add_argument("--delay-compression", type=_positive, metavar="F",
                     help=f"divide parcel and refund delays by F (default 1 live, {REPLAY_DELAY_COMPRESSION:g} replay)")
    how.add_argument("--batch-orders", type=count, default=4096, help=argparse.SUPPRESS)
    out = p.add_argument_group("output")
    out.add_argument("--sink", choices=("kafka", "stdout", "null"), default="kafka", help="default kafka")
    out.add_argument("--ledger", type=Path, metavar="PATH", help="write the ground truth here (JSON Lines)")
    out.add_argument("--close", choices=CLOSES, default="minute",
                     help="what the last heartbeat closes: the last minute's windows (default), or every window "
                          "of the newest event's day, its hours and the day itself (for a replay whose topics take "
                          "nothing later: the job counts anything older as late)")
    out.add_argument("--status-every", type=_not_negative, default=STATUS_EVERY_S, metavar="S",
                     help=f"log a status line (sent, rate, festival time) on stderr every S wall seconds "
                     f"(default {STATUS_EVERY_S:g}; 0: none)")
    last = p.add_argument_group("last year (the history database, see docs/dashboard.md)")
    last.add_argument("--history", action="store_true",
                      help="first write last year's festival into the history database (GMV_CLICKHOUSE_DATABASE"
                      "_history): last year's calendar, this run's volume / (1 + growth), straight into rollup rows "
                      "(if ClickHouse cannot take it, a warning, and the stream goes on)")
    last.add_argument("--only-history", action="store_true", help="write last year's festival, then stop (no Kafka)")
    last.add_argument("--growth", type=_growth, default=None, metavar="PCT",
                      help="this year on last year, percent (default 26: last year's volume is this year's / 1.26)")
    last.add_argument("--history-budget", type=count, default=None, metavar="N",
                      help="simulated orders of last year at most (default 500,000); past it each simulated order "
                      "counts for several (every count and amount multiplied alike)")
    last.add_argument("--history-ledger", type=Path, metavar="PATH",
                      help="write what the history holds (JSON Lines, as --ledger) here")
    bad = p.add_argument_group("faults")
    bad.add_argument("--duplicates", type=_share, default=0.0, metavar="P", help="redeliver a share P of events")
    bad.add_argument("--late", type=_share, default=0.0, metavar="P", help="send a share P of events late...")
    bad.add_argument("--late-by", type=_positive, default=60.0, metavar="S", help="...by S seconds (default 60)")
    bad.add_argument("--malformed", type=_share, default=0.0, metavar="P", help="a share P of messages are invalid")
    bad.add_argument("--outage", metavar="START:LEN", help="orders drop from START for LEN wall seconds")
    bad.add_argument("--outage-depth", type=_share, default=0.9, metavar="D", help="by this share (default 0.9)")
    p.set_defaults(func=cmd_simulate)
    return p


def _strict(parser: argparse.ArgumentParser):
    """``parse_known_args`` that refuses leftovers itself (gmv's top parser would print its usage),
    and arguments that do not go together (a usage error too: exit 2, like argparse's own)."""
    def parse_known_args(args=None, namespace=None):
        namespace, extras = argparse.ArgumentParser.parse_known_args(parser, args, namespace)
        if extras:
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        problem = _conflict(namespace)
        if problem:
            parser.error(problem)
        return namespace, extras
    return parse_known_args


def _conflict(args: argparse.Namespace) -> str | None:
    """What is wrong with a combination of arguments, if anything."""
    if args.clock == "live" and (args.start or args.speed):
        return "--start and --speed only apply to --clock replay (and --speed to --clock festival)."
    if args.clock == "festival" and args.start:
        return "--clock festival picks its own start; use --clock replay --start for another."
    writes_history = args.history or args.only_history
    if not writes_history and (args.growth is not None or args.history_budget or args.history_ledger):
        return "--growth, --history-budget and --history-ledger only apply with --history or --only-history."
    if args.malformed >= 1:
        return "--malformed must be below 1 (some messages must be valid)."
    if args.outage:
        from stream.simulator.faults import Outage

        try:
            Outage.parse(args.outage, args.outage_depth)
        except GmvError as exc:
            return str(exc)
    return None


def _fail(prog: str, message: str):
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def build(args: argparse.Namespace, now_ms: int | None = None, newest_ms: int | None = None):
    """The festival config and run options that ``args`` ask for (raises GmvError).

    ``newest_ms``: the newest event time already in the topics (``--clock festival`` continues
    after it)."""
    from stream.simulator.clock import ClockSpec, festival_clock_start
    from stream.simulator.config import DEFAULT, FESTIVAL_TZ
    from stream.simulator.faults import Faults, Outage
    from stream.simulator.run import RunOptions

    problem = _conflict(args)  # checked when parsing already; here for callers that build a Namespace
    if problem:
        raise GmvError(problem)
    now_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    if args.clock == "festival":
        start_ms = festival_clock_start(now_ms, newest_ms)
        spec = ClockSpec("replay", start_ms, args.speed or FESTIVAL_CLOCK_SPEED)
        year = datetime.fromtimestamp(start_ms / 1000, FESTIVAL_TZ).year
    elif args.clock == "replay":
        start = args.start or datetime(DEFAULT.year, 11, 11, tzinfo=FESTIVAL_TZ)
        start_ms = int(start.timestamp() * 1000)
        spec = ClockSpec("replay", start_ms, args.speed or DEFAULT_REPLAY_SPEED)
        year = start.astimezone(FESTIVAL_TZ).year
    else:
        start_ms = now_ms
        spec = ClockSpec("live", start_ms, 1.0)
        year = datetime.fromtimestamp(start_ms / 1000, FESTIVAL_TZ).year
    compression = args.delay_compression or (1.0 if args.clock == "live" else REPLAY_DELAY_COMPRESSION)
    config = DEFAULT.replace(year=year, delay_compression=compression,
                             **({"scale": args.scale} if args.scale else {}))
    outage = Outage.parse(args.outage, args.outage_depth) if args.outage else None
    faults = Faults(args.duplicates, args.late, args.late_by, args.malformed, outage)
    rate = args.rate if isinstance(args.rate, float) else None
    paced = not (args.rate == "max" or (args.rate is None and args.sink == "null"))
    options = RunOptions(clock=spec, rate=rate, paced=paced, duration_s=args.duration, events=args.events,
                         seed=args.seed, faults=faults, batch_orders=args.batch_orders, close=args.close)
    return config, options


def _sink(name: str):
    from stream.simulator import sinks

    if name == "null":
        return sinks.NullSink()
    if name == "stdout":
        return sinks.StdoutSink()
    from stream import settings

    return sinks.KafkaSink(settings.load())


def _write_history(args: argparse.Namespace, config, options) -> None:
    """Last year's festival into the history database (see stream/simulator/history.py)."""
    from stream import settings
    from stream.simulator import history

    history.write(settings.load(), config, options,
                  history.DEFAULT_GROWTH_PCT if args.growth is None else args.growth,
                  args.history_budget or history.DEFAULT_BUDGET, args.history_ledger,
                  echo=lambda line: print(f"gmv simulate: {line}", flush=True,
                                          file=sys.stderr if args.sink == "stdout" else sys.stdout))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run the simulator; logs a status line every ``--status-every`` seconds (on stderr, so
    ``--sink stdout`` keeps stdout to the events) and prints what it sent and its rate at the end."""
    from stream.simulator.run import run

    sink = None if args.only_history else _sink(args.sink)  # Kafka down: one line at once
    newest_ms = None
    if args.clock == "festival" and sink is not None and args.sink == "kafka":
        from stream import settings
        from stream.simulator.sinks import newest_event_ms

        newest_ms = newest_event_ms(settings.load())
    from stream.contract import FESTIVAL_TZ

    config, options = build(args, newest_ms=newest_ms)
    if args.clock == "festival":
        log.info("festival clock: from %s China time at %gx%s",
                 datetime.fromtimestamp(options.clock.start_ms / 1000, FESTIVAL_TZ).strftime("%Y-%m-%d %H:%M:%S"),
                 options.clock.speed, " (after the newest event already in the topics)" if newest_ms else "")
    if args.only_history:
        _write_history(args, config, options)
        return 0
    if args.history:
        try:
            _write_history(args, config, options)
        except GmvError as exc:  # the stream is worth more than last year: it goes on
            log.warning("history: last year not written (%s); the stream goes on without it", exc)
    signal.signal(signal.SIGTERM, _interrupt)  # `gmv down`: stop like Ctrl-C, flushing and writing the ledger
    stats = run(config, options, sink, args.ledger, status=log.info, status_every_s=args.status_every)
    report = sys.stderr if args.sink == "stdout" else sys.stdout
    print(f"gmv simulate: {stats.line()}", file=report)
    if args.ledger:
        print(f"gmv simulate: ledger written to {args.ledger}", file=report)
    return 0
