"""``gmv``: one command for every part of the pipeline.

Errors a user can fix (:class:`GmvError`, including bad settings) print one line
on stderr and exit 1, as ``gmv status`` does when a started part is down; a bad
argument exits 2 (argparse's usage error). Every command logs through one setup
(:mod:`stream.logs`): ``gmv --log-level {debug,info,warning,error} COMMAND``.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stream import logs
from stream.argtypes import count
from stream.errors import GmvError

if TYPE_CHECKING:
    from stream.job.runner import JobOptions
    from stream.settings import Settings
    from stream.stack.processes import Part, StopFlag

Command = Callable[[argparse.Namespace], int]
# Commands that run until stopped: the client libraries' warnings show in their logs (see stream.logs)
LONG_RUNNING = ("job", "simulate", "alerts", "dashboard")
log = logging.getLogger("gmv")


def _echo(line: str) -> None:
    logs.echo(line)  # progress of a long command: shown as it happens, also through a pipe


def _settings():
    from stream import settings

    return settings.load()


def cmd_setup(args: argparse.Namespace) -> int:
    from stream.stack import jars

    jars.ensure(_settings(), echo=_echo)
    print("jars ready")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from stream import registry
    from stream.stack import processes

    settings = _settings()
    parts = registry.select(args.parts, settings)
    if args.wait:
        return _up_and_supervise(parts, settings)
    with processes.exclusive(settings):
        _start_all(parts, settings)
    return 0


def _start_all(parts: list[Part], settings: Settings, stop: StopFlag | None = None) -> list[str]:
    """Start the parts and show their addresses; with ``stop`` (a supervisor follows) a part that
    cannot start yet (a neighbour restarting, its port taken) is tried again by it, like one that
    dies later: returns their names."""
    from stream.stack import processes

    failed = processes.start_all(parts, settings, echo=_echo, keep_going=stop is not None, stop_flag=stop)
    if failed and len(failed) == len(parts):
        raise GmvError(f"no part started ({', '.join(failed)}); read the lines above for why.")
    for part in parts:
        if part.url(settings) and part.name not in failed:
            _echo(f"{part.name:<19} {part.url(settings)}")
    return failed


def _up_and_supervise(parts: list[Part], settings: Settings) -> int:
    """`gmv up --wait` (`make run`): start the parts, start again any that dies, and stop every part
    on SIGINT (Ctrl-C), SIGTERM or SIGHUP (its terminal closed). The parts run in sessions of their
    own, out of reach of the terminal's signals: only this process can stop them, so it must not
    die first -- not of the signal, nor of writing to an output whose reader is gone (see logs.divert;
    Python ignores SIGPIPE, so such a write raises instead of killing). A signal ignored by whoever
    started it stays ignored (`nohup make run`: SIGHUP). kill -9 still orphans the parts: the next
    `gmv up` adopts them, `gmv down` stops them."""
    from stream import registry
    from stream.stack import processes

    stop = processes.StopFlag()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, lambda signum, _frame: stop.set(signal.Signals(signum).name))
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    logs.send_lost_output_to(settings.log_dir / "up.log")
    with processes.exclusive(settings):
        try:
            failed = _start_all(parts, settings, stop)
            if not stop.is_set():
                _echo("running; a part that dies is started again; press Ctrl-C to stop everything")
            processes.supervise(parts, settings, stop, pending=failed)
        finally:  # also after an error: what it started never runs on without a supervisor
            if stop.is_set():
                _echo(f"{stop.reason}: stopping every part")
            processes.stop_all(registry.parts(settings).values(), settings, echo=_echo)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from stream import registry
    from stream.stack import clickhouse, processes

    settings = _settings()
    states = [processes.state(p, settings) for p in registry.parts(settings).values()]
    for st in states:
        print(st.line())
    up = {st.name for st in states if st.up}
    if "kafka" in up:
        print(_lag_line(settings))
    if settings.replicated:
        for replica in range(len(clickhouse.replica_addresses(settings))):
            print(_replica_line(settings, replica))
    if any(name == "clickhouse" or name.startswith("clickhouse-") for name in up):
        print(_freshness_line(settings))
        print(_history_line(settings))
    return 1 if any(st.started and not st.up for st in states) else 0


def _lag_line(settings) -> str:
    from stream.job import loader, runner
    from stream.stack import kafka_admin

    job_lag = kafka_admin.consumer_lag(settings, f"{settings.topic_prefix}{runner.CONSUMER_GROUP}",
                                       (settings.orders_topic, settings.logistics_topic))
    loader_lag = kafka_admin.consumer_lag(settings, f"{settings.topic_prefix}{loader.CONSUMER_GROUP}",
                                          tuple(settings.rollup_topics.values()))
    shown = ["-" if lag is None else f"{lag:,}" for lag in (job_lag, loader_lag)]
    return f"kafka lag   job {shown[0]} messages (as of its last checkpoint), loader {shown[1]} messages"


def _replica_line(settings, replica: int) -> str:
    """One ClickHouse replica's replication: read-only tables, lag behind the others, queue."""
    from stream.stack import clickhouse

    host, port = clickhouse.replica_addresses(settings)[replica]
    name = f"{host}:{port}"
    try:
        with clickhouse.connect_replica(settings, replica, "reader") as client:
            found = clickhouse.replica_state(client, (settings.clickhouse_database, settings.history_database))
    except Exception as exc:  # noqa: BLE001 - status reports any failure as "unknown", never a traceback
        return f"replica     {name:<21} unknown ({str(exc).splitlines()[0][:100]})"
    return f"replica     {name:<21} {found.text()}"


def _freshness_line(settings) -> str:
    import time

    from stream.contract import ROLLUPS
    from stream.stack import clickhouse

    try:
        with clickhouse.connect(settings, "reader") as client:
            newest = client.execute(f"SELECT max(written_ms), max(window_start) "
                                    f"FROM {settings.clickhouse_database}.{ROLLUPS['orders_second'].table}")[0]
    except Exception as exc:  # noqa: BLE001 - status reports any failure as "unknown", never a traceback
        return f"freshness   unknown ({str(exc).splitlines()[0]})"
    if not newest[0]:
        return "freshness   no rollups yet"
    age = time.time() - newest[0] / 1000
    return f"freshness   newest rollup written {age:.1f} s ago (window {newest[1]} UTC)"


def _history_line(settings) -> str:
    """What last year's history covers (the per-second totals' first and last window), in one line."""
    from stream import history
    from stream.contract import ROLLUPS
    from stream.stack import clickhouse

    database = settings.history_database
    try:
        with clickhouse.connect(settings, "reader") as client:
            found = client.execute("SELECT count() FROM system.tables WHERE database = %(db)s AND name = %(t)s",
                                   {"db": database, "t": ROLLUPS["orders_second"].table})[0][0]
            first, last, rows = client.execute(
                f"SELECT toUInt32(min(window_start)), toUInt32(max(window_start)), count() "
                f"FROM {database}.{ROLLUPS['orders_second'].table}")[0] if found else (0, 0, 0)
    except Exception as exc:  # noqa: BLE001 - status reports any failure as "unknown", never a traceback
        return f"history     unknown ({str(exc).splitlines()[0]})"
    if not rows:
        return (f"history     none in {database}: the wall compares with nothing (gmv simulate --only-history, "
                "or gmv history import PATH)")
    return f"history     last year {history.local_text(first)} to {history.local_text(last)} CST in {database}"


def cmd_down(args: argparse.Namespace) -> int:
    from stream import registry
    from stream.stack import processes

    settings = _settings()
    processes.stop_all(registry.parts(settings).values(), settings)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from clickhouse_driver.errors import NetworkError, SocketTimeoutError

    from stream.stack import clickhouse, migrations

    settings = _settings()
    try:
        if settings.replicated:  # every replica, in step: replicated tables
            clients = [clickhouse.connect_replica(settings, r, "writer")
                       for r in range(len(clickhouse.replica_addresses(settings)))]
            try:
                applied = migrations.apply_replicated(clients, settings.clickhouse_database)
                migrations.apply_replicated(clients, settings.history_database)
            finally:
                for client in clients:
                    client.disconnect()
        else:
            with clickhouse.connect(settings, "writer") as client:
                applied = migrations.apply(client, settings.clickhouse_database)
                migrations.apply(client, settings.history_database)  # last year's festival: the same tables
    except (NetworkError, SocketTimeoutError, OSError, EOFError) as exc:
        raise GmvError(f"cannot reach ClickHouse at {settings.clickhouse_host}:{settings.clickhouse_port} "
                       f"({exc}); start it with `gmv up clickhouse`.") from None
    print(f"migrations applied: {applied or 'none (up to date)'}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """The whole benchmark on private servers (bench/bench_job.py, bench/bench_dashboard.py): a
    table, JSON and a PNG. ``--only baselines``: just Kafka's own tools on the broker at GMV_KAFKA_*."""
    import json
    import time

    settings = _settings()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = args.json or settings.home / "bench" / f"bench-{stamp}.json"
    if args.only == "baselines":
        return _bench_baselines(settings, args, out)
    from stream import bench_report
    from stream.settings import PROJECT_ROOT

    trees = f"new={PROJECT_ROOT}"
    if args.against:
        if not (args.against / "stream" / "cli.py").exists():
            raise GmvError(f"--against {args.against}: not a checkout of this project (no stream/cli.py).")
        trees = f"{args.against.name or 'other'}={args.against.resolve()},{trees}"
    work = out.with_suffix("")
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {"when": stamp, "trees": trees}
    if args.only in ("all", "job"):
        _bench_script("bench_job.py", work / "job.json", [
            "--baselines", str(args.records), "--events", str(args.events), "--parallelisms", args.parallelisms,
            "--clusters", args.clusters, "--rates", str(args.start_rate), "--step", "--factor", str(args.factor),
            "--seconds", str(args.seconds), "--workers", str(args.workers), "--trees", trees])
        report["job"] = json.loads((work / "job.json").read_text())
    if args.only in ("all", "dashboard"):
        _bench_script("bench_dashboard.py", work / "dashboard.json", ["--seconds", str(args.seconds)])
        report["dashboard"] = json.loads((work / "dashboard.json").read_text())
    print("\n".join(bench_report.lines(report)))
    out.write_text(json.dumps(report, indent=2))
    if report.get("job", {}).get("freshness"):
        bench_report.plot(report, out.with_suffix(".png"))
        print(f"written to {out} and {out.with_suffix('.png')}")
    else:
        print(f"written to {out}")
    return 0


def _bench_script(name: str, json_out: Path, args: list[str]) -> None:
    """Run one of bench/*.py (its own servers on free ports), its output passed through."""
    import subprocess

    from stream.settings import PROJECT_ROOT

    script = PROJECT_ROOT / "bench" / name
    if not script.exists():
        raise GmvError(f"{script} is missing: gmv bench runs from a checkout of the project.")
    print(f"== {name} {' '.join(args)}", flush=True)
    result = subprocess.run([sys.executable, str(script), *args, "--json", str(json_out)], check=False)
    if result.returncode != 0:
        raise GmvError(f"{name} failed (exit {result.returncode}); its output is above.")


def _bench_baselines(settings, args: argparse.Namespace, out: Path) -> int:
    import json

    from kafka.errors import KafkaError

    from stream.stack import kafka_perf

    try:
        (produced,), (consumed,) = kafka_perf.measure(settings, args.records, args.record_size)
    except KafkaError as exc:
        raise GmvError(f"cannot reach Kafka at {settings.kafka_bootstrap} ({exc}); "
                       "start it with `gmv up kafka`.") from None
    rows = {"kafka ProducerPerformance (acks=all, lz4)": produced, "kafka ConsumerPerformance": consumed}
    print(f"{'baseline':<44} {'messages/s':>12} {'MB/s':>8}   ({args.records:,} x {args.record_size} B)")
    for name, rate in rows.items():
        print(f"{name:<44} {rate.per_second:>12,.0f} {rate.mb_per_second:>8.1f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"records": args.records, "record_size": args.record_size,
                               "produce": vars(produced), "consume": vars(consumed)}, indent=2))
    print(f"written to {out}")
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError

    from stream.stack import kafka_admin

    settings = _settings()
    try:
        kafka_admin.create_topics(settings)
    except KafkaError as exc:
        raise GmvError(f"cannot reach Kafka at {settings.kafka_bootstrap} ({exc}); "
                       "start it with `gmv up kafka`.") from None
    print(f"topics ready: {', '.join(settings.topics)} ({settings.kafka_partitions} partitions)")
    return 0


def cmd_job(args: argparse.Namespace) -> int:
    from stream.job import runner
    from stream.stack import clickhouse, kafka_admin, migrations

    settings = _settings()
    options = runner.JobOptions(
        parallelism=args.parallelism, watermark_delay_ms=args.watermark_delay_ms,
        cluster=args.cluster, from_checkpoint=not args.from_start,
    )
    kafka_admin.create_topics(settings)
    with clickhouse.connect(settings, "writer") as client:
        migrations.apply(client, settings.clickhouse_database)
    resumed = runner.flink_config(settings, options).get("execution.state-recovery.path")
    runner.clear_stale_scratch(settings)
    try:
        return _run_job(settings, options, resumed)
    finally:  # the embedded JVM stops with this process; what it wrote in its scratch folder goes too
        runner.remove_scratch(settings)


def _run_job(settings: Settings, options: JobOptions, resumed: str | None) -> int:
    from stream.job import loader, runner

    job_log = logging.getLogger("gmv.job")
    cluster = options.cluster
    if cluster and (adopted := runner.live_job(*_host_port(cluster))):
        # this process was started again and the cluster kept the job: load its rollups, submit nothing
        job_log.info("job: %s already runs it as %s; loading its rollups", cluster, adopted)
        job_status = _cluster_status(cluster, adopted)
    else:
        job_log.info("job: submitting to %s%s", options.cluster or "the embedded local cluster",
                     f", resuming from {resumed}" if resumed else "")
        result = runner.submit(settings, options)
        logs.reapply()  # PyFlink turned the root logger down to WARNING while submitting
        job_id = str(result.get_job_client().get_job_id())
        job_log.info("job: running as %s", job_id)
        job_status = (_cluster_status(cluster, job_id) if cluster
                      else lambda: str(result.get_job_client().get_job_status().result()))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    ended: list[str] = []
    threading.Thread(target=_watch_job, args=(job_status, stop, ended), name="job-watch", daemon=True).start()
    loader.run_lanes(settings, stop)
    if ended:  # exit non-zero, so whoever supervises this process (`gmv up`) starts it again
        raise GmvError(f"job: the Flink job ended ({ended[0]}) although nobody stopped it; read "
                       f"{settings.log_dir / 'flink'} for the cause. Starting the job again resumes "
                       "from its last checkpoint.")
    if not options.cluster:  # cancelling keeps the checkpoints (RETAIN_ON_CANCELLATION)
        from py4j.protocol import Py4JError

        logging.disable(logging.ERROR)  # py4j logs tracebacks of its own before raising, and again at exit
        try:
            result.get_job_client().cancel().result()
        except Py4JError:  # `gmv down` signals the whole process group: the embedded JVM may be gone
            job_log.info("job: the embedded cluster stopped with this process; its checkpoints are kept")
    return 0


def _host_port(cluster: str) -> tuple[str, int]:
    host, _, port = cluster.rpartition(":")
    return host, int(port)


def _cluster_status(cluster: str, job_id: str) -> Callable[[], str]:
    """The job's state from the cluster's REST API (an adopted job has no client of this process)."""
    from stream.job import runner

    def status() -> str:
        found = runner.job_state(*_host_port(cluster), job_id)
        if found is None:
            raise OSError(f"{cluster} does not answer")
        return found

    return status


def _watch_job(job_status: Callable[[], str], stop: threading.Event, ended: list[str], every_s: float = 5.0) -> None:
    """Set ``stop`` when the Flink job reaches a terminal state by itself (its restart strategy
    retries forever, so this means something it cannot recover from), or the cluster forgot it (its
    JobManager was started again), so the process exits instead of loading nothing while looking alive."""
    while not stop.wait(every_s):
        try:
            status = job_status()
        except Exception:  # noqa: BLE001 - the cluster busy or restarting: ask again next time
            continue
        if status in ("FAILED", "CANCELED", "FINISHED", "UNKNOWN"):
            ended.append(status)
            stop.set()


def cmd_verify(args: argparse.Namespace) -> int:
    from clickhouse_driver.errors import NetworkError

    from stream.job import verify
    from stream.stack import clickhouse

    settings = _settings()
    if not Path(args.ledger).is_file():
        raise GmvError(f"--ledger {args.ledger}: no such file; write one with `gmv simulate --ledger PATH`.")
    try:
        with clickhouse.connect(settings, "reader") as client:
            differences, report = verify.verify(client, settings.clickhouse_database, Path(args.ledger))
    except (NetworkError, OSError) as exc:
        raise GmvError(f"cannot reach ClickHouse at {settings.clickhouse_host}:{settings.clickhouse_port} "
                       f"({str(exc).splitlines()[0]}); start it with `gmv up clickhouse`.") from None
    for difference in differences[: args.show]:
        print(difference.line())
    if differences:
        print(f"verify: {len(differences)} of {report['keys']} keys differ", file=sys.stderr)
        return 1
    print(f"verify: exact: {report['keys']} windows x dimensions match, GMV {report['gmv_fen']} fen, "
          f"{report['buyers']} buyers (unique per festival day, summed), "
          f"rejected {report['rejected']}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """``gmv history import PATH ...``: CSV files of last year's rollups, validated whole, then
    inserted (the history database created and migrated first) and their hour and day tiers summed
    from them; ``gmv history status``."""
    from stream import history
    from stream.stack import clickhouse, migrations

    settings = _settings()
    if args.action == "status":
        with history.reaching(settings), clickhouse.connect(settings, "reader") as client:
            lines = history.status_lines(client, settings.history_database)
        print(f"history database {settings.history_database}")
        print("\n".join(lines))
        return 0
    import time

    from stream import history_csv

    files = []
    for path in args.paths:
        try:
            files.append((str(path), path.read_text(encoding="utf-8-sig")))
        except UnicodeDecodeError as exc:
            raise GmvError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8.") from None
        except OSError as exc:
            raise GmvError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    try:
        parsed = history_csv.parse(files)  # every row checked before anything is written
    except history_csv.HistoryCsvError as exc:
        shown = exc.problems[:history_csv.SHOWN_PROBLEMS]
        for problem in shown:
            print(f"gmv: {problem}", file=sys.stderr)
        more = len(exc.problems) - len(shown)
        print(f"gmv: {len(exc.problems)} problem{'s' if len(exc.problems) > 1 else ''}"
              + (f" ({more} not shown)" if more else "") + "; nothing was imported.", file=sys.stderr)
        return 1
    written_ms = time.time_ns() // 1_000_000
    with history.reaching(settings), clickhouse.connect(settings, "writer") as client:
        migrations.apply(client, settings.history_database)
        rows = history.insert(client, settings.history_database, parsed.tables, written_ms, batch=10_000_000)
        tiers = history.derive_tiers(client, settings.history_database, parsed.tables, written_ms)
    for name, rollup, n in parsed.files:
        print(f"{name}: {n:,} rows of {rollup}")
    if tiers:
        print("summed per hour and day: " + ", ".join(f"{n:,} rows of {tier}" for tier, n in tiers.items()))
    print(f"imported {rows:,} rows and {sum(tiers.values()):,} hour and day rows into {settings.history_database} "
          "(gmv history status shows what it holds)")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from stream import probes

    settings = _settings()
    from dashboard.auth import require_credentials

    require_credentials(settings, args.host)  # beyond loopback: logins or a kiosk token, or one line here
    users = len(settings.dashboard_logins())  # a bad users file stops here, in one line
    if probes.port_in_use(settings.dashboard_port, args.host):
        raise GmvError(f"dashboard: port {settings.dashboard_port} is in use by another process; stop that "
                       "process or set GMV_DASHBOARD_PORT to a free port.")
    from dashboard.app import serve

    access = "no login (loopback)" if not settings.dashboard_login_required else (
        f"login required ({users} user{'s' if users != 1 else ''}), kiosk token "
        + ("set: wall screens open /?kiosk=TOKEN" if settings.dashboard_kiosk_token else "not set"))
    logging.getLogger("gmv.dashboard").info("dashboard on http://%s:%s/, %s (Ctrl-C stops it)",
                                            args.host, settings.dashboard_port, access)
    serve(settings, host=args.host)
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    from stream.alerts import config, service

    settings = _settings()
    rules = config.load(config.config_path(args.config))  # a bad file stops here, in one line
    logging.getLogger("gmv.alerts").info("alerts: %d rules and %d webhooks from %s (Ctrl-C stops it)",
                                         len(rules.rules), len(rules.webhooks), rules.path)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    service.serve(settings, rules, stop, name=args.name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from stream.simulator import cli as simulator_cli

    parser = argparse.ArgumentParser(prog="gmv", description="Live 11.11 GMV pipeline.")
    parser.add_argument("--log-level", choices=logs.LEVELS, default=logs.DEFAULT_LEVEL, type=str.lower,
                        help=f"log lines at this level and above, on stderr (default {logs.DEFAULT_LEVEL}); "
                        "also accepted after the command")
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
    from stream.job.runner import JobOptions  # no PyFlink import: the job's shell loads it on submit

    run_job = sub.add_parser("job", help="run the Flink job and the rollup loader (foreground)")
    run_job.add_argument("--cluster", metavar="HOST:PORT", help="submit to this Flink cluster's REST endpoint")
    run_job.add_argument("--parallelism", type=int, default=2)
    run_job.add_argument("--watermark-delay-ms", type=int, default=JobOptions.watermark_delay_ms,
                         help="bounded out-of-orderness; later events go to late corrections")
    run_job.add_argument("--from-start", action="store_true", help="ignore earlier checkpoints")
    run_job.set_defaults(func=cmd_job)
    check = sub.add_parser("verify", help="compare the rollups with a simulator ledger, to the fen")
    check.add_argument("--ledger", required=True, metavar="PATH")
    check.add_argument("--show", type=int, default=10, metavar="N", help="differences to print")
    check.set_defaults(func=cmd_verify)
    sub.add_parser("migrate", help="apply the ClickHouse migrations (servers run elsewhere)") \
        .set_defaults(func=cmd_migrate)
    sub.add_parser("topics", help="create the Kafka topics (servers run elsewhere)") \
        .set_defaults(func=cmd_topics)
    bench = sub.add_parser("bench", help="baselines, job throughput, freshness against the rate, dashboard "
                           "latency; private servers; a table, JSON and a PNG")
    bench.add_argument("--only", choices=("all", "baselines", "job", "dashboard"), default="all",
                       help="baselines: only Kafka's own tools, on the broker at GMV_KAFKA_* (a minute)")
    bench.add_argument("--against", type=Path, metavar="DIR",
                       help="another checkout (e.g. a worktree of main, after `make setup` there) whose job "
                            "runs beside this one's, measurement by measurement")
    bench.add_argument("--records", type=count, default=500_000, help="messages each Kafka tool moves")
    bench.add_argument("--record-size", type=count, default=380, help="bytes per message (an order event)")
    bench.add_argument("--events", type=count, default=1_000_000,
                       help="backlog the job drains (its first fifth warms the JVM up, unmeasured)")
    bench.add_argument("--parallelisms", default="1,2", help="of the throughput runs")
    bench.add_argument("--clusters", default="embedded,standalone", help="where the throughput runs go")
    bench.add_argument("--start-rate", type=count, default=500, help="orders/s of the first freshness step")
    bench.add_argument("--factor", type=float, default=1.5, help="each freshness step's rate over the last")
    bench.add_argument("--seconds", type=count, default=60, help="length of each freshness step and poll test")
    bench.add_argument("--workers", type=count, default=2, help="simulator processes sending at once")
    bench.add_argument("--json", type=Path, help="where to write the figures (default $GMV_HOME/bench/); "
                       "the PNG goes beside it")
    bench.set_defaults(func=cmd_bench)
    from stream import history_csv

    hist = sub.add_parser("history", help="last year's festival: import it from CSV, or see what it holds",
                          description="Last year's festival in the history database (GMV_CLICKHOUSE_DATABASE"
                          "_history), which the wall, explore's overlay and the drop alert compare with.\n\n"
                          + history_csv.FORMAT,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    hist_sub = hist.add_subparsers(dest="action", required=True, metavar="ACTION")
    importing = hist_sub.add_parser("import", help="load CSV files of last year's rollups (all or nothing)",
                                     description=hist.description, formatter_class=argparse.RawDescriptionHelpFormatter)
    importing.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    hist_sub.add_parser("status", help="what the history database holds")
    hist.set_defaults(func=cmd_history)
    dash_cmd = sub.add_parser("dashboard", help="run the Dash app in the foreground on GMV_DASHBOARD_PORT")
    dash_cmd.add_argument("--host", default="127.0.0.1",
                          help="address to listen on (0.0.0.0 to serve wall screens on other machines)")
    dash_cmd.set_defaults(func=cmd_dashboard)
    alerts_cmd = sub.add_parser("alerts", help="run the alert service in the foreground (throughput drop, "
                                "pipeline stall -> webhooks)")
    alerts_cmd.add_argument("--config", metavar="PATH",
                            help="rules file (default $GMV_ALERTS_CONFIG, else infra/alerts.toml)")
    alerts_cmd.add_argument("--name", default="alerts", choices=("alerts", "alerts-2"),
                            help="which of the alert services this is (its heartbeat file; with "
                                 "GMV_ALERTS_STANDBY=1 its name in the leader election)")
    alerts_cmd.set_defaults(func=cmd_alerts)
    simulator_cli.register(sub)
    for command in sub.choices.values():  # `gmv status --log-level debug` as well as `gmv --log-level ...`
        command.add_argument("--log-level", choices=logs.LEVELS, default=argparse.SUPPRESS, type=str.lower,
                             help=f"as `gmv --log-level` (default {logs.DEFAULT_LEVEL})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``gmv`` command: 0 done, 1 a runtime error (one line on stderr), 2 a bad argument."""
    parser = build_parser()
    args = parser.parse_args(argv)  # a bad argument exits 2 here (argparse)
    logs.setup(args.log_level, clients=args.command in LONG_RUNNING)
    try:
        return args.func(args)
    except GmvError as exc:
        print(f"gmv: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `gmv status | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
