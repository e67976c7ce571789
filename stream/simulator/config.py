"""The festival model's knobs, in one frozen dataclass with defaults from 11.11 (2020/2021).

Volumes are *real* festival volumes (orders per second at Alibaba's scale); the
simulator multiplies them by ``scale`` (or by the factor that ``--rate`` implies).
Times of day are Asia/Shanghai local time (UTC+8, no daylight saving).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from stream.contract import FESTIVAL_PERIODS, FESTIVAL_TZ
from stream.errors import GmvError


@dataclass(frozen=True)
class Category:
    """A product category: its share of (non-VIP) orders and its unit price distribution."""

    name: str
    weight: float
    median_yuan: float  # median unit price
    sigma: float  # log-normal spread of the unit price


@dataclass(frozen=True)
class Window:
    """A festival period in local time: ``(month, day, hour)`` start and end."""

    wave: str  # presale | wave1 | wave2
    start: tuple[int, int, int]
    end: tuple[int, int, int]
    final_wave: str = ""  # for a presale window: the wave in which its final payments fall

    def bounds_ms(self, year: int) -> tuple[int, int]:
        return local_ms(year, *self.start), local_ms(year, *self.end)


def local_ms(year: int, month: int, day: int, hour: int = 0) -> int:
    """Epoch milliseconds of a Shanghai local time (``hour`` may be 24)."""
    moment = datetime(year, month, day, tzinfo=FESTIVAL_TZ) + timedelta(hours=hour)
    return int(moment.timestamp()) * 1000


CATEGORIES = (
    Category("Apparel", 0.18, 109, 0.70),
    Category("Beauty & Cosmetics", 0.13, 149, 0.60),
    Category("Food & Grocery", 0.14, 45, 0.60),
    Category("Home & Furniture", 0.08, 159, 0.90),
    Category("Shoes & Bags", 0.07, 199, 0.60),
    Category("Mobile Phones", 0.012, 2499, 0.40),
    Category("Computers & Office", 0.008, 2999, 0.60),
    Category("Home Appliances", 0.03, 799, 0.80),
    Category("Baby & Maternity", 0.08, 99, 0.70),
    Category("Sports & Outdoors", 0.06, 159, 0.70),
    Category("Health & Supplements", 0.06, 129, 0.60),
    Category("Pet Supplies", 0.05, 79, 0.60),
    Category("Jewelry & Watches", 0.01, 899, 1.00),
    Category("Books & Media", 0.05, 39, 0.50),
    Category("Auto & Tools", 0.04, 129, 0.80),
)

# The 31 mainland province-level divisions, population in millions (2020 census).
PROVINCES = (
    ("Guangdong", 126.01), ("Shandong", 101.53), ("Henan", 99.37), ("Jiangsu", 84.75),
    ("Sichuan", 83.67), ("Hebei", 74.61), ("Hunan", 66.44), ("Zhejiang", 64.57),
    ("Anhui", 61.03), ("Hubei", 57.75), ("Guangxi", 50.13), ("Yunnan", 47.21),
    ("Jiangxi", 45.19), ("Liaoning", 42.59), ("Fujian", 41.54), ("Shaanxi", 39.53),
    ("Guizhou", 38.56), ("Shanxi", 34.92), ("Chongqing", 32.05), ("Heilongjiang", 31.85),
    ("Xinjiang", 25.85), ("Gansu", 25.02), ("Shanghai", 24.87), ("Jilin", 24.07),
    ("Inner Mongolia", 24.05), ("Beijing", 21.89), ("Tianjin", 13.87), ("Hainan", 10.08),
    ("Ningxia", 7.20), ("Qinghai", 5.92), ("Tibet", 3.65),
)

CHANNELS = (("app", 0.62), ("web", 0.06), ("livestream", 0.22), ("mini_program", 0.10))

# Promotions of ordinary orders (livestream orders may get a livestream deal instead).
PROMOTIONS = (("none", 0.25), ("coupon", 0.33), ("cross_store", 0.34), ("flash_sale", 0.08))

CARRIERS = (
    ("ZTO Express", 0.21), ("YTO Express", 0.17), ("Yunda", 0.16), ("J&T Express", 0.12),
    ("STO Express", 0.11), ("SF Express", 0.10), ("JD Logistics", 0.05), ("EMS", 0.05),
    ("Deppon", 0.03),
)

# The festival's periods, declared in the contract (2021's calendar).
WINDOWS = tuple(Window(p.wave, p.start, p.end, final_wave=p.finals_in) for p in FESTIVAL_PERIODS)

# Parcel steps after payment: (status, median delay in seconds from the previous step).
PARCEL_STEPS = (
    ("created", 20 * 60),
    ("picked_up", 8 * 3600),
    ("in_transit", 6 * 3600),
    ("out_for_delivery", 22 * 3600),
    ("delivered", 4 * 3600),
)


@dataclass(frozen=True)
class FestivalConfig:
    """Everything the festival model can be told; defaults reproduce 11.11 at ``scale``."""

    year: int = 2021
    scale: float = 1e-4  # simulated orders per real order when no --rate is given
    # -- volume (real orders per second) ------------------------------------------------
    ordinary_orders_per_s: float = 700.0  # daily mean on an ordinary day
    wave_levels: tuple[tuple[str, float], ...] = (
        ("other", 1.0), ("presale", 1.2), ("wave1", 2.0), ("wave2", 6.0))
    peak_orders_per_s: float = 583_000.0  # 2020: the peak second, Nov 11 00:00
    wave1_peak_share: float = 0.6  # wave 1's midnight peak relative to Nov 11's
    surge_fast_share: float = 0.75  # of the midnight surge: the part that decays in minutes
    surge_fast_minutes: float = 2.0
    surge_slow_minutes: float = 20.0
    hush_minutes: float = 30.0  # before a wave opens, shoppers wait with full carts...
    hush_depth: float = 0.5  # ...and orders drop by this much just before midnight
    # -- the day curve: (hour, amplitude, width in hours) bumps on a floor ----------------
    diurnal_floor: float = 0.07
    diurnal_bumps: tuple[tuple[float, float, float], ...] = (
        (10.5, 0.30, 1.8), (13.5, 0.45, 2.2), (16.5, 0.20, 1.8), (21.3, 0.95, 2.0))
    spike_2000_boost: float = 2.5  # extra orders at 20:00 on festival days, x the base rate
    spike_2000_minutes: float = 12.0  # decay time of the 20:00 spike
    flashes_per_day: int = 6  # livestream flash sales a day, at pseudo-random times
    flash_boost: tuple[float, float] = (0.3, 1.2)  # range of their boost, x the base rate
    flash_minutes: float = 3.0  # decay time of a flash sale
    flash_seed: int = 1111  # the flash-sale timetable is part of the festival, not of a run
    windows: tuple[Window, ...] = WINDOWS
    # -- catalogue --------------------------------------------------------------------------
    brands: int = 290_000
    brand_zipf: float = 1.07
    catalog_seed: int = 2021
    categories: tuple[Category, ...] = CATEGORIES
    provinces: tuple[tuple[str, float], ...] = PROVINCES
    channels: tuple[tuple[str, float], ...] = CHANNELS
    promotions: tuple[tuple[str, float], ...] = PROMOTIONS
    livestream_deal_share: float = 0.55  # of livestream orders: a livestream deal
    carriers: tuple[tuple[str, float], ...] = CARRIERS
    items_mean: float = 1.25
    max_unit_yuan: float = 200_000.0
    coupon_tiers_yuan: tuple[tuple[int, int], ...] = ((99, 10), (200, 20), (500, 50), (1000, 100), (3000, 300))
    cross_store_every_yuan: int = 300  # 2021: 50 off every 300 across stores
    cross_store_off_yuan: int = 50
    flash_discount: tuple[float, float] = (0.2, 0.5)
    livestream_discount: tuple[float, float] = (0.1, 0.3)
    # -- consumers --------------------------------------------------------------------------
    consumers: int = 5_000_000
    vip_consumer_share: float = 0.001  # APASS: ~0.1% of consumers...
    vip_order_multiplier: float = 8.0  # ...who place this many times more orders each...
    vip_spend_multiplier: float = 3.0  # ...at this many times the unit price, in every category
    # -- lifecycle --------------------------------------------------------------------------
    pay_prob: float = 0.93
    pay_delay_median_s: float = 40.0
    cancel_after_s: float = 900.0  # unpaid orders are cancelled within 15 minutes
    refund_prob: float = 0.04
    refund_delay_median_s: float = 2 * 86400.0
    presale_share: float = 0.22  # of orders placed in a pre-sale window: deposit orders
    deposit_share: float = 0.1  # the deposit, of the order's price...
    deposit_bonus: float = 1.0  # ...counts (1 + bonus) times towards it (the "inflated deposit")
    final_pay_prob: float = 0.9
    # finals after a wave opens: (share, decay minutes); the rest spread evenly over the wave
    final_delays: tuple[tuple[float, float], ...] = ((0.3, 5.0), (0.4, 60.0))
    parcel_steps: tuple[tuple[str, float], ...] = PARCEL_STEPS
    parcel_sigma: float = 0.6
    exception_prob: float = 0.015
    exception_extra_s: float = 12 * 3600.0
    delay_compression: float = 1.0  # divides refund and parcel delays (replay shows deliveries)

    def __post_init__(self) -> None:
        checks = (
            (self.scale > 0, "scale must be positive"),
            (self.brands >= len(self.categories), "brands must be at least the number of categories"),
            (self.brands <= 500_000, "brands must be at most 500,000 (names run out)"),
            (0 < self.vip_consumer_share < 1, "vip_consumer_share must be between 0 and 1"),
            (self.consumers >= 1000, "consumers must be at least 1000"),
            (0 <= self.pay_prob <= 1 and 0 <= self.refund_prob <= 1, "probabilities must be in 0..1"),
            (0 <= self.presale_share <= 1 and 0 <= self.final_pay_prob <= 1, "probabilities must be in 0..1"),
            (0 < self.deposit_share * (2 + self.deposit_bonus) <= 1, "deposit_share is too large"),
            (self.delay_compression > 0, "delay compression must be positive"),
            (self.items_mean >= 1, "items_mean must be at least 1"),
        )
        for ok, message in checks:
            if not ok:
                raise GmvError(f"festival config: {message}.")

    def replace(self, **changes: object) -> FestivalConfig:
        """A copy with some fields changed (and validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def level(self, wave: str) -> float:
        return dict(self.wave_levels)[wave]

    def window_bounds(self) -> list[tuple[int, int, Window]]:
        """The festival's windows as ``(start_ms, end_ms, window)`` in time order."""
        return sorted(((*w.bounds_ms(self.year), w) for w in self.windows), key=lambda b: b[0])

    def wave_start_ms(self, wave: str) -> int:
        return next(s for s, _, w in self.window_bounds() if w.wave == wave)


DEFAULT = FestivalConfig()
