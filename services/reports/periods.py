"""Report periods: a month, a quarter, a year, or custom dates (both ends inclusive)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from services.core.errors import InvalidArgument

MAX_DAYS = 5 * 366
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


@dataclass(frozen=True)
class Period:
    label: str
    first: dt.date
    last: dt.date

    @property
    def months(self) -> list[str]:
        """'YYYY-MM' of every month the period touches, in order."""
        found, y, m = [], self.first.year, self.first.month
        while (y, m) <= (self.last.year, self.last.month):
            found.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return found

    def day_mask(self, month: str) -> int:
        """Bits (day d -> bit d-1) of the days of `month` inside the period."""
        y, m = int(month[:4]), int(month[5:7])
        start = self.first.day if (y, m) == (self.first.year, self.first.month) else 1
        end = self.last.day if (y, m) == (self.last.year, self.last.month) else 31
        if end == _month_end(y, m).day:
            end = 31  # the whole month: every bit a row of the month can have
        return ((1 << end) - 1) & ~((1 << (start - 1)) - 1)


def _month_end(y: int, m: int) -> dt.date:
    return (dt.date(y + 1, 1, 1) if m == 12 else dt.date(y, m + 1, 1)) - dt.timedelta(days=1)


def parse(period: str, from_date: str = "", to_date: str = "") -> Period:
    period = period.strip()
    try:
        if period:
            if (found := _MONTH.match(period)) is not None:
                y, m = int(found[1]), int(found[2])
                return Period(f"tháng {m:02d}/{y}", dt.date(y, m, 1), _month_end(y, m))
            if (found := _QUARTER.match(period)) is not None:
                y, q = int(found[1]), int(found[2])
                return Period(f"quý {q}/{y}", dt.date(y, 3 * q - 2, 1), _month_end(y, 3 * q))
            if (found := _YEAR.match(period)) is not None:
                y = int(found[1])
                return Period(f"năm {y}", dt.date(y, 1, 1), dt.date(y, 12, 31))
            raise ValueError(period)
    except ValueError:
        raise InvalidArgument(
            "invalid_period", "period is YYYY-MM, YYYY-Qn or YYYY (or give from_date and to_date)", field="period"
        ) from None
    if not from_date or not to_date:
        raise InvalidArgument("period_required", "give a period, or from_date and to_date", field="period")
    try:
        first, last = dt.date.fromisoformat(from_date), dt.date.fromisoformat(to_date)
    except ValueError:
        raise InvalidArgument("invalid_date", "dates are YYYY-MM-DD", field="from_date") from None
    if last < first:
        raise InvalidArgument("invalid_period", "to_date is before from_date", field="to_date")
    if (last - first).days > MAX_DAYS:
        raise InvalidArgument("period_too_long", "a period spans at most 5 years", field="to_date")
    return Period(f"từ {first:%d/%m/%Y} đến {last:%d/%m/%Y}", first, last)
