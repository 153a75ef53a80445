"""What run-suite.sh records beside the asv results: the environment and the backends list.

asv records no library versions for an existing environment: run-suite.sh writes them, with the
commit, the run's label and placement, to ``<results_dir>/../ipc-bench-environment/<machine>.json``
right after ``asv run`` (``python -m backends.measure.machine``), outside the results tree, where
asv would take it for a result (older versions wrote ``<results_dir>/<machine>/
ipc-bench-environment.json``, still read). A result set of that machine and commit gets them in
the ``measured_*`` columns; a malformed file is ignored, and ``environment_note`` says why.

Beside it, ``<machine>.backends.json`` is ``ipc-bench list --json`` as the suite saw it: each
backend's declared largest payload (which tells a point skipped for its size apart from the
rest) and its ``origin`` (reports.origins).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from reports.errors import ReportError
from reports.frame import ENVIRONMENT, FIGURES, is_number
from reports.origins import recorded_origin

#: run-suite.sh's record of what the suite measured with: ENVIRONMENT_DIR/<machine>.json beside
#: the results directory; older versions wrote ENVIRONMENT_FILE in each machine's directory.
ENVIRONMENT_FILE = "ipc-bench-environment.json"
ENVIRONMENT_DIR = "ipc-bench-environment"
#: ``ipc-bench list --json`` as run-suite.sh saved it, ENVIRONMENT_DIR/<machine>.backends.json
#: (or BACKENDS_FILE in the machine's directory).
BACKENDS_FILE = "ipc-bench-backends.json"
_OPTIONAL_VERSIONS = ("ipc_bench", "pyzmq", "libzmq")


def read_json(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(f"cannot read {path}: {error}") from None
    if not text.strip():
        raise ReportError(f"{path} is empty: delete it or run the suite again")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportError(f"{path} is not valid JSON (truncated or corrupted?): {error.msg} "
                          f"at line {error.lineno}; delete it or run the suite again") from None


def environment_path(results_dir: str | Path, machine: str) -> Path:
    """Where run-suite.sh keeps ``machine``'s environment record (or kept it, before)."""
    root = Path(results_dir)
    path = root.parent / ENVIRONMENT_DIR / f"{machine}.json"
    return path if path.exists() or not (root / machine / ENVIRONMENT_FILE).exists() \
        else root / machine / ENVIRONMENT_FILE


def backends_path(machine_dir: Path) -> Path:
    """Where run-suite.sh keeps the backends list of the machine whose results are here."""
    sidecar = machine_dir.parent.parent / ENVIRONMENT_DIR / f"{machine_dir.name}.backends.json"
    return sidecar if sidecar.exists() else machine_dir / BACKENDS_FILE


def read_environment(path: Path) -> tuple[dict | None, str | None]:
    """ENVIRONMENT_FILE and, when it is unusable, why: (None, note). It is an optional extra, so
    a malformed one is ignored (the report says so) rather than refused."""
    if not path.exists():
        return None, None
    try:
        data = read_json(path)
    except ReportError as error:
        return None, f"{ENVIRONMENT_FILE} was ignored: {error}"
    required = {"commit": (str,), **{key: (str,) for key in ENVIRONMENT},
                **{key: (str, type(None)) for key in _OPTIONAL_VERSIONS}}
    wrong = [key for key, types in required.items()
             if not isinstance(data, dict) or not isinstance(data.get(key, ...), types)]
    if wrong or not data["commit"]:
        return None, (f"{path} was ignored: it is not what run-suite.sh writes (missing or "
                      f"malformed: {', '.join(wrong or ['commit'])})")
    return data, None


def read_backends(path: Path) -> tuple[dict[str, int], dict[str, str]]:
    """Backend name -> declared largest payload, and name -> recorded origin, from
    BACKENDS_FILE (JSON lines); a missing or unreadable file, or a line that does not fit,
    declares nothing."""
    limits: dict[str, int] = {}
    origins: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return limits, origins
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            continue
        if type(row.get("max_payload_bytes")) is int:
            limits[row["name"]] = row["max_payload_bytes"]
        origin = recorded_origin(row.get("origin"))
        if origin is not None:
            origins[row["name"]] = origin
    return limits, origins


def measured(path: Path, environment: tuple[dict | None, str | None], commit: object,
             python: object) -> dict:
    """The ``measured_*`` columns, ``label``, ``placement`` and ``environment_note`` of the
    asv result set in ``path``."""
    record, note = environment
    columns: dict = dict.fromkeys([*ENVIRONMENT.values(), *FIGURES.values(),
                                   "environment_note", "label", "placement"])
    if record is not None:
        for key in ("label", "placement"):  # how the set was run, whatever else fits
            if isinstance(record.get(key), str):
                columns[key] = record[key]
        digits = str(python).split(".")
        where = environment_path(path.parent.parent, path.parent.name)
        if record["commit"] != commit:
            note = (f"{where} was not used: it describes commit "
                    f"{record['commit'][:8]}, not this result set's")
        elif re.fullmatch(r"\d+(\.\d+)+", str(python)) \
                and record["python"].split(".")[:len(digits)] != digits:
            note = (f"{where} was not used: it describes Python "
                    f"{record['python']}, not this result set's {python}")
        else:
            columns.update(machine_columns(record))
    columns["environment_note"] = note
    return columns


def machine_columns(record: dict) -> dict:
    """The ``measured_*`` columns from a record of the machine (keys as machine_info's)."""
    columns = {column: record.get(key) if isinstance(record.get(key), str) else None
               for key, column in ENVIRONMENT.items()}
    columns.update({column: float(value) for key, column in FIGURES.items()
                    for value in [record.get(key)]
                    if is_number(value) and math.isfinite(value) and value > 0})
    return columns
