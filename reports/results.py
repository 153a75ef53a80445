"""Results -> one tidy pandas DataFrame, from asv results and from ``ipc-bench run --json`` files.

The frame (reports.frame.COLUMNS) has one row per result set, metric, backend, size and process
count. A *result set* is one measurement run on one machine: an asv result file (one machine,
commit and environment; reports.asv_results), or one file of ``ipc-bench run --json`` lines
(reports.runs). Every set is compared like any other: the newest is the current one by default,
``--current``/``--baseline`` select among them (docs/results.md).

Where the results come from (``load``): ``--runs FILE...`` alone reads only those files; with
``--results DIR`` as well, both are read and each file is a set beside the asv sets; with
neither, the asv results directory (DEFAULT_RESULTS_DIR).

This module keeps the names that were here before the readers were split: ``load_results``
(asv), ``result_sets``, ``only_set``, ``COLUMNS`` and the sidecar names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from reports.asv_results import DEFAULT_RESULTS_DIR, METRICS, load_results
from reports.errors import ReportError
from reports.frame import COLUMNS, combine, newest_set, only_set, result_sets
from reports.origins import BUILTIN_ORIGINS, ORIGINS
from reports.runs import load_runs
from reports.sidecars import BACKENDS_FILE, ENVIRONMENT_DIR, ENVIRONMENT_FILE, environment_path

__all__ = ["BACKENDS_FILE", "BUILTIN_ORIGINS", "COLUMNS", "DEFAULT_RESULTS_DIR",
           "ENVIRONMENT_DIR", "ENVIRONMENT_FILE", "METRICS", "ORIGINS", "ReportError",
           "environment_path", "load", "load_results", "load_runs", "newest_set", "only_set",
           "result_sets"]


def load(results_dir: str | Path | None = None, runs: Sequence[str | Path] = (),
         machine: str | None = None) -> pd.DataFrame:
    """The result sets to report on: ``runs`` files (one set each) and/or asv results.

    ``results_dir`` None means "not asked for": the asv results at DEFAULT_RESULTS_DIR are read
    only when there are no ``runs``. ``machine`` selects an asv machine; runs files are read
    whole. Raises ReportError when something asked for cannot be read.
    """
    frames = []
    if results_dir is not None or not runs:
        frames.append(load_results(DEFAULT_RESULTS_DIR if results_dir is None else results_dir,
                                   machine))
    if runs:
        frames.append(load_runs(runs))
    return combine(frames)
