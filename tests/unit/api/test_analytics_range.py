"""Bucket alignment and bounds of the analytics ranges (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orbitpay.api.errors import ApiError
from orbitpay.api.routers.analytics import MAX_BUCKETS, analytics_range

NOW = int(datetime(2026, 3, 4, 15, 30, tzinfo=UTC).timestamp())


async def test_defaults_and_alignment() -> None:
    day = await analytics_range(NOW, None, None, "day")
    assert day.to == datetime(2026, 3, 4, 15, 30, tzinfo=UTC)
    assert day.start == datetime(2026, 2, 2, tzinfo=UTC) and day.buckets == 31
    hour = await analytics_range(NOW, None, None, "hour")
    assert hour.start == datetime(2026, 3, 2, 15, tzinfo=UTC) and hour.buckets == 49
    week = await analytics_range(NOW, datetime(2026, 3, 4), datetime(2026, 3, 10), "week")
    assert week.start == datetime(2026, 3, 2, tzinfo=UTC)  # the Monday before
    assert week.buckets == 2 and week.bucket_time(1) == datetime(2026, 3, 9, tzinfo=UTC)


async def test_bounds() -> None:
    with pytest.raises(ApiError) as caught:
        await analytics_range(NOW, datetime(2026, 3, 5), datetime(2026, 3, 4), "day")
    assert caught.value.status == 422
    with pytest.raises(ApiError) as caught:
        await analytics_range(NOW, datetime(2000, 1, 1), datetime(2026, 1, 1), "hour")
    assert caught.value.details["max_buckets"] == MAX_BUCKETS
    with pytest.raises(ApiError):
        await analytics_range(NOW, None, datetime(1, 1, 1, 1), "week")  # before year 1
    edge = await analytics_range(NOW, datetime(9999, 12, 1), datetime(9999, 12, 31, 23), "day")
    assert edge.buckets == 31
