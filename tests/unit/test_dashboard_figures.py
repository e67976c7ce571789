"""Figure builders are pure: rows in, a valid Plotly figure out (validated by go.Figure)."""
import plotly.graph_objects as go
import pytest

from dashboard import figures
from dashboard import queries as q

NOW = 1636632005
DAY0 = 1636560000
ROW = ("Apparel", 10, 8, 3_030_003, 0, 0, 1)


def rows(n):
    return [(f"brand {i}", 1, 1, 1000 * (n - i), 0, 0, 0) for i in range(n)]


@pytest.mark.parametrize("fig", [
    figures.gmv_per_minute([q.Minute(DAY0 + 60 * i, 100 * i, i, i, i, DAY0 + 60 * i) for i in range(30)], DAY0, NOW),
    figures.orders_last_minutes([(NOW - 3, 7, 100), (NOW, 5, 50)], NOW),
    figures.orders_last_minutes([(NOW - 3, 7, 100)], NOW, buyers=[(NOW - 3, 4)]),
    figures.ranked_bars(rows(30), top=10, others=True),
    figures.ranked_bars([], top=10),
    figures.ranked_bars([*rows(5), ("nothing", 0, 0, 0, 0, 0, 0)], top=6, inside_labels=True),
    figures.channel_donut([("app", 3, 3, 300, 0, 0, 0), ("mini_program", 1, 1, 100, 0, 0, 0)]),
    figures.timeseries([(DAY0, 1, 1, 100, 0, 0, 0)], "gmv_fen", 300, DAY0, DAY0 + 86400),
    figures.timeseries([], "orders_created", 60, DAY0, DAY0 + 3600),
    figures.message("not in the rollups"),
])
def test_every_builder_returns_a_valid_figure(fig):
    go.Figure(fig)  # raises on any property Plotly does not know


def test_ranked_bars_keep_the_top_and_sum_the_rest():
    fig = figures.ranked_bars(rows(12), top=10, others=True, selected="brand 0")
    bar = fig["data"][0]
    assert bar["customdata"][-1] == "brand 0"  # largest drawn on top (plotly's last bar)
    assert bar["customdata"][0] == "2 others"
    assert bar["x"][0] == (2000 + 1000) / 100  # yuan, for display only
    assert bar["marker"]["color"][-1] == figures.ACCENT_2


def test_money_labels_come_from_integer_fen():
    fig = figures.ranked_bars([ROW])
    assert fig["data"][0]["text"] == ["¥3.0万"]
    assert figures.ranked_bars([ROW], metric="orders_created")["data"][0]["text"] == ["10"]


def test_last_minutes_fill_missing_seconds_with_zero():
    fig = figures.orders_last_minutes([(NOW - 3, 7, 100), (NOW, 5, 50)], NOW, span_s=5, buyers=[(NOW - 1, 3)])
    assert fig["data"][0]["y"] == [0, 7, 0, 0, 5]
    assert fig["data"][1]["y"] == [0, 0, 0, 3, 0] and fig["data"][1]["name"] == "new buyers / s"


def test_inside_labels_go_in_their_bar_when_they_fit_and_an_empty_bar_keeps_its_label_outside():
    fig = figures.ranked_bars([("coupon", 1, 1, 300_000_00, 0, 0, 0), ("flash_sale", 0, 0, 0, 0, 0, 0)],
                              inside_labels=True, labels={"coupon": "coupon"})
    bar = fig["data"][0]
    assert bar["textposition"] == ["outside", "auto"]  # bottom (empty) first: plotly draws upwards
    assert [t.strip() for t in bar["text"]] == ["¥0", "¥30.0万"]
    assert bar["insidetextfont"]["color"] == figures.BACKGROUND and bar["y"] == ["flash sale", "coupon"]
    assert figures.ranked_bars([ROW])["data"][0]["textposition"] == "outside"  # explore's bars: unchanged


def test_names_from_the_data_reach_plotly_as_text_not_markup():
    odd = [("<img src=x onerror=alert(1)>", 1, 1, 300, 0, 0, 0), ("花西子🌸", 1, 1, 200, 0, 0, 0),
           ("Beauty & <b>Cosmetics</b>", 1, 1, 100, 0, 0, 0)]
    trace = figures.ranked_bars(odd, top=10)["data"][0]
    # Plotly shows &lt; &gt; &amp; as the characters; a tag it would read (or drop) never reaches it
    assert trace["y"] == ["Beauty &amp; &lt;b&gt;Cosmetics&lt;/b&gt;", "花西子🌸", "&lt;img src=x onerror=alert(1)&gt;"]
    assert trace["customdata"] == ["Beauty & <b>Cosmetics</b>", "花西子🌸", "<img src=x onerror=alert(1)>"]  # clicks
    assert not any("<" in label for label in trace["y"])
    donut = figures.channel_donut([("<i>app</i>", 1, 1, 100, 0, 0, 0)])["data"][0]
    assert donut["labels"] == ["&lt;i&gt;app&lt;/i&gt;"]


def test_gmv_per_minute_scales_to_today_and_last_year_over_todays_span_and_the_next_hour():
    today = [q.Minute(NOW - 120, 500_00, 1, 1, 1, NOW - 120), q.Minute(NOW - 60, 800_00, 1, 1, 1, NOW - 60)]
    last_year = ((DAY0, NOW - 60, NOW + 1800, NOW + 4 * 3600), (30_000.0, 600.0, 900.0, 20_000.0))  # yuan a minute
    fig = figures.gmv_per_minute(today, DAY0, NOW, last_year=last_year)
    assert fig["layout"]["yaxis"]["range"] == [0, pytest.approx(900.0 * 1.08)]  # midnight's and 4 h ahead: off the top
    assert figures.gmv_per_minute(today, DAY0, NOW)["layout"]["yaxis"]["range"] == [0, pytest.approx(800.0 * 1.08)]
    assert "range" not in figures.gmv_per_minute([], DAY0, NOW)["layout"]["yaxis"]  # nothing yet: autorange
