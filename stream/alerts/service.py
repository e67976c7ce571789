"""The alert service's shell: every second, read ClickHouse, evaluate every rule, record and deliver.

One evaluation (:meth:`AlertService.step`):

1. progress of orders_per_second: the newest window, the newest ``written_ms`` (stall), and
   the newest window that was already written ``settle_seconds`` ago;
2. the drop rules' *horizon*: that settled window minus ``margin_seconds`` of event time. Only
   windows before it are judged, so a window the pipeline has not finished (or whose rows
   the loader has not all written yet) never reads as a drop. Event time, not the wall
   clock, is "now" for a drop: a replayed 2021 festival is judged like a live one. Every
   horizon since the last evaluation is judged in turn, so a drop inside a jump of the horizon
   (the job catching up) still pages;
3. orders per second over the span the drop rules need (``FINAL``, late rows added in), last
   year's for the same calendar moments when a rule's baseline is ``last_year`` or ``both``
   (:mod:`stream.alerts.last_year`, from ``Settings.history_database``), and messages received
   and rejected per minute over the span the rejected-spike rules need;
4. :func:`stream.alerts.rules.evaluate` for every rule; each alert is written to
   ``alert_events`` (delivery ``pending``) and queued for its webhooks, whose outcome
   rewrites the row (``delivered`` / ``failed``, attempts);
5. the GMV milestones (:mod:`stream.alerts.milestone_watch`): each round figure's first second,
   written to ``milestones`` when it is passed or moves, announced once to the webhooks;
6. the first delivery of each festival day (:mod:`stream.alerts.first_delivery_watch`), written
   to ``first_deliveries`` when found or moved earlier, each time announced once to the
   milestones' webhooks.

Without history for the span judged, a ``last_year`` rule judges against the trailing median
and the service says so once (a log line naming the rule, the moment and why: no history
database, no rows, not that date), and once again when history covers it; the heartbeat's
``baselines`` shows what each drop rule judges against now.

On start the rules' states come back from ``alert_events`` (a firing alert stays firing
across a restart, cooldowns hold) and alerts still ``pending`` are delivered again. A
heartbeat file (``$GMV_HOME/run/alerts.heartbeat``) is rewritten after every evaluation; it
is the part's health check.

With a standby (``GMV_ALERTS_STANDBY=1``) two services run, ``alerts`` and ``alerts-2``, and
only the holder of the lease in ZooKeeper (:mod:`stream.alerts.lease`) evaluates and pages; the
other rewrites its heartbeat (role ``standby``) while it waits. On taking over it starts as
after a restart: states from ``alert_events``, pending alerts delivered again. Every alert is
written as pending *before* it is sent, so a leader killed at any moment loses no page; one
killed after the POST and before recording it as delivered has it sent again by the next leader,
with the same ``X-Gmv-Alert`` key (at least once, and exactly once at a receiver that drops a
key it has taken: no protocol can tell "sent, then died" from "died, then not sent").
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from stream.alerts import payload as payload_mod
from stream.alerts import store
from stream.alerts.config import AlertsConfig
from stream.alerts.delivery import NONE, PENDING, Deliverable, Dispatcher, Fence
from stream.alerts.first_delivery_watch import FirstDeliveryWatch
from stream.alerts.last_year import LastYear
from stream.alerts.milestone_watch import MilestoneWatch
from stream.alerts.milestones import label as figure_label
from stream.alerts.rules import (
    FIRING,
    Alert,
    DropRule,
    Freshness,
    Level,
    Rejections,
    RejectRule,
    Rule,
    RuleState,
    Windows,
    evaluate,
    evaluate_drop_since,
    first_unjudged,
    rejected_span,
)
from stream.contract import FESTIVAL_TZ
from stream.history import same_moment_last_year
from stream.settings import Settings
from stream.stack import clickhouse

log = logging.getLogger("gmv.alerts")

STATUS_EVERY_S = 60  # a status line in the log this often
RESTORE_ROWS = 1000
REDELIVER_WITHIN_S = 3600  # alerts left pending by a stop are sent again on start if this recent


def heartbeat_path(settings: Settings, name: str = "alerts") -> Path:
    return settings.run_dir / f"{name}.heartbeat"


def secret_from_env(env: dict[str, str] | None = None) -> str | None:
    """The webhook signing secret, ``$GMV_WEBHOOK_SECRET`` (None when unset or empty)."""
    value = (os.environ if env is None else env).get(payload_mod.SECRET_ENV, "")
    return value or None


class _Connection:
    """A lazily (re)connected ClickHouse client as the writer user; one per thread that uses it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = None
        self.lock = threading.Lock()

    def execute(self, sql: str, params=None) -> list:
        with self.lock:
            client = self.client or clickhouse.connect(self.settings, "writer")
            self.client = client
            try:
                return client.execute(sql, params)
            except Exception:
                client.disconnect()
                self.client = None
                raise

    def close(self) -> None:
        with self.lock:
            if self.client is not None:
                self.client.disconnect()
                self.client = None


@dataclass
class Reading:
    """What one evaluation read (kept for tests and the heartbeat)."""

    freshness: Freshness
    windows: Windows | None
    rejections: Rejections | None = None
    progress: store.Progress | None = None  # None: the table is empty, or ClickHouse did not answer


class AlertService:
    """Evaluates ``config``'s rules on ``settings``' ClickHouse database; see the module docstring.

    ``clock`` (epoch seconds) is injectable so a replay can be evaluated as it would run live.
    ``run``/``insert`` default to clickhouse-driver connections as the writer user.
    """

    def __init__(self, config: AlertsConfig, settings: Settings, *, secret: str | None = None,
                 clock: Callable[[], float] = time.time,
                 run: Callable[..., list] | None = None, insert: Callable[[str, list], object] | None = None,
                 heartbeat: Path | None = None, watch_from_ms: int | None = None,
                 fence: Fence | None = None) -> None:
        self.config, self.settings, self.secret = config, settings, secret
        self.fence = fence  # the lease in ZooKeeper when a standby runs too
        self.token = fence.token if fence else 0
        self.clock = clock
        self.db = settings.clickhouse_database
        # Lazy: a connection opens on first use, so one that an injected run/insert replaces never does.
        self._reader, self._writer = _Connection(settings), _Connection(settings)
        self.run = run or self._reader.execute
        self.recorder = store.Recorder(insert or self._writer.execute, self.db, self.now_ms)
        self.last_year = LastYear(self.run, settings.history_database, clock)
        self.baselines: dict[str, str] = {}  # drop rule -> what it judges against now (heartbeat, log)
        self.dispatcher = Dispatcher(config.webhooks, self._delivered, fence)
        self.states: dict[str, RuleState] = {rule.name: RuleState() for rule in config.rules}
        self.dashboard_url = config.service.dashboard_url or f"http://127.0.0.1:{settings.dashboard_port}"
        self.milestones = MilestoneWatch(
            config.milestones, config.milestone_targets(), self.run, self.db,
            store.Recorder(insert or self._writer.execute, self.db, self.now_ms, table=store.MILESTONES,
                           columns=store.MILESTONE_COLUMNS),
            self.dispatcher, self.now_ms, secret, self.dashboard_url)
        self.first_delivery = FirstDeliveryWatch(
            config.milestone_targets(), self.run, self.db,
            store.Recorder(insert or self._writer.execute, self.db, self.now_ms, table=store.FIRST_DELIVERIES,
                           columns=store.FIRST_DELIVERY_COLUMNS),
            self.dispatcher, self.now_ms, secret, self.dashboard_url)
        self.heartbeat = heartbeat
        self.evaluations = 0
        self.alerts: list[Alert] = []  # every alert this service raised (a handful a day; tests read it)
        self.last: Reading | None = None
        self._freshness = Freshness(None, watching_since_ms=watch_from_ms)
        self._hint: int | None = None
        self._judged: int | None = None  # the drop rules' horizon judged last
        self._oldest: int | None = None
        self._reachable = True
        self._last_status = 0.0
        self._watch_from_ms = watch_from_ms  # default: when start() is called
        self._restored: bool | None = None  # None: not tried; False: ClickHouse did not answer yet

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Restore the rules' states from alert_events, redeliver pending alerts, start the workers."""
        if self._watch_from_ms is None:
            self._watch_from_ms = self.now_ms()
        if self.config.webhooks and not self.secret:
            log.warning("%s is not set: webhooks are sent without an X-Signature header",
                        payload_mod.SECRET_ENV)
        self.dispatcher.start()
        self._try_restore()
        log.info("alerts: %d rules (%s), %d webhooks, every %.1f s on %s", len(self.config.rules),
                 ", ".join(f"{r.name}:{r.kind}" for r in self.config.rules), len(self.config.webhooks),
                 self.config.service.interval_seconds, self.db)
        figures = self.config.milestones.figures_fen
        if figures:
            log.info("milestones: %s, announced to %d webhooks", ", ".join(figure_label(f) for f in figures),
                     len(self.config.milestone_targets()))

    def _try_restore(self) -> None:
        """Rules' states from alert_events; until ClickHouse answers, every rule starts clear and
        this is tried again before each evaluation."""
        try:
            history = store.read_history(self.run, self.db, RESTORE_ROWS)
        except Exception as exc:  # noqa: BLE001 - unreadable history: evaluate anyway, retry later
            if self._restored is None:
                log.warning("alert history not read yet (%s); rules start clear until it is", _short(exc))
            self._restored = False
            return
        self._restored = True
        self._restore(history)

    def _restore(self, history: list[dict]) -> None:
        # rules that already changed state here (while ClickHouse was not answering) keep it
        by_rule = {rule.name: rule for rule in self.config.rules if self.states[rule.name] == RuleState()}
        for row in sorted(history, key=lambda r: int(r["event_ms"])):  # oldest first, newest wins
            rule = by_rule.get(row["rule"])
            if rule is None:
                continue
            alert = _alert_of(row, rule)
            if row["state"] == FIRING:
                self.states[rule.name] = RuleState(firing=True, fired_ms=alert.event_ms, level=self._level(rule, alert))
            else:
                self.states[rule.name] = RuleState(fired_ms=self.states[rule.name].fired_ms)
            if row["delivery"] == PENDING and self.now_ms() - alert.event_ms <= REDELIVER_WITHIN_S * 1000:
                self._send(alert)  # at least once: X-Gmv-Alert lets a receiver drop a repeat
        firing = [name for name, st in self.states.items() if st.firing]
        if firing:
            log.info("alerts: still firing from before the restart: %s", ", ".join(firing))

    def _level(self, rule: Rule, alert: Alert) -> Level | None:
        """The baseline a restored firing drop alert keeps (its recorded baseline; for last year,
        the ratio that gives it from last year's rate in the alert's window, when history has it)."""
        if not isinstance(rule, DropRule):
            return None
        ratio = None
        if rule.baseline != "median":
            last, covered = self.last_year.read(alert.window_start, alert.window_end)
            if last is not None and covered is not None and covered[0] <= alert.window_start \
                    and alert.window_end <= covered[1] and last.sum() > 0:
                ratio = alert.baseline / float(last.mean())
        return Level(median=alert.baseline, ratio=ratio)

    def close(self) -> None:
        self.dispatcher.close()
        self.recorder.flush()
        self.milestones.flush()
        self.first_delivery.flush()
        self._reader.close()
        self._writer.close()

    def run_forever(self, stop: threading.Event, leading: Callable[[], bool] = lambda: True) -> None:
        """Evaluate every ``interval_seconds`` until ``stop`` is set (or ``leading()`` is false:
        the lease's session is no longer connected)."""
        self.start()
        interval = self.config.service.interval_seconds
        try:
            while not stop.is_set() and leading():
                began = time.monotonic()
                try:
                    self.step()
                except Exception:  # one bad evaluation must not end the service
                    log.exception("alerts: evaluation failed")
                stop.wait(max(0.0, interval - (time.monotonic() - began)))
        finally:
            self.close()

    # -- one evaluation -------------------------------------------------------------------------

    def step(self) -> list[Alert]:
        """Read, evaluate every rule, record and queue what fired or resolved; the new alerts."""
        if not self._restored:
            self._try_restore()
        now_ms = self.now_ms()
        reading = self._read(now_ms)
        raised = []
        for rule in self.config.rules:
            data: Windows | Freshness | Rejections | None = reading.freshness
            if isinstance(rule, DropRule):
                data = reading.windows
            elif isinstance(rule, RejectRule):
                data = reading.rejections
            if data is None:
                continue
            if isinstance(rule, DropRule) and isinstance(data, Windows):
                self._say_baseline(rule, data)
                alerts, self.states[rule.name] = evaluate_drop_since(rule, data, self.states[rule.name], now_ms,
                                                                     self._judged)
            else:
                alert, self.states[rule.name] = evaluate(rule, data, self.states[rule.name], now_ms)
                alerts = [] if alert is None else [alert]
            for alert in alerts:
                raised.append(alert)
                self._raise(alert)
        if reading.windows is not None and reading.windows.horizon is not None:
            self._judged = reading.windows.horizon
        if reading.freshness.reachable:
            horizon = self._horizon(reading.progress)
            self.milestones.step(reading.progress, horizon)
            self.first_delivery.step(reading.progress.newest_window if reading.progress else None, horizon)
        self.recorder.flush()
        self.milestones.flush()
        self.first_delivery.flush()
        self.evaluations += 1
        self.last = reading
        self._status(now_ms, reading)
        return raised

    def _read(self, now_ms: int) -> Reading:
        service = self.config.service
        try:
            progress = store.read_progress(self.run, self.db, now_ms - int(service.settle_seconds * 1000),
                                           self._hint)
            windows = self._windows(progress)
            rejections = self._rejections(now_ms)
        except Exception as exc:  # noqa: BLE001 - any failure to read is "not answering"
            if self._reachable:
                log.error("alerts: ClickHouse is not answering (%s); drops are not judged meanwhile", _short(exc))
            self._reachable = False
            self._freshness = dataclasses.replace(self._freshness, reachable=False)
            return Reading(self._freshness, None)
        if not self._reachable:
            log.info("alerts: ClickHouse answers again")
        self._reachable = True
        if progress is None:
            self._freshness = Freshness(None, watching_since_ms=self._watch_from_ms)
            return Reading(self._freshness, None, rejections)
        self._hint = progress.newest_window
        self._freshness = Freshness(progress.newest_written_ms, progress.newest_window,
                                    watching_since_ms=self._watch_from_ms)
        return Reading(self._freshness, windows, rejections, progress)

    def _rejections(self, now_ms: int) -> Rejections | None:
        spans = [rejected_span(r, now_ms) for r in self.config.rules if isinstance(r, RejectRule)]
        if not spans:
            return None
        return store.read_rejections(self.run, self.db, min(s for s, _ in spans), max(e for _, e in spans))

    def _horizon(self, progress: store.Progress | None) -> int | None:
        """The exclusive end of the windows the pipeline has finished (None: none yet)."""
        if progress is None or progress.settled_window is None:
            return None
        return progress.settled_window - self.config.service.margin_seconds + 1

    def _windows(self, progress: store.Progress | None) -> Windows | None:
        drops = [r for r in self.config.rules if isinstance(r, DropRule)]
        if progress is None or not drops:
            return None
        horizon = self._horizon(progress)
        if horizon is None:
            return Windows(0, np.zeros(0, dtype=np.int64), None, self._oldest)
        if self._oldest is None or self._oldest >= horizon:  # until known (a table can also restart)
            self._oldest = store.read_oldest(self.run, self.db)
        start = first_unjudged(self._judged, horizon) - max(r.history_seconds for r in drops)
        counts = store.read_counts(self.run, self.db, start, horizon)
        if all(r.baseline == "median" for r in drops):
            return Windows(start, counts, horizon, self._oldest)
        last, covered = self.last_year.read(start, horizon)
        return Windows(start, counts, horizon, self._oldest, last, covered)

    def _say_baseline(self, rule: DropRule, windows: Windows) -> None:
        """Log once what a drop rule judges against, and again whenever that changes: last year,
        or the trailing median for want of history (and why)."""
        if rule.baseline == "median" or windows.horizon is None:
            return
        first = windows.horizon - rule.history_seconds
        if windows.last_year_between(first, windows.horizon) is not None:
            now, line = rule.baseline, f"judged against last year ({self.last_year.describe()})"
        else:
            now = "median (no history)"
            why = self.last_year.describe() if windows.history is not None else self.last_year.why
            line = (f"no history for last year's {_local(same_moment_last_year(first))} CST ({why}); judged "
                    "against the trailing median until there is (history: `gmv simulate` for last year, or "
                    "`gmv history import PATH`)")
        if self.baselines.get(rule.name) != now:
            self.baselines[rule.name] = now
            (log.info if now != "median (no history)" else log.warning)("alerts: %s: %s", rule.name, line)

    # -- alerts: record, deliver ----------------------------------------------------------------

    def _raise(self, alert: Alert) -> None:
        self.alerts.append(alert)
        level = logging.WARNING if alert.state == FIRING else logging.INFO
        log.log(level, "ALERT %s %s [%s]: %s", alert.rule, alert.state.upper(), alert.severity, alert.message)
        hooks = self.config.targets(alert.severity)
        self.recorder.record(store.Row(alert, PENDING if hooks else NONE, fencing_token=self.token))
        if hooks:
            self._send(alert)

    def _send(self, alert: Alert) -> None:
        hooks = self.config.targets(alert.severity)
        if not hooks:
            return
        body = payload_mod.encode(payload_mod.payload(alert, self.dashboard_url))
        self.dispatcher.submit(alert, body, payload_mod.headers(alert, body, self.secret), hooks)

    def _delivered(self, alert: Deliverable, delivery: str, attempts: int) -> None:
        assert isinstance(alert, Alert)
        self.recorder.record(store.Row(alert, delivery, attempts, self.token))

    def _status(self, now_ms: int, reading: Reading) -> None:
        if self.heartbeat is not None:
            _write_heartbeat(self.heartbeat, {
                "pid": os.getpid(), "role": "leader" if self.fence else "single", "fencing_token": self.token,
                "evaluated_ms": now_ms, "evaluations": self.evaluations,
                "newest_window": reading.freshness.newest_window, "reachable": reading.freshness.reachable,
                "firing": sorted(n for n, st in self.states.items() if st.firing),
                "milestones": sorted(self.milestones.stored), "first_deliveries": sorted(self.first_delivery.stored),
                "baselines": dict(self.baselines)})
        if time.monotonic() - self._last_status >= STATUS_EVERY_S:
            self._last_status = time.monotonic()
            fresh = reading.freshness
            age = f"{(now_ms - fresh.written_ms) / 1000:.1f} s ago" if fresh.written_ms else "never"
            horizon = reading.windows.horizon if reading.windows else None
            log.info("alerts: %d evaluations; newest rollup written %s; drops judged up to %s; firing: %s",
                     self.evaluations, age, horizon, ", ".join(n for n, s in self.states.items() if s.firing)
                     or "none")


def _local(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, FESTIVAL_TZ).strftime("%Y-%m-%d %H:%M")


def _alert_of(row: dict, rule: Rule) -> Alert:
    return Alert(rule=row["rule"], kind=rule.kind, severity=row["severity"], state=row["state"],
                 observed=float(row["observed"]), baseline=float(row["baseline"]),
                 window_start=int(row["window_start"]), window_seconds=int(row["window_seconds"]),
                 message=row["message"], event_ms=int(row["event_ms"]))


def _write_heartbeat(path: Path, content: dict) -> None:
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(content))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("heartbeat %s not written: %s", path, exc)


def heartbeat_fresh(settings: Settings, max_age_s: float = 10.0, name: str = "alerts") -> bool:
    """The part's health check: the service evaluated (or, standing by, asked for the lease)
    within the last ``max_age_s`` seconds."""
    try:
        return time.time() - heartbeat_path(settings, name).stat().st_mtime <= max_age_s
    except FileNotFoundError:
        return False


def role(settings: Settings, name: str = "alerts") -> str:
    """'leader (token 7), ' or 'standby, ' from the heartbeat (for `gmv status`); '' without a standby."""
    try:
        beat = json.loads(heartbeat_path(settings, name).read_text())
    except (OSError, ValueError):
        return ""
    if beat.get("role") == "leader":
        return f"leader (token {beat.get('fencing_token')}), "
    return "standby, " if beat.get("role") == "standby" else ""


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0][:200] if text else type(exc).__name__)


def serve(settings: Settings, config: AlertsConfig, stop: threading.Event, name: str = "alerts") -> None:
    """``gmv alerts``: run until ``stop`` is set (Ctrl-C, SIGTERM from ``gmv down``); with
    ``GMV_ALERTS_STANDBY=1``, page only while this service holds the lease."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    beat = heartbeat_path(settings, name)
    try:
        if settings.alerts_standby:
            _serve_by_lease(settings, config, stop, name, beat)
        else:
            AlertService(config, settings, secret=secret_from_env(), heartbeat=beat).run_forever(stop)
    finally:
        beat.unlink(missing_ok=True)


def _serve_by_lease(settings: Settings, config: AlertsConfig, stop: threading.Event, name: str,
                    beat: Path) -> None:
    """Stand by until this service holds the lease, evaluate and page while its session lasts,
    stand by again when it ends (a new candidate, a new token)."""
    from kazoo.exceptions import KazooException
    from kazoo.handlers.threading import KazooTimeoutError

    from stream.alerts.lease import Lease, election_path

    hosts = ",".join(f"{host}:{port}" for host, port in settings.zookeeper_hosts)
    with Lease(hosts, election_path(settings.clickhouse_database), name) as lease:
        while not stop.is_set():
            try:
                if lease.node is None or lease.lost.is_set():
                    lease.enter()
                leading = lease.wait(timeout=1.0)
            except (KazooException, KazooTimeoutError) as exc:
                log.warning("alerts %s: ZooKeeper did not answer (%s); standing by", name, _short(exc))
                leading = False
                stop.wait(1.0)
            if not leading:
                _write_heartbeat(beat, {"pid": os.getpid(), "role": "standby", "fencing_token": lease.token,
                                        "evaluated_ms": int(time.time() * 1000)})
                continue
            log.info("alerts %s: leader now (fencing token %d): restoring and paging", name, lease.token)
            service = AlertService(config, settings, secret=secret_from_env(), heartbeat=beat, fence=lease)
            service.run_forever(stop, leading=lease.holding)  # asked of ZooKeeper before each evaluation
            if not stop.is_set():
                log.warning("alerts %s: the lease's session is not connected (token %d): not paging, standing by",
                            name, lease.token)
