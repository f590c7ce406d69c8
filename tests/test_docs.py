"""Every snippet in the README and docs/ runs, and says what it shows.

Python blocks of one page run in order as one script, in a subprocess from the
repository root, and pass ``mypy --strict`` as written. Console blocks whose lines start with ``$ wio`` are run and
their output compared. The README's test command must be what CI runs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from mypy import api as mypy_api

from tests.conftest import EXAMPLES, ROOT

# Walkthroughs whose Python blocks and commands share a journal run in page order, on
# each journal, in their own tests (evolution.md: tests/test_evolution_walkthrough.py).
WALKTHROUGHS = {"evolution.md"}
PAGES = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").rglob("*.md") if p.name not in WALKTHROUGHS),
]
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


def test_python_snippets_and_examples_pass_mypy_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One mypy run for every page, as each page's snippets run: as one script.
    scripts = []
    for page in PAGES:
        snippets = blocks(page, "python")
        if snippets:
            name = "_".join(page.relative_to(ROOT).with_suffix("").parts).replace("-", "_")
            script = tmp_path / f"{name}_snippets.py"
            script.write_text("\n".join(snippets))
            scripts.append(str(script))
    assert any(s.endswith("README_snippets.py") for s in scripts)
    # The editable install's import hook is invisible to mypy: point it at the source,
    # and at the example modules the snippets import.
    monkeypatch.setenv("MYPYPATH", f"{ROOT}{os.pathsep}{EXAMPLES}")
    examples = [str(path) for path in sorted(EXAMPLES.glob("*.py"))]
    stdout, stderr, _ = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir=/dev/null", *scripts, *examples]
    )
    assert not stderr, stderr
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert errors == [], "\n".join(errors)


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line. A line "..." stands for any number of lines, and a line
    ending in "..." for any line that starts with what precedes it."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    if not actual:
        return False
    line = expected[0]
    same = actual[0].startswith(line[:-3]) if line.endswith("...") else actual[0] == line
    return same and matches(expected[1:], actual[1:])


def console_pages() -> list[Path]:
    return [p for p in PAGES if any("$ wio " in b for b in blocks(p, "console"))]


@pytest.mark.parametrize("page", console_pages(), ids=lambda p: p.name)
def test_wio_console_sessions_print_what_they_show(page: Path, tmp_path: Path) -> None:
    # Each page's sessions share one fresh journal, the default of every command.
    env = {**os.environ, "WIO_JOURNAL": f"sqlite:///{tmp_path / 'docs.db'}"}
    for block in blocks(page, "console"):
        run_console(block, env, page.name)


def run_console(block: str, env: dict[str, str], page: str = "") -> list[int]:
    """Run each `$ wio` line of a console block, checking that it prints what follows
    it (up to the next `$ `); returns their exit statuses."""
    statuses = []
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
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        output = (done.stdout + done.stderr).splitlines()
        assert matches(expected, output), f"{page}: {line}\n{done.stdout}{done.stderr}"
        statuses.append(done.returncode)
    return statuses


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_examples_run_as_scripts(path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_the_readme_gives_three_commands_and_ci_runs_the_test_one() -> None:
    commands = blocks(ROOT / "README.md", "console")
    assert len(commands) == 3
    demo, console, tests = (c.strip() for c in commands)
    assert demo.endswith("wio demo")
    # tests/test_console_browser.py drives this very command in Chromium.
    assert console.endswith("python -m wio.console.demo")
    assert tests in (ROOT / ".ci" / "run").read_text()


def test_mermaid_sources_in_the_docs_are_what_wio_renders_now() -> None:
    from wio.loading import load_workflow
    from wio.renderers import render

    page = ROOT / "docs" / "renderers" / "mermaid.md"
    shown = [b.rstrip() for b in blocks(page, "mermaid")]
    order = load_workflow(str(EXAMPLES / "order.py") + ":order_workflow")
    v1 = load_workflow(str(EXAMPLES / "evolution_v1.py") + ":workflow")
    current = [
        str(render(order, "mermaid")).rstrip(),
        str(render(v1, "mermaid", show_technical=True)).rstrip(),
    ]
    assert shown == current


def test_every_picture_the_docs_show_is_committed() -> None:
    pictures = ROOT / "docs" / "pictures"
    for page in (ROOT / "docs").rglob("*.md"):
        for link in re.findall(r"\]\((\.\./pictures/[^)]+)\)", page.read_text()):
            assert (page.parent / link).resolve().is_file(), f"{page.name}: {link}"
    # ten examples, five pictures each; the approval and shop examples' progress, three each
    assert len(list(pictures.glob("*.svg"))) == 56


@pytest.mark.consumers
def test_the_pictures_script_draws_every_picture(tmp_path: Path) -> None:
    from tests.diagram_consumers import require_chromium, require_node

    require_node()
    require_chromium()
    done = subprocess.run(
        [sys.executable, "docs/make_pictures.py", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    made = sorted(p.name for p in tmp_path.glob("*.svg"))
    assert made == sorted(p.name for p in (ROOT / "docs" / "pictures").glob("*.svg"))
    assert all(p.stat().st_size > 1000 for p in tmp_path.glob("*.svg"))
