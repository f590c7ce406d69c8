"""Every snippet in the README and docs/ runs, and says what it shows.

Python blocks of one page run in order as one script, in a subprocess from the
repository root. Console blocks whose lines start with ``$ wio`` are run and
their output compared. The README's test command must be what CI runs.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(page: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(page.read_text()) if lang == language]


def run_python(source: str, path: Path) -> subprocess.CompletedProcess[str]:
    path.write_text(source)
    return subprocess.run(
        [sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")], ids=lambda p: p.name)
def test_python_snippets_run(page: Path, tmp_path: Path) -> None:
    snippets = blocks(page, "python")
    done = run_python("\n".join(snippets), tmp_path / f"{page.stem}_snippets.py")
    assert done.returncode == 0, f"{page.name}:\n{done.stderr}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_wio_console_examples_print_what_they_show(page: Path) -> None:
    for block in blocks(page, "console"):
        lines = block.splitlines()
        for index, line in enumerate(lines):
            if not line.startswith("$ wio "):
                continue
            expected = []
            for following in lines[index + 1 :]:
                if following.startswith("$ "):
                    break
                expected.append(following)
            argv = [sys.executable, "-m", "wio.cli", *shlex.split(line[len("$ wio ") :])]
            done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            assert done.stdout.splitlines() == expected


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_examples_run_as_scripts(path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_the_readme_gives_two_commands_and_ci_runs_the_test_one() -> None:
    commands = blocks(ROOT / "README.md", "console")
    assert len(commands) == 2
    demo, tests = (c.strip() for c in commands)
    assert demo.endswith("wio demo")
    assert tests in (ROOT / ".ci" / "run").read_text()
