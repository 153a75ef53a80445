"""The report files: a self-contained HTML page, a Markdown summary, the tidy data as CSV.

The page opens with the answer (reports.answer), then the evidence (reports.detail, the
fidelity section), then what it rests on (reports.provenance): the machine and the method last,
folded in HTML. The page model and its two renderings are in reports.page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from reports.answer import answer_section
from reports.comparison import choose_sets
from reports.detail import (
    comparison_section,
    cost_section,
    latency_section,
    library_margin_section,
    scaling_section,
    throughput_section,
    work_section,
)
from reports.errors import ReportError

# Names other modules and tests reach through reports.render: the page model and renderings.
from reports.fidelity_section import fidelity_section
from reports.frame import main_kind, of_kind, with_kinds
from reports.kinds import hosts_table, kind_note, payload_section
from reports.page import Bullets, Image, Section, Table, to_html, to_markdown  # noqa: F401
from reports.provenance import (  # noqa: F401
    METRIC_NAMES,
    data_section,
    failures_section,
    format_date,
    label,
    library_versions,
    machine_section,
    method_section,
    sets_section,
)
from reports.results import result_sets


class ReportFiles(NamedTuple):
    html: Path
    markdown: Path
    csv: Path


def write_report(frame: pd.DataFrame, out_dir: str | Path = "report", *,
                 current: str | None = None, baseline: str | None = None,
                 compare_sets: bool = True, scaling_size: int | None = None,
                 source: str | None = None) -> ReportFiles:
    """Write ``report.html``, ``report.md``, ``results.csv`` and ``plots/*.png`` to ``out_dir``.

    The page reports on one result set (``current``, by default the newest) and, when
    ``compare_sets`` is true and there is another set, compares it with ``baseline`` (by default
    the set measured before it). ``current`` and ``baseline`` are result-set selectors (see
    ``reports.comparison.choose_sets``). The CSV holds every set in ``frame``.
    """
    out = Path(out_dir)
    try:
        (out / "plots").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _unwritable(out, error) from None
    current_id, baseline_id = choose_sets(frame, current, baseline)
    if not compare_sets:
        baseline_id = None
    sections = build_sections(frame, current_id, baseline_id, scaling_size, source)
    files = ReportFiles(out / "report.html", out / "report.md", out / "results.csv")
    title = "ipc-bench report"
    csv = frame.copy()
    csv["date"] = csv["date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        for section in sections:
            for block in section.blocks:
                if isinstance(block, Image):
                    (out / "plots" / f"{block.name}.png").write_bytes(block.png)
        files.html.write_text(to_html(title, sections), encoding="utf-8")
        files.markdown.write_text(to_markdown(title, sections), encoding="utf-8")
        csv.to_csv(files.csv, index=False)
    except OSError as error:
        raise _unwritable(out, error) from None
    return files


def _unwritable(out: Path, error: OSError) -> ReportError:
    if out.exists() and not out.is_dir():
        return ReportError(f"--out {out} is not a directory: name a directory for the report")
    return ReportError(f"cannot write the report to {out} (--out): "
                       f"{error.strerror or error}: {error.filename or out}")


def build_sections(frame: pd.DataFrame, current: str, baseline: str | None = None,
                   scaling_size: int | None = None, source: str | None = None) -> list[Section]:
    """The page, in reading order: the answer, the evidence, then what it rests on."""
    # Points with work per message answer another question (how a mechanism overlaps transfer
    # with an application's work): a section of their own; every other one is the mechanism's.
    # Payload kinds (bytes, records, ndarray; native or pickle codec) are ranked apart: the
    # answer and the detail show one kind (bytes/native unless the set has only others), the
    # "Payload kinds" section every kind side by side (reports.kinds).
    frame = with_kinds(frame)
    sets = result_sets(frame)
    mine = frame[(frame["result_set"] == current) & ~(frame["work_us"] > 0)]
    all_kinds = mine[~mine["status"].isin(["skipped", "unsupported"])]
    kind = main_kind(all_kinds if not all_kinds.empty else mine)
    frame = of_kind(frame, kind, latency=True)
    worked = frame[(frame["work_us"] > 0) & (frame["result_set"] == current)]
    frame = frame[~(frame["work_us"] > 0)]
    everything = frame[frame["result_set"] == current]
    # A skipped point was not run (the suite skips it, or the run was restricted with -b),
    # nor was an unsupported one (above the backend's limit): no place in the tables, only in
    # the counts and, with its reason, in "Failed, unsupported and skipped points".
    rows = everything[~everything["status"].isin(["skipped", "unsupported"])]
    info = sets[sets["result_set"] == current].iloc[0]
    throughput = rows[rows["metric"] == "batch_seconds"]
    overview = " ".join(filter(None, [_overview(info, source, len(sets)), kind_note(all_kinds)]))
    sections = [
        answer_section(rows, overview),
        payload_section(all_kinds),
        library_margin_section(rows),
        _with_hosts(throughput_section(rows, throughput, info), rows, "batch_seconds"),
        cost_section(throughput),
        scaling_section(rows, scaling_size),
        work_section(worked, throughput),
        _with_hosts(latency_section(rows), rows, "rtt_p50_us"),
        fidelity_section(rows),
    ]
    if baseline is not None:
        sections.append(comparison_section(frame, sets, current, baseline))
    sections += [failures_section(mine), sets_section(sets, current, baseline),
                 data_section()]
    machine, method = machine_section(info, throughput), method_section(rows, throughput,
                                                                        everything)
    machine.folded = method.folded = True
    sections += [machine, method]
    return [section for section in sections if section is not None]


def _with_hosts(section: Section | None, rows: pd.DataFrame, metric: str) -> Section | None:
    """A launched set's section with where its ranks ran."""
    table = hosts_table(rows, metric)
    if section is not None and table is not None:
        section.blocks.append(table)
    return section


def _overview(info: pd.Series, source: str | None, set_count: int) -> str:
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    where = f" from {source}" if source else ""
    return (f"Results for {label(info)}, measured "
            f"{format_date(info['date'])}. Made {made}{where}; {set_count} result "
            f"set{'s' if set_count != 1 else ''} found.")
