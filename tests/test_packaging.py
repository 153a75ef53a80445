"""A plain (non-editable) ``pip install .`` ships every subpackage: installed into a fresh
virtual environment, every module of the project imports from there."""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

IMPORT_ALL = """
import importlib, pkgutil, sys
import backends, reports
names = []
for package in (backends, reports):
    assert "site-packages" in package.__file__, package.__file__
    names.append(package.__name__)
    names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
for name in names:
    if not name.endswith(".__main__"):  # it runs the command line
        importlib.import_module(name)
print("\\n".join(sorted(names)))
"""


def _site_directories() -> list[str]:
    """Where this environment's installed distributions live (sys.path, not the checkout)."""
    return [path for path in sys.path if Path(path).name in ("site-packages", "dist-packages")
            and Path(path).is_dir()]


def _source_modules() -> set[str]:
    names = set()
    for package in ("backends", "reports"):
        names.add(package)
        names.update(m.name for m in pkgutil.walk_packages([str(ROOT / package)], package + "."))
    return names


@pytest.mark.timeout(300)
def test_plain_install_ships_every_module(tmp_path):
    source = tmp_path / "src"
    # A copy without build leftovers, so that the wheel is built from the tree alone.
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".asv", "report", "*.egg-info", "build", "__pycache__", ".pytest_cache"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # The dependencies come from the environment that runs the tests (a virtual environment
    # or not: system_site_packages would give the base interpreter's, not a venv's), the
    # project itself from the wheel. Plain directory lines: the .pth files in those
    # directories (this environment's editable install of the project) are not read.
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "ipc-bench-test-dependencies.pth").write_text(
        "".join(f"{path}\n" for path in _site_directories()))
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--quiet", "--no-deps", str(source)],
                   check=True, capture_output=True, env=environment, cwd=tmp_path)
    result = subprocess.run([str(python), "-c", IMPORT_ALL], capture_output=True, text=True,
                            env=environment, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == _source_modules()
