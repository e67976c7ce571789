"""Orders follow the configured weights: categories, provinces, channels, VIPs, brands, pre-sale."""
from __future__ import annotations

import numpy as np
import pytest

from stream.simulator import catalog
from stream.simulator import events as ev
from stream.simulator import orders as O
from stream.simulator.config import DEFAULT

N = 300_000
CAT = catalog.build(DEFAULT)


def draw(wave: int = ev.OTHER, origin: int = O.REGULAR, n: int = N, seed: int = 0) -> np.ndarray:
    return O.draw_orders(DEFAULT, CAT, np.random.default_rng(seed), 0, np.full(n, wave, np.int8),
                         np.full(n, origin, np.int64))


@pytest.fixture(scope="module")
def orders() -> np.ndarray:
    return draw()


def shares(codes: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(codes.astype(np.int64), minlength=k) / len(codes)


def normalised(weights) -> np.ndarray:
    w = np.array(weights, dtype=float)
    return w / w.sum()


def test_category_shares(orders):
    vip = O.vip_order_share(DEFAULT)
    k = len(DEFAULT.categories)
    # VIPs buy evenly across every category; everyone else by the category weights
    want = (1 - vip) * normalised([c.weight for c in DEFAULT.categories]) + vip / k
    assert np.abs(shares(orders["category"], k) - want).max() < 0.004


def test_province_shares_follow_population(orders):
    want = normalised([p for _, p in DEFAULT.provinces])
    assert np.abs(shares(orders["province"], 31) - want).max() < 0.003
    assert CAT.province_names[int(np.bincount(orders["province"]).argmax())] == "Guangdong"


def test_channel_shares(orders):
    want = normalised([w for _, w in DEFAULT.channels])
    assert np.abs(shares(orders["channel"], 4) - want).max() < 0.004


def test_flash_sale_orders_come_by_livestream():
    flash = draw(origin=O.FLASH, n=5000)
    assert (flash["channel"] == ev.LIVESTREAM).all()
    assert set(np.unique(flash["promotion"])) == {ev.FLASH_SALE, ev.LIVESTREAM_DEAL}


def test_vip_share_of_orders_and_gmv(orders):
    vip = orders["vip"]
    assert vip.mean() == pytest.approx(O.vip_order_share(DEFAULT), rel=0.1)
    net = orders["list_fen"] - orders["discount_fen"]
    # expected from the config: log-normal means, VIPs x spend multiplier over even categories
    means = np.exp(CAT.log_median_fen + CAT.sigma**2 / 2)
    regular = (normalised([c.weight for c in DEFAULT.categories]) * means).sum()
    vip_mean = DEFAULT.vip_spend_multiplier * means.mean()
    share = O.vip_order_share(DEFAULT)
    want = share * vip_mean / (share * vip_mean + (1 - share) * regular)
    assert net[vip].sum() / net.sum() == pytest.approx(want, rel=0.2)
    assert net[vip].mean() > 5 * net[~vip].mean()  # far more per order...
    assert len(np.unique(orders["category"][vip])) == len(DEFAULT.categories)  # ...in every category
    assert (orders["consumer"][vip] < DEFAULT.consumers * DEFAULT.vip_consumer_share).all()


def test_brands_are_zipf_within_a_category(orders):
    apparel = orders["brand"][orders["category"] == 0]
    counts = np.bincount(apparel - CAT.brand_offsets[0])
    assert counts[0] / counts[9] == pytest.approx(10**DEFAULT.brand_zipf, rel=0.25)
    assert len(np.unique(orders["brand"])) > 30_000  # a long tail of brands


def test_money_is_whole_fen_and_consistent(orders):
    assert orders["list_fen"].dtype == np.int64
    assert (orders["discount_fen"] >= 0).all() and (orders["discount_fen"] <= orders["list_fen"]).all()
    cross = orders["promotion"] == ev.CROSS_STORE
    every, off = DEFAULT.cross_store_every_yuan * 100, DEFAULT.cross_store_off_yuan * 100
    assert (orders["discount_fen"][cross] == orders["list_fen"][cross] // every * off).all()


def test_pre_sale_orders_in_pre_sale_windows():
    presale = draw(wave=ev.PRESALE, n=50_000)
    is_deposit = presale["promotion"] == ev.PRESALE_DEPOSIT
    assert is_deposit.mean() == pytest.approx(DEFAULT.presale_share, rel=0.05)
    deposit, net = presale["deposit_fen"][is_deposit], (presale["list_fen"] - presale["discount_fen"])[is_deposit]
    assert (deposit > 0).all() and (deposit <= net).all()
    assert not (draw(n=20_000)["promotion"] == ev.PRESALE_DEPOSIT).any()
