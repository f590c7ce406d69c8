"""Matches over every node kind that mypy --strict must accept (tests/test_typing.py).

tests/test_typing.py also checks that leaving any one kind out is rejected.
"""

from typing import assert_never

from wio import algebra
from wio.algebra import Node


def kind(node: Node) -> str:
    match node:
        case algebra.Pure() | algebra.Run() | algebra.HandleSignal() | algebra.Timer():
            return "step"
        case algebra.Recover() | algebra.End():
            return "technical or final"
        case algebra.Sequence() | algebra.Transform() | algebra.FlatMap():
            return "composition"
        case algebra.HandleError() | algebra.Checkpoint() | algebra.Interruptible():
            return "section"
        case algebra.Fork() | algebra.Parallel() | algebra.Loop() | algebra.ForEach():
            return "control flow"
        case algebra.Embed() | algebra.Compensated() | algebra.Compensating() | algebra.RunChild():
            return "composition of workflows"
        case _:
            assert_never(node)
