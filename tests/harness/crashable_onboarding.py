"""The onboarding example's embeddings (without the hour-long cooling-off), instrumented
for tests that span processes, as in `tests.harness.crashable_order`: ``open:before``
hangs once both embedded KYC workflows are journaled, before the account is opened."""

from __future__ import annotations

import os
from pathlib import Path

from tests.harness.crashable_order import FileEffects
from wio import WIO
from wio.definition import Workflow
from wio.loading import load_module
from wio.retry import RetryPolicy

onboarding = load_module(
    str(Path(__file__).resolve().parents[2] / "docs" / "examples" / "onboarding.py")
)
onboarding.side_effects = FileEffects(
    os.environ["WIO_EFFECTS_LOG"], os.environ.get("WIO_BLOCK", "")
)

kyc = Workflow(
    WIO.run(onboarding.check_identity, onboarding.verified, error=onboarding.Rejected),
    name="KYC",
    input_type=onboarding.Person,
)

workflow = Workflow(
    WIO.embed(kyc, input=lambda a: a.applicant, output=lambda a, _: a, name="KYC Applicant")
    >> WIO.embed(kyc, input=lambda a: a.guarantor, output=lambda a, _: a, name="KYC Guarantor")
    >> WIO.run(onboarding.open_account, lambda a, e: e.number).named("Open Account"),
    name="onboarding",
    input_type=onboarding.Application,
    retry=RetryPolicy(max_attempts=3, initial_delay=0.05, multiplier=2),
)
