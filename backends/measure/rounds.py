"""Repeated rounds of a grid (``ipc-bench run --rounds N``): order and summary.

One run of a point is one sample of a noisy machine: where the scheduler puts the processes,
what else runs. ``--rounds N`` measures the whole grid N times, with the order of the backends
rotated each round so that no backend always runs first (warm caches, a cold page cache) or
last, and reports per point the median, with the min and max and every round's value.
"""

from __future__ import annotations

import statistics

#: The figures summarized over rounds; the others (counts, configuration) are per round.
THROUGHPUT_FIGURES = ("seconds", "msgs_per_s", "mb_per_s", "cpu_seconds", "cpu_us_per_msg",
                      "cpu_cores")
LATENCY_FIGURES = ("rtt_p50_us", "rtt_p90_us", "rtt_p99_us", "rtt_p999_us", "rtt_max_us")
COUNTS = ("lost", "duplicated", "corrupted")


def ordered(points: list[dict], round_index: int) -> list[dict]:
    """The grid for round ``round_index`` (0-based): the backends' order rotated by the round,
    each backend's points in their usual order."""
    names = list(dict.fromkeys(point["backend"] for point in points))
    shift = round_index % len(names) if names else 0
    rotated = names[shift:] + names[:shift]
    return [point for name in rotated for point in points if point["backend"] == name]


def summarize(rows: list[dict]) -> dict:
    """One point's JSON rows, one per round, as one row: the median of each figure in its
    usual key, ``<key>_min``/``<key>_max`` and ``<key>_rounds`` (every round's value, None
    for a failed round), the counts of lost, duplicated and corrupted messages summed over the
    rounds, ``ok`` only if every round passed, and ``rounds``."""
    summary = dict(rows[0])
    figures = THROUGHPUT_FIGURES if summary.get("kind") == "throughput" else LATENCY_FIGURES
    for key in figures:
        values = [row.get(key) for row in rows]
        found = [value for value in values if value is not None]
        summary[key] = statistics.median(found) if found else None
        summary[f"{key}_min"] = min(found) if found else None
        summary[f"{key}_max"] = max(found) if found else None
        summary[f"{key}_rounds"] = values
    for key in COUNTS:
        if key in summary:
            counts = [row[key] for row in rows if row.get(key) is not None]
            summary[key] = sum(counts) if counts else None
    summary["ok"] = all(row["ok"] for row in rows)
    errors = [f"round {number}: {row['error']}" for number, row in enumerate(rows, 1)
              if row.get("error")]
    summary["error"] = "; ".join(errors) if errors else None
    summary["rounds"] = len(rows)
    return summary
