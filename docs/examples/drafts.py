"""The document approval (see approval.py) as a draft: names only, no logic.

A team can render and review it before anyone writes a step; running it is
refused with an error naming the first draft node.
"""

from datetime import timedelta

from wio import drafts as d

review_round = d.signal("Review")

workflow = (
    d.signal("Submission")
    >> d.checkpoint(
        d.loop(
            review_round,
            "Approved?",
            exit="Approved",
            restart="Not Yet",
            on_restart=d.step("Revise"),
        )
    )
    >> d.timer("Embargo", timedelta(days=1))
    >> d.choice("Public?", yes=d.step("Publish"), no=d.step("Archive"))
)
