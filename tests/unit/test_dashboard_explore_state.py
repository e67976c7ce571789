"""The explore page's URL state: parse, write back, resolve ranges, drill down."""
import pytest

from dashboard import explore_state as es
from dashboard import queries as q

NOW = 1636632005  # 2021-11-11 20:00:05 CST
DAY0 = 1636560000
EXTENT = (DAY0 - 10 * 86400, NOW)


def test_round_trip_through_the_url():
    state = es.ExploreState(range="custom", start="2021-11-11T08:00", end="2021-11-11T12:00",
                            category="Apparel", brand="Lumora Home", metric="orders_paid")
    parsed, notes = es.parse(state.to_search())
    assert parsed == state and notes == []


def test_every_filter_round_trips_through_the_url():
    state = es.ExploreState(category="Apparel", province="Guangdong", channel="mini_program", vip="1",
                            promotion="presale_deposit", wave="wave2", presale_phase="final")
    search = state.to_search()
    assert "vip=1" in search and "promotion=presale_deposit" in search and "presale_phase=final" in search
    parsed, notes = es.parse(search)
    assert parsed == state and notes == []
    assert parsed.filters() == {"category": "Apparel", "province": "Guangdong", "channel": "mini_program",
                                "vip": "1", "promotion": "presale_deposit", "wave": "wave2", "presale_phase": "final"}
    not_vip, notes = es.parse("?vip=0&wave=other")
    assert not_vip.filters() == {"vip": "0", "wave": "other"} and notes == []
    assert not_vip.to_search() == "?vip=0&wave=other"


@pytest.mark.parametrize("search, note", [
    ("?vip=yes", "ignored vip='yes': use one of 1, 0"),
    ("?promotion=half_price", "ignored promotion='half_price'"),
    ("?wave=wave3", "ignored wave='wave3'"),
    ("?presale_phase=x'%20OR%201=1--", "ignored presale_phase=\"x' OR 1=1--\""),
    ("?channel=tv", "ignored channel='tv'"),
])
def test_fields_with_fixed_values_take_only_those(search, note):
    state, notes = es.parse(search)
    assert state.filters() == {}
    assert [n for n in notes if n.startswith(note)], notes


def test_values_are_labelled_for_people():
    assert es.label("vip", "1") == "VIP (APASS)" and es.label("vip", "0") == "not VIP"
    assert es.label("promotion", "presale_deposit") == "pre-sale deposit"
    assert es.label("channel", "mini_program") == "mini program"
    assert es.label("presale_phase", "final") == "final payment"
    assert es.label("brand", "Odd_Name") == "Odd_Name"  # free text is shown as it is


def test_defaults_leave_the_url_empty():
    assert es.ExploreState().to_search() == ""
    assert es.parse("") == (es.ExploreState(), [])


@pytest.mark.parametrize("search", [
    "?category=x'%20OR%201=1--", "?category=%27%3B%20DROP%20TABLE%20gmv.orders_per_second%3B--",
    "?brand=a%25b%25%28c%29s",
])
def test_values_with_sql_in_them_stay_plain_text(search):
    state, notes = es.parse(search)
    assert notes == []
    assert (state.category or state.brand) in ("x' OR 1=1--", "'; DROP TABLE gmv.orders_per_second;--", "a%b%(c)s")


@pytest.mark.parametrize("search, note", [
    ("?metric=gmv_fen;DROP", "ignored metric"),
    ("?range=forever", "ignored range"),
    ("?from=2021-13-45T99:00&to=x", "ignored the custom range"),
    ("?from=2021-11-11T12:00&to=2021-11-11T08:00", "ignored the custom range"),
    ("?category=" + "x" * 500, "ignored category"),
])
def test_bad_values_are_dropped_with_a_note(search, note):
    state, notes = es.parse(search)
    assert any(n.startswith(note) for n in notes)
    assert state.metric in es.METRIC_NAMES and state.range in es.RANGES


@pytest.mark.parametrize("rng, expected", [
    ("today", (DAY0, DAY0 + 86400)),
    ("yesterday", (DAY0 - 86400, DAY0)),
    ("1h", (NOW + 55 - 3600, NOW + 55)),
    ("festival", (DAY0 - 10 * 86400, DAY0 + 86400)),
])
def test_ranges_count_back_from_the_newest_window(rng, expected):
    assert es.resolve(es.ExploreState(range=rng), EXTENT) == expected


def test_custom_range_is_shanghai_time():
    state, _ = es.parse("?from=2021-11-11T00:00&to=2021-11-11%2002:00")
    assert es.resolve(state, EXTENT) == (DAY0, DAY0 + 7200)
    assert es.bucket_for(DAY0, DAY0 + 7200) == 60
    assert es.bucket_for(DAY0, DAY0 + 86400) == 300
    assert es.bucket_for(DAY0, DAY0 + 7 * 86400) == 3600
    assert es.bucket_for(DAY0, DAY0 + 11 * 86400) == 86400  # festival days, from the day rollups


def test_drill_down_keeps_only_filters_the_rollups_can_combine():
    state = es.ExploreState(category="Apparel", province="Guangdong")
    assert es.from_click(state, "brand", "Lumora Home").filters() == {"category": "Apparel", "brand": "Lumora Home"}
    assert es.from_click(state, "channel", "app").filters() == {
        "category": "Apparel", "province": "Guangdong", "channel": "app"}
    assert es.from_click(es.ExploreState(brand="X"), "province", "Hebei").filters() == {"province": "Hebei"}


def test_drill_down_keeps_every_cube_field():
    state = es.ExploreState(category="Apparel", province="Guangdong", channel="app", vip="1", promotion="coupon",
                            wave="wave2", metric="orders_paid")
    clicked = es.from_click(state, "presale_phase", "none")
    assert clicked.filters() == {**state.filters(), "presale_phase": "none"} and clicked.metric == "orders_paid"
    assert es.from_click(state, "vip", "0").filters() == {**state.filters(), "vip": "0"}  # replaces the value
    # brand combines with its category alone: the other fields go, and come back out when a field is picked
    assert es.from_click(state, "brand", "Lumora Home").filters() == {"category": "Apparel", "brand": "Lumora Home"}
    branded = es.ExploreState(category="Apparel", brand="Lumora Home")
    assert es.from_click(branded, "category", "Beauty & Cosmetics").filters() == {
        "category": "Beauty & Cosmetics", "brand": "Lumora Home"}
    assert es.from_click(branded, "vip", "1").filters() == {"category": "Apparel", "vip": "1"}
    assert es.from_click(es.ExploreState(brand="X", province="Hebei"), "wave", "wave2").filters() == {
        "province": "Hebei", "wave": "wave2"}


@pytest.mark.parametrize("dims, ok", [
    ({"category", "province", "channel", "vip", "promotion", "wave", "presale_phase"}, True),
    ({"brand"}, True), ({"brand", "category"}, True), ({"brand", "province"}, False),
    ({"brand", "category", "vip"}, False), (set(), True),
])
def test_which_selections_combine(dims, ok):
    assert es.combines(dims) is ok


def test_the_state_and_the_queries_agree_on_what_combines():
    """Every subset of the filters: the page's rule is exactly what the queries answer."""
    asked: list[str] = []

    def run(sql, params=None, tier=None):
        asked.append(sql)
        return []

    for n in range(1 << len(q.FILTERS)):
        dims = [d for i, d in enumerate(q.FILTERS) if n >> i & 1]
        filters = dict.fromkeys(dims, "1")
        try:
            q.series(run, "db", filters, 0, 300, 300)
            answered = True
        except q.Unanswerable as exc:
            answered = False
            assert str(exc).count(".") == 1 and "brand" in str(exc)  # one sentence
        assert answered is es.combines(dims), dims
    assert len(asked) == sum(es.combines([d for i, d in enumerate(q.FILTERS) if n >> i & 1])
                             for n in range(1 << len(q.FILTERS)))


def test_the_buyers_metrics_round_trip_through_the_url():
    for metric in ("buyers", "new_buyers"):
        state, notes = es.parse(f"?metric={metric}&vip=1")
        assert notes == [] and state.metric == metric and es.parse(state.to_search())[0] == state
