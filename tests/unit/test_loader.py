"""The loader's pure parts: rollup messages -> ClickHouse rows, and its lanes."""
import json

from stream.contract import EXPLORE_LANE, MINUTES_LANE, ROLLUPS, SECONDS_LANE
from stream.job import loader
from stream.settings import Settings


def message(rollup: str, key: dict, value: dict | None) -> tuple[str, bytes, bytes | None]:
    return rollup, json.dumps(key).encode(), None if value is None else json.dumps(value).encode()


def second(window: int, late: int, gmv_fen: int) -> dict:
    return {"window_start": window, "late": late, "orders_created": 1, "orders_paid": 1,
            "gmv_fen": gmv_fen, "refunds": 0, "refund_fen": 0, "cancellations": 0,
            "deposits_paid": 0}


def test_the_last_value_of_a_key_wins_and_money_stays_exact_integers():
    big = 2**53 + 1  # a float would round this one
    rows = loader.batch_rows([
        message("orders_second", {"window_start": 1636560000, "late": 0}, second(1636560000, 0, 5)),
        message("orders_second", {"window_start": 1636560000, "late": 0}, second(1636560000, 0, big)),
        message("orders_second", {"window_start": 1636560000, "late": 1}, second(1636560000, 1, 7)),
    ], written_ms=1234)
    assert rows == {"orders_second": [(1636560000, 0, 1, 1, big, 0, 0, 0, 0, 1234),
                                      (1636560000, 1, 1, 1, 7, 0, 0, 0, 0, 1234)]}


def test_a_tombstone_is_its_key_with_every_value_zero_and_the_last_message_of_a_key_wins():
    """The buyers rollups delete a second's key when its last buyer moves to an earlier second: the
    row must become 0 in ClickHouse (replacing the old count), not be skipped."""
    key = {"window_start": 1636560000, "vip": 1}
    rows = loader.batch_rows([message("buyers_second", key, {**key, "new_buyers": 2}),
                              message("buyers_second", key, None)], written_ms=5)
    assert rows == {"buyers_second": [(1636560000, 1, 0, 5)]}
    rows = loader.batch_rows([message("buyers_second", key, None),
                              message("buyers_second", key, {**key, "new_buyers": 3})], written_ms=6)
    assert rows == {"buyers_second": [(1636560000, 1, 3, 6)]}


def test_a_top_brands_tombstone_writes_an_empty_category_and_zero_counts():
    """A brand that leaves a ranking is deleted by the job's Top-N: its row becomes all zeros (which
    readers skip), with '' for the text value column ``category``, replacing the brand's old row."""
    key = {"window_start": 1636560000, "ranking": "food", "brand": "Moutai"}
    ranked = {**key, "category": "food", "orders_created": 2, "orders_paid": 1, "gmv_fen": 150000, "refunds": 0,
              "refund_fen": 0, "cancellations": 0, "deposits_paid": 0}
    rows = loader.batch_rows([message("top_brands", key, ranked), message("top_brands", key, None)], written_ms=7)
    assert rows == {"top_brands": [(1636560000, "food", "Moutai", "", 0, 0, 0, 0, 0, 0, 0, 7)]}
    overall = {**key, "ranking": ""}
    rows = loader.batch_rows([message("top_brands", overall, None)], written_ms=8)
    assert rows == {"top_brands": [(1636560000, "", "Moutai", "", 0, 0, 0, 0, 0, 0, 0, 8)]}


def test_rows_follow_the_insert_column_order_with_written_ms_last():
    value = {"events": 3, "late": 0, "status": "delivered", "window_start": 1636560060}
    rows = loader.batch_rows([message("logistics_minute", value, value)], written_ms=9)
    assert rows == {"logistics_minute": [(1636560060, "delivered", 0, 3, 9)]}


def test_every_rollup_is_loaded_by_exactly_one_lane():
    laned = [rollup for lane in loader.LANES for rollup in lane]
    assert sorted(laned) == sorted(loader.TABLES) == sorted(Settings().rollup_topics)
    seconds, minutes, explore = loader.LANES  # stream.contract's lanes, in this order
    # the wall's live path: per-second windows, written as each second closes
    assert seconds == ("orders_second", "dimensions_second", "logistics_second", "buyers_second")
    # the continuous rollups of minutes and days (rows that move while their minute or day is open),
    # the parcels' counts and the map's flows per minute
    assert minutes == ("top_brands", "buyers_minute", "parcel_stages", "parcel_delivery_times", "parcel_exceptions",
                       "parcel_first_delivery", "parcel_flows_minute", "pipeline_events")
    # the coarser windows, written when they close: a burst at each close, never ahead of the live rows
    assert explore == ("orders_hour", "orders_day", "dimensions_minute", "dimensions_hour", "dimensions_day",
                       "cube_5min", "cube_hour", "cube_day", "brands_5min", "brands_hour", "brands_day",
                       "logistics_minute")
    for lane, names in ((SECONDS_LANE, seconds), (MINUTES_LANE, minutes), (EXPLORE_LANE, explore)):
        assert {ROLLUPS[n].lane for n in names} == {lane}


def test_unread_counts_messages_past_the_position_of_each_partition():
    ends = {"a": 10, "b": 5, "c": 7}
    assert loader.unread(ends, {"a": 10, "b": 5, "c": 7}) == 0
    assert loader.unread(ends, {"a": 4, "b": 5, "c": 9}) == 6  # a position past the end counts 0
