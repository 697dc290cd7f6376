"""The sweep's planning without a registry: image creation times ranked for --newest."""

from __future__ import annotations

from auditor.sources.documents import when_created


def test_created_times_compare_across_formats() -> None:
    order = ["", "2024-01-01T00:00:00Z", "2024-02-01T00:00:00+00:00",
             "2024-03-01T12:00:00.123456789Z", "2024-03-01T12:00:00.5Z"]
    assert sorted(order, key=when_created) == order
    assert when_created("garbage") == when_created("")
