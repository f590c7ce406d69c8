"""Version 1 of the shipment example whose parcels take a while to ship, so that a test's
`wio migrate` runs while a worker process is in the middle of shipping."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from wio.loading import load_module

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
sys.path.insert(0, str(EXAMPLES))

import shipment  # noqa: E402  (the module evolution_v1 imports, from the path above)


class SlowShipping(list[str]):
    def append(self, effect: str) -> None:
        if effect.startswith("ship"):
            time.sleep(0.2)  # a step in flight while the migration looks
        super().append(effect)


shipment.side_effects = SlowShipping()
shipping = load_module(str(EXAMPLES / "evolution_v1.py")).shipping
