"""The payouts of `tests.children_flows` (a batch starting a child instance per
recipient), instrumented for tests that span processes, as in
`tests.harness.crashable_order`: ``pay:after`` hangs once a recipient is paid,
before the child records it."""

from __future__ import annotations

import os

from tests import children_flows
from tests.harness.crashable_order import FileEffects

children_flows.side_effects = FileEffects(
    os.environ["WIO_EFFECTS_LOG"], os.environ.get("WIO_BLOCK", "")
)
batch = children_flows.batch
payout = children_flows.payout
