"""Time as the package stores and shows it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Optional

_EPOCH = datetime(1970, 1, 1)


def utcnow() -> datetime:
    """Now, as the naive UTC datetime MongoDB stores (millisecond precision;
    from the epoch without a time zone's arithmetic: the guard asks once a request)."""
    return _EPOCH + timedelta(0, 0, 0, time.time_ns() // 1_000_000)


def iso(moment: Optional[datetime]) -> Optional[str]:
    """A stored (naive UTC) time as every answer writes it: ISO 8601 with a ``Z``."""
    return moment.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z") if moment else None


def epoch(moment: datetime) -> int:
    """A stored (naive UTC) time as a Unix time in whole seconds."""
    return int(moment.replace(tzinfo=timezone.utc).timestamp())
