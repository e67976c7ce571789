import pytest

from dashboard import fmt


@pytest.mark.parametrize("fen, unit, text", [
    (0, "yuan", "¥0.00"),
    (5, "yuan", "¥0.05"),
    (123_456_789, "yuan", "¥1,234,567.89"),
    (-150, "yuan", "-¥1.50"),
    (49_820_000_000_000, "yuan", "¥498,200,000,000.00"),  # 2020's festival GMV, exact
    (123_456_789, "wan", "¥123.46万"),
    (49_820_000_000_000, "yi", "¥4,982.0000亿"),
    (373_818_437_264, "yi", "¥37.3818亿"),
    (373_818_437_264, "wan", "¥373,818.44万"),
    (2**53 + 1, "yuan", "¥90,071,992,547,409.93"),  # beyond float precision: still exact
])
def test_money_is_exact_in_each_unit(fen, unit, text):
    assert fmt.money(fen, unit) == text


def test_compact_labels():
    assert fmt.compact_money(123_456_789_00) == "¥1.23亿"
    assert fmt.compact_money(4_567_800) == "¥4.6万"
    assert fmt.compact_money(78_900) == "¥789"


def test_shanghai_day_and_clock():
    # 2021-11-11 00:30 CST is 2021-11-10 16:30 UTC: its festival day starts at 2021-11-10 16:00 UTC
    t = 1636561800
    assert fmt.day_start(t) == 1636560000
    assert fmt.day_start(1636560000) == 1636560000
    assert fmt.clock(1636632005) == "2021-11-11 20:00:05 CST"


def test_ages():
    assert [fmt.age(ms) for ms in (300, 12_400, 600_000, 3 * 3600_000)] == ["300 ms", "12 s", "10 min", "3 h"]


@pytest.mark.parametrize("part, whole, places, text", [
    (1, 8, 1, "12.5%"),
    (30_735_220, 470_944_167, 1, "6.5%"),  # a simulated run's VIP share of GMV
    (1, 3, 2, "33.33%"),
    (2, 3, 1, "66.7%"),
    (1, 2000, 1, "0.1%"),  # 0.05% rounds half up
    (1, 2001, 1, "0.0%"),
    (5, 5, 1, "100.0%"),
    (0, 5, 0, "0%"),
    (3, 0, 1, "–"),  # nothing sold: no share to show
    (10**15 + 1, 2 * 10**15, 3, "50.000%"),  # integers all the way: no float rounding
])
def test_shares_round_half_up_on_the_integers(part, whole, places, text):
    assert fmt.share(part, whole, places) == text
