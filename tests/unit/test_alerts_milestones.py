"""GMV milestones, the pure part: per-second GMV -> the first second each round figure is reached,
what to rewrite when it moves, when to announce, the config's [milestones] and the webhook body."""
from __future__ import annotations

import json

import pytest

from stream.alerts import milestones as ms
from stream.alerts import payload
from stream.alerts.config import DEFAULT_PATH, AlertsConfigError, load, parse
from stream.alerts.milestones import Milestone, Record

T0 = 1_636_560_000  # 2021-11-11 00:00:00 CST


def test_the_first_second_whose_cumulative_gmv_reaches_the_figure():
    rows = [(T0, 400), (T0 + 1, 400), (T0 + 2, 400), (T0 + 3, 400)]
    assert ms.milestones(rows, [1000]) == [Milestone(1000, T0 + 2, 1200)]
    assert ms.milestones(rows, [5000]) == []  # never reached
    assert ms.milestones([], [1]) == []
    # rows in any order; a second without a row adds nothing (the job writes none for an empty second)
    assert ms.milestones([(T0 + 9, 700), (T0, 400)], [1000]) == [Milestone(1000, T0 + 9, 1100)]


def test_exactly_at_the_figure_counts_one_fen_short_does_not():
    rows = [(T0, 999_999_999), (T0 + 1, 1), (T0 + 2, 5)]
    assert ms.milestones(rows, [1_000_000_000]) == [Milestone(1_000_000_000, T0 + 1, 1_000_000_000)]
    assert ms.milestones(rows, [999_999_999]) == [Milestone(999_999_999, T0, 999_999_999)]
    assert ms.milestones(rows, [1_000_000_006]) == []
    # integer fen, no float anywhere: a figure beyond 2**53 is still exact to the fen
    big = 10**17 + 1
    assert ms.milestones([(T0, 10**17), (T0 + 1, 1)], [big]) == [Milestone(big, T0 + 1, big)]


def test_late_rows_are_added_in_and_move_the_second_earlier():
    on_time = [(T0, 0), (T0 + 1, 300), (T0 + 2, 300), (T0 + 3, 300), (T0 + 4, 300)]
    assert ms.milestones(on_time, [1000]) == [Milestone(1000, T0 + 4, 1200)]
    # a late = 1 correction for T0 + 1 (the same second, a second row): the total reaches 1000 at T0 + 3
    late = [(T0 + 1, 200)]
    assert ms.milestones(on_time + late, [1000]) == [Milestone(1000, T0 + 3, 1100)]
    # one for a second before any other: it moves further
    assert ms.milestones(on_time + late + [(T0 - 5, 500)], [1000]) == [Milestone(1000, T0 + 1, 1000)]


def test_several_milestones_in_one_second_and_figures_in_any_order():
    rows = [(T0, 50), (T0 + 1, 10_000), (T0 + 2, 1)]
    assert ms.milestones(rows, [10_000, 100, 1_000, 10_051, 50_000]) == [
        Milestone(100, T0 + 1, 10_050), Milestone(1_000, T0 + 1, 10_050), Milestone(10_000, T0 + 1, 10_050),
        Milestone(10_051, T0 + 2, 10_051)]
    assert ms.milestones(rows, [100, 100]) == [Milestone(100, T0 + 1, 10_050)]


def test_rows_that_start_after_a_known_cumulative_total():
    """The shell reads one minute's seconds and passes the GMV of every minute before it."""
    rows = [(T0 + 60, 10), (T0 + 61, 10), (T0 + 62, 10)]
    assert ms.milestones(rows, [1_015, 1_030, 999], before_fen=1_000) == [
        Milestone(1_015, T0 + 61, 1_020), Milestone(1_030, T0 + 62, 1_030)]  # 999: reached before these rows


def test_minute_totals_locate_the_minute_of_the_crossing():
    minutes = [(T0, 600), (T0 + 60, 600), (T0 + 120, 600)]
    (crossing,) = ms.milestones(minutes, [1000])
    assert crossing == Milestone(1000, T0 + 60, 1200)  # in the second minute; 600 before it
    seconds = [(T0 + 60 + i, 10) for i in range(60)]
    assert ms.milestones(seconds, [1000], before_fen=crossing.gmv_fen - 600) == [Milestone(1000, T0 + 99, 1000)]


def test_reconcile_writes_new_and_moved_milestones_keeping_the_first_second_and_the_announcement():
    stored = {1000: Record(1000, T0 + 4, 1200, T0 + 4, recorded_ms=5, announce=ms.DELIVERED, attempts=1),
              2000: Record(2000, T0 + 9, 2100, T0 + 9, recorded_ms=6)}
    found = [Milestone(1000, T0 + 3, 1100), Milestone(2000, T0 + 9, 2100), Milestone(3000, T0 + 12, 3050)]
    moved, new = ms.reconcile(found, stored, now_ms=99)
    assert moved == Record(1000, T0 + 3, 1100, T0 + 4, recorded_ms=5, moved_ms=99, announce=ms.DELIVERED,
                           attempts=1)
    assert moved.moved and not new.moved
    assert new == Record(3000, T0 + 12, 3050, T0 + 12, recorded_ms=99)
    assert ms.reconcile(found[1:2], stored, 100) == []  # unchanged: nothing to write
    # the same second, a larger total at its end (a late row for an earlier second that did not move it)
    (same,) = ms.reconcile([Milestone(2000, T0 + 9, 2150)], stored, 101)
    assert (same.second, same.gmv_fen, same.moved_ms) == (T0 + 9, 2150, 0)
    assert ms.reconcile([], stored, 102) == []  # a figure no longer found is left as stored


def test_a_milestone_first_found_over_an_hour_after_its_second_is_recorded_but_not_announced():
    found = [Milestone(1000, T0, 1000), Milestone(2000, T0 + 100, 2000)]
    old, news = ms.reconcile(found, {}, now_ms=7, newest=T0 + 3_700)  # e.g. the service started late
    assert (old.announce, news.announce) == (ms.OLD, ms.WAITING)
    assert [r.figure_fen for r in ms.due({1000: old, 2000: news}, T0 + 3_700)] == [2000]
    assert ms.reconcile(found, {}, 7, newest=T0 + 3_600)[0].announce == ms.WAITING  # exactly an hour: news


def test_announcements_wait_until_the_second_is_settled_and_happen_once():
    stored = {1000: Record(1000, T0 + 3, 1100, T0 + 3, 5),
              2000: Record(2000, T0 + 9, 2100, T0 + 9, 6),
              3000: Record(3000, T0 + 1, 3100, T0 + 1, 7, announce=ms.DELIVERED)}
    assert ms.due(stored, None) == []  # no window settled yet
    assert [r.figure_fen for r in ms.due(stored, T0 + 4)] == [1000]  # T0 + 9 may still be filling
    assert [r.figure_fen for r in ms.due(stored, T0 + 10)] == [1000, 2000]
    pending = {f: Record(f, T0, f, T0, 1, announce=a) for f, a in
               ((1, ms.PENDING), (2, ms.FAILED), (3, ms.NONE), (4, ms.DELIVERED), (5, ms.OLD))}
    assert ms.due(pending, T0 + 100) == []


@pytest.mark.parametrize("fen, text", [
    (10_000_000, "¥10万"), (100_000_000, "¥100万"), (1_000_000_000, "¥1,000万"), (10_000_000_000, "¥1亿"),
    (15_000_000_000, "¥1.5亿"), (10_100_000_000, "¥1.01亿"), (1_000_000_000_000, "¥100亿"),
    (100_000_000_000_000, "¥1万亿"), (1_234_500, "¥12,345"), (1_234_567, "¥12,345.67"), (5_000, "¥50"),
    (1, "¥0.01"), (1_000_000, "¥1万")])
def test_labels_say_a_figure_as_people_do_and_exactly(fen, text):
    assert ms.label(fen) == text


def test_the_default_figures_and_the_shipped_config():
    assert [ms.label(f) for f in ms.DEFAULT_FIGURES_FEN] == [
        "¥10万", "¥100万", "¥1,000万", "¥1亿", "¥10亿", "¥100亿", "¥1,000亿", "¥1万亿"]
    cfg = load(DEFAULT_PATH)
    assert cfg.milestones.figures_fen == ms.DEFAULT_FIGURES_FEN and cfg.milestones.webhooks is None
    assert parse({}).milestones.figures_fen == ms.DEFAULT_FIGURES_FEN  # the section left out: the default


def test_config_figures_small_ones_sorted_and_which_webhooks_announce():
    hooks = [{"name": "ops", "url": "http://a.test/x"}, {"name": "chat", "url": "http://b.test/y"}]
    cfg = parse({"webhooks": hooks, "milestones": {"figures_fen": [5_000, 100, 10_000_000_000]}})
    assert cfg.milestones.figures_fen == (100, 5_000, 10_000_000_000)
    assert [w.name for w in cfg.milestone_targets()] == ["ops", "chat"]
    cfg = parse({"webhooks": hooks, "milestones": {"figures_fen": [100], "webhooks": ["chat"]}})
    assert [w.name for w in cfg.milestone_targets()] == ["chat"]
    assert parse({"webhooks": hooks, "milestones": {"webhooks": []}}).milestone_targets() == ()
    assert parse({"milestones": {"figures_fen": []}}).milestones.figures_fen == ()  # off


@pytest.mark.parametrize("section, problem", [
    ({"figures_fen": 100}, "[milestones]: figures_fen must be a list of amounts in fen, e.g. [10_000_000, "
                           "10_000_000_000] (¥10万 and ¥1亿)."),
    ({"figures_fen": [100, 1.5e10]}, "[milestones]: figures_fen[1] = 15000000000.0 must be a whole number of fen, "
                                     "without quotes (1 yuan = 100 fen; ¥1亿 = 10_000_000_000)."),
    ({"figures_fen": ["¥1亿"]}, "figures_fen[0] = '¥1亿' must be a whole number of fen"),
    ({"figures_fen": [True]}, "figures_fen[0] = True must be a whole number of fen"),
    ({"figures_fen": [100, 0]}, "[milestones]: figures_fen[1] = 0 must be above 0 fen."),
    ({"figures_fen": [-5]}, "figures_fen[0] = -5 must be above 0 fen."),
    ({"figures_fen": [10_000_000_000, 10_000_000_000]}, "figures_fen lists 10000000000 (¥1亿) twice."),
    ({"figures_fen": list(range(1, 102))}, "figures_fen lists 101 figures; at most 100."),
    ({"figure_fen": [1]}, "[milestones]: unknown key 'figure_fen'; known keys are figures_fen, webhooks."),
    ({"webhooks": ["pager"]}, "[milestones]: webhooks names 'pager', which no [[webhooks]] entry has; known: ops."),
    ({"webhooks": "ops"}, "webhooks must be a list of [[webhooks]] names (empty: announce nowhere)."),
])
def test_a_bad_milestones_section_is_one_line(section, problem):
    with pytest.raises(AlertsConfigError) as caught:
        parse({"webhooks": [{"name": "ops", "url": "http://a.test/x"}], "milestones": section})
    text = str(caught.value)
    assert problem in text and "\n" not in text and text.startswith("alerts config <config>: ")


def test_a_milestones_key_that_is_not_a_table():
    with pytest.raises(AlertsConfigError, match=r"\[milestones\]: must be a table"):
        parse({"milestones": [1, 2]})


def test_the_webhook_body_names_the_figure_and_the_second_and_is_signed():
    record = Record(10_000_000_000, T0 + 192, 10_000_012_345, T0 + 195, recorded_ms=1_700_000_000_000,
                    announce=ms.PENDING)
    doc = payload.milestone_payload(record, "http://wall.example:8050")
    assert {k: doc[k] for k in ("rule", "kind", "severity", "state", "figure_fen", "figure", "second",
                                "second_epoch", "gmv_fen")} == {
        "rule": "milestone", "kind": "milestone", "severity": "info", "state": "passed",
        "figure_fen": 10_000_000_000, "figure": "¥1亿",
        "second": "2021-11-11T00:03:12+08:00", "second_epoch": T0 + 192, "gmv_fen": 10_000_012_345}
    assert doc["message"] == ("festival GMV passed ¥1亿 at 11-11 00:03:12 CST "
                              "(¥100,000,123.45 by the end of that second)")
    assert doc["link"] == "http://wall.example:8050/explore?range=custom&from=2021-11-11T00:02&to=2021-11-11T00:04"
    assert doc["link"] in doc["text"] and "¥1亿" in doc["text"]
    body = payload.encode(doc)
    assert json.loads(body) == doc
    headers = payload.milestone_headers(record, body, "s3cret")
    assert headers["X-Gmv-Milestone"] == "10000000000"
    assert headers["X-Gmv-Alert"] == "milestone/passed/10000000000"  # the same on every retry and restart
    assert payload.verify(body, "s3cret", headers["X-Signature"])
    assert "X-Signature" not in payload.milestone_headers(record, body, None)
    assert record.label == "milestone ¥1亿"
