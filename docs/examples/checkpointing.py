"""Checkpointing and recovery: the card's example.

``checkpointed`` saves one event capturing the section's state; on replay that
event marks the section complete. ``recovery`` runs no logic and completes
only by consuming such an event, so a later version can drop the section.
"""

from typing import Never

from attrs import frozen

from wio import WIO


@frozen
class MyState:
    counter: int


@frozen
class MyEvent:
    counter: int


my_workflow: WIO[int, Never, MyState] = WIO.pure(MyState(1)).auto_named()


def save_state(input: int, state: MyState) -> MyEvent:
    return MyEvent(state.counter)


def recover_state(input: int, event: MyEvent) -> MyState:
    return MyState(event.counter)


checkpointed = my_workflow.checkpointed(save_state, recover_state)

recovery = WIO.recover(recover_state)
