"""The province's calendar (Vietnam time, no daylight saving): which day an instant falls on."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

CALENDAR = ZoneInfo("Asia/Ho_Chi_Minh")


def day_of(ts: float) -> str:
    """ISO date of epoch seconds `ts` in the province's calendar."""
    return dt.datetime.fromtimestamp(ts, CALENDAR).date().isoformat()
