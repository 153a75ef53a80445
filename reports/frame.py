"""The tidy results frame that every reader produces, and what works on any such frame.

One row per result set, metric, backend, size and process count (COLUMNS, in order), whatever
the results came from: an asv results directory (reports.asv_results) or the JSON lines of
``ipc-bench run --json`` (reports.runs). A *result set* is one run of the measurement on one
machine: an asv result file (one machine, commit and environment), or one ``--runs`` file.
Sets are told apart by ``result_set`` and ordered by ``date`` (when they were measured, UTC).
"""

from __future__ import annotations

import math

import pandas as pd

#: What a record of the machine says (run-suite.sh's environment file, or a JSON line's
#: ``machine`` object) -> the frame's ``measured_*`` columns.
ENVIRONMENT = {"cpu_model": "measured_cpu_model", "python": "measured_python",
               "ipc_bench": "measured_ipc_bench", "pyzmq": "measured_pyzmq",
               "libzmq": "measured_libzmq"}
#: Measured figures of the machine -> columns; null when missing or not a positive number.
FIGURES = {"memcpy_mb_per_s": "measured_memcpy_mb_per_s"}

#: The DataFrame's columns, in order.
COLUMNS = [
    "result_set", "machine", "cpu", "num_cpu", "ram", "os", "arch", "python", "commit", "env",
    *ENVIRONMENT.values(), *FIGURES.values(), "environment_note", "label", "placement",
    "date", "benchmark", "metric", "unit", "backend", "origin", "payload", "codec",
    "size_bytes", "producers",
    "consumers", "procs", "work_us", "status", "reason", "value", "ci_99_a", "ci_99_b", "q_25",
    "q_75", "repeat",
    "batch_messages", "seconds", "msgs_per_s", "mb_per_s", "cpu_us_per_msg",
    "launcher", "hosts", "place", "rank_hosts",
]
#: What every row measured before payload kinds existed (and every asv set) sent.
DEFAULT_KIND = ("bytes", "native")
#: The order payload kinds are shown and compared in.
PAYLOADS = ("bytes", "records", "ndarray")
#: The columns that describe a result set as a whole (the same on each of its rows).
SET_COLUMNS = ["result_set", "machine", "cpu", "num_cpu", "ram", "os", "arch", "python",
               "commit", "env", *ENVIRONMENT.values(), *FIGURES.values(), "environment_note",
               "label", "placement"]


def make_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows (dicts keyed by COLUMNS; missing keys are null) as the frame, typed and sorted."""
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("size_bytes", "producers", "consumers", "num_cpu", "batch_messages",
                   "repeat"):
        frame[column] = frame[column].astype("Int64")
    for column in ("work_us", "value", "ci_99_a", "ci_99_b", "q_25", "q_75", "seconds",
                   "msgs_per_s", "mb_per_s", "cpu_us_per_msg", *FIGURES.values()):
        frame[column] = frame[column].astype(float)
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    for column, default in zip(("payload", "codec"), DEFAULT_KIND, strict=True):
        frame[column] = frame[column].astype(object).fillna(default)
    for column in ("launcher", "hosts", "place", "rank_hosts"):
        frame[column] = frame[column].astype(object)
    return sort_frame(frame)


def sort_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["date", "result_set", "metric", "backend", "payload", "codec",
                              "size_bytes", "producers", "consumers"],
                             kind="stable").reset_index(drop=True)


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Several readers' frames as one; a result-set id that two of them use is an error of
    the caller (each reader's ids are its own: ``machine/file`` for asv, ``runs/file``)."""
    frames = [frame for frame in frames if not frame.empty]
    if len(frames) == 1:
        return frames[0]
    return sort_frame(pd.concat(frames, ignore_index=True))


def result_sets(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per result set, oldest first: its machine, commit, Python, date and point counts."""
    sets = frame.groupby("result_set", sort=False).agg(
        **{key: (key, "first") for key in SET_COLUMNS[1:]},
        date=("date", "max"),
        ok=("status", lambda s: int((s == "ok").sum())),
        failed=("status", lambda s: int((s == "failed").sum())),
        skipped=("status", lambda s: int((s == "skipped").sum())),
        unsupported=("status", lambda s: int((s == "unsupported").sum())),
    )
    return sets.sort_values(["date"], kind="stable").reset_index()


def newest_set(frame: pd.DataFrame) -> str:
    return str(result_sets(frame)["result_set"].iloc[-1])


def only_set(frame: pd.DataFrame, result_set: str | None = None) -> pd.DataFrame:
    """The rows of one result set (the newest when not named)."""
    if result_set is None:
        if frame.empty:
            return frame
        result_set = newest_set(frame)
    return frame[frame["result_set"] == result_set]


def with_kinds(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``payload`` and ``codec`` everywhere (a frame made before they existed,
    or by hand, reads as bytes/native)."""
    for column, default in zip(("payload", "codec"), DEFAULT_KIND, strict=True):
        if column not in frame:
            frame = frame.assign(**{column: default})
        elif frame[column].isna().any():
            frame = frame.assign(**{column: frame[column].astype(object).fillna(default)})
    return frame


def kinds(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """The (payload, codec) pairs in ``frame``: bytes, records, ndarray (others after), native
    before pickle."""
    frame = with_kinds(frame)
    pairs = set(zip(frame["payload"].astype(str), frame["codec"].astype(str), strict=True))
    order = {name: i for i, name in enumerate(PAYLOADS)}
    return sorted(pairs, key=lambda p: (order.get(p[0], len(order)), p[0], p[1] != "native",
                                        p[1]))


def main_kind(frame: pd.DataFrame) -> tuple[str, str]:
    """The kind the answer and the detail sections show: bytes/native where its throughput
    was measured, else the first kind with throughput (kinds' order). Latency is measured
    with bytes only (``run --latency``)."""
    throughput = frame[frame["metric"] == "batch_seconds"] if "metric" in frame else frame
    found = kinds(throughput if not throughput.empty else frame)
    return DEFAULT_KIND if DEFAULT_KIND in found or not found else found[0]


def of_kind(frame: pd.DataFrame, kind: tuple[str, str],
            latency: bool = False) -> pd.DataFrame:
    """The rows of one payload kind and codec (and with ``latency``, every latency row: those
    are bytes, whatever kind the throughput of the set is)."""
    frame = with_kinds(frame)
    keep = (frame["payload"] == kind[0]) & (frame["codec"] == kind[1])
    if latency:
        keep |= frame["metric"].isin(["rtt_p50_us", "rtt_p99_us"])
    return frame[keep]


def one_kind(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s rows of its main kind, and its latency rows: what a section that ranks or
    tables backends by size and process count may show without merging two kinds."""
    return of_kind(frame, main_kind(frame), latency=True) if not frame.empty else frame


def is_number(value: object) -> bool:
    """A JSON number (not a bool) that fits a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def number(value: object) -> float:
    return float(value) if is_number(value) else math.nan


def positive(value: object) -> float | None:
    """A finite number above 0 as a float, else None."""
    return float(value) if is_number(value) and math.isfinite(value) and value > 0 else None


def to_int(value: object) -> int | None:
    """An int that fits the frame's Int64 columns, else None (unknown)."""
    try:
        result = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return result if -2**63 <= result < 2**63 else None
