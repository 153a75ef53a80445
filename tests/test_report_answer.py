"""The report answers first: the ranking per measured point, origins, and the plot beside it.

Built on tests/data/asv-results (a real quick run of pipe, queue and zmq-ipc with asv's 99%
intervals), with backends derived from those rows where a test needs a reference or a plugin.
Expectations are computed here from the frame, independently of reports.standings.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import reports
from backends.grid import format_size
from reports import answer, standings
from reports.plots import num
from reports.render import build_sections

pytestmark = pytest.mark.timeout(120)

DATA = Path(__file__).parent / "data" / "asv-results"
SPREAD = ("value", "seconds", "ci_99_a", "ci_99_b", "q_25", "q_75")


@pytest.fixture(scope="module")
def recorded() -> pd.DataFrame:
    return reports.load_results(DATA)


def derived(frame: pd.DataFrame, backend: str, factor: float, name: str | None = None,
            origin: object = "absent") -> pd.DataFrame:
    """``backend``'s rows with throughput ``factor`` times higher, as ``name`` (a new backend,
    its origin ``origin`` or, by default, not recorded)."""
    rows = frame[frame["backend"] == backend].copy()
    batch = rows["metric"] == "batch_seconds"
    for column in SPREAD:
        rows.loc[batch, column] = rows.loc[batch, column] / factor
    for column in ("msgs_per_s", "mb_per_s"):
        rows.loc[batch, column] = rows.loc[batch, column] * factor
    rows["backend"] = name or backend
    if origin != "absent":
        rows["origin"] = origin
    elif name and "origin" in rows:
        rows["origin"] = None  # a new name's origin is not the copied backend's
    return rows


def with_reference(frame: pd.DataFrame) -> pd.DataFrame:
    """The recorded set with shm-ring leading everywhere: zmq-ipc's rows, 20x faster."""
    return pd.concat([frame, derived(frame, "zmq-ipc", 20, "shm-ring")], ignore_index=True)


def current(frame: pd.DataFrame) -> str:
    return str(frame["result_set"].iloc[0])


def answer_of(frame: pd.DataFrame) -> reports.render.Section:
    return build_sections(frame, current(frame))[0]


def tables(section) -> list:
    return [block for block in section.blocks if isinstance(block, reports.render.Table)]


def text_of(section) -> str:
    return " ".join(block for block in section.blocks if isinstance(block, str))


def points(frame: pd.DataFrame):
    """(size, procs, rows fastest first) for every throughput point measured ok."""
    ok = frame[(frame["metric"] == "batch_seconds") & (frame["status"] == "ok")]
    for (size, procs), rows in ok.groupby(["size_bytes", "procs"]):
        yield int(size), procs, rows.sort_values("msgs_per_s", ascending=False)


def expected_verdict(a: pd.Series, b: pd.Series) -> str:
    """Tied where the batch times' spreads overlap (same batch at one point): the
    interquartile range of 3 samples or more, else asv's 99% interval."""
    def spread(row):
        names = ("q_25", "q_75") if row["repeat"] >= 3 else ("ci_99_a", "ci_99_b")
        return sorted((row[names[0]], row[names[1]]))
    (a_low, a_high), (b_low, b_high) = spread(a), spread(b)
    return "tied" if a_low <= b_high and b_low <= a_high else "faster"


def row_for(table, size: int, procs: str) -> list[str]:
    return next(row for row in table.rows if row[:2] == [format_size(size), procs])


def test_the_answer_opens_the_page_and_the_machine_and_method_close_it(tmp_path, recorded):
    files = reports.write_report(with_reference(recorded), tmp_path / "out")
    text = files.markdown.read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings[0] == answer.TITLE
    assert text.split(f"## {answer.TITLE}")[0].strip() == "# ipc-bench report"
    assert headings[-2:] == ["Measured on", "How it was measured"]
    page = files.html.read_text()
    assert re.findall(r"<h2>(.*?)</h2>", page)[0] == answer.TITLE
    assert page.index(f"<h2>{answer.TITLE}</h2>") < page.index("<img")  # before any figure
    for title in ("Measured on", "How it was measured"):  # folded, after everything else
        assert f"<details><summary><h2>{title}</h2></summary>" in page
    assert page.count("<details>") == 2
    assert (tmp_path / "out" / "plots" / "library-margin.png").exists()
    assert not (tmp_path / "out" / "plots" / "best-backend.png").exists()


def test_the_top_three_per_point_with_their_margins_and_verdicts(recorded):
    # zmq-ipc 10x faster: beyond the others' spreads; a twin of it 1% faster: within its.
    frame = pd.concat([recorded[recorded["backend"] != "zmq-ipc"],
                       derived(recorded, "zmq-ipc", 10),
                       derived(recorded, "zmq-ipc", 10.1, name="zmq-twin")], ignore_index=True)
    top = tables(answer_of(frame))[0]
    assert top.columns[2:] == ["1st", "1st over 2nd", "2nd", "2nd over 3rd", "3rd"]
    verdicts = set()
    for size, procs, rows in points(frame):
        row = row_for(top, size, procs)
        ranked = [r for _, r in rows.iterrows()][:3]  # the top three
        for cell, point in zip(row[2::2], ranked, strict=True):
            assert cell.startswith(f"{point['backend']} "), (cell, point["backend"])
            assert "CPU not measured" in cell  # the recorded set predates the CPU figure
        for cell, (a, b) in zip(row[3::2], zip(ranked, ranked[1:], strict=False), strict=True):
            verdict = expected_verdict(a, b)
            verdicts.add(verdict)
            assert cell == f"{a['msgs_per_s'] / b['msgs_per_s']:.2f}x {verdict}"
    assert verdicts == {"faster", "tied"}  # both kinds were checked
    assert len(top.rows) == len(list(points(frame)))


def test_cpu_per_message_is_shown_with_each_backend(recorded):
    frame = recorded.copy()
    batch = frame["metric"] == "batch_seconds"
    frame.loc[batch, "cpu_us_per_msg"] = np.arange(batch.sum()) * 0.37 + 1.1
    top = tables(answer_of(frame))[0]
    for size, procs, rows in points(frame):
        row = row_for(top, size, procs)
        for cell, (_, point) in zip(row[2::2], rows.iterrows(), strict=True):
            assert cell.endswith(f"· {num(point['cpu_us_per_msg'])} µs"), cell


def test_reference_backends_are_marked_and_the_installable_choice_is_named(recorded, tmp_path):
    frame = with_reference(recorded)
    section = answer_of(frame)
    text = reports.write_report(frame, tmp_path / "out").markdown.read_text()
    answered = text.split(f"## {answer.TITLE}")[1].split("\n## ")[0]
    assert answered.count("shm-ring") > 8
    assert not re.search(r"shm-ring(?! \(reference)", answered)  # marked wherever it is named
    assert "shm-ring (reference: ipc-bench's own shared-memory ring, not a library you can " \
           "install)" in answered
    sentence = next(s for s in section.blocks
                    if isinstance(s, str) and s.startswith("Where a reference leads"))
    every = list(points(frame))
    assert sentence.startswith(f"Where a reference leads ({len(every)} of {len(every)} points)")
    for size, procs, rows in every:
        assert rows["backend"].iloc[0] == "shm-ring"
        installable = rows[rows["backend"] != "shm-ring"].iloc[0]
        ratio = rows["msgs_per_s"].iloc[0] / installable["msgs_per_s"]
        assert (f"{installable['backend']} at {format_size(size)} {procs} "
                f"(shm-ring (reference) {ratio:.2f}x its msgs/s, "
                f"{expected_verdict(rows.iloc[0], installable)})") in sentence


def test_without_a_leading_reference_the_answer_says_so(recorded):
    frame = pd.concat([recorded, derived(recorded, "pipe", 0.01, "file-lock")],
                      ignore_index=True)
    text = text_of(answer_of(frame))
    assert "file-lock (reference: the file-and-lock pattern" in text
    assert "No reference leads at any point." in text
    assert "Where a reference leads" not in text


def test_the_best_of_each_origin(recorded):
    frame = with_reference(recorded)
    by_origin = tables(answer_of(frame))[1]
    assert by_origin.columns == ["size", "PxC", "best stdlib", "best library",
                                 "best reference", "best library over best stdlib"]
    origin = {"pipe": "stdlib", "queue": "stdlib", "zmq-ipc": "library",
              "shm-ring": "reference"}
    for size, procs, rows in points(frame):
        row = row_for(by_origin, size, procs)
        ranked = list(rows["backend"])
        for cell, wanted in zip(row[2:5], ("stdlib", "library", "reference"), strict=True):
            best = next(name for name in ranked if origin[name] == wanted)
            assert cell.startswith(best + " ") and cell.endswith(f"(#{ranked.index(best) + 1})")
        ahead = "library" if ranked.index("zmq-ipc") < min(ranked.index("pipe"),
                                                          ranked.index("queue")) else "stdlib"
        assert row[5].startswith(f"{ahead} ")


def test_a_recorded_origin_is_used_and_older_frames_fall_back(recorded):
    frame = pd.concat([
        recorded.assign(origin=None),  # not recorded: the built-in table says
        derived(recorded, "zmq-ipc", 20, "my-ring", origin="reference"),
        derived(recorded, "queue", 0.5, "mystery", origin="unknown"),
    ], ignore_index=True)
    filled = standings.with_origins(frame).drop_duplicates("backend").set_index("backend")
    wanted = {"pipe": "stdlib", "queue": "stdlib", "zmq-ipc": "library",
              "my-ring": "reference", "mystery": "unknown", "file-lock": "reference"}
    assert {name: filled.loc[name, "origin"] for name in wanted} == wanted
    section = answer_of(frame)
    assert tables(section)[1].columns[2:6] == ["best stdlib", "best library", "best reference",
                                               "best unknown"]
    assert "my-ring (reference: implemented by ipc-bench itself, not a library you can " \
           "install)" in text_of(section)
    # A frame with no origin column at all reads the same.
    bare = standings.with_origins(recorded.drop(columns=["origin"], errors="ignore"))
    bare = bare.drop_duplicates("backend").set_index("backend")["origin"]
    assert {name: bare[name] for name in ("pipe", "zmq-ipc", "file-lock")} == {
        "pipe": "stdlib", "zmq-ipc": "library", "file-lock": "reference"}


def test_a_margin_without_an_interval_is_not_judged_and_min_max_serve_as_one(recorded):
    quick = recorded.copy()
    batch = quick["metric"] == "batch_seconds"
    quick.loc[batch, ["ci_99_a", "ci_99_b"]] = math.inf  # what asv stores for one sample
    quick.loc[batch, "repeat"] = 1
    section = answer_of(quick)
    margins = [cell for row in tables(section)[0].rows for cell in row[3::2] if cell != "–"]
    assert margins and all(cell.endswith("(not judged)") for cell in margins)
    assert "carry no interval" in text_of(section)
    # Runs that record each point's fastest and slowest round judge from those.
    spread = quick.assign(min=quick["value"] * 0.99, max=quick["value"] * 1.01)
    judged = [cell for row in tables(answer_of(spread))[0].rows for cell in row[3::2]
              if cell != "–"]
    assert all(cell.endswith((" faster", " tied")) for cell in judged)
    assert "carry no interval" not in text_of(answer_of(spread))


def test_a_set_without_throughput_still_opens_with_the_answer(recorded):
    latency = recorded[recorded["metric"] != "batch_seconds"]
    section = answer.answer_section(latency)
    assert section.title == answer.TITLE
    assert "nothing to rank" in text_of(section)


def test_the_plot_shows_the_best_library_against_the_best_stdlib(recorded):
    frame = with_reference(recorded)
    fig = reports.plot_library_margin(frame)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    grid = ax.images[0].get_array()
    columns = [t.get_text() for t in ax.get_xticklabels()]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    every = list(points(frame))
    assert len(texts) == len(every)
    for size, procs, ranked in every:
        names = list(ranked["backend"])
        stdlib = next(n for n in names if n in ("pipe", "queue"))
        speed = ranked.set_index("backend")["msgs_per_s"]
        ratio = speed["zmq-ipc"] / speed[stdlib]
        cell = next(t for t in texts if t.startswith(f"zmq-ipc\nvs {stdlib}\n{ratio:.2f}x"))
        assert "leads: shm-ring (ref.)" in cell  # the reference is ahead of both here
        value = grid[rows.index(procs), columns.index(format_size(size))]
        assert value == pytest.approx(math.log2(ratio))  # blue (above 0) where the library leads
    alone = reports.plot_library_margin(recorded[recorded["backend"] != "zmq-ipc"])
    assert any("no point with both" in t.get_text() for t in alone.axes[0].texts)
