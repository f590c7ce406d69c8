"""Evaluator: advance through every step that needs no event.

``proceed`` runs pure steps, enters and leaves sections, chooses fork branches
and unwinds business errors until the machine blocks on an event or finishes.
User code called here (pure steps, conditions, transforms) must be pure: it
runs again on every replay, except inside a section that its checkpoint
event in the journal shields (see `wio.interpreter.shield`).
"""

from __future__ import annotations

from typing import Any, assert_never

from immutables import Map

from wio.algebra import (
    NODE_CLASSES,
    Checkpoint,
    Compensated,
    Compensating,
    Embed,
    End,
    FlatMap,
    ForEach,
    Fork,
    HandleError,
    HandleSignal,
    Interruptible,
    Loop,
    Parallel,
    Pure,
    Recover,
    Run,
    RunChild,
    Sequence,
    Timer,
    Transform,
    as_node,
)
from wio.errors import DefinitionError, JournalEventError
from wio.for_each import element_key
from wio.interpreter.cursor import (
    ArmTimeout,
    AwaitCheckpoint,
    AwaitChild,
    AwaitEvent,
    AwaitTimer,
    Chain,
    CheckpointFrame,
    CompensatedFrame,
    CompensatingFrame,
    Cursor,
    DeferredEvent,
    EmbedFrame,
    Evaluate,
    FailedAttempt,
    FailedWith,
    Finished,
    FlatMapFrame,
    Focus,
    Frame,
    HandleErrorFrame,
    InForEach,
    InParallel,
    InterruptibleFrame,
    LoopFrame,
    ReturnError,
    ReturnValue,
    SequenceFrame,
    TransformFrame,
    Undo,
    UndoFrame,
    build,
    chain_items,
    detached,
    evolve,
)
from wio.interpreter.next_effect import awaited_children, has_ready_effect, has_timers
from wio.interpreter.shield import Ahead, find_cover
from wio.interpreter.state import signal_handlers
from wio.parallel import innermost
from wio.paths import (
    BASE,
    COMPENSATION,
    CONTINUATION,
    ERROR_HANDLER,
    ON_RESTART,
    ROOT,
    Path,
    child,
    format_path,
)
from wio.progress import StepRecord
from wio.result import Err


def start(workflow: Any, input: Any, ahead: Ahead | None = None) -> Cursor:
    """The cursor of a new instance of ``workflow`` on ``input``, advanced.

    On replay, ``ahead`` is the journal to replay, so that checkpoints shield
    their sections from the start.
    """
    return proceed(Cursor(Evaluate(workflow, input, ()), None, input, None, ahead=ahead))


def proceed(cursor: Cursor) -> Cursor:
    """Advance until the machine blocks or finishes.

    If user code raises, the returned cursor stands just before the failing
    step, with ``failure`` set; calling ``proceed`` on it again retries.
    """
    focus, stack, state, log, deferred, token, failure, ahead = cursor
    if failure is not None and type(focus) in (InParallel, InForEach):
        focus = _retrying(focus)  # type: ignore[arg-type]
    return proceed_from(focus, stack, state, log, deferred, token, ahead)


def proceed_from(
    focus: Focus,
    stack: Frame | None,
    state: Any,
    log: Chain[StepRecord] | None,
    deferred: Chain[DeferredEvent] | None,
    token: int,
    ahead: Ahead | None = None,
) -> Cursor:
    """`proceed`, from registers rather than a cursor."""
    # The registers live in locals while the machine runs; one Cursor is built
    # when it stops. This loop is the hot path of every step and every replay.
    while True:
        try:
            match focus:
                case Evaluate():
                    if ahead is not None and isinstance(focus.node, Checkpoint | Recover):
                        shielded = _shielded(focus, ahead)
                        if shielded is not None:
                            focus, state, record, ahead = shielded
                            log = Chain(record, log)
                            continue
                    focus, stack, state, log, token = _evaluate(focus, stack, state, log, token)
                case ReturnValue():
                    if stack is None:
                        focus = Finished(focus.value)
                        break
                    focus, stack, state = _return_value(focus.value, stack, state)
                    if type(focus) is AwaitEvent:  # the next step of a sequence
                        break
                case ReturnError():
                    if stack is None:
                        focus = FailedWith(focus.error)
                        break
                    focus, stack, log = _return_error(focus, stack, state, log)
                case InParallel():
                    focus, state, log, deferred, token, failure, ahead = _advance_flows(
                        focus, state, log, deferred, token, ahead
                    )
                    if failure is not None:
                        return Cursor(focus, stack, state, log, deferred, token, failure, ahead)
                    if type(focus) is InParallel:
                        break
                case InForEach():
                    if not focus.pending and focus.unfinished:
                        break  # settled: only events move it on
                    focus, state, log, deferred, token, failure = _advance_elements(
                        focus, state, log, deferred, token
                    )
                    if failure is not None:
                        return Cursor(focus, stack, state, log, deferred, token, failure, ahead)
                    if type(focus) is InForEach:
                        break
                case (
                    AwaitEvent() | AwaitTimer() | AwaitChild() | ArmTimeout() | AwaitCheckpoint()
                    | Finished() | FailedWith()
                ):  # fmt: skip
                    break  # blocked on an event, or done
                case _:
                    assert_never(focus)
        except JournalEventError:
            raise  # a journal record that cannot be decoded: not the step's failure
        except Exception as exc:
            failure = _failure_at(focus, stack, exc)
            return Cursor(focus, stack, state, log, deferred, token, failure, ahead)
    return build(Cursor, (focus, stack, state, log, deferred, token, None, ahead))


def _shielded(focus: Evaluate, ahead: Ahead) -> tuple[ReturnValue, Any, StepRecord, Ahead] | None:
    """Complete a checkpointed section (or a recovery) from its checkpoint event
    in the journal ahead, running none of its logic; None if there is none."""
    node, value, path = focus
    assert isinstance(node, Checkpoint | Recover)
    cover = find_cover(ahead, node, path)
    if cover is None:
        return None
    event = innermost(ahead.decode(cover.record.stored))
    output = node.recover_state(value, event)
    kind = "checkpoint" if isinstance(node, Checkpoint) else "recover"
    seq = cover.record.seq
    record = StepRecord(path, kind, node.meta.name, True, output, seq, True, cover.covered)
    return ReturnValue(output), output, record, ahead._replace(position=cover.position + 1)


Registers = tuple[Focus, Frame | None, Any, Chain[StepRecord] | None, int]


def _evaluate(
    focus: Evaluate, stack: Frame | None, state: Any, log: Chain[StepRecord] | None, token: int
) -> Registers:
    wio, value, path = focus
    match node := as_node(wio):
        case Run() | Recover() | HandleSignal() | Timer() | RunChild():
            return AwaitEvent(node, value, path), stack, state, log, token
        case Sequence():
            frame = SequenceFrame(node, 0, path, stack)
            return Evaluate(node.steps[0], value, child(path, 0)), frame, state, log, token
        case Pure():
            outcome = business_result(node, node.compute(value))
            record = _record(outcome, path, "pure", node.meta.name, None)
            state = outcome.value if isinstance(outcome, ReturnValue) else state
            return outcome, stack, state, Chain(record, log), token
        case Transform():
            inner = node.map_input(value)
            frame_t = TransformFrame(node, value, path, stack)
            return Evaluate(node.base, inner, path), frame_t, state, log, token
        case Compensated():
            frame_u = CompensatedFrame(node, value, path, stack)
            return Evaluate(node.base, value, child(path, BASE)), frame_u, state, log, token
        case Compensating():
            frame_s = CompensatingFrame(node, path, None, stack)
            return Evaluate(node.base, value, child(path, BASE)), frame_s, state, log, token
        case Embed():
            frame_e = EmbedFrame(node, value, path, stack)
            inner = node.map_input(value)
            return Evaluate(node.base, inner, child(path, BASE)), frame_e, state, log, token
        case FlatMap():
            frame_f = FlatMapFrame(node, path, stack)
            return Evaluate(node.base, value, child(path, BASE)), frame_f, state, log, token
        case HandleError():
            frame_h = HandleErrorFrame(node, path, stack)
            return Evaluate(node.base, value, child(path, BASE)), frame_h, state, log, token
        case Checkpoint():
            frame_c = CheckpointFrame(node, value, path, token, stack)
            return Evaluate(node.base, value, child(path, BASE)), frame_c, state, log, token + 1
        case Interruptible():
            match node.trigger:
                case Timer():  # the timeout starts with the section
                    return ArmTimeout(node, value, path), stack, state, log, token
                case HandleSignal():
                    frame_i = InterruptibleFrame(node, value, path, None, stack)
                    section = Evaluate(node.base, value, child(path, BASE))
                    return section, frame_i, state, log, token
                case _:
                    assert_never(node.trigger)
        case Loop():
            frame_l = LoopFrame(node, False, path, stack)
            return Evaluate(node.body, value, child(path, BASE)), frame_l, state, log, token
        case Parallel():
            if not node.flows:
                raise DefinitionError(
                    f"parallel {node.meta.name!r} at {format_path(path)} has no flows: "
                    "add them with .flow(name, wio)"
                )
            flows = tuple(
                Cursor(Evaluate(flow.wio, value, child(path, index)), None, value, None)
                for index, flow in enumerate(node.flows)
            )
            return InParallel(node, value, path, flows), stack, state, log, token
        case ForEach():
            return _enter_for_each(node, value, path), stack, state, log, token
        case Fork():
            for index, branch in enumerate(node.branches):
                if branch.condition(value):
                    record = StepRecord(path, "fork", node.meta.name, True, branch.name)
                    following = Evaluate(branch.wio, value, child(path, index))
                    return following, stack, state, Chain(record, log), token
            names = ", ".join(repr(b.name) for b in node.branches) or "none"
            raise DefinitionError(
                f"fork {node.meta.name!r} at {format_path(path)}: no branch matched "
                f"input {value!r} (branches: {names}); add .otherwise(...)"
            )
        case End():
            record = StepRecord(path, "end", node.meta.name, True, state)
            return Finished(state), None, state, Chain(record, log), token
        case _:
            assert_never(node)


def _moving(focus: Focus) -> bool:
    """Whether a flow of a parallel section has something to do without an event."""
    # Asked of every flow on every event of the section: the common case, first.
    match focus:
        case (
            AwaitEvent()
            | AwaitTimer()
            | AwaitChild()
            | ArmTimeout()
            | AwaitCheckpoint()
            | Finished()
            | FailedWith()
        ):
            return False
        case Evaluate() | ReturnValue() | ReturnError() | InParallel() | InForEach():
            return True
        case _:
            assert_never(focus)


def _advance_flows(
    focus: InParallel,
    state: Any,
    log: Chain[StepRecord] | None,
    deferred: Chain[DeferredEvent] | None,
    token: int,
    ahead: Ahead | None,
) -> tuple[
    Focus,
    Any,
    Chain[StepRecord] | None,
    Chain[DeferredEvent] | None,
    int,
    FailedAttempt | None,
    Ahead | None,
]:
    """Advance each flow of a parallel section as far as it goes without an event;
    then the section completes, fails with the first flow's business error, or
    waits. The flows share the enclosing log, section tokens and journal
    look-ahead; after them, the look-ahead goes on past every checkpoint event
    a flow's shield consumed."""
    node, input, path, flows_in = focus
    flows = list(flows_in)
    failure: FailedAttempt | None = None
    reached = ahead
    for index, flow in enumerate(flows):
        if flow.failure is None and _moving(flow.focus):
            inside = None if ahead is None else ahead.within(path, index)
            moved = proceed_from(
                flow.focus, flow.stack, flow.state, log, flow.deferred, token, inside
            )
            log, token = moved.log, moved.next_token
            reached = further(reached, moved.ahead)
            if moved.state is not flow.state:  # the flow produced a value
                state = moved.state
            flows[index] = flow = detached(moved)
        if type(flow.focus) is FailedWith:  # the first business error fails the section
            error = flow.focus.error
            record = StepRecord(path, "parallel", node.meta.name, False, error)
            return (
                ReturnError(error),
                state,
                Chain(record, log),
                _merged(flows, deferred),
                token,
                None,
                reached,
            )
        if failure is None:
            failure = flow.failure
    section = InParallel(node, input, path, tuple(flows))
    if failure is not None:
        return section, state, log, deferred, token, failure, reached
    if not all(type(flow.focus) is Finished for flow in flows):
        return section, state, log, deferred, token, None, reached
    results = tuple(flow.focus.value for flow in flows)  # type: ignore[union-attr]
    value = results if node.combiner is None else node.combiner(input, results)
    record = StepRecord(path, "parallel", node.meta.name, True, value)
    merged = _merged(flows, deferred)
    return ReturnValue(value), value, Chain(record, log), merged, token, None, reached


def further(ahead: Ahead | None, moved: Ahead | None) -> Ahead | None:
    """``ahead`` (the enclosing cursor's look-ahead), gone on as far as ``moved``
    (a flow's, after its shields) went."""
    if ahead is None or moved is None or moved.position <= ahead.position:
        return ahead
    return ahead._replace(position=moved.position)


def _merged(
    flows: list[Cursor], deferred: Chain[DeferredEvent] | None
) -> Chain[DeferredEvent] | None:
    """The enclosing deferred events plus those the flows still hold, which no
    section inside them covered; an enclosing checkpoint still may."""
    for flow in flows:
        for item in chain_items(flow.deferred):
            deferred = Chain(item, deferred)
    return deferred


def _retrying(focus: InParallel | InForEach) -> InParallel | InForEach:
    """The section with its flows' or elements' failures cleared, so that failed steps
    run again."""
    if type(focus) is InForEach:
        elements = focus.elements
        for index in focus.pending:
            elements = elements.set(index, _cleared(elements[index]))
        return focus._replace(elements=elements)
    assert type(focus) is InParallel
    return InParallel(focus.node, focus.input, focus.path, tuple(map(_cleared, focus.flows)))


def _cleared(c: Cursor) -> Cursor:
    inner = c.focus
    retried = _retrying(inner) if type(inner) in (InParallel, InForEach) else inner  # type: ignore[arg-type]
    return evolve(c, failure=None, focus=retried)


# -- for-each sections ----------------------------------------------------------


def _enter_for_each(node: ForEach[Any, Any, Any], value: Any, path: Path) -> InForEach:
    """The section with one new element per item, all pending."""
    where = format_path(path)
    items = list(node.items_of(value))
    keys = tuple(element_key(node.key, item, i, where) for i, item in enumerate(items))
    positions = Map({key: i for i, key in enumerate(keys)})
    if len(positions) != len(keys):
        seen: set[str] = set()
        twice = next(key for key in keys if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise DefinitionError(
            f"for_each {node.meta.name!r} at {where}: two elements have the key {twice!r}; "
            "keys route each element's events, so they must be unique"
        )
    body = child(path, BASE)
    elements = Map(
        {
            i: Cursor(Evaluate(node.body, item, body), None, item, None)
            for i, item in enumerate(items)
        }
    )
    pending: Map[int, None] = Map(dict.fromkeys(range(len(items))))
    return InForEach(
        node,
        value,
        path,
        where,
        keys,
        positions,
        elements,
        pending,
        Map(),
        Map(),
        Map(),
        len(items),
    )


def waits_outside(cursor: Cursor) -> bool:
    """Whether the cursor waits for something from outside: a signal, or a child
    instance's end (a for-each section keeps such elements in ``listening``)."""
    return bool(signal_handlers(cursor)) or bool(awaited_children(cursor))


def with_element(focus: InForEach, index: int, element: Cursor) -> InForEach:
    """The section with element ``index`` (detached) now at ``element``: O(1) in the
    number of elements, whatever it became."""
    was_done = type(focus.elements[index].focus) is Finished
    done = type(element.focus) is Finished
    pending, active, timed, listening = focus.pending, focus.active, focus.timed, focus.listening
    if element.failure is not None:
        pending = pending.set(index, None)
    elif index in pending:
        pending = pending.delete(index)
    if has_ready_effect(element):
        active = active.set(index, None)
    elif index in active:
        active = active.delete(index)
    waits = focus.node.waits
    if waits.timers:
        if has_timers(element):
            timed = timed.set(index, None)
        elif index in timed:
            timed = timed.delete(index)
    if waits.outside:
        if waits_outside(element):
            listening = listening.set(index, None)
        elif index in listening:
            listening = listening.delete(index)
    node, input, path, section, keys, positions, elements, *_, unfinished = focus
    return InForEach(  # positional: this runs for every event of every element
        node, input, path, section, keys, positions, elements.set(index, element),
        pending, active, timed, listening, unfinished - (done and not was_done),
    )  # fmt: skip


Settled = tuple[
    Focus, Any, Chain[StepRecord] | None, Chain[DeferredEvent] | None, int, FailedAttempt | None
]


def _advance_elements(
    focus: InForEach,
    state: Any,
    log: Chain[StepRecord] | None,
    deferred: Chain[DeferredEvent] | None,
    token: int,
) -> Settled:
    """Run each pending element as far as it goes without an event, then settle.

    All of them at a section's start: the maps are updated in place, in bulk
    (`immutables.Map.mutate`), and frozen again at the end."""
    failure: FailedAttempt | None = None
    elements, pending = focus.elements.mutate(), focus.pending.mutate()
    active, timed, listening = focus.active.mutate(), focus.timed.mutate(), focus.listening.mutate()
    unfinished = focus.unfinished
    waits = focus.node.waits
    failed: Cursor | None = None
    for index in tuple(focus.pending):
        element = elements[index]
        if element.failure is None:
            moved = proceed_from(
                element.focus, element.stack, element.state, log, element.deferred, token
            )
            log, token = moved.log, moved.next_token
            if moved.state is not element.state:  # the element produced a value
                state = moved.state
            element = detached(moved)
        elements[index] = element
        if element.failure is None:
            del pending[index]
        elif failure is None:
            failure = element.failure
        if type(element.focus) is Finished:
            unfinished -= 1
        elif type(element.focus) is FailedWith:
            failed = element
            break
        if has_ready_effect(element):
            active[index] = None
        if waits.timers and has_timers(element):
            timed[index] = None
        if waits.outside and waits_outside(element):
            listening[index] = None
    node, input, path, section, keys, positions, *_ = focus
    focus = InForEach(
        node, input, path, section, keys, positions, elements.finish(), pending.finish(),
        active.finish(), timed.finish(), listening.finish(), unfinished,
    )  # fmt: skip
    if failed is not None:
        return settle_for_each(focus, failed, state, log, deferred, token)
    if failure is not None:
        return focus, state, log, deferred, token, failure
    return settle_for_each(focus, None, state, log, deferred, token)


def settle_for_each(
    focus: InForEach,
    moved: Cursor | None,
    state: Any,
    log: Chain[StepRecord] | None,
    deferred: Chain[DeferredEvent] | None,
    token: int,
) -> Settled:
    """After element ``moved`` moved: the section fails with its business error,
    completes once no element is unfinished, or goes on waiting."""
    node, path = focus.node, focus.path
    if moved is not None and type(moved.focus) is FailedWith:
        error = moved.focus.error
        record = StepRecord(path, "for_each", node.meta.name, False, error)
        merged = _merged(list(focus.elements.values()), deferred)
        return ReturnError(error), state, Chain(record, log), merged, token, None
    if moved is not None and moved.failure is not None:
        return focus, state, log, deferred, token, moved.failure
    if focus.unfinished or focus.pending:
        return focus, state, log, deferred, token, None
    elements = focus.elements
    results = {key: elements[i].focus.value for i, key in enumerate(focus.keys)}  # type: ignore[union-attr]
    value = results if node.combiner is None else node.combiner(focus.input, results)
    record = StepRecord(path, "for_each", node.meta.name, True, value)
    merged = _merged(list(elements.values()), deferred)
    return ReturnValue(value), value, Chain(record, log), merged, token, None


def _return_value(value: Any, frame: Frame, state: Any) -> tuple[Focus, Frame | None, Any]:
    parent = frame.parent
    match frame:
        case SequenceFrame():  # the common case, first
            sequence, position, at, _ = frame
            following = position + 1
            if following < len(sequence.steps):
                step = sequence.steps[following]
                frame = build(SequenceFrame, (sequence, following, at, parent))
                if type(step) is Run:  # blocks at once (a recovery may be shielded: evaluated)
                    return build(AwaitEvent, (step, value, child(at, following))), frame, state
                return Evaluate(step, value, child(at, following)), frame, state
            return ReturnValue(value), parent, state
        case TransformFrame() | EmbedFrame():
            output = frame.node.map_output(frame.input, value)
            return ReturnValue(output), parent, output
        case FlatMapFrame(node=node, path=path):
            following_node = node.continuation(value)
            if not isinstance(following_node, NODE_CLASSES):
                raise DefinitionError(
                    f"flat_map at {format_path(path)} returned {following_node!r}, not a WIO node"
                )
            return Evaluate(following_node, value, child(path, CONTINUATION)), parent, state
        case HandleErrorFrame() | InterruptibleFrame():  # finished in time: disarmed
            return ReturnValue(value), parent, state
        case LoopFrame(node=loop, restarting=restarting, path=path):
            if restarting:  # on_restart is done: the next iteration begins
                return (
                    Evaluate(loop.body, value, child(path, BASE)),
                    LoopFrame(loop, False, path, parent),
                    state,
                )
            if loop.condition(value):
                return ReturnValue(value), parent, state
            if loop.on_restart is None:
                return Evaluate(loop.body, value, child(path, BASE)), frame, state
            restart = Evaluate(loop.on_restart, value, child(path, ON_RESTART))
            return restart, LoopFrame(loop, True, path, parent), state
        case CheckpointFrame(node=node, input=input, path=path, token=token):
            return AwaitCheckpoint(node, input, value, path, token), parent, state
        case CompensatedFrame(node=node, input=input, path=path):
            undo = Undo(node.undo, (input, value), child(path, COMPENSATION))
            return ReturnValue(value), _registered(parent, (undo,)), state
        case CompensatingFrame(done=done):
            # Completed: an enclosing compensating section undoes these too, if it fails.
            return ReturnValue(value), _registered(parent, chain_items(done)), state
        case UndoFrame(node=node, error=error, remaining=remaining, path=path):
            if remaining is None:
                return ReturnError(error), parent, state
            next_undo = UndoFrame(node, error, remaining.tail, path, parent)
            undo = remaining.head
            return Evaluate(undo.node, undo.input, undo.path), next_undo, state
        case _:
            assert_never(frame)


def _registered(frame: Frame | None, undos: tuple[Undo, ...]) -> Frame | None:
    """The stack with ``undos`` (oldest first) added to the nearest compensating
    section's; unchanged when there is none (or a compensation is running)."""
    if frame is None or not undos:
        return frame
    if type(frame) is CompensatingFrame:
        done = frame.done
        for undo in undos:
            done = Chain(undo, done)
        return frame._replace(done=done)
    if type(frame) is UndoFrame:
        return frame
    return frame._replace(parent=_registered(frame.parent, undos))


def _return_error(
    focus: ReturnError, frame: Frame, state: Any, log: Chain[StepRecord] | None
) -> tuple[Focus, Frame | None, Chain[StepRecord] | None]:
    error = focus.error
    match frame:
        case HandleErrorFrame():
            handled = frame.node.error_type
            if handled is None or isinstance(error, handled):
                record = StepRecord(frame.path, "error_handled", frame.node.meta.name, False, error)
                handler = Evaluate(
                    frame.node.handler, (state, error), child(frame.path, ERROR_HANDLER)
                )
                return handler, frame.parent, Chain(record, log)
            return focus, frame.parent, log  # not the handled type: it passes on
        case CompensatingFrame(done=done) if done is not None:
            record = StepRecord(frame.path, "compensating", None, False, error)
            undo = done.head
            following = UndoFrame(frame.node, error, done.tail, frame.path, frame.parent)
            return Evaluate(undo.node, undo.input, undo.path), following, Chain(record, log)
        case (
            SequenceFrame() | TransformFrame() | EmbedFrame() | FlatMapFrame() | LoopFrame()
            | InterruptibleFrame() | CompensatedFrame() | CompensatingFrame() | UndoFrame()
            | CheckpointFrame()  # rule 3: a checkpoint lets a business error pass too
        ):  # fmt: skip
            return focus, frame.parent, log
        case _:
            assert_never(frame)


def business_result(
    node: Pure[Any, Any, Any] | Run[Any, Any, Any] | HandleSignal[Any, Any, Any], result: Any
) -> ReturnValue | ReturnError:
    """Turn what user code returned into a value or a declared business error."""
    if not isinstance(result, Err):
        return build(ReturnValue, (result,))
    declared = node.error_type
    if declared is None or not isinstance(result.error, declared):
        expected = (
            "declares no business error" if declared is None else f"declares {declared.__name__}"
        )
        raise DefinitionError(
            f"step {node.meta.name!r} returned Err({result.error!r}) but {expected}; "
            "pass error=ErrorClass"
        )
    return ReturnError(result.error)


def completed(
    c: Cursor,
    focus: ReturnValue | ReturnError,
    path: Path,
    kind: str,
    name: str | None,
    seq: int | None = None,
) -> Cursor:
    """Record that a node completed with ``focus`` (a value or an error), and proceed."""
    if isinstance(focus, ReturnValue):
        state = focus.value
        record = build(StepRecord, (path, kind, name, True, state, seq, False, ()))
    else:
        state = c.state
        record = build(StepRecord, (path, kind, name, False, focus.error, seq, False, ()))
    log = build(Chain, (record, c.log))
    return proceed_from(focus, c.stack, state, log, c.deferred, c.next_token, c.ahead)


def _record(
    focus: ReturnValue | ReturnError, path: Path, kind: str, name: str | None, seq: int | None
) -> StepRecord:
    if isinstance(focus, ReturnValue):
        return StepRecord(path, kind, name, True, focus.value, seq)
    return StepRecord(path, kind, name, False, focus.error, seq)


def _failure_at(focus: Focus, frame: Frame | None, exc: Exception) -> FailedAttempt:
    """Where user code raised: at the node being entered, or at the frame the
    value or error was handed to."""
    match focus:
        case Evaluate() | InParallel() | InForEach():
            return FailedAttempt(focus.path, focus.node.meta.name, exc)
        case (
            ReturnValue() | ReturnError() | AwaitEvent() | AwaitTimer() | AwaitChild()
            | ArmTimeout() | AwaitCheckpoint() | Finished() | FailedWith()
        ):  # fmt: skip
            path = frame.path if frame is not None else ROOT
            name = frame.node.meta.name if frame is not None else None
            return FailedAttempt(path, name, exc)
        case _:
            assert_never(focus)
