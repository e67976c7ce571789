"""Last year's same moment, in China time."""
from datetime import datetime

from stream.contract import FESTIVAL_TZ
from stream.history import same_moment_last_year, year_shift_s


def at(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=FESTIVAL_TZ).timestamp())


def test_the_same_calendar_moment_one_year_earlier():
    assert same_moment_last_year(at(2021, 11, 11, 0, 0, 7)) == at(2020, 11, 11, 0, 0, 7)
    assert year_shift_s(at(2021, 11, 11, 20)) == 365 * 86400
    assert year_shift_s(at(2020, 11, 11)) == 366 * 86400  # 2020 is a leap year


def test_feb_29_maps_to_feb_28():
    assert same_moment_last_year(at(2024, 2, 29, 12)) == at(2023, 2, 28, 12)
