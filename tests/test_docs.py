"""The README and docs/ stay true to the code: links resolve, every backend is in the README's
table with the origin it declares, every command-line option is documented in docs/cli.md,
and each docs page says in its first line what it answers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import backends

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
COMMANDS = ("list", "run", "report", "recommend", "fidelity")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {_slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def test_the_docs_exist_and_the_readme_is_a_front_page():
    assert DOCS, "docs/*.md is missing"
    lines = README.read_text().count("\n")
    assert lines <= 330, f"README.md has {lines} lines: the detail belongs in docs/"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path):
    broken = []
    for target in LINK.findall(re.sub(r"```.*?```", "", page.read_text(), flags=re.S)):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        path = (page.parent / file_part).resolve() if file_part else page
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no heading #{anchor}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_each_docs_page_opens_with_what_it_answers(page: Path):
    lines = [line for line in page.read_text().splitlines() if line.strip()]
    assert lines[0].startswith("# "), f"{page.name} has no title"
    assert lines[1].startswith("*This page answers:"), f"{page.name}: {lines[1]!r}"


def test_every_backend_is_in_the_readme_table_with_its_origin():
    rows = {}
    for line in README.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`[a-z0-9-]+`", cells[0]):
            rows[cells[0].strip("`")] = cells[2]
    missing = [name for name in backends.names() if name not in rows]
    assert not missing, f"backends missing from the README's table: {missing}"
    for name in backends.names():
        declared = getattr(backends.load(name), "origin", None)
        if declared is not None:  # Backend.origin: the README must say the same
            assert rows[name] == declared, f"{name}: README says {rows[name]}, code {declared}"


def test_every_option_of_every_command_is_in_the_cli_reference():
    reference = (ROOT / "docs" / "cli.md").read_text()
    undocumented = []
    for command in COMMANDS:
        shown = subprocess.run([sys.executable, "-m", "backends", command, "--help"],
                               capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert shown.returncode == 0, shown.stderr
        for option in sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", shown.stdout))):
            if option != "--help" and f"`{option}" not in reference \
                    and f" {option}" not in reference:
                undocumented.append(f"{command} {option}")
    assert not undocumented, f"not in docs/cli.md: {undocumented}"
