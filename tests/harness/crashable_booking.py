"""The booking example, instrumented for tests that span processes, as in
`tests.harness.crashable_order`: with a city without cars, ``cancel:after``
hangs once the hotel is cancelled, before its event is recorded (in the
middle of the compensation); ``cancel:before`` hangs before cancelling it."""

from __future__ import annotations

import os
from pathlib import Path

from tests.harness.crashable_order import FileEffects
from wio.definition import Workflow
from wio.loading import load_module
from wio.retry import RetryPolicy

booking = load_module(str(Path(__file__).resolve().parents[2] / "docs" / "examples" / "booking.py"))
booking.side_effects = FileEffects(os.environ["WIO_EFFECTS_LOG"], os.environ.get("WIO_BLOCK", ""))
booking.cities_without_cars.add("Rome")

workflow = Workflow(
    booking.workflow.wio,
    name="booking",
    input_type=booking.Trip,
    retry=RetryPolicy(max_attempts=3, initial_delay=0.05, multiplier=2),
)
