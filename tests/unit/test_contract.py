"""The declared contract (stream.contract) against what it declares: the event JSON Schemas and
the ClickHouse migrations. A mismatch fails here in seconds, not in a pipeline test."""
from __future__ import annotations

import ast
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from stream import contract
from stream.contract import ROLLUPS, VERSION_COLUMN
from stream.settings import PROJECT_ROOT, SCHEMAS_DIR
from stream.stack import migrations
from tests.support.chdb_engine import ChdbClient

CLICKHOUSE_TYPES = {contract.WINDOW: "DateTime", contract.FLAG: "UInt8", contract.COUNT: "UInt64",
                    contract.FEN: "Int64", contract.TEXT: "String"}


@pytest.mark.parametrize(("schema", "field"), [(s, f) for s, fields in contract.EVENT_ENUMS.items()
                                                for f in fields])
def test_event_enums_are_the_schemas_enums(schema, field):
    document = json.loads((SCHEMAS_DIR / f"{schema}.schema.json").read_text())
    assert tuple(document["properties"][field]["enum"]) == contract.EVENT_ENUMS[schema][field]


def test_every_enum_field_of_the_schemas_is_declared():
    for schema in ("order", "logistics"):
        document = json.loads((SCHEMAS_DIR / f"{schema}.schema.json").read_text())
        with_enum = {f for f, spec in document["properties"].items() if "enum" in spec}
        assert with_enum == set(contract.EVENT_ENUMS[schema]), schema


def test_measures_read_declared_fields_and_values():
    order = json.loads((SCHEMAS_DIR / "order.schema.json").read_text())["properties"]
    for m in contract.ORDER_MEASURES:
        assert m.status in contract.ORDER_STATUSES
        assert m.except_phase is None or m.except_phase in contract.PRESALE_PHASES
        assert m.phase is None or m.phase in contract.PRESALE_PHASES
        assert m.amount is None or order[m.amount]["type"] == "integer"
    for field in (*contract.CUBE_DIMENSIONS, contract.BRAND):
        assert field in order
    assert contract.BRAND not in contract.CUBE_DIMENSIONS  # the high-cardinality field stays out of the cube
    top = contract.TOP_BRANDS
    assert top.of == contract.BRAND and top.within in order and top.measure in contract.MEASURES
    assert set(top.events) <= set(contract.MEASURES)
    assert all(contract.MEASURE_BY_NAME[e].status == contract.MEASURE_BY_NAME[top.measure].status
               for e in top.events)  # the events whose amounts the ranked measure sums


@pytest.fixture(scope="module")
def migrated():
    """Every migration applied to a current ClickHouse engine (chDB, in-process)."""
    client = ChdbClient()
    migrations.apply(client, "contract_check")
    yield client
    client.close()


@pytest.mark.parametrize("name", list(ROLLUPS))
def test_migrated_table_has_the_declared_columns(migrated, name):
    rollup = ROLLUPS[name]
    described = migrated.execute(f"DESCRIBE TABLE contract_check.{rollup.table}")
    found = [(row[0], row[1]) for row in described]
    declared = [(c.name, CLICKHOUSE_TYPES[c.kind]) for c in rollup.columns] + [(VERSION_COLUMN, "UInt64")]
    assert sorted(found) == sorted(declared)


@pytest.mark.parametrize("name", list(ROLLUPS))
def test_migrated_table_keeps_one_row_per_declared_key(migrated, name):
    """ReplacingMergeTree collapses rows with equal sorting keys: the key must be exactly the
    declared keys, and the version column the newest write."""
    rollup = ROLLUPS[name]
    sorting_key, engine = migrated.execute(
        "SELECT sorting_key, engine_full FROM system.tables "
        f"WHERE database = 'contract_check' AND name = '{rollup.table}'")[0]
    assert sorted(k.strip() for k in sorting_key.split(",")) == sorted(c.name for c in rollup.keys)
    assert engine.startswith(f"ReplacingMergeTree({VERSION_COLUMN})")


def test_no_product_module_declares_the_contract_again():
    """The measures tuple, the time zone and the enums are defined once, in stream.contract."""
    repeated = {contract.MEASURES, contract.PARCEL_STATUSES, contract.ORDER_STATUSES, contract.CHANNELS}
    offenders = []
    for path in [*Path(PROJECT_ROOT, "stream").rglob("*.py"), *Path(PROJECT_ROOT, "dashboard").rglob("*.py")]:
        if path.name == "contract.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            value = getattr(node, "value", None) if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            if isinstance(value, ast.Tuple) and all(isinstance(e, ast.Constant) for e in value.elts):
                if tuple(e.value for e in value.elts) in repeated:
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "timedelta":
                if any(k.arg == "hours" and getattr(k.value, "value", None) == 8 for k in node.keywords):
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} (UTC+8)")
    assert offenders == []


def test_only_the_contract_names_rollup_tables_in_product_code():
    tables = {r.table for r in ROLLUPS.values()}
    offenders = []
    for path in [*Path(PROJECT_ROOT, "stream").rglob("*.py"), *Path(PROJECT_ROOT, "dashboard").rglob("*.py")]:
        if path.name == "contract.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if any(f".{t} " in node.value or f".{t}\n" in node.value or node.value == t for t in tables):
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert offenders == []


@pytest.mark.parametrize("name", [n for n, r in ROLLUPS.items() if r.family in ("cube_5min", "dimensions_second")])
def test_the_cube_and_the_dimensions_are_every_low_cardinality_field(name):
    """verify and the ledger key cube rows by ``dimensions``: the VIP flag is one, ``late`` is not;
    the dimensions rollups have a row per value of each of the same fields."""
    rollup = ROLLUPS[name]
    assert rollup.by == contract.CUBE_DIMENSIONS
    assert contract.LATE_COLUMN in [c.name for c in rollup.keys]
    if rollup.each:
        assert rollup.dimensions == ("dimension", "value")
    else:
        assert rollup.dimensions == contract.CUBE_DIMENSIONS


# -- time tiers and the two paths ----------------------------------------------------------------

TIERED = ("orders_second", "dimensions_second", "cube_5min", "brands_5min", "logistics_second")


def test_the_families_and_their_tiers():
    """The tiers as the issue asks for them: totals per second, hour and day; each field per second,
    minute, hour and day; the cube and brands per 5 minutes, hour and day; parcels per second and
    minute. Every other rollup is a family of its own."""
    tiers = {name: [(r.name, r.window_s) for r in contract.family(name)] for name in TIERED}
    assert tiers == {
        "orders_second": [("orders_second", 1), ("orders_hour", 3600), ("orders_day", 86400)],
        "dimensions_second": [("dimensions_second", 1), ("dimensions_minute", 60), ("dimensions_hour", 3600),
                              ("dimensions_day", 86400)],
        "cube_5min": [("cube_5min", 300), ("cube_hour", 3600), ("cube_day", 86400)],
        "brands_5min": [("brands_5min", 300), ("brands_hour", 3600), ("brands_day", 86400)],
        "logistics_second": [("logistics_second", 1), ("logistics_minute", 60)],
    }
    for name, rollup in ROLLUPS.items():
        assert contract.family(name)[0].name == rollup.family
        if rollup.family not in TIERED:
            assert contract.family(name) == (rollup,)


@pytest.mark.parametrize("name", [n for n, r in ROLLUPS.items() if r.tier_of])
def test_a_tier_has_its_familys_keys_and_values(name):
    """A coarser tier holds the same rows per longer window: a reader may take a closed hour or day
    from it instead of summing the finer windows, and verify compares it the same way."""
    tier, finest = ROLLUPS[name], ROLLUPS[ROLLUPS[name].tier_of]
    assert finest.tier_of == ""  # tiers of the finest rollup, not of each other
    assert (tier.keys, tier.values, tier.by, tier.each, tier.top) == (finest.keys, finest.values, finest.by,
                                                                        finest.each, finest.top)
    assert tier.in_ledger == finest.in_ledger
    assert tier.path == contract.EXPLORE and tier.lane == contract.EXPLORE_LANE  # written once, when closed
    assert tier.table != finest.table and tier.grain in tier.table


@pytest.mark.parametrize("name", TIERED)
def test_the_windows_of_a_family_nest(name):
    """Each tier's window is a whole number of the finer one's (and a day, a UTC day, holds
    whole hours), so a coarser window is the sum of finer windows that lie wholly inside it."""
    windows = [r.window_s for r in contract.family(name)]
    assert windows == sorted(set(windows))
    for finer, coarser in itertools.pairwise(windows):
        assert coarser % finer == 0
        # the first finer window of a coarser window starts with it (both align the same way)
        start = contract.window_start(1_636_563_599, coarser)
        assert contract.window_start(start, finer) == start


def _epoch(zone: str, *when: int) -> int:
    """Epoch seconds of a wall-clock time in ``zone``, from the time-zone database."""
    return int(datetime(*when, tzinfo=ZoneInfo(zone)).timestamp())


def test_windows_align_in_utc_the_day_too():
    """Every tier's window starts at a multiple of its length in UTC: a day at 00:00 UTC (08:00 in
    Shanghai), not at China's midnight."""
    t = _epoch("UTC", 2021, 11, 10, 16, 59, 59)  # Nov 11 00:59:59 in Shanghai
    assert contract.window_start(t, 1) == t
    assert contract.window_start(t, contract.MINUTE_S) == _epoch("UTC", 2021, 11, 10, 16, 59)
    assert contract.window_start(t, contract.FIVE_MINUTES_S) == _epoch("UTC", 2021, 11, 10, 16, 55)
    assert contract.window_start(t, contract.HOUR_S) == _epoch("UTC", 2021, 11, 10, 16)
    assert contract.window_start(t, contract.DAY_S) == _epoch("UTC", 2021, 11, 10)  # past midnight in China: Nov 10 UTC
    day = _epoch("Asia/Shanghai", 2021, 11, 11, 8)  # 00:00 UTC
    assert day == _epoch("UTC", 2021, 11, 11)
    assert contract.window_start(day, contract.DAY_S) == day
    assert contract.window_start(day - 1, contract.DAY_S) == _epoch("UTC", 2021, 11, 10)  # a second before


def test_the_festival_day_starts_at_midnight_in_shanghai():
    """The top brands' and the buyers' day: 00:00 to 24:00 Asia/Shanghai (16:00 UTC the day before)."""
    midnight = _epoch("Asia/Shanghai", 2021, 11, 11)
    assert datetime.fromtimestamp(midnight, UTC).hour == 16
    assert contract.festival_day_start(midnight) == midnight
    assert contract.festival_day_start(_epoch("Asia/Shanghai", 2021, 11, 11, 23, 59, 59)) == midnight
    assert contract.festival_day_start(_epoch("Asia/Shanghai", 2021, 11, 11, 8)) == midnight  # 00:00 UTC
    assert contract.festival_day_start(midnight - 1) == _epoch("Asia/Shanghai", 2021, 11, 10)
    assert contract.FESTIVAL_TZ_NAME == "Asia/Shanghai"
    assert contract.FESTIVAL_TZ.utcoffset(None) == ZoneInfo("Asia/Shanghai").utcoffset(datetime(2021, 11, 11))


@pytest.mark.parametrize("name", [n for n, r in ROLLUPS.items() if r.path == contract.EXPLORE])
def test_an_explore_window_is_at_most_a_day(name):
    """An explore rollup is written when its window closes: a longer window would keep its rows out
    of the tables (and its state in the job) for more than a day."""
    assert ROLLUPS[name].window_s <= contract.DAY_S


def test_the_live_path_is_what_the_wall_reads():
    """The live path: the per-second windows (totals, each field, parcel events), the map's flows per
    minute and the continuous rollups; every coarser tier is explore, written once when its window closes."""
    live = {n for n, r in ROLLUPS.items() if r.path == contract.LIVE}
    assert live == {"orders_second", "dimensions_second", "logistics_second", "top_brands",
                    "buyers_second", "buyers_minute", "pipeline_events", "parcel_flows_minute",
                    *contract.PARCEL_ROLLUPS}
    assert {ROLLUPS[n].lane for n in live} <= {contract.SECONDS_LANE, contract.MINUTES_LANE}
    assert {r.lane for r in ROLLUPS.values() if r.path == contract.EXPLORE} == {contract.EXPLORE_LANE}
    assert all(ROLLUPS[n].window_s == 1 for n in live if not ROLLUPS[n].continuous and n != "parcel_flows_minute")


def test_continuous_rollups_are_the_top_brands_the_buyers_the_parcels_and_the_pipelines_counts():
    """A continuous rollup's rows change while its window is open (no late rows, no tiers); every
    other one is an event-time window written once as it closes, with ``late`` rows."""
    continuous = {n for n, r in ROLLUPS.items() if r.continuous}
    assert continuous == {"top_brands", "buyers_second", "buyers_minute", "pipeline_events", *contract.PARCEL_ROLLUPS}
    for name, rollup in ROLLUPS.items():
        assert (contract.LATE_COLUMN in [c.name for c in rollup.keys]) == (name not in continuous), name
        assert rollup.path == contract.LIVE or not rollup.continuous


def test_the_top_brands_rank_key_orders_as_documented():
    """GMV largest first; a brand with no paid event (neither a paid order nor a deposit) after every
    brand with one, even one whose GMV is 0; ties by brand name."""
    def row(gmv: int, paid: int = 0, deposits: int = 0) -> dict[str, int]:
        return dict.fromkeys(contract.MEASURES, 0) | {"gmv_fen": gmv, "orders_paid": paid, "deposits_paid": deposits}

    brands = {
        "Apple": row(0),  # created only: no paid event
        "Bestore": row(10_000, paid=1),
        "Wahaha": row(10_000, paid=2),  # the same GMV: the name decides
        "Moutai": row(150_000, paid=1),
        "Nongfu Spring": row(0, paid=1),  # a paid order of 0 fen
        "Xiaomi": row(5_000, deposits=1),  # a deposit alone is a paid event
        "Haidilao": row(0),
    }
    ranked = sorted(brands, key=lambda b: contract.TOP_BRANDS.rank_key(b, brands[b]))
    assert ranked == ["Moutai", "Bestore", "Wahaha", "Xiaomi", "Nongfu Spring", "Apple", "Haidilao"]
    assert contract.TOP_BRANDS.n == 10
    assert [c.name for c in ROLLUPS["top_brands"].keys] == ["window_start", "ranking", contract.BRAND]
    assert ROLLUPS["top_brands"].window_s == contract.DAY_S
