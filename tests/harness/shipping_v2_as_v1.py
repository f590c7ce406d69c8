"""Version 2 of the shipment example deployed under version 1's name and version, so
that v1 instances resume on v2's code (for the busy-loop tests)."""

from __future__ import annotations

from pathlib import Path

from attrs import evolve

from wio.loading import load_module

v2 = load_module(str(Path(__file__).resolve().parents[2] / "docs/examples/evolution_v2.py"))

# Everything of v2's (its events, its retired events) but the version.
shipping = evolve(v2.shipping, version=1)
