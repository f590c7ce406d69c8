"""Version 2 of the shipment example deployed under version 1's name and version, so
that v1 instances resume on v2's code (for the busy-loop tests)."""

from __future__ import annotations

from pathlib import Path

from wio import Workflow
from wio.loading import load_module

v2 = load_module(str(Path(__file__).resolve().parents[2] / "docs/examples/evolution_v2.py"))

shipping = Workflow(v2.shipping.wio, name="shipping", version=1, events=v2.shipping.events)
