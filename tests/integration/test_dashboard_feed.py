"""The wall's shared payload against the real server: 50 screens cost one screen's queries;
a database that is down gives one sentence and the last numbers; `gmv up` runs the app."""
from __future__ import annotations

import threading
import time
import urllib.request

import pytest

from dashboard.cache import SharedCache
from dashboard.db import Database
from dashboard.pages import Context
from dashboard.pages.wall import WallFeed
from stream import probes, registry
from stream.stack import clickhouse, processes
from tests.support import synthetic

pytestmark = pytest.mark.slow


@pytest.fixture
def known(clickhouse_settings):
    with clickhouse.connect(clickhouse_settings, "writer") as writer:
        synthetic.insert_rows(writer, clickhouse_settings.clickhouse_database,
                              synthetic.known_rows(int(time.time() * 1000)))
    return clickhouse_settings


def feed_for(settings) -> WallFeed:
    return WallFeed(Context(settings=settings, db=Database(settings), alerts_config=None, state={}))


def queries_of_one_screen(settings) -> int:
    feed = feed_for(settings)
    payload = feed.payload()
    assert payload["gmv"]["fen"] == synthetic.KNOWN["festival_gmv_fen"]
    return feed.ctx.db.queries_run


def test_fifty_screens_cost_the_queries_of_one(known):
    one = queries_of_one_screen(known)
    feed = feed_for(known)
    barrier = threading.Barrier(50)
    answers = []

    def screen():
        barrier.wait(30)
        answers.append(feed.payload()["gmv"]["fen"])

    threads = [threading.Thread(target=screen) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert answers == [synthetic.KNOWN["festival_gmv_fen"]] * 50
    assert feed.ctx.db.queries_run == one
    assert feed.ctx.db.cache.stats["waits"] + feed.ctx.db.cache.stats["hits"] >= 49


def test_database_down_says_so_and_keeps_the_last_payload(known):
    feed = feed_for(known)
    assert feed.payload()["ok"]
    down = known.replace(clickhouse_port=probes.free_port())
    feed.ctx = Context(settings=down, db=Database(down, cache=feed.ctx.db.cache), alerts_config=None, state={})
    feed.ctx.db.cache.clear()
    first = feed.payload()
    assert first == {"ok": False, "has_data": False, "error": first["error"]}
    assert first["error"].startswith(f"ClickHouse at 127.0.0.1:{down.clickhouse_port} is unreachable")


def test_a_failed_rebuild_serves_the_last_numbers_marked(known):
    cache = SharedCache(error_ttl=0.0)
    good = Database(known, cache=cache)
    feed = WallFeed(Context(settings=known, db=good, alerts_config=None, state={}))
    assert feed.payload()["ok"]
    cache.clear()
    first_value = {"has_data": True, "gmv": {"fen": 1}, "as_of_ms": 5}
    cache.get(("wall-payload", known.clickhouse_database), lambda: first_value, ttl=0.0)
    down = known.replace(clickhouse_port=probes.free_port())
    feed.ctx = Context(settings=down, db=Database(down, cache=cache), alerts_config=None, state={})
    stale = feed.payload()
    assert stale["ok"] is False and stale["has_data"] and stale["gmv"] == {"fen": 1}


def test_gmv_up_starts_the_dashboard(known, tmp_path):
    settings = known.replace(home=tmp_path, dashboard_port=probes.free_port())
    try:
        state = processes.start(registry.DASHBOARD, settings)
        assert state.up
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.dashboard_port}/explore", timeout=5) as r:
            assert r.status == 200 and b"11.11 GMV" in r.read()
    finally:
        processes.stop(registry.DASHBOARD, settings)
    # the group leader exits first; its threads (and the socket) go a moment later
    assert probes.wait_for(lambda: not probes.port_answers(settings.dashboard_port), 10)
