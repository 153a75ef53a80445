"""Reports from ``ipc-bench run --json`` files (``--runs``), the origin column, ``--origin`` and the
reference-first note of ``recommend``, and the asv suite's 2x2-with-work classes.

The runs files are written by real ``ipc-bench run --json`` runs of two small points; other
files are derived from their lines, so that the keys read are always what the command writes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import reports
from backends.cli import main
from backends.grid import batch_messages
from reports.origins import BUILTIN_ORIGINS
from reports.recommendation import recommend
from reports.results import load, load_results, load_runs, result_sets

pytestmark = pytest.mark.timeout(120)

DATA = Path(__file__).parent / "data" / "asv-results"
THROUGHPUT = "bench_throughput.Throughput.time_batch"


def ipc_bench_run(path: Path, *args: str) -> list[dict]:
    """``ipc-bench run ARGS --json > path``, in a fresh process as a user runs it."""
    done = subprocess.run([sys.executable, "-m", "backends", "run", *args, "--json"],
                          capture_output=True, text=True, timeout=100,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    path.write_text(done.stdout)
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two real runs: pipe and queue at 64 B, once and with --rounds 2 (and latency)."""
    root = tmp_path_factory.mktemp("runs")
    once, rounds = root / "once.jsonl", root / "rounds.jsonl"
    ipc_bench_run(once, "-b", "pipe,queue", "-s", "64", "--messages", "2000")
    ipc_bench_run(rounds, "-b", "pipe,queue", "-s", "64", "--messages", "2000", "--rounds", "2")
    latency = root / "latency.jsonl"
    ipc_bench_run(latency, "-b", "pipe", "-s", "64", "--latency", "--messages", "300")
    with rounds.open("a") as out:
        out.write(latency.read_text())
    return {"once": once, "rounds": rounds}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_lines(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


# --- reading ----------------------------------------------------------------------------------

def test_a_runs_file_is_one_result_set_of_the_tidy_frame(runs):
    records = lines(runs["once"])
    frame = load_runs([runs["once"]])
    assert list(frame.columns) == reports.COLUMNS
    assert frame["result_set"].unique().tolist() == ["runs/once.jsonl"]
    batches = frame[frame["metric"] == "batch_seconds"].set_index("backend")
    assert sorted(batches.index) == ["pipe", "queue"]
    for record in records:
        row = batches.loc[record["backend"]]
        assert row["status"] == record["status"] == "ok"
        assert row["msgs_per_s"] == pytest.approx(record["msgs_per_s"])
        assert row["mb_per_s"] == pytest.approx(record["mb_per_s"])
        assert row["seconds"] == pytest.approx(record["seconds"])
        assert row["cpu_us_per_msg"] == pytest.approx(record["cpu_us_per_msg"])
        # value means what asv's does: the suite's batch for the size, at the measured rate
        assert row["batch_messages"] == batch_messages(64)
        assert row["value"] == pytest.approx(batch_messages(64) / record["msgs_per_s"])
        assert (row["size_bytes"], row["producers"], row["consumers"], row["procs"],
                row["work_us"]) == (64, 1, 1, "1x1", 0)
        assert row["origin"] == "stdlib"
    cpu = frame[frame["metric"] == "cpu_us_per_msg"].set_index("backend")["value"]
    assert cpu.to_dict() == pytest.approx({r["backend"]: r["cpu_us_per_msg"] for r in records})
    machine = records[-1]["machine"]
    info = result_sets(frame).iloc[0]
    assert (info["machine"], info["cpu"], info["num_cpu"], info["python"]) == (
        machine["hostname"], machine["cpu_model"], machine["cpu_count"], machine["python"])
    assert info["measured_memcpy_mb_per_s"] == machine["memcpy_mb_per_s"]
    assert info["label"] == "once.jsonl"  # no label in the lines: the file name
    assert info["date"] == max(pd.Timestamp(record["date"]) for record in records)
    assert set(frame["origin"]) == {record["origin"] for record in records} == {"stdlib"}


def test_rounds_give_an_interval_and_latency_lines_are_read(runs):
    records = {(r["kind"], r["backend"]): r for r in lines(runs["rounds"])}
    frame = load_runs([runs["rounds"]])
    batches = frame[frame["metric"] == "batch_seconds"].set_index("backend")
    for backend in ("pipe", "queue"):
        record, row = records[("throughput", backend)], batches.loc[backend]
        assert record["rounds"] == row["repeat"] == 2
        # the batch's interval is the rate's, turned over: recommend's ci_low/ci_high
        assert row["batch_messages"] / row["ci_99_b"] == pytest.approx(record["msgs_per_s_min"])
        assert row["batch_messages"] / row["ci_99_a"] == pytest.approx(record["msgs_per_s_max"])
    latency = frame[frame["metric"].isin(["rtt_p50_us", "rtt_p99_us"])]
    assert latency.set_index("metric")["value"].to_dict() == pytest.approx(
        {key: records[("latency", "pipe")][key] for key in ("rtt_p50_us", "rtt_p99_us")})
    assert latency["procs"].isna().all() and (latency["origin"] == "stdlib").all()


def test_date_commit_label_and_origin_come_from_the_lines(tmp_path, runs):
    records = lines(runs["once"])
    stamped = [{**records[0], "date": "2026-01-02T03:04:05Z", "commit": "abc1234" * 5,
                "label": "laptop", "origin": "library"},
               {**records[1], "backend": "my-plugin", "date": "2026-01-02T05:00:00+00:00",
                "origin": None, "commit": None}]  # a plugin that declares none; no git
    frame = load_runs([write_lines(tmp_path / "stamped.jsonl", stamped)])
    info = result_sets(frame).iloc[0]
    assert info["date"] == pd.Timestamp("2026-01-02T05:00:00Z")  # the newest line's
    assert (info["commit"], info["label"]) == ("abc1234" * 5, "laptop")
    origins = frame.drop_duplicates("backend").set_index("backend")["origin"].to_dict()
    # as recorded (even against the built-in table), else the table, else unknown
    assert origins == {records[0]["backend"]: "library", "my-plugin": "unknown"}


def test_lines_without_a_date_take_the_file_time(tmp_path, runs):
    older = [{k: v for k, v in record.items() if k != "date"} for record in lines(runs["once"])]
    path = write_lines(tmp_path / "old.jsonl", older)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    assert result_sets(load_runs([path]))["date"].iloc[0] == pd.Timestamp(1_700_000_000,
                                                                           unit="s", tz="UTC")


def test_a_point_measured_twice_keeps_its_last_line_and_says_so(tmp_path, runs):
    first, second = lines(runs["once"])[:1] * 2
    second = {**second, "msgs_per_s": first["msgs_per_s"] * 2}
    frame = load_runs([write_lines(tmp_path / "twice.jsonl", [first, second])])
    batch = frame[frame["metric"] == "batch_seconds"]
    assert batch["msgs_per_s"].tolist() == [pytest.approx(first["msgs_per_s"] * 2)]
    assert "1 line measured a point again" in frame["environment_note"].iloc[0]


def test_failed_and_unsupported_lines_keep_their_status(tmp_path, runs):
    ok = lines(runs["once"])[0]
    failed = {**ok, "size": 1024, "ok": False, "status": "failed", "error": "3 lost",
              "msgs_per_s": None, "seconds": None, "mb_per_s": None}
    unsupported = {**ok, "size": 2**20, "ok": False, "status": "unsupported",
                   "reason": "at most 64 KiB", "msgs_per_s": None}
    frame = load_runs([write_lines(tmp_path / "mixed.jsonl", [ok, failed, unsupported])])
    rows = frame[frame["metric"] == "batch_seconds"].set_index("size_bytes")
    assert rows["status"].to_dict() == {64: "ok", 1024: "failed", 2**20: "unsupported"}
    assert rows.loc[1024, "reason"] == "3 lost" and math.isnan(rows.loc[1024, "value"])
    assert rows.loc[2**20, "reason"] == "at most 64 KiB"


# --- which results are read -------------------------------------------------------------------

def test_runs_alone_read_only_the_files_and_with_results_both(runs):
    assert set(load(runs=[runs["once"]])["result_set"]) == {"runs/once.jsonl"}
    both = load(DATA, [runs["once"], runs["rounds"]])
    asv = set(load_results(DATA)["result_set"])
    assert set(both["result_set"]) == asv | {"runs/once.jsonl", "runs/rounds.jsonl"}
    assert set(load(DATA)["result_set"]) == asv


def test_two_files_of_one_name_are_two_sets(tmp_path, runs):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(runs["once"], tmp_path / folder / "run.jsonl")
    frame = load_runs([tmp_path / "a" / "run.jsonl", tmp_path / "b" / "run.jsonl"])
    assert frame["result_set"].nunique() == 2


# --- the commands -----------------------------------------------------------------------------

def test_report_from_runs_names_their_backends(tmp_path, runs, capsys):
    out = tmp_path / "out"
    assert main(["report", "--runs", str(runs["once"]), "--out", str(out)]) == 0
    assert f"report:   {out / 'report.html'}" in capsys.readouterr().out
    markdown = (out / "report.md").read_text()
    assert "Backends: pipe, queue." in markdown
    assert str(runs["once"]) in markdown  # where the results came from
    csv = pd.read_csv(out / "results.csv")
    assert set(csv["backend"]) == {"pipe", "queue"} and set(csv["origin"]) == {"stdlib"}


def test_two_runs_files_are_compared_and_baseline_selects_by_file_name(tmp_path, runs, capsys):
    out = tmp_path / "out"
    assert main(["report", "--runs", str(runs["once"]), str(runs["rounds"]), "--out", str(out),
                 "--current", "rounds.jsonl", "--baseline", "once.jsonl"]) == 0
    markdown = (out / "report.md").read_text()
    assert "## Comparison with the baseline" in markdown
    sets = markdown.split("## Result sets found")[1]
    assert "| runs/rounds.jsonl | current |" in sets and "| runs/once.jsonl | baseline |" in sets


def test_recommend_from_runs_ranks_the_measured_backends(runs, capsys):
    assert main(["recommend", "--runs", str(runs["once"]), "--size", "64", "--procs", "1x1",
                 "--json"]) == 0
    choice = json.loads(capsys.readouterr().out)
    speeds = {r["backend"]: r["msgs_per_s"] for r in lines(runs["once"])}
    assert [r["backend"] for r in choice["ranking"]] == sorted(speeds, key=speeds.get,
                                                               reverse=True)
    assert [r["origin"] for r in choice["ranking"]] == ["stdlib", "stdlib"]
    assert choice["result_set"] == "runs/once.jsonl" and choice["best_installable"] is None
    assert main(["recommend", "--runs", str(runs["once"]), "--size", "64", "--procs",
                 "1x1"]) == 0
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if line.startswith("rank"))
    assert header.split()[:3] == ["rank", "backend", "origin"] and " stdlib " in text


@pytest.mark.parametrize("content, message", [
    (None, "no such file: {path}"),
    ("", "{path} holds no result of ipc-bench run --json"),
    ('{"kind": "list"}\n', "{path} holds no result of ipc-bench run --json"),
    ("{ok}\n{not json\n", "{path}, line 2: not JSON"),
    ("{ok}\n\n[1, 2]\n", "{path}, line 3: not a JSON object"),
    ('{"backend": "pipe"}\n', "{path}, line 1: no 'kind'"),
    ("{no size}\n", "{path}, line 1: a throughput line with a missing or malformed size"),
    ("{no rate}\n", "{path}, line 1: a throughput line with a missing or malformed msgs_per_s"),
    ("{bad date}\n", "{path}, line 1: its date 'yesterday' is not an ISO 8601 time"),
])
def test_bad_runs_files_are_one_line_naming_file_and_line(tmp_path, runs, capsys, content,
                                                          message):
    path = tmp_path / "bad.jsonl"
    good = lines(runs["once"])[0]
    variants = {"{ok}": good, "{no size}": {**good, "size": "64"},
                "{no rate}": {**good, "msgs_per_s": None}, "{bad date}": {**good,
                                                                        "date": "yesterday"}}
    if content is not None:
        for marker, record in variants.items():
            content = content.replace(marker, json.dumps(record))
        path.write_text(content)
    for command in (["report", "--out", str(tmp_path / "out")],
                    ["recommend", "--size", "64", "--procs", "1x1"]):
        assert main([*command, "--runs", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ipc-bench: error: " + message.format(path=path))
        assert err.count("\n") == 1


# --- origins ----------------------------------------------------------------------------------

def test_origin_falls_back_to_the_built_in_table(tmp_path):
    frame = load_results(DATA)
    origins = frame.drop_duplicates("backend").set_index("backend")["origin"].to_dict()
    assert origins == {name: BUILTIN_ORIGINS[name] for name in origins}
    assert BUILTIN_ORIGINS["shm-ring"] == "reference" and len(BUILTIN_ORIGINS) == 15


def test_origin_comes_from_the_recorded_backends_list(tmp_path):
    root = tmp_path / "results"
    shutil.copytree(DATA, root)
    sidecar = tmp_path / "ipc-bench-environment" / "vm.backends.json"
    sidecar.parent.mkdir()
    # pipe recorded against the built-in table: the record wins; queue without an origin (an
    # older list), zmq-ipc with a value that is none and file-lock "unknown": the table
    sidecar.write_text("\n".join(json.dumps(row) for row in [
        {"name": "pipe", "max_payload_bytes": None, "origin": "library"},
        {"name": "queue", "max_payload_bytes": None},
        {"name": "zmq-ipc", "max_payload_bytes": None, "origin": "vendor"},
        {"name": "file-lock", "max_payload_bytes": None, "origin": "unknown"}]) + "\n")
    origins = load_results(root).drop_duplicates("backend").set_index("backend")["origin"]
    assert (origins["pipe"], origins["queue"], origins["zmq-ipc"], origins["file-lock"]) == (
        "library", "stdlib", "library", "reference")


def led_by_shm_ring(tmp_path: Path, runs: dict[str, Path], factor: float,
                    spread: float = 0.0) -> Path:
    """A runs file where shm-ring (a reference) moves ``factor`` times pipe's messages, with
    intervals of ±``spread`` around each."""
    pipe = next(r for r in lines(runs["once"]) if r["backend"] == "pipe")
    queue = next(r for r in lines(runs["once"]) if r["backend"] == "queue")
    records = []
    for record, scale in ((pipe, 1.0), ({**pipe, "backend": "shm-ring", "origin": "reference"},
                                        factor),
                          ({**queue, "msgs_per_s": pipe["msgs_per_s"] / 4}, 1.0)):
        rate = record["msgs_per_s"] * scale
        records.append({**record, "msgs_per_s": rate, "rounds": 3,
                        "msgs_per_s_min": rate * (1 - spread),
                        "msgs_per_s_max": rate * (1 + spread)})
    return write_lines(tmp_path / "led.jsonl", records)


def test_a_reference_in_first_place_names_the_best_installable(tmp_path, runs, capsys):
    path = led_by_shm_ring(tmp_path, runs, factor=3.0, spread=0.05)
    assert main(["recommend", "--runs", str(path), "--size", "64", "--procs", "1x1"]) == 0
    text = capsys.readouterr().out
    assert "shm-ring is a reference mechanism" in text
    assert "The best backend you can install here is pipe (stdlib, rank 2): shm-ring moves " \
           "3.00x its messages per second" in text
    assert "tied" not in text.split("reference mechanism")[1]
    choice = recommend(load_runs([path]), 64, 1, 1)
    assert choice.installable["backend"] == "pipe"
    assert choice.installable["ratio"] == pytest.approx(3.0)
    assert choice.installable["tied"] is False
    assert choice.as_dict()["best_installable"]["origin"] == "stdlib"


def test_a_reference_within_the_noise_is_called_tied(tmp_path, runs):
    choice = recommend(load_runs([led_by_shm_ring(tmp_path, runs, factor=1.2, spread=0.3)]),
                       64, 1, 1)
    assert choice.best == "shm-ring" and choice.installable["tied"] is True
    assert "treat them as tied." in choice.text().splitlines()[-1]


def test_origin_limits_the_ranking(tmp_path, runs, capsys):
    path = led_by_shm_ring(tmp_path, runs, factor=3.0)
    assert main(["recommend", "--runs", str(path), "--size", "64", "--procs", "1x1",
                 "--origin", "stdlib,library", "--json"]) == 0
    choice = json.loads(capsys.readouterr().out)
    assert [r["backend"] for r in choice["ranking"]] == ["pipe", "queue"]
    assert choice["origins"] == ["stdlib", "library"] and choice["best_installable"] is None
    assert "leaves out shm-ring" in " ".join(choice["notes"])
    assert main(["recommend", "--runs", str(path), "--size", "64", "--procs", "1x1",
                 "--origin", "reference", "--json"]) == 0
    assert [r["backend"] for r in json.loads(capsys.readouterr().out)["ranking"]] == [
        "shm-ring"]


@pytest.mark.parametrize("origin, message", [
    ("stdlib,vendor", "unknown origin 'vendor' in --origin"),
    (",", "--origin takes a comma list"),
    ("unknown", "no measured backend is of origin unknown"),
])
def test_bad_origin_is_one_line(tmp_path, runs, capsys, origin, message):
    assert main(["recommend", "--runs", str(runs["once"]), "--size", "64", "--procs", "1x1",
                 "--origin", origin]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ipc-bench: error: {message}") and err.count("\n") == 1


# --- the suite's 2x2-with-work classes --------------------------------------------------------

def test_work_classes_are_read_as_the_same_metrics_and_paired_by_class(tmp_path):
    """ThroughputWork/ThroughputWorkCost (the 2x2-with-work points in classes of their own)
    are batch_seconds and cpu_us_per_msg; each class's CPU joins its own class's points."""
    root = tmp_path / "results"
    shutil.copytree(DATA, root)
    path = next(p for p in sorted(root.glob("*/*.json")) if p.name != "machine.json")
    data = json.loads(path.read_text())
    columns = data["result_columns"]
    timed = data["results"][THROUGHPUT]
    version = columns.index("version")
    for name, cost in (("Throughput", 3.0), ("ThroughputWork", 7.0)):
        entry = list(timed)
        entry[columns.index("params")] = [*timed[1], ["0"]]  # the work_us parameter
        data["results"][f"bench_throughput.{name}.time_batch"] = entry
        costs = [None if v is None else math.nan if isinstance(v, float) and math.isnan(v)
                 else cost for v in timed[0]]
        cost_entry = [None] * len(timed)
        cost_entry[0], cost_entry[1], cost_entry[version] = costs, entry[1], "1"
        cost_entry[columns.index("started_at")] = timed[columns.index("started_at")]
        data["results"][f"bench_throughput.{name}Cost.track_cpu_us_per_msg"] = cost_entry
    path.write_text(json.dumps(data))
    (root / "benchmarks.json").unlink()  # the suite's documented parameter names are used
    frame = load_results(root)
    ok = frame[(frame["metric"] == "batch_seconds") & (frame["status"] == "ok")]
    by_class = ok.groupby("benchmark")["cpu_us_per_msg"].unique()
    assert {name: list(values) for name, values in by_class.items()} == {
        THROUGHPUT: [3.0], "bench_throughput.ThroughputWork.time_batch": [7.0]}
    assert set(frame.loc[frame["benchmark"].str.contains("Cost"), "metric"]) == {
        "cpu_us_per_msg"}
    assert set(ok["work_us"]) == {0.0}


def test_a_reference_cheapest_in_cpu_names_the_best_installable(tmp_path, runs):
    path = led_by_shm_ring(tmp_path, runs, factor=0.5)  # slower, but at half the CPU
    records = [{**r, "cpu_us_per_msg": r["cpu_us_per_msg"] / 2} if r["backend"] == "shm-ring"
               else r for r in lines(path)]
    choice = recommend(load_runs([write_lines(path, records)]), 64, 1, 1, by="cpu")
    assert choice.best == "shm-ring"
    assert (choice.installable["backend"], choice.installable["tied"]) == ("pipe", None)
    assert choice.installable["ratio"] == pytest.approx(2.0)
    assert "shm-ring costs 2.00x less CPU per message" in choice.text()
