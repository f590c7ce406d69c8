"""The installed namespace and the import rules between layers."""

from __future__ import annotations

import ast
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import importlib, json
found = {}
for name in ("wio.journal", "wio.renderers", "wio.cli", "wio.server.command", "journal", "renderers"):
    try:
        importlib.import_module(name)
        found[name] = True
    except ImportError:
        found[name] = False
from importlib import resources
static = resources.files("wio.console").joinpath("static")
found["console assets"] = all(static.joinpath(f).is_file() for f in ("console.js", "console.css"))
print(json.dumps(found))
"""


@pytest.mark.slow
@pytest.mark.parametrize("editable", [False, True], ids=["wheel", "editable"])
def test_an_install_exposes_wio_journal_and_no_top_level_journal(
    tmp_path: Path, editable: bool
) -> None:
    env_dir = tmp_path / "venv"
    # System site-packages give the dependencies without a download; the venv's own
    # copy of wio comes first on sys.path.
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "-q", "--no-deps"]
    install += ["-e", str(ROOT)] if editable else [str(ROOT)]
    subprocess.run(install, check=True, capture_output=True, cwd=tmp_path)
    # Run from elsewhere: the repository root must not be on sys.path.
    probe = subprocess.run(
        [str(python), "-c", PROBE], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    import json

    assert json.loads(probe.stdout) == {
        "wio.journal": True,
        "wio.renderers": True,
        "wio.cli": True,  # every subpackage is installed, wio.server too
        "wio.server.command": True,
        "journal": False,
        "renderers": False,
        "console assets": True,  # the console's script and style ship as package data
    }


def _imported_modules(folder: Path) -> dict[str, set[str]]:
    """Every absolute module each file of a folder imports."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        found[path.name] = names
    return found


def test_the_journal_imports_nothing_else_from_wio() -> None:
    offending = {
        (file, name)
        for file, names in _imported_modules(ROOT / "journal").items()
        for name in names
        if name == "wio" or name.startswith("wio.")
    }
    assert not offending, f"journal/ must know nothing of wio's types: {sorted(offending)}"


def test_renderers_never_import_the_runtime_or_the_journal() -> None:
    forbidden = ("wio.runtime", "wio.worker", "wio.journal", "wio.interpreter")
    offending = {
        (file, name)
        for file, names in _imported_modules(ROOT / "renderers").items()
        for name in names
        if name.startswith(forbidden)
    }
    assert not offending, f"renderers draw models, not instances: {sorted(offending)}"


def test_the_import_rule_check_sees_imports() -> None:
    # The rule tests above pass vacuously if the scan finds nothing; it must find the
    # renderers' own import of the model.
    imported = set().union(*_imported_modules(ROOT / "renderers").values())
    assert any(name.startswith("wio") for name in imported)
    assert sys.modules.get("journal") is None
