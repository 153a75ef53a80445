"""The asv results reader on stored results: the frame it makes, and files it refuses.

tests/data/asv-results/ is a copy of a real (tiny, quick) asv run of the suite; broken files are
derived from it in a temporary directory (helpers in tests/test_reports.py). Reading
``ipc-bench run --json`` files: tests/test_report_runs.py.
"""

from __future__ import annotations

import ast
import itertools
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

import reports
from backends.cli import main
from backends.grid import batch_messages
from tests.test_reports import DATA, THROUGHPUT, copy_results, edit_throughput, result_file

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return reports.load_results(DATA)


@pytest.fixture(scope="module")
def ok(frame) -> pd.DataFrame:
    return frame[(frame["metric"] == "batch_seconds") & (frame["status"] == "ok")]


# --- loading ------------------------------------------------------------------------------------

def test_columns_and_machine_details(frame):
    assert list(frame.columns) == reports.COLUMNS
    assert frame["result_set"].nunique() == 1
    for column in ("machine", "cpu", "num_cpu", "ram", "os", "python", "commit", "date"):
        assert frame[column].notna().all(), column
    assert set(frame["metric"]) >= {"batch_seconds", "rtt_p50_us", "rtt_p99_us"}
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", frame["python"].iloc[0])


def test_throughput_is_derived_from_the_batch(ok):
    assert not ok.empty
    for row in ok.itertuples():
        assert row.batch_messages == batch_messages(row.size_bytes)
        assert row.msgs_per_s == pytest.approx(batch_messages(row.size_bytes) / row.value)
        assert row.mb_per_s == pytest.approx(row.msgs_per_s * row.size_bytes / 1e6)
        assert row.producers * 1 >= 1 and row.procs == f"{row.producers}x{row.consumers}"


def test_values_are_matched_to_their_parameters(frame):
    # asv stores results flat, in itertools.product order: check every point against the file.
    data = json.loads(result_file(DATA).read_text())
    checked = 0
    for name, entry in data["results"].items():
        row = dict(zip(data["result_columns"], entry, strict=False))
        params = [[ast.literal_eval(v) for v in values] for values in row["params"]]
        for combo, value in zip(itertools.product(*params), row["result"], strict=True):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            match = frame[(frame["benchmark"] == name) & (frame["backend"] == combo[0])
                          & (frame["size_bytes"] == combo[1])]
            if len(combo) > 2:
                match = match[match["procs"] == combo[2]]
            assert match["value"].tolist() == [value]
            checked += 1
    assert checked >= 3


def test_failed_and_skipped_points_keep_their_status(tmp_path):
    root = copy_results(tmp_path)
    path = result_file(root)
    data = json.loads(path.read_text())
    marked = {}

    def edit(combo, index, row):
        if len(marked) < 2 and isinstance(row[0][index], float) and not math.isnan(row[0][index]):
            row[0][index] = None if not marked else float("nan")
            marked[combo] = "failed" if not marked else "skipped"

    edit_throughput(data, edit)
    path.write_text(json.dumps(data))
    loaded = reports.load_results(root)
    for (backend, size, procs), status in marked.items():
        point = loaded[(loaded["metric"] == "batch_seconds") & (loaded["backend"] == backend)
                       & (loaded["size_bytes"] == size) & (loaded["procs"] == procs)]
        assert point["status"].tolist() == [status]
        assert point["msgs_per_s"].isna().all()


@pytest.mark.parametrize("version, batch", [("suite-3", 256), ("1592ee4eeb83", 64)])
def test_each_set_is_read_with_the_batch_of_its_suite_version(tmp_path, version, batch):
    # Suite version 3 times 256 messages of 1 MiB where earlier ones timed 64; asv stored a
    # hash of the code as the version of those.
    root = copy_results(tmp_path)
    path = result_file(root)
    data = json.loads(path.read_text())

    def edit(combo, index, row):
        if combo == ("pipe", 1024**2, "1x1"):
            row[0][index] = 0.5

    edit_throughput(data, edit)
    data["results"][THROUGHPUT][2] = version
    path.write_text(json.dumps(data))
    loaded = reports.load_results(root)
    point = loaded[(loaded["metric"] == "batch_seconds") & (loaded["backend"] == "pipe")
                   & (loaded["size_bytes"] == 1024**2) & (loaded["procs"] == "1x1")]
    assert point["batch_messages"].tolist() == [batch]
    assert point["msgs_per_s"].tolist() == [batch / 0.5]
    small = loaded[(loaded["metric"] == "batch_seconds") & (loaded["size_bytes"] == 64)]
    assert (small["batch_messages"] == 10_000).all()  # unchanged below 256 KiB


def test_machine_filter(frame):
    machine = frame["machine"].iloc[0]
    assert len(reports.load_results(DATA, machine=machine)) == len(frame)
    with pytest.raises(reports.ReportError, match="no results for machine 'nosuch'"):
        reports.load_results(DATA, machine="nosuch")


# --- files that parse as JSON but are not what asv writes ---------------------------------------

def no_started_at(data: dict) -> None:
    started = data["result_columns"].index("started_at")
    for row in data["results"].values():
        row[started] = None


def set_throughput_value(value):
    def edit(data: dict) -> None:
        row = data["results"][THROUGHPUT]
        row[0] = [value if isinstance(v, float) and not math.isnan(v) else v for v in row[0]]
    return edit


def set_throughput_param(axis: int, value: str):
    def edit(data: dict) -> None:
        data["results"][THROUGHPUT][1][axis][0] = value
    return edit


# (id, edit of the result file's data or None, edit of benchmarks.json's or None, fragment)
MALFORMED = [
    ("date-not-a-number", lambda d: (d.update(date="yesterday"), no_started_at(d)), None,
     "date 'yesterday' is not a time"),
    ("date-out-of-range", lambda d: (d.update(date=1e300), no_started_at(d)), None,
     "is not a time"),
    ("result-column-missing",
     lambda d: d.update(result_columns=["value", *d["result_columns"][1:]]), None,
     "result_columns lack 'result'"),
    ("result-columns-not-names", lambda d: d["result_columns"].__setitem__(0, ["result"]), None,
     "is not an asv results file"),
    ("row-without-params", lambda d: d["results"].__setitem__(THROUGHPUT, [0.01]), None,
     "is not an asv result row"),
    ("commit-not-text", lambda d: d.update(commit_hash=123), None, "commit_hash is 123"),
    ("result-infinite", set_throughput_value(float("inf")), None, "impossible result inf"),
    ("result-negative", set_throughput_value(-1.0), None, "impossible result -1.0"),
    ("result-too-large", set_throughput_value(10**400), None, "impossible result"),
    ("size-not-a-number", set_throughput_param(1, "'big'"), None, "malformed parameters"),
    ("procs-not-pxc", set_throughput_param(2, "'lots'"), None, "malformed parameters"),
    ("backend-not-a-name", set_throughput_param(0, "[1]"), None, "malformed parameters"),
]
MALFORMED_BENCHMARKS = [
    ("param-names-not-a-list", lambda b: b[THROUGHPUT].update(param_names=3)),
    ("param-names-not-names", lambda b: b[THROUGHPUT].update(param_names=[["backend"], 1, 2])),
    ("params-not-a-list", lambda b: b[THROUGHPUT].update(params="backend")),
    ("unit-not-text", lambda b: b[THROUGHPUT].update(unit=["seconds"])),
]


def malformed(tmp_path: Path, edit_result=None, edit_benchmarks=None) -> tuple[Path, Path]:
    """A copy of the results with one file edited; returns (results dir, edited file)."""
    root = copy_results(tmp_path)
    for path, edit in ((result_file(root), edit_result), (root / "benchmarks.json",
                                                          edit_benchmarks)):
        if edit is not None:
            data = json.loads(path.read_text())
            edit(data)
            path.write_text(json.dumps(data))
            edited = path
    return root, edited


@pytest.mark.parametrize("edit, fragment", [case[1::2] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_a_malformed_result_file_is_named(tmp_path, edit, fragment):
    root, path = malformed(tmp_path, edit_result=edit)
    with pytest.raises(reports.ReportError) as caught:
        reports.load_results(root)
    assert str(path) in str(caught.value) and fragment in str(caught.value)


@pytest.mark.parametrize("edit", [case[1] for case in MALFORMED_BENCHMARKS],
                         ids=[case[0] for case in MALFORMED_BENCHMARKS])
def test_a_malformed_benchmarks_json_is_named(tmp_path, edit):
    root, _ = malformed(tmp_path, edit_benchmarks=edit)
    with pytest.raises(reports.ReportError, match=r"benchmarks\.json is not an asv benchmarks"):
        reports.load_results(root)


@pytest.mark.parametrize("kind", ["date-not-a-number", "result-column-missing"])
def test_a_malformed_result_file_through_the_command(tmp_path, capsys, kind):
    edit = next(case[1] for case in MALFORMED if case[0] == kind)
    root, path = malformed(tmp_path, edit_result=edit)
    assert main(["report", "--results", str(root), "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("ipc-bench: error: ") and path.name in captured.err
