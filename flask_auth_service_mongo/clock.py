"""Time as the package stores and shows it."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional


def utcnow() -> datetime:
    """Now, as the naive UTC datetime MongoDB stores (millisecond precision)."""
    now = datetime.now(timezone.utc)
    return datetime(now.year, now.month, now.day, now.hour, now.minute, now.second, now.microsecond // 1000 * 1000)


def iso(moment: Optional[datetime]) -> Optional[str]:
    """A stored (naive UTC) time as every answer writes it: ISO 8601 with a ``Z``."""
    return moment.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z") if moment else None


def epoch(moment: datetime) -> int:
    """A stored (naive UTC) time as a Unix time in whole seconds."""
    return int(moment.replace(tzinfo=timezone.utc).timestamp())
