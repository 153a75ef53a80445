"""ipc-bench's reports: asv results -> pandas -> matplotlib -> HTML, Markdown and CSV.

``load_results(dir)`` reads every result set under an asv results directory into one tidy
DataFrame; the ``plot_*`` functions turn it into Figures; ``write_report`` writes the files;
``recommend`` ranks the backends for one workload; ``compare`` sets two result sets side by
side. Nothing here imports a backend: the report reads results files only.
"""

from __future__ import annotations

import importlib

from reports.errors import ReportError

# `ipc-bench` imports reports.cli for every command, so the package itself must stay light:
# the names below load pandas and matplotlib on first use (PEP 562).
_LAZY = {
    "reports.results": ["COLUMNS", "load_results", "result_sets"],
    "reports.plots": ["best_backends", "plot_best_backend", "plot_latency", "plot_scaling",
                      "plot_throughput"],
    "reports.comparison": ["choose_sets", "compare"],
    "reports.render": ["ReportFiles", "write_report"],
    "reports.recommendation": ["CAPABILITIES", "Recommendation", "recommend"],
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}

__all__ = ["ReportError", *sorted(_HOME)]


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'reports' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
