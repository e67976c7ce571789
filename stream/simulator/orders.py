"""New orders and their whole lifecycle, drawn at once (vectorised, numpy).

An order drawn at time ``t`` yields every event it will ever cause, each with
its own event time: created; paid (or the deposit, then the final payment when
its wave opens) or cancelled; maybe refunded; and its parcel's steps. Events in
the future wait in :mod:`.pending` until the stream reaches them.

Origins say why an order arrives: a regular purchase, a livestream flash sale,
or the final payment of a pre-sale order whose deposit was paid before the run.
"""
from __future__ import annotations

import numpy as np

from stream.simulator import events as ev
from stream.simulator import warehouses
from stream.simulator.catalog import Catalog, draw
from stream.simulator.config import FestivalConfig
from stream.simulator.curve import Curve

REGULAR, FLASH, GHOST_FINAL = range(3)


def vip_order_share(cfg: FestivalConfig) -> float:
    """Share of orders placed by VIPs (few consumers, many orders each)."""
    s, m = cfg.vip_consumer_share, cfg.vip_order_multiplier
    return s * m / (s * m + 1 - s)


def draw_orders(cfg: FestivalConfig, cat: Catalog, rng: np.random.Generator, seq0: int,
                waves: np.ndarray, origins: np.ndarray, hub_rng: np.random.Generator | None = None) -> np.ndarray:
    """``len(origins)`` orders (numbered from ``seq0``) for arrivals in ``waves``.

    ``hub_rng`` draws where each order's parcel ships from (its warehouse ``origin``; not to be
    confused with ``origins``, why an order arrives). A run gives it a stream of its own, so adding
    warehouses left every other draw of ``rng`` as it was; without one the warehouses are drawn
    from ``rng`` after everything else."""
    n = len(origins)
    orders = np.zeros(n, dtype=ev.ORDER)
    orders["seq"] = np.arange(seq0, seq0 + n)
    vip = rng.random(n) < vip_order_share(cfg)
    orders["vip"] = vip
    orders["consumer"] = _consumers(cfg, rng, vip)
    category = np.where(vip, rng.integers(0, len(cat.category_names), n), draw(cat.category_cdf, rng.random(n)))
    orders["category"] = category
    orders["brand"] = _brands(cat, rng, category)
    orders["province"] = draw(cat.province_cdf, rng.random(n))
    orders["channel"] = np.where(origins == FLASH, ev.LIVESTREAM, draw(cat.channel_cdf, rng.random(n)))
    presale = (waves == ev.PRESALE) & (origins == REGULAR) & (rng.random(n) < cfg.presale_share)
    presale |= origins == GHOST_FINAL
    orders["promotion"] = _promotions(cfg, cat, rng, orders["channel"], origins, presale)
    orders["carrier"] = draw(cat.carrier_cdf, rng.random(n))
    orders["items"] = rng.geometric(1.0 / cfg.items_mean, n)
    unit = _unit_price(cfg, cat, rng, category, vip)
    orders["list_fen"] = unit * orders["items"]
    _price(cfg, rng, orders)
    hub_u = (rng if hub_rng is None else hub_rng).random(n)
    orders["origin"] = warehouses.draw_origins(cat.hubs, orders["province"], hub_u)
    return orders


def _consumers(cfg: FestivalConfig, rng: np.random.Generator, vip: np.ndarray) -> np.ndarray:
    """VIPs are the first ``vip_consumer_share`` of consumer numbers, so the flag is stable."""
    n_vip = max(1, int(cfg.consumers * cfg.vip_consumer_share))
    return np.where(vip, rng.integers(0, n_vip, len(vip)), rng.integers(n_vip, cfg.consumers, len(vip)))


def _brands(cat: Catalog, rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """Within its category, a brand's chance falls with its popularity rank (Zipf)."""
    brand = np.empty(len(category), dtype=np.int64)
    u = rng.random(len(category))
    for c, table in enumerate(cat.brand_cdfs):
        mask = category == c
        brand[mask] = cat.brand_offsets[c] + np.searchsorted(table, u[mask], side="right")
    return brand


def _promotions(cfg: FestivalConfig, cat: Catalog, rng: np.random.Generator, channel: np.ndarray,
                origins: np.ndarray, presale: np.ndarray) -> np.ndarray:
    n = len(channel)
    promo = draw(cat.promotion_cdf, rng.random(n))
    u = rng.random(n)
    deal = (channel == ev.LIVESTREAM) & (u < cfg.livestream_deal_share)
    promo = np.where(deal, ev.LIVESTREAM_DEAL, promo)
    promo = np.where(origins == FLASH, np.where(u < 0.5, ev.FLASH_SALE, ev.LIVESTREAM_DEAL), promo)
    return np.where(presale, ev.PRESALE_DEPOSIT, promo)


def _unit_price(cfg: FestivalConfig, cat: Catalog, rng: np.random.Generator, category: np.ndarray,
                vip: np.ndarray) -> np.ndarray:
    """Log-normal per category, whole yuan; VIPs buy the pricier end of every category."""
    log_fen = cat.log_median_fen[category] + cat.sigma[category] * rng.standard_normal(len(category))
    yuan = np.exp(log_fen) / 100 * np.where(vip, cfg.vip_spend_multiplier, 1.0)
    return np.clip(np.rint(yuan), 1, cfg.max_unit_yuan).astype(np.int64) * 100


def _price(cfg: FestivalConfig, rng: np.random.Generator, orders: np.ndarray) -> None:
    """Fill discount and deposit from the promotion; every amount is whole fen."""
    lst, promo = orders["list_fen"], orders["promotion"]
    coupon = np.zeros(len(lst), dtype=np.int64)
    for min_yuan, off_yuan in sorted(cfg.coupon_tiers_yuan):
        coupon = np.where(lst >= min_yuan * 100, off_yuan * 100, coupon)
    cross = lst // (cfg.cross_store_every_yuan * 100) * (cfg.cross_store_off_yuan * 100)
    u = rng.random(len(lst))
    flash = (lst * (cfg.flash_discount[0] + u * (cfg.flash_discount[1] - cfg.flash_discount[0]))).astype(np.int64)
    live = (lst * (cfg.livestream_discount[0] + u * (cfg.livestream_discount[1] - cfg.livestream_discount[0])))
    # Pre-sale: the deposit (whole yuan, at least 1) counts (1 + bonus) times towards the price.
    deposit = np.maximum(100, np.rint(lst * cfg.deposit_share / 100).astype(np.int64) * 100)
    deposit = np.minimum(deposit, lst // 2 // 100 * 100)
    bonus = (deposit * cfg.deposit_bonus).astype(np.int64) + cross
    discount = np.select(
        [promo == ev.COUPON, promo == ev.CROSS_STORE, promo == ev.FLASH_SALE,
         promo == ev.LIVESTREAM_DEAL, promo == ev.PRESALE_DEPOSIT],
        [coupon, cross, flash, live.astype(np.int64), np.minimum(bonus, lst - deposit)],
        0,
    )
    orders["discount_fen"] = np.minimum(discount, lst)
    orders["deposit_fen"] = np.where(promo == ev.PRESALE_DEPOSIT, deposit, 0)


# -- lifecycle ---------------------------------------------------------------------------


def _lognormal(rng: np.random.Generator, median_s: float, sigma: float, n: int) -> np.ndarray:
    return median_s * np.exp(sigma * rng.standard_normal(n))


class _Events:
    """Collects events as parallel columns, then builds all rows in one go."""

    COLUMNS = ("t", "topic", "status", "phase", "wave", "sub", "paid_fen")

    def __init__(self) -> None:
        self.index: list[np.ndarray] = []
        self.columns: list[list[np.ndarray]] = [[] for _ in self.COLUMNS]

    def add(self, idx: np.ndarray, t, topic: int, status, phase, wave, sub, paid) -> None:
        """Events of ``orders[idx]``; every other argument is an array or a scalar."""
        self.index.append(idx)
        for column, value in zip(self.columns, (t, topic, status, phase, wave, sub, paid)):
            column.append(np.broadcast_to(value, len(idx)))

    def rows(self, orders: np.ndarray) -> np.ndarray:
        rows = ev.from_orders(orders, np.concatenate(self.index))
        for name, parts in zip(self.COLUMNS, self.columns):
            rows[name] = np.concatenate(parts)
        return rows


def lifecycle(cfg: FestivalConfig, curve: Curve, rng: np.random.Generator, orders: np.ndarray,
              t0: np.ndarray, waves: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """Every event of ``orders`` arriving at ``t0`` (ms), unsorted."""
    n = len(orders)
    net = orders["list_fen"] - orders["discount_fen"]
    deposit = orders["deposit_fen"]
    ghost = origins == GHOST_FINAL
    presale = (orders["promotion"] == ev.PRESALE_DEPOSIT) & ~ghost
    phase0 = np.where(presale, ev.DEPOSIT, ev.NO_PHASE).astype(np.int8)
    fresh = np.flatnonzero(~ghost)
    out = _Events()
    out.add(fresh, t0[fresh], ev.ORDERS_TOPIC, ev.CREATED, phase0[fresh], waves[fresh], ev.SUB_CREATED, 0)
    pays = rng.random(n) < cfg.pay_prob
    pay_t = t0 + np.minimum(_lognormal(rng, cfg.pay_delay_median_s, 1.0, n), cfg.cancel_after_s - 1) * 1000
    pay_t = pay_t.astype(np.int64)
    paid = np.flatnonzero(pays & ~ghost)
    out.add(paid, pay_t[paid], ev.ORDERS_TOPIC, ev.PAID, phase0[paid], waves[paid],
            np.where(presale[paid], ev.SUB_DEPOSIT, ev.SUB_PAID), np.where(presale[paid], deposit[paid], net[paid]))
    unpaid = np.flatnonzero(~pays & ~ghost)
    cancel_t = t0[unpaid] + (rng.uniform(60, cfg.cancel_after_s, len(unpaid)) * 1000).astype(np.int64)
    out.add(unpaid, cancel_t, ev.ORDERS_TOPIC, ev.CANCELLED, phase0[unpaid], waves[unpaid], ev.SUB_CANCELLED, 0)
    # Orders that end up fully paid: (index, time of the last payment, wave, phase).
    done = [(np.flatnonzero(pays & ~presale & ~ghost), pay_t, waves, ev.NO_PHASE)]
    done.append(_finals(cfg, curve, rng, out, orders, t0, np.flatnonzero(pays & presale), net))
    g = np.flatnonzero(ghost)
    out.add(g, t0[g], ev.ORDERS_TOPIC, ev.PAID, ev.FINAL, waves[g], ev.SUB_FINAL, net[g] - deposit[g])
    done.append((g, t0, waves, ev.FINAL))
    for idx, t_paid, wave, phase in done:
        _refunds(cfg, rng, out, idx, t_paid[idx], wave[idx], phase, net)
        _parcel(cfg, rng, out, idx, t_paid[idx], wave[idx])
    return out.rows(orders)


def _finals(cfg: FestivalConfig, curve: Curve, rng: np.random.Generator, out: _Events, orders: np.ndarray,
            t0: np.ndarray, idx: np.ndarray, net: np.ndarray):
    """Final payments (or forfeits) of pre-sale orders whose deposit is paid."""
    wave = np.full(len(idx), ev.WAVE2, dtype=np.int8)
    for s, _, w in cfg.window_bounds():
        if w.wave == "presale":
            inside = t0[idx] >= s
            wave[inside] = ev.WAVES.index(w.final_wave)
    starts, ends = np.zeros(len(ev.WAVES)), np.zeros(len(ev.WAVES))
    for code, start_s in curve.wave_starts_s.items():
        starts[code], ends[code] = start_s * 1000, curve.wave_ends_s[code] * 1000
    opens, closes = starts[wave], ends[wave]
    delay = _final_delays(cfg, rng, closes - opens)
    t_final = (opens + delay).astype(np.int64)
    pays = rng.random(len(idx)) < cfg.final_pay_prob
    deposit = orders["deposit_fen"][idx]
    paid, forfeit = idx[pays], idx[~pays]
    out.add(paid, t_final[pays], ev.ORDERS_TOPIC, ev.PAID, ev.FINAL, wave[pays], ev.SUB_FINAL,
            net[paid] - deposit[pays])
    out.add(forfeit, closes[~pays].astype(np.int64) - 1, ev.ORDERS_TOPIC, ev.CANCELLED, ev.FINAL, wave[~pays],
            ev.SUB_CANCELLED, 0)
    t_all = np.zeros(len(orders), dtype=np.int64)
    w_all = np.zeros(len(orders), dtype=np.int8)
    t_all[paid], w_all[paid] = t_final[pays], wave[pays]
    return paid, t_all, w_all, ev.FINAL


def _final_delays(cfg: FestivalConfig, rng: np.random.Generator, length_ms: np.ndarray) -> np.ndarray:
    """Delay of a final payment after its wave opens: the mixture of :func:`curve.final_density`."""
    n = len(length_ms)
    u = rng.random(n)
    delay = rng.random(n) * length_ms  # the evenly spread rest
    edge = 0.0
    for share, minutes in cfg.final_delays:
        pick = (u >= edge) & (u < edge + share)
        delay = np.where(pick, rng.exponential(minutes * 60_000, n), delay)
        edge += share
    return np.where(delay < length_ms, delay, rng.random(n) * length_ms)


def _refunds(cfg: FestivalConfig, rng: np.random.Generator, out: _Events, idx: np.ndarray,
             t_paid: np.ndarray, wave: np.ndarray, phase: int, net: np.ndarray) -> None:
    back = rng.random(len(idx)) < cfg.refund_prob
    delay = _lognormal(rng, cfg.refund_delay_median_s, 0.8, int(back.sum())) / cfg.delay_compression
    i = idx[back]
    out.add(i, t_paid[back] + (delay * 1000).astype(np.int64), ev.ORDERS_TOPIC, ev.REFUNDED, phase, wave[back],
            ev.SUB_REFUNDED, net[i])


def _parcel(cfg: FestivalConfig, rng: np.random.Generator, out: _Events, idx: np.ndarray,
            t_paid: np.ndarray, wave: np.ndarray) -> None:
    """created -> picked_up -> in_transit -> out_for_delivery -> delivered; rarely an exception
    after pick-up or in transit, which holds the parcel back for a while."""
    n = len(idx)
    exc_after = np.where(rng.random(n) < cfg.exception_prob, rng.integers(1, 3, n), -1)
    t = t_paid.astype(np.float64)
    for step, (status, median_s) in enumerate(cfg.parcel_steps):
        t = t + _lognormal(rng, median_s, cfg.parcel_sigma, n) / cfg.delay_compression * 1000
        out.add(idx, t.astype(np.int64), ev.LOGISTICS_TOPIC, ev.LOGISTICS_STATUSES.index(status), ev.NO_PHASE,
                wave, step, 0)
        hit = exc_after == step
        if hit.any():
            t_exc = t[hit] + rng.random(int(hit.sum())) * cfg.exception_extra_s / cfg.delay_compression * 500
            out.add(idx[hit], t_exc.astype(np.int64), ev.LOGISTICS_TOPIC, ev.EXCEPTION, ev.NO_PHASE, wave[hit],
                    ev.EXCEPTION, 0)
            t[hit] += cfg.exception_extra_s / cfg.delay_compression * 1000
