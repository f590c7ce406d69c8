from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from wio.loading import load_module

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"


def example(name: str) -> ModuleType:
    """A module of docs/examples, loaded as the CLI loads it."""
    return load_module(str(EXAMPLES / f"{name}.py"))


@pytest.fixture
def order() -> ModuleType:
    module = example("order")
    module.side_effects.clear()
    return module


@pytest.fixture
def shipment() -> ModuleType:
    module = example("shipment")
    module.side_effects.clear()
    return module
