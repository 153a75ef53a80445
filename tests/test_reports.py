"""The reports package on stored asv results: plots, report files, comparison, recommend.

tests/data/asv-results/ is a copy of a real (tiny, quick) asv run of the suite. Second result
sets and broken files are derived from it in a temporary directory. Loading and malformed
results files: tests/test_report_loading.py; --runs files and origins: tests/test_report_runs.py.
"""

from __future__ import annotations

import ast
import base64
import html
import itertools
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

import reports
from backends.cli import main
from backends.grid import format_size
from reports.plots import num, si

pytestmark = pytest.mark.timeout(60)

DATA = Path(__file__).parent / "data" / "asv-results"
THROUGHPUT = "bench_throughput.Throughput.time_batch"


def result_file(root: Path) -> Path:
    return next(p for p in sorted(root.glob("*/*.json")) if p.name != "machine.json")


def copy_results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    shutil.copytree(DATA, root)
    return root


def edit_throughput(data: dict, edit) -> None:
    """Call ``edit(combo, index, row)`` for every throughput point of a results file's data."""
    row = data["results"][THROUGHPUT]
    params = [[ast.literal_eval(v) for v in values] for values in row[1]]
    for index, combo in enumerate(itertools.product(*params)):
        edit(combo, index, row)


def add_result_set(root: Path, faster: str, factor: float = 2.0, fail: tuple | None = None,
                   commit: str = "c0ffee00" * 5) -> str:
    """A later result set in which ``faster``'s throughput batches take 1/factor the time."""
    source = result_file(root)
    data = json.loads(source.read_text())
    columns = data["result_columns"]
    spread = [columns.index(c) for c in ("result", "stats_ci_99_a", "stats_ci_99_b",
                                         "stats_q_25", "stats_q_75")]

    def edit(combo, index, row):
        if combo[0] == faster:
            for column in spread:
                if isinstance(row[column][index], float) and not math.isnan(row[column][index]):
                    row[column][index] /= factor
        if fail is not None and combo == fail:
            for column in spread:
                row[column][index] = None

    edit_throughput(data, edit)
    started = columns.index("started_at")
    for row in data["results"].values():
        row[started] += 3_600_000  # an hour later
    data["commit_hash"] = commit
    target = source.parent / f"{commit[:8]}-{data['env_name']}.json"
    target.write_text(json.dumps(data))
    return f"{source.parent.name}/{target.stem}"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return reports.load_results(DATA)


@pytest.fixture(scope="module")
def ok(frame) -> pd.DataFrame:
    return frame[(frame["metric"] == "batch_seconds") & (frame["status"] == "ok")]


@pytest.fixture(scope="module")
def written(tmp_path_factory, frame):
    return reports.write_report(frame, tmp_path_factory.mktemp("report"))


# --- plots --------------------------------------------------------------------------------------

def labelled_lines(ax) -> list[str]:
    return [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]


def test_throughput_plot_has_a_line_per_backend_in_each_panel(frame, ok):
    fig = reports.plot_throughput(frame)
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == ok["procs"].nunique()
    for ax in panels:
        procs = ax.get_title().split()[0]
        expected = set(ok.loc[ok["procs"] == procs, "backend"])
        assert set(labelled_lines(ax)) == expected
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"


def test_latency_plot_has_a_p50_line_and_p99_band_per_backend(frame):
    latency = frame[(frame["metric"] == "rtt_p50_us") & (frame["status"] == "ok")]
    fig = reports.plot_latency(frame)
    axes = [ax for ax in fig.axes if ax.get_visible()]  # a panel per family
    assert sorted(b for ax in axes for b in labelled_lines(ax)) == sorted(set(latency["backend"]))
    assert sum(len(ax.collections) for ax in axes) == latency["backend"].nunique()  # the bands
    p50 = {line.get_label(): list(line.get_ydata()) for ax in axes for line in ax.get_lines()}
    for backend, rows in latency.groupby("backend"):
        assert p50[backend] == rows.sort_values("size_bytes")["value"].tolist()


def test_scaling_plot_has_a_line_per_backend_at_one_size(frame, ok):
    size = reports.plots.scaling_size(frame)
    fig = reports.plot_scaling(frame, size)
    ax = fig.axes[0]
    assert set(labelled_lines(ax)) == set(ok.loc[ok["size_bytes"] == size, "backend"])
    assert format_size(size) in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == reports.plots.procs_order(
        ok[ok["size_bytes"] == size])


def test_best_backends_names_the_fastest_per_cell(frame, ok):
    table = reports.best_backends(frame)
    for (procs, size), rows in ok.groupby(["procs", "size_bytes"]):
        assert table.loc[procs, size] == rows.loc[rows["msgs_per_s"].idxmax(), "backend"]


def test_plots_say_when_there_is_nothing_to_plot(frame):
    for plot in (reports.plot_throughput, reports.plot_latency, reports.plot_scaling,
                 reports.plot_library_margin):
        fig = plot(frame.iloc[:0])
        assert isinstance(fig, Figure)
        assert any("no " in t.get_text() for ax in fig.axes for t in ax.texts)


# --- report files -------------------------------------------------------------------------------

def test_html_is_self_contained_and_names_every_backend(written, frame):
    page = written.html.read_text()
    for backend in frame.loc[frame["status"] == "ok", "backend"].unique():
        assert f">{backend}<" in page, backend
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([^"]+)">', page)
    assert len(images) == 4
    assert all(base64.b64decode(data).startswith(b"\x89PNG") for data in images)
    assert not re.search(r'(src|href)="(https?:|/|\.)', page)  # nothing fetched: readable offline
    cpu, cores = frame["cpu"].iloc[0], frame["num_cpu"].iloc[0]
    assert f"<td>{cpu}</td>" in page and f"<td>cores</td><td>{cores}</td>" in page
    assert f"<td>Python</td><td>{frame['python'].iloc[0]}</td>" in page
    if (frame["producers"] + frame["consumers"] > cores).any():
        assert "Oversubscribed" in page


def markdown_tables(text: str) -> dict[str, list[list[str]]]:
    """Caption -> rows (header first) of every table in the Markdown."""
    tables, caption, rows = {}, None, None
    for line in text.splitlines() + [""]:
        if line.startswith("*") and line.endswith("*") and not line.startswith("**"):
            caption = line.strip("*")
        elif line.startswith("|"):
            if rows is None:
                rows = []
            if not line.startswith("|---"):
                rows.append([c.strip().strip("*") for c in line.strip("|").split(" | ")])
        elif rows is not None:
            tables[caption or f"table {len(tables)}"] = rows
            caption, rows = None, None
    return tables


def test_markdown_tables_match_the_csv(written):
    csv = pd.read_csv(written.csv)
    ok = csv[(csv["metric"] == "batch_seconds") & (csv["status"] == "ok")]
    tables = markdown_tables(written.markdown.read_text())
    seen = 0
    for procs, rows in ok.groupby("procs"):
        caption = next(c for c in tables if c.startswith(f"Throughput with {procs} "))
        header, *body = tables[caption]
        cells = {(row[0], size): cell for row in body for size, cell in zip(header[1:], row[1:],
                                                                              strict=True)}
        for point in rows.itertuples():
            cell = cells[(point.backend, format_size(point.size_bytes))]
            assert cell == f"{si(point.msgs_per_s)} msgs/s, {num(point.mb_per_s)} MB/s"
            seen += 1
    assert seen == len(ok)
    latency = csv[(csv["metric"] == "rtt_p50_us") & (csv["status"] == "ok")]
    if not latency.empty:
        header, *body = tables["Round trip p50 / p99, µs; lowest p50 in bold"]
        cells = {(row[0], size): cell for row in body for size, cell in zip(header[1:], row[1:],
                                                                              strict=True)}
        for point in latency.itertuples():
            assert cells[(point.backend, format_size(point.size_bytes))].startswith(
                f"{num(point.value)} / ")


def test_csv_holds_the_tidy_frame(written, frame):
    csv = pd.read_csv(written.csv)
    assert list(csv.columns) == reports.COLUMNS
    assert len(csv) == len(frame)
    assert csv["msgs_per_s"].tolist() == pytest.approx(frame["msgs_per_s"].tolist(),
                                                       nan_ok=True)


def test_markdown_and_html_hold_the_same_tables(written):
    page = written.html.read_text().replace("<strong>", "").replace("</strong>", "")
    tables = markdown_tables(written.markdown.read_text())
    assert len(tables) >= 4
    for rows in tables.values():
        for row in rows[1:]:
            assert "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" in page


# --- comparison ---------------------------------------------------------------------------------

def test_comparison_marks_changes_beyond_the_noise(tmp_path, ok):
    root = copy_results(tmp_path)
    backends = sorted(ok["backend"].unique())
    faster = backends[0]
    failing = ok[ok["backend"] != faster].iloc[0] if len(backends) > 1 else None
    fail = (failing["backend"], int(failing["size_bytes"]), failing["procs"]) \
        if failing is not None else None
    current = add_result_set(root, faster, factor=10.0, fail=fail)
    frame = reports.load_results(root)
    chosen, baseline = reports.choose_sets(frame)
    assert chosen == current and baseline != current
    table = reports.compare(frame, chosen, baseline)
    throughput = table[table["metric"] == "msgs_per_s"]
    quick = throughput.merge(ok, on=["backend", "size_bytes", "procs"])
    quick = quick[quick["backend"] == faster]
    assert quick["ratio"].tolist() == pytest.approx([10.0] * len(quick))
    # 10x faster is a change unless the 99% intervals, one scaled by 1/10, still overlap.
    beyond = quick["ci_99_b"] / 10 < quick["ci_99_a"]
    assert beyond.any()
    assert (quick.loc[beyond, "change"] == "faster").all()
    assert (quick.loc[~beyond, "change"] == "within noise").all()
    others = throughput[throughput["backend"] != faster]
    if fail is not None:
        failed = others[(others["backend"] == fail[0]) & (others["size_bytes"] == fail[1])
                        & (others["procs"] == fail[2])]
        assert failed["change"].tolist() == ["failed in current"]
        others = others.drop(failed.index)
    measured = set(ok["backend"] + " " + ok["size_bytes"].astype(str) + " " + ok["procs"])
    both = others["backend"] + " " + others["size_bytes"].astype(str) + " " + others["procs"]
    assert (others.loc[both.isin(measured), "change"] == "within noise").all()
    assert (others.loc[~both.isin(measured), "change"] == "failed in both").all()
    assert (table.loc[table["metric"] != "msgs_per_s", "change"] == "not judged").all()

    files = reports.write_report(frame, tmp_path / "out")
    text = files.markdown.read_text()
    assert "## Comparison with the baseline" in text
    assert "Changes beyond the noise, largest first" in text
    alone = reports.write_report(frame, tmp_path / "alone", compare_sets=False)
    assert "Comparison" not in alone.markdown.read_text()


def test_baseline_can_be_another_results_directory(tmp_path, ok):
    other = copy_results(tmp_path)
    faster = sorted(ok["backend"].unique())[0]
    add_result_set(other, faster, factor=10.0)
    out = tmp_path / "out"
    assert main(["report", "--results", str(DATA), "--out", str(out),
                 "--baseline", str(other)]) == 0
    text = (out / "report.md").read_text()
    assert "## Comparison with the baseline" in text
    assert "| slower |" in text  # the baseline directory's newest set is 10x faster


# --- recommend ----------------------------------------------------------------------------------

def test_recommend_picks_the_fastest_measured_backend(frame, ok):
    point = ok.iloc[0]
    at = ok[(ok["size_bytes"] == point["size_bytes"]) & (ok["procs"] == point["procs"])]
    choice = reports.recommend(frame, int(point["size_bytes"]), int(point["producers"]),
                               int(point["consumers"]))
    assert choice.exact and not any("not measured;" in n for n in choice.notes)
    assert choice.best == at.loc[at["msgs_per_s"].idxmax(), "backend"]
    assert choice.ranking["msgs_per_s"].is_monotonic_decreasing
    assert set(choice.ranking["backend"]) == set(at["backend"])
    assert choice.reason.startswith(choice.best)


def test_recommend_honours_required_capabilities(frame, ok):
    point = ok.iloc[0]
    at = ok[(ok["size_bytes"] == point["size_bytes"]) & (ok["procs"] == point["procs"])]
    slowest = at.loc[at["msgs_per_s"].idxmin(), "backend"]
    capabilities = {b: frozenset({"fifo"}) for b in frame["backend"].dropna().unique()}
    capabilities[slowest] = frozenset({"fifo", "cross-host"})
    choice = reports.recommend(frame, int(point["size_bytes"]), int(point["producers"]),
                               int(point["consumers"]), require=["cross-host"],
                               capabilities=capabilities)
    assert choice.ranking["backend"].tolist() == [slowest]
    with pytest.raises(reports.ReportError, match="unknown capability 'crosshost'.*cross-host"):
        reports.recommend(frame, 64, 1, 1, require=["crosshost"], capabilities=capabilities)


def test_recommend_interpolates_log_log_between_measured_points_and_says_so(frame, ok):
    sizes = sorted(int(s) for s in ok["size_bytes"].unique())
    low, high = sizes[0], sizes[1]
    asked = int(round((low * high) ** 0.5))  # halfway on a log scale
    choice = reports.recommend(frame, asked, 1, 1)
    assert not choice.exact
    assert choice.basis == [f"{format_size(low)} 1x1 0µs", f"{format_size(high)} 1x1 0µs"]
    assert any("interpolated log-log between the measured sizes" in n for n in choice.notes)
    assert "Note:" in choice.text() and "(interpolated)" in choice.reason
    at = ok[ok["procs"] == "1x1"].set_index(["backend", "size_bytes"])["msgs_per_s"]
    for row in choice.ranking.itertuples():  # the geometric mean of the two measured rates
        expected = (at[(row.backend, low)] * at[(row.backend, high)]) ** 0.5
        assert row.msgs_per_s == pytest.approx(expected, rel=1e-3)
    assert choice.as_dict()["interpolated"] is True


def test_recommend_refuses_to_extrapolate_in_one_line(capsys, ok):
    biggest = int(ok["size_bytes"].max())
    for args, fragment in (
            (["--size", str(biggest * 2), "--procs", "1x1"], "message size"),
            (["--size", "64", "--procs", "64x64"], "outside the measured process counts"),
            (["--size", "64", "--procs", "1x1", "--work-us", "20"], "work per message 20 µs")):
        assert main(["recommend", *args, "--results", str(DATA)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "not extrapolating" in err and fragment in err, err


def test_recommend_command(capsys, ok):
    point = ok.iloc[0]
    assert main(["recommend", "--size", str(point["size_bytes"]), "--procs", point["procs"],
                 "--results", str(DATA), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    at = ok[(ok["size_bytes"] == point["size_bytes"]) & (ok["procs"] == point["procs"])]
    assert answer["best"] == at.loc[at["msgs_per_s"].idxmax(), "backend"]
    assert answer["exact"] is True


# --- the command line, and bad input ------------------------------------------------------------

def test_report_command_writes_the_files(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["report", "--results", str(DATA), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("report.html", "report.md", "results.csv"):
        assert (out / name).is_file() and str(out / name) in printed


def test_partly_failed_run_still_reports(tmp_path, capsys):
    root = copy_results(tmp_path)
    path = result_file(root)
    data = json.loads(path.read_text())
    data["results"]["bench_latency.Latency.track_rtt_p99_us"][0] = None  # a whole benchmark
    failed = []

    def edit(combo, index, row):
        if not failed and isinstance(row[0][index], float) and not math.isnan(row[0][index]):
            row[0][index] = None
            failed.append(combo)

    edit_throughput(data, edit)
    path.write_text(json.dumps(data))
    assert main(["report", "--results", str(root), "--out", str(tmp_path / "out")]) == 0
    assert "failed; the report lists them" in capsys.readouterr().out
    text = (tmp_path / "out" / "report.md").read_text()
    backend, size, procs = failed[0]
    assert f"| throughput | {backend} | {format_size(size)} | {procs} |" in text
    assert "| latency p99 µs |" in text


def broken(tmp_path: Path, kind: str) -> list[str]:
    root = copy_results(tmp_path)
    path = result_file(root)
    text = path.read_text()
    if kind == "missing":
        return ["report", "--results", str(tmp_path / "nowhere")]
    if kind == "empty dir":
        empty = tmp_path / "empty"
        empty.mkdir()
        return ["report", "--results", str(empty)]
    if kind == "empty file":
        path.write_text("")
    elif kind == "truncated":
        path.write_text(text[: len(text) // 2])
    elif kind == "foreign json":
        path.write_text(json.dumps({"name": "not asv", "items": [1, 2, 3]}))
    elif kind == "json list":
        path.write_text("[1, 2, 3]")
    elif kind == "old format":
        path.write_text(json.dumps({**json.loads(text), "version": 1}))
    elif kind == "truncated benchmarks.json":
        bench = root / "benchmarks.json"
        bench.write_text(bench.read_text()[:100])
    args = ["--results", str(root)]
    if kind == "unknown backend":
        return ["report", *args, "-b", "nosuch"]
    if kind == "unknown machine":
        return ["report", *args, "--machine", "nosuch"]
    if kind == "unknown capability":
        return ["recommend", "--size", "64", "--procs", "1x1", "--require", "teleport", *args]
    if kind == "bad size":
        return ["recommend", "--size", "huge", "--procs", "1x1", *args]
    if kind == "unknown baseline":
        return ["report", *args, "--baseline", "nosuch"]
    return ["report", *args]


BAD = ["missing", "empty dir", "empty file", "truncated", "foreign json", "json list",
       "old format", "truncated benchmarks.json", "unknown backend", "unknown machine",
       "unknown capability", "bad size", "unknown baseline"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, kind):
    argv = broken(tmp_path, kind)
    assert main([*argv, "--out", str(tmp_path / "out")] if argv[0] == "report" else argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("ipc-bench: error: ")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


@pytest.mark.parametrize("kind", ["truncated", "unknown capability"])
def test_bad_input_through_the_real_command(tmp_path, kind):
    argv = broken(tmp_path, kind)
    done = subprocess.run([sys.executable, "-m", "backends.cli", *argv], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("ipc-bench: error: ")
    assert "Traceback" not in done.stderr


def test_the_report_never_imports_a_backend(tmp_path):
    code = (
        "import argparse, sys\n"
        "from reports.cli import configure_report, run_report\n"
        "parser = argparse.ArgumentParser()\n"
        "configure_report(parser)\n"
        f"args = parser.parse_args(['--results', {str(DATA)!r}, '--out', {str(tmp_path)!r}])\n"
        "assert run_report(args) == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith(('backends', 'zmq'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    imported = set(ast.literal_eval(done.stdout.strip().splitlines()[-1]))
    # The package's __init__ brings the interface (with the cleanup registry it uses) and the
    # lazy registry (and settle_allocator); no backend module. The fidelity verdict is pure.
    assert imported <= {"backends", "backends.allocator", "backends.cleanup", "backends.errors",
                        "backends.grid", "backends.fidelity_verdict",
                        "backends.interface", "backends.registry"}


def test_the_command_line_loads_pandas_only_for_a_report(tmp_path):
    # ipc-bench builds its parser, report options included, for every command.
    code = (
        "import sys\n"
        "import backends.cli\n"
        "backends.cli._parser()\n"
        "assert 'pandas' not in sys.modules and 'matplotlib' not in sys.modules\n"
        "sys.modules['pandas'] = None  # as if not installed\n"
        f"sys.exit(backends.cli.main(['report', '--results', {str(DATA)!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr == ("ipc-bench: error: reports need pandas and matplotlib (pandas is "
                           "missing): pip install 'ipc-bench[report]'\n")


def test_odd_machine_details_do_not_stop_the_report(tmp_path):
    # asv machine asks for these interactively: whatever was typed is shown, not refused.
    root = copy_results(tmp_path)
    path = result_file(root)
    data = json.loads(path.read_text())
    data["params"].update(num_cpu=10**30, ram=float("inf"), cpu=["odd"])
    path.write_text(json.dumps(data))
    frame = reports.load_results(root)
    assert frame["num_cpu"].isna().all()
    text = reports.write_report(frame, tmp_path / "out").markdown.read_text()
    assert "| cores | unknown |" in text and "| RAM | inf |" in text


def test_out_is_an_existing_file(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("not a directory\n")
    assert main(["report", "--results", str(DATA), "--out", str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"ipc-bench: error: --out {target} is not a directory: name a " \
                           f"directory for the report\n"
    assert target.read_text() == "not a directory\n"
    with pytest.raises(reports.ReportError, match="cannot write the report"):
        reports.write_report(reports.load_results(DATA), target / "below-a-file")


# --- the environment run-suite.sh records -------------------------------------------------------

def environment(commit: str, **changes) -> dict:
    """What run-suite.sh writes: ``python -m backends.measure.machine`` plus the commit."""
    return {"hostname": "bench-host", "cpu_model": "Test CPU 9000 @ 3.0GHz", "cpu_count": 2,
            "cpus_usable": 2, "platform": "Linux-6.1-x86_64", "python": "3.11.7",
            "python_implementation": "CPython", "executable": "/usr/bin/python3.11",
            "ipc_bench": "0.9.1", "pyzmq": "26.9.9", "libzmq": "4.9.8",
            "memcpy_mb_per_s": 33000, "commit": commit, "label": None, "placement": "none",
            "written_at": 1_795_870_700_000, **changes}


def with_environment(tmp_path: Path, content) -> tuple[Path, str]:
    """A copy of the results with ENVIRONMENT_FILE (a dict as JSON, a str as is); the commit."""
    root = copy_results(tmp_path)
    path = result_file(root)
    commit = json.loads(path.read_text())["commit_hash"]
    if callable(content):
        content = content(commit)
    text = content if isinstance(content, str) else json.dumps(content)
    (path.parent / "ipc-bench-environment.json").write_text(text)
    return root, commit


def measured_on(root: Path, out: Path) -> str:
    """The "Measured on" section of the Markdown report, written by the command."""
    assert main(["report", "--results", str(root), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    return text.split("## Measured on")[1].split("\n## ")[0]


def test_environment_keys_are_what_backends_machine_prints():
    from backends.measure.machine import machine_info
    assert set(environment("x")) == {*machine_info(), "commit", "label", "placement",
                                     "written_at"}


def test_measured_versions_come_from_the_environment_file(tmp_path):
    root, commit = with_environment(tmp_path, environment)
    frame = reports.load_results(root)
    assert frame["result_set"].nunique() == 1  # the file is not a result set
    assert (frame["measured_pyzmq"] == "26.9.9").all()
    section = measured_on(root, tmp_path / "out")
    for row in ("| CPU model | Test CPU 9000 @ 3.0GHz |", "| Python (measured) | 3.11.7 |",
                "| ipc-bench | 0.9.1 |", "| pyzmq | 26.9.9 |", "| libzmq | 4.9.8 |",
                f"| ipc-bench commit | {commit} |"):
        assert row in section, row
    assert "as measured" in section and "where this report was made" not in section
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<tr><td>libzmq</td><td>4.9.8</td></tr>" in page
    assert pd.read_csv(tmp_path / "out" / "results.csv")["measured_libzmq"].eq("4.9.8").all()


@pytest.mark.parametrize("y", ["mb_per_s", "msgs_per_s"])
def test_throughput_plot_draws_the_memcpy_ceiling_dashed(tmp_path, y):
    root, _ = with_environment(tmp_path, environment)
    frame = reports.load_results(root)
    assert (frame["measured_memcpy_mb_per_s"] == 33000).all()
    sizes = sorted(reports.plots.throughput_points(frame)["size_bytes"].unique())
    for ax in [ax for ax in reports.plot_throughput(frame, y=y).axes if ax.get_visible()]:
        [line] = [line for line in ax.get_lines()
                  if line.get_label() == "memory copy, one process"]
        assert line.get_linestyle() == "--"
        expected = [33000.0 if y == "mb_per_s" else 33000e6 / size for size in sizes]
        assert list(line.get_ydata()) == pytest.approx(expected)
    section = measured_on(root, tmp_path / "out")
    assert "| memory copy, one process (1 MiB, cached) | 33,000 MB/s |" in section


def test_no_memcpy_line_without_the_figure(tmp_path):
    root, _ = with_environment(tmp_path, lambda c: environment(c, memcpy_mb_per_s="fast"))
    frame = reports.load_results(root)
    assert frame["measured_memcpy_mb_per_s"].isna().all()
    for ax in reports.plot_throughput(frame).axes:
        assert "memory copy, one process" not in labelled_lines(ax)


def test_versions_not_installed_when_measured(tmp_path):
    root, _ = with_environment(tmp_path, lambda c: environment(c, pyzmq=None, libzmq=None))
    section = measured_on(root, tmp_path / "out")
    assert "| pyzmq | not installed |" in section and "| libzmq | not installed |" in section


def set_environment(root: Path) -> pd.Series:
    """What the result set holds of ENVIRONMENT_FILE: the measured_* columns and the note."""
    sets = reports.result_sets(reports.load_results(root))
    assert len(sets) == 1  # the file is not a result set
    return sets.iloc[0]


@pytest.mark.parametrize("content, note", [
    (lambda c: environment("f" * 40), "describes commit ffffffff, not this result set's"),
    (lambda c: environment(c, python="3.12.1"), "describes Python 3.12.1"),
    ('{"commit": "e39721d0', "is not valid JSON"),
    ("", "is empty"),
    ("[1, 2]", "missing or malformed: commit, cpu_model, python"),
    (lambda c: environment(c, pyzmq=26), "missing or malformed: pyzmq"),
    (lambda c: environment(None), "missing or malformed: commit"),
    (lambda c: {k: v for k, v in environment(c).items() if k != "libzmq"},
     "missing or malformed: libzmq"),
], ids=["other-commit", "other-python", "truncated", "empty", "a-list", "version-not-text",
        "commit-null", "no-libzmq"])
def test_an_environment_file_that_does_not_fit_is_not_used(tmp_path, content, note):
    root, _ = with_environment(tmp_path, content)
    info = set_environment(root)
    assert info[[c for c in info.index if c.startswith("measured_")]].isna().all()
    assert "ipc-bench-environment.json" in info["environment_note"]
    assert note in info["environment_note"]


def test_the_report_says_why_it_ignored_the_environment_file(tmp_path):
    root, _ = with_environment(tmp_path, lambda c: environment(c, pyzmq=26))
    section = measured_on(root, tmp_path / "out")
    assert "Library versions where this report was made" in section
    assert "Note: " in section and "was ignored" in section and "pyzmq" in section
    assert "26.9.9" not in section and "| libzmq |" not in section


def test_only_the_result_set_of_that_commit_gets_the_versions(tmp_path, ok):
    root = copy_results(tmp_path)
    newer = add_result_set(root, sorted(ok["backend"].unique())[0])
    (root / newer).parent.joinpath("ipc-bench-environment.json").write_text(
        json.dumps(environment("c0ffee00" * 5)))
    sets = reports.result_sets(reports.load_results(root)).set_index("result_set")
    assert sets.loc[newer, "measured_pyzmq"] == "26.9.9"
    older = sets.drop(index=newer)
    assert older["measured_pyzmq"].isna().all()
    assert older["environment_note"].str.contains("describes commit c0ffee00").all()


def test_recommend_interpolates_work_linearly_in_time_per_message(frame, ok):
    point = ok.iloc[0]
    worked = ok.copy()
    worked["work_us"] = 20.0
    worked["msgs_per_s"] = worked["msgs_per_s"] / 4  # work made every message 4x slower
    both = pd.concat([frame, worked], ignore_index=True)
    size, p, c = int(point["size_bytes"]), int(point["producers"]), int(point["consumers"])
    at = ok[(ok["size_bytes"] == size) & (ok["procs"] == point["procs"])]
    alone = at.set_index("backend")["msgs_per_s"]
    assert reports.recommend(both, size, p, c, work_us=20).exact
    choice = reports.recommend(both, size, p, c, work_us=10)
    assert not choice.exact and any("linearly in time per message" in n for n in choice.notes)
    for row in choice.ranking.itertuples():  # halfway between 1/r and 4/r seconds a message
        assert row.msgs_per_s == pytest.approx(alone[row.backend] / 2.5, rel=1e-6)


def with_work_levels(root: Path) -> None:
    """Turn the stored (suite version 1) results into version 2's: work_us 0 as measured, and
    20 µs taking twice the time."""
    benchmarks_file = root / "benchmarks.json"
    benchmarks = json.loads(benchmarks_file.read_text())
    benchmarks[THROUGHPUT]["param_names"].append("work_us")
    benchmarks[THROUGHPUT]["params"].append(["0", "20"])
    benchmarks_file.write_text(json.dumps(benchmarks))
    source = result_file(root)
    data = json.loads(source.read_text())
    row = data["results"][THROUGHPUT]
    count = len(row[0])
    for column, values in enumerate(row):
        if isinstance(values, list) and len(values) == count and column != 1:
            row[column] = [v * factor if isinstance(v, float) else v
                           for v in values for factor in (1, 2)]
    row[1].append(["0", "20"])
    source.write_text(json.dumps(data))


def test_sets_with_and_without_work_per_message_are_both_read(tmp_path, frame, ok):
    root = copy_results(tmp_path)
    with_work_levels(root)
    worked = reports.load_results(root)
    points = worked[worked["metric"] == "batch_seconds"]
    assert sorted(points["work_us"].unique()) == [0, 20]
    assert frame.loc[frame["metric"] == "batch_seconds", "work_us"].eq(0).all()  # version 1
    alone = points[(points["work_us"] == 0) & (points["status"] == "ok")]
    assert sorted(alone["msgs_per_s"]) == pytest.approx(sorted(ok["msgs_per_s"]))
    point = ok.iloc[0]
    size, p, c = int(point["size_bytes"]), int(point["producers"]), int(point["consumers"])
    choice = reports.recommend(worked, size, p, c, work_us=20)
    assert choice.exact and choice.as_dict()["work_us"] == 20
    at = ok[(ok["size_bytes"] == size) & (ok["procs"] == point["procs"])]
    assert choice.ranking.set_index("backend")["msgs_per_s"].to_dict() == pytest.approx(
        (at.set_index("backend")["msgs_per_s"] / 2).to_dict())
    files = reports.write_report(worked, tmp_path / "report")
    text = files.markdown.read_text()
    assert "## Work per message" in text and "(0.50x)" in text
    assert text.count("## Throughput") == 1


# --- CPU cost, labels -----------------------------------------------------------------------------

COST = "bench_throughput.ThroughputCost.track_cpu_us_per_msg"


def add_cpu_costs(root: Path, cost_us) -> None:
    """What ThroughputCost records beside every throughput point: ``cost_us(backend, size,
    procs)`` µs of CPU per message (None: failed), in every result file under ``root``."""
    benchmarks = json.loads((root / "benchmarks.json").read_text())
    timed = benchmarks[THROUGHPUT]
    benchmarks[COST] = {**timed, "name": COST, "type": "track", "unit": "us", "version": "1",
                        "code": "track_cpu_us_per_msg"}
    (root / "benchmarks.json").write_text(json.dumps(benchmarks))
    for path in root.glob("*/*.json"):
        if path.name == "machine.json":
            continue
        data = json.loads(path.read_text())
        row = data["results"][THROUGHPUT]
        columns = data["result_columns"]
        params = [[ast.literal_eval(v) for v in values] for values in row[1]]
        values = [None if timed_value is None else
                  math.nan if isinstance(timed_value, float) and math.isnan(timed_value)
                  else cost_us(*combo)
                  for combo, timed_value in zip(itertools.product(*params), row[0], strict=True)]
        new = [None] * len(row)
        new[columns.index("result")], new[columns.index("params")] = values, row[1]
        new[columns.index("version")] = "1"
        new[columns.index("started_at")] = row[columns.index("started_at")]
        new[columns.index("duration")] = 1.0
        data["results"][COST] = new
        path.write_text(json.dumps(data))


def cost_of(backend: str, size: int, procs: str) -> float:
    """Invented costs with a known order: manager-queue dear, zmq-ipc cheap."""
    return {"manager-queue": 80.0, "zmq-ipc": 2.0, "zmq-tcp": 3.0}.get(backend, 10.0) * (
        1 + size / 65536)


@pytest.fixture(scope="module")
def costed(tmp_path_factory) -> Path:
    root = copy_results(tmp_path_factory.mktemp("costed"))
    add_cpu_costs(root, cost_of)
    return root


def test_cpu_cost_joins_its_throughput_point(costed):
    frame = reports.load_results(costed)
    timed = frame[(frame["metric"] == "batch_seconds") & (frame["status"] == "ok")]
    assert not timed.empty
    for row in timed.itertuples():
        assert row.cpu_us_per_msg == pytest.approx(cost_of(row.backend, row.size_bytes,
                                                           row.procs))
    assert frame.loc[frame["metric"] != "batch_seconds", "cpu_us_per_msg"].isna().all()


def test_frontier_plot_has_a_panel_per_procs_and_a_point_per_measurement(costed):
    frame = reports.load_results(costed)
    points = reports.plots.frontier_points(frame)
    figure = reports.plots.plot_frontier(frame)
    panels = [ax for ax in figure.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title().split()[0] for ax in panels] == reports.plots.procs_order(points)
    for ax in panels:
        procs = ax.get_title().split()[0]
        offsets = [tuple(c.get_offsets()[0]) for c in ax.collections]
        expected = points[points["procs"] == procs]
        assert sorted(offsets) == sorted(zip(expected["cpu_us_per_msg"],
                                             expected["msgs_per_s"], strict=True))
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"


def test_report_has_a_cost_section_with_cpu_per_message(costed, tmp_path):
    assert main(["report", "--results", str(costed), "--out", str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    cost = text.split("## Cost")[1].split("\n## ")[0]
    tables = markdown_tables(cost)
    frame = reports.load_results(costed)
    timed = frame[(frame["metric"] == "batch_seconds") & (frame["status"] == "ok")]
    procs = reports.plots.procs_order(timed)
    assert len(tables) == len(procs), cost
    for count in procs:
        table = tables[f"CPU µs per message with {count} (producers x consumers); cheapest "
                       f"in bold"]
        for row in timed[timed["procs"] == count].itertuples():
            line = next(r for r in table if r[0] == row.backend)
            cell = line[table[0].index(format_size(int(row.size_bytes)))]
            assert cell == num(row.cpu_us_per_msg), (row.backend, row.size_bytes, line)
    assert (tmp_path / "plots" / "frontier.png").exists()


def test_recommend_by_cpu_ranks_by_cpu_per_message(costed, capsys):
    frame = reports.load_results(costed)
    timed = frame[(frame["metric"] == "batch_seconds") & (frame["status"] == "ok")]
    point = timed.iloc[0]
    choice = reports.recommend(frame, int(point["size_bytes"]), int(point["producers"]),
                               int(point["consumers"]), by="cpu")
    costs = list(choice.ranking["cpu_us_per_msg"])
    assert costs == sorted(costs)
    assert "costs the least CPU per message" in choice.reason
    assert main(["recommend", "--size", str(point["size_bytes"]), "--procs", point["procs"],
                 "--results", str(costed), "--by", "cpu", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["best"] == choice.best == "zmq-ipc"


def test_the_default_ranking_says_when_the_winner_costs_twice_the_runner_up(tmp_path):
    root = copy_results(tmp_path)
    frame = reports.load_results(root)
    timed = frame[(frame["metric"] == "batch_seconds") & (frame["status"] == "ok")]
    point = timed.iloc[0]
    at = timed[(timed["size_bytes"] == point["size_bytes"]) & (timed["procs"] == point["procs"])]
    order = list(at.sort_values("msgs_per_s", ascending=False)["backend"])
    winner, second = order[0], order[1]
    add_cpu_costs(root, lambda b, size, procs: 25.0 if b == winner else 10.0)
    args = (int(point["size_bytes"]), int(point["producers"]), int(point["consumers"]))
    choice = reports.recommend(reports.load_results(root), *args)
    assert choice.best == winner
    assert f"costs 2.5x the CPU per message of {second}" in choice.reason
    cheap = copy_results(tmp_path / "cheap")
    add_cpu_costs(cheap, lambda b, size, procs: 15.0 if b == winner else 10.0)  # 1.5x: silent
    assert "CPU per message" not in reports.recommend(reports.load_results(cheap), *args).reason


def labelled_sets(tmp_path: Path) -> Path:
    """Two result sets of one commit, as two labelled runs of run-suite.sh leave them: each its
    own asv machine, each with its environment record outside the results tree."""
    root = copy_results(tmp_path)
    source = result_file(root)
    commit = json.loads(source.read_text())["commit_hash"]
    for label, placement, factor in (("free", "none", 1.0), ("pinned", "spread", 2.0)):
        machine = root / f"vm-{label}"
        shutil.copytree(source.parent, machine)
        data = json.loads((machine / source.name).read_text())
        started = data["result_columns"].index("started_at")
        for row in data["results"].values():
            row[started] += int(factor * 3_600_000)
        (machine / source.name).write_text(json.dumps(data))
        sidecar = root.parent / "ipc-bench-environment" / f"vm-{label}.json"
        sidecar.parent.mkdir(exist_ok=True)
        sidecar.write_text(json.dumps(environment(commit, label=label, placement=placement)))
    shutil.rmtree(source.parent)
    add_cpu_costs(root, lambda b, size, procs: 10.0)
    return root


def test_labelled_sets_are_compared_by_label(tmp_path):
    root = labelled_sets(tmp_path)
    sets = reports.result_sets(reports.load_results(root))
    assert list(sets["label"]) == ["free", "pinned"]
    assert list(sets["placement"]) == ["none", "spread"]
    assert list(sets["measured_pyzmq"]) == ["26.9.9", "26.9.9"]  # the records were found
    out = tmp_path / "out"
    assert main(["report", "--results", str(root), "--out", str(out), "--current", "pinned",
                 "--baseline", "free"]) == 0
    text = (out / "report.md").read_text()
    comparison = text.split("## Comparison with the baseline")[1].split("\n## ")[0]
    assert "label pinned, workers pinned spread" in comparison
    assert "placement (none -> spread)" in comparison
    assert "CPU µs/msg" in comparison
