"""The coordinates rule of bronze: every row lies inside the Kafka range of its landing file's key.

A loader checks each file's rows against its key (:func:`coordinates_problem`) before loading it, so the
ledger's offset ranges cover every bronze row; then a file whose range overlaps no loaded range
(:class:`LoadedRanges`) cannot hold a row already in bronze, and only an overlapping file (a replayed range
under another name) needs the anti-join on bronze's (topic, partition, offset).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

from banking_cdc.warehouse.bronze import BronzeError, LandingFile

#: the columns that identify a change event: unique in bronze
COORDINATES = ("kafka_topic", "kafka_partition", "kafka_offset")


class LoadedRanges:
    """
    The offset ranges of the ledger, merged per (topic, partition): does a new file overlap loaded ones?

    Every bronze row lies inside the range of its file's ledger row (the loader checks each file's rows
    against its key), so a file whose range overlaps no loaded range cannot hold a row already in bronze.
    """

    def __init__(self) -> None:
        self._starts: dict[tuple[str, int], list[int]] = {}
        self._ends: dict[tuple[str, int], list[int]] = {}
        self.unknown = False  # a ledger key that does not parse: treat every file as overlapping

    @classmethod
    def from_ledger(cls, rows: Iterable[tuple[str, int, int]]) -> LoadedRanges:
        """Build from ``(file_key, first_offset, last_offset)`` ledger rows."""
        ranges = cls()
        for key, first, last in rows:
            try:
                landing = LandingFile.parse(key)
            except BronzeError:
                ranges.unknown = True
                continue
            ranges.add(landing.topic, landing.partition, first, last)
        return ranges

    def overlaps(self, topic: str, partition: int, first: int, last: int) -> bool:
        """Whether ``first..last`` (inclusive) intersects a loaded range of ``(topic, partition)``."""
        if self.unknown:
            return True
        starts = self._starts.get((topic, partition), [])
        index = bisect.bisect_right(starts, last)  # merged ranges starting at or before ``last``
        return index > 0 and self._ends[(topic, partition)][index - 1] >= first

    def add(self, topic: str, partition: int, first: int, last: int) -> None:
        """Record a loaded range, merging it with the ranges it touches or overlaps."""
        starts = self._starts.setdefault((topic, partition), [])
        ends = self._ends.setdefault((topic, partition), [])
        low = bisect.bisect_left(ends, first - 1)  # first merged range that ends at or after first - 1
        high = bisect.bisect_right(starts, last + 1)  # ranges from ``high`` on start after last + 1
        if low < high:
            first, last = min(first, starts[low]), max(last, ends[high - 1])
        starts[low:high] = [first]
        ends[low:high] = [last]


def coordinates_problem(arrow: Any, landing: LandingFile) -> str | None:
    """
    Why the rows of a landing file are not exactly within its key's coordinates, or ``None``.

    Every row must carry the key's topic and partition and an offset in ``first..last``, each offset once:
    the ledger's ranges then cover every bronze row, which is what lets a non-overlapping file skip the
    duplicate check.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if arrow.num_rows == 0:
        return None
    nulls = [name for name in COORDINATES if arrow[name].null_count]
    if nulls:
        return f"null {', '.join(nulls)}"
    topics = pc.unique(arrow["kafka_topic"].cast(pa.string())).to_pylist()
    if topics != [landing.topic]:
        return f"kafka_topic {sorted(topics)[:3]} is not {landing.topic!r}"
    partitions = pc.unique(arrow["kafka_partition"]).to_pylist()
    if partitions != [landing.partition]:
        return f"kafka_partition {sorted(partitions)[:3]} is not {landing.partition}"
    offsets = arrow["kafka_offset"]
    bounds = pc.min_max(offsets)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low < landing.first_offset or high > landing.last_offset:
        return f"kafka_offset {low}..{high} is outside {landing.first_offset}..{landing.last_offset}"
    distinct = pc.count_distinct(offsets).as_py()
    if distinct != arrow.num_rows:
        return f"{arrow.num_rows - distinct} repeated kafka_offset(s)"
    return None
