"""Two result sets side by side: the ratio per point, and whether it is beyond the noise.

The noise of a point is what asv measured for it: the 99% confidence interval of the median
(``stats_ci_99_a``/``stats_ci_99_b``), or the interquartile range (``stats_q_25``/``stats_q_75``)
where there is no interval. A change counts only when the two intervals do not overlap. asv
stores no spread for ``track_*`` benchmarks (the latency percentiles), nor for a single sample
(``asv run --quick`` stores an infinite interval): those changes are shown but not judged.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from reports.frame import with_kinds
from reports.results import ReportError, load_results, result_sets

#: Metrics compared; every one is a time or a cost, so less is better.
COMPARED = ("batch_seconds", "rtt_p50_us", "rtt_p99_us", "cpu_us_per_msg")
#: A point: two payload kinds or codecs at one size are two points.
_KEYS = ["metric", "backend", "payload", "codec", "size_bytes", "producers", "consumers",
         "procs"]


def compare(frame: pd.DataFrame, current: str, baseline: str) -> pd.DataFrame:
    """One row per point measured in both sets: the two values, their ratio, the verdict.

    ``ratio`` is current / baseline of what the reader cares about: messages per second for
    throughput (above 1 is faster), microseconds for latency (below 1 is faster). ``noise`` is
    the wider interval's half-width relative to its value (0.1 = ±10%). ``change`` is
    ``faster``, ``slower`` (for CPU per message: cheaper, costlier), ``within noise``,
    ``not judged`` (no noise measure) or
    ``failed in current`` / ``failed in baseline``.
    """
    frame = with_kinds(frame)
    pair = []
    for result_set in (baseline, current):
        rows = frame[(frame["result_set"] == result_set) & frame["metric"].isin(COMPARED)
                     & (frame["status"] != "skipped")]
        pair.append(rows.set_index(_KEYS)[["status", "value", "ci_99_a", "ci_99_b", "q_25",
                                           "q_75", "repeat", "msgs_per_s"]])
    old, new = pair
    joined = old.merge(new, how="inner", left_index=True, right_index=True,
                       suffixes=("_baseline", "_current"))
    records = []
    for key, row in joined.iterrows():
        record = dict(zip(_KEYS, key, strict=True))
        throughput = record["metric"] == "batch_seconds"
        value = "msgs_per_s" if throughput else "value"
        if throughput:
            record["metric"] = "msgs_per_s"
        record["baseline"] = row[f"{value}_baseline"]
        record["current"] = row[f"{value}_current"]
        record["ratio"] = (record["current"] / record["baseline"]
                           if record["baseline"] and not math.isnan(record["baseline"])
                           else math.nan)
        record["noise"] = _noise(row)
        record["change"] = _verdict(row)
        records.append(record)
    columns = [*_KEYS, "baseline", "current", "ratio", "noise", "change"]
    return pd.DataFrame(records, columns=columns)


def _verdict(row: pd.Series) -> str:
    if row["status_current"] == "failed" and row["status_baseline"] != "failed":
        return "failed in current"
    if row["status_baseline"] == "failed" and row["status_current"] != "failed":
        return "failed in baseline"
    if row["status_current"] != "ok" or row["status_baseline"] != "ok":
        return "failed in both"
    old, new = _interval(row, "_baseline"), _interval(row, "_current")
    if old is None or new is None:
        return "not judged"
    if old[1] < new[0] or new[1] < old[0]:
        return "faster" if row["value_current"] < row["value_baseline"] else "slower"
    return "within noise"


def _noise(row: pd.Series) -> float:
    """The wider of the two points' intervals, as a fraction of its value (0.1 = ±10%)."""
    widths = []
    for suffix in ("_baseline", "_current"):
        interval = _interval(row, suffix)
        if interval is not None and row["value" + suffix] > 0:
            widths.append((interval[1] - interval[0]) / 2 / row["value" + suffix])
    return max(widths) if widths else math.nan


def _interval(row: pd.Series, suffix: str) -> tuple[float, float] | None:
    low, high = row["ci_99_a" + suffix], row["ci_99_b" + suffix]
    if math.isfinite(low) and math.isfinite(high):
        return min(low, high), max(low, high)
    repeat = row["repeat" + suffix]
    if math.isinf(low) or math.isinf(high) or (pd.notna(repeat) and repeat == 1):
        return None  # one sample (asv --quick): asv could not measure the noise
    low, high = row["q_25" + suffix], row["q_75" + suffix]
    if math.isnan(low) or math.isnan(high):
        return None
    return min(low, high), max(low, high)


def choose_sets(frame: pd.DataFrame, current: str | None = None,
                baseline: str | None = None) -> tuple[str, str | None]:
    """Resolve the two selectors to result-set ids; by default the newest and the one before.

    A selector is a result-set id (``machine/file-stem``), a machine name, a run's label
    (``run-suite.sh --label``), a commit hash prefix or a Python version (``3.12``); the newest
    matching set wins. With a single set there is no
    baseline (None).
    """
    sets = result_sets(frame)
    current_id = _select(sets, current) if current else str(sets["result_set"].iloc[-1])
    if baseline:
        baseline_id = _select(sets, baseline)
    else:
        older = sets[(sets["result_set"] != current_id)
                     & (sets["date"] <= sets.loc[sets["result_set"] == current_id, "date"].iloc[0])]
        if older.empty:
            older = sets[sets["result_set"] != current_id]
        baseline_id = str(older["result_set"].iloc[-1]) if not older.empty else None
    if baseline_id == current_id:
        raise ReportError(f"the baseline and the current result set are the same ({current_id}); "
                          f"choose another with --baseline")
    return current_id, baseline_id


def _matches(sets: pd.DataFrame, selector: str) -> list[pd.Series]:
    text = selector.strip()
    tests = [
        sets["result_set"] == text,
        sets["result_set"].str.split("/").str[-1] == text,
        sets["machine"] == text,
        sets["label"] == text,
        sets["commit"].fillna("").str.startswith(text) if len(text) >= 4 else None,
        sets["python"] == text.removeprefix("py").removeprefix("python"),
    ]
    return [test for test in tests if test is not None and test.any()]


def _select(sets: pd.DataFrame, selector: str) -> str:
    matches = _matches(sets, selector)
    if matches:
        return str(sets.loc[matches[0], "result_set"].iloc[-1])
    known = "; ".join(f"{s} (commit {str(c)[:8]}, Python {p})" for s, c, p in
                      zip(sets["result_set"], sets["commit"], sets["python"], strict=True))
    raise ReportError(f"no result set matches {selector!r}; result sets: {known}")


def load_baseline(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, str]:
    """Resolve ``--baseline``: a selector in ``frame`` or the path of another results directory.

    Another directory's newest set is added to the frame (its id prefixed with ``baseline:``
    should it clash); returns the combined frame and the baseline's id.
    """
    sets = result_sets(frame)
    path = Path(source)
    if path.is_dir() and not _matches(sets, source):
        other = load_results(path)
        other_id = str(result_sets(other)["result_set"].iloc[-1])
        other = other[other["result_set"] == other_id].copy()
        if other_id in set(frame["result_set"]):
            other_id = f"baseline:{other_id}"
            other["result_set"] = other_id
        return pd.concat([frame, other], ignore_index=True), other_id
    return frame, _select(sets, source)
