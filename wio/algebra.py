"""The WIO algebra: immutable nodes that describe a workflow.

A workflow is a tree of nodes. Each node is a frozen attrs class with its
metadata (`Meta`) beside it. ``WIO[In, E, Out]`` reads: given an input of type
``In`` the node either produces an ``Out`` or fails with a business error of
type ``E``.

Nothing here runs anything: the interpreter (`wio.interpreter`) evaluates the
tree, the runtimes (`wio.runtime`) perform the effects and record the events,
and `wio.model` derives the static model that renderers draw.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import timedelta
from typing import Any, ClassVar, Generic, Never, Protocol, TypeVar, assert_never, overload

import attrs
from attrs import field, frozen

from wio.children import ChildFinished, ChildStarted
from wio.errors import DefinitionError
from wio.for_each import ElementKey, default_key
from wio.naming import name_from_assignment
from wio.result import Err
from wio.retry import RetryPolicy
from wio.signals import Signal
from wio.timers import TimerReleased, TimerStarted

In = TypeVar("In", contravariant=True)
E = TypeVar("E", covariant=True)
Out = TypeVar("Out", covariant=True)

I2 = TypeVar("I2")
E2 = TypeVar("E2")
O2 = TypeVar("O2")
E3 = TypeVar("E3")
O3 = TypeVar("O3")
I1 = TypeVar("I1")
E1 = TypeVar("E1")
O1 = TypeVar("O1")
E4 = TypeVar("E4")
O4 = TypeVar("O4")
E5 = TypeVar("E5")
O5 = TypeVar("O5")
E6 = TypeVar("E6")
O6 = TypeVar("O6")
T = TypeVar("T")
Ev = TypeVar("Ev")
Req = TypeVar("Req")
Resp = TypeVar("Resp")


_A_contra = TypeVar("_A_contra", contravariant=True)
_B_contra = TypeVar("_B_contra", contravariant=True)
_R_co = TypeVar("_R_co", covariant=True)


# An effect and a signal handler are typed as callback protocols, not Callable:
# mypy then solves the input and event types from them first, and types the
# handler lambdas that follow with them (with Callable it would infer both
# together, and a lambda's result computed from its parameters would be Any).
class _Unary(Protocol[_A_contra, _R_co]):
    def __call__(self, first: _A_contra, /) -> _R_co: ...


class _Binary(Protocol[_A_contra, _B_contra, _R_co]):
    def __call__(self, first: _A_contra, second: _B_contra, /) -> _R_co: ...


@frozen
class Meta:
    """What a person reading the workflow sees of a node."""

    name: str | None = None
    error: str | None = None  # the name of the business error the node may raise
    description: str | None = None


def _error_name(error: type[Any] | None) -> str | None:
    return None if error is None else error.__name__


# `WIO.run` and `WIO.handle_signal` are callable objects rather than static
# methods: mypy binds a generic class's type variables into its static methods'
# signatures when they are called on the class, and then no longer types a
# handler lambda from the effect before it (its result would be Any).
class _RunConstructor:
    """``WIO.run(effect, handle)``: an effectful step; see `__call__`."""

    @overload
    def __call__(
        self,
        effect: _Unary[I2, Coroutine[Any, Any, Ev]],
        *,
        event: type[Ev] | None = None,
        retry: RetryPolicy | None = None,
    ) -> WIO[I2, Never, I2]: ...

    @overload
    def __call__(
        self,
        effect: _Unary[I2, Ev],
        *,
        event: type[Ev] | None = None,
        retry: RetryPolicy | None = None,
    ) -> WIO[I2, Never, I2]: ...

    @overload
    def __call__(
        self,
        effect: _Unary[I2, Coroutine[Any, Any, Ev]],
        handle: Callable[[I2, Ev], O2],
        *,
        event: type[Ev] | None = None,
        error: None = None,
        retry: RetryPolicy | None = None,
    ) -> WIO[I2, Never, O2]: ...

    @overload
    def __call__(
        self,
        effect: _Unary[I2, Coroutine[Any, Any, Ev]],
        handle: Callable[[I2, Ev], O2 | Err[E2]],
        *,
        event: type[Ev] | None = None,
        error: type[E2],
        retry: RetryPolicy | None = None,
    ) -> WIO[I2, E2, O2]: ...

    @overload
    def __call__(
        self,
        effect: _Unary[I2, Ev],
        handle: Callable[[I2, Ev], O2],
        *,
        event: type[Ev] | None = None,
        error: None = None,
        retry: RetryPolicy | None = None,
    ) -> WIO[I2, Never, O2]: ...

    @overload
    def __call__(
        self,
        effect: _Unary[I2, Ev],
        handle: Callable[[I2, Ev], O2 | Err[E2]],
        *,
        event: type[Ev] | None = None,
        error: type[E2],
        retry: RetryPolicy | None = None,
    ) -> WIO[I2, E2, O2]: ...

    def __call__(
        self,
        effect: Callable[[Any], Any],
        handle: Callable[[Any, Any], Any] | None = None,
        *,
        event: type[Any] | None = None,
        error: type[Any] | None = None,
        retry: RetryPolicy | None = None,
    ) -> WIO[Any, Any, Any]:
        """An effectful step.

        ``effect(input)`` performs the side effect and returns exactly one event
        (it may be a coroutine function). ``handle(input, event)`` turns the
        event into the output, or with ``error=ErrorClass`` into an ``Err``;
        without ``handle`` the step passes its input on unchanged. On replay
        only ``handle`` runs. The event type is read from the
        effect's return annotation unless ``event=`` is given. If ``effect``
        raises, the step is retried per ``retry`` (default: the workflow's).
        """
        event_type = event or _annotated_type(effect, "return", "the effect's return type")
        if handle is None and error is not None:
            raise DefinitionError(
                f"WIO.run({_describe_callable(effect)}, error=...) needs a handler: "
                "only a handler can turn the event into an Err"
            )
        return Run(
            effect=effect,
            handle=_first if handle is None else handle,
            event_type=event_type,
            error_type=error,
            is_async=inspect.iscoroutinefunction(effect),
            retry=retry,
            meta=Meta(name=_callable_name(effect), error=_error_name(error)),
        )


class _HandleSignalConstructor:
    """``WIO.handle_signal(signal, handle, update, respond)``; see `__call__`."""

    @overload
    def __call__(
        self,
        signal: Signal[Req, Resp],
        handle: _Binary[I2, Req, Coroutine[Any, Any, Ev]],
        update: Callable[[I2, Ev], O2],
        respond: Callable[[I2, Ev, Req], Resp],
        *,
        event: type[Ev] | None = None,
        error: None = None,
    ) -> WIO[I2, Never, O2]: ...

    @overload
    def __call__(
        self,
        signal: Signal[Req, Resp],
        handle: _Binary[I2, Req, Coroutine[Any, Any, Ev]],
        update: Callable[[I2, Ev], O2 | Err[E2]],
        respond: Callable[[I2, Ev, Req], Resp],
        *,
        event: type[Ev] | None = None,
        error: type[E2],
    ) -> WIO[I2, E2, O2]: ...

    @overload
    def __call__(
        self,
        signal: Signal[Req, Resp],
        handle: _Binary[I2, Req, Ev],
        update: Callable[[I2, Ev], O2],
        respond: Callable[[I2, Ev, Req], Resp],
        *,
        event: type[Ev] | None = None,
        error: None = None,
    ) -> WIO[I2, Never, O2]: ...

    @overload
    def __call__(
        self,
        signal: Signal[Req, Resp],
        handle: _Binary[I2, Req, Ev],
        update: Callable[[I2, Ev], O2 | Err[E2]],
        respond: Callable[[I2, Ev, Req], Resp],
        *,
        event: type[Ev] | None = None,
        error: type[E2],
    ) -> WIO[I2, E2, O2]: ...

    def __call__(
        self,
        signal: Signal[Any, Any],
        handle: Callable[[Any, Any], Any],
        update: Callable[[Any, Any], Any],
        respond: Callable[[Any, Any, Any], Any],
        *,
        event: type[Any] | None = None,
        error: type[Any] | None = None,
    ) -> WIO[Any, Any, Any]:
        """Wait for ``signal`` from outside, then handle it.

        ``handle(input, request)`` may have side effects and returns one event
        (it may be a coroutine function); ``update(input, event)`` gives the
        output, or with ``error=`` an ``Err``; ``respond(input, event,
        request)`` gives the response the sender receives. On replay only
        ``update`` runs; a redelivered signal gets its recorded response.
        """
        if not isinstance(signal, Signal):
            raise DefinitionError(f"handle_signal expects a wio.Signal, got {signal!r}")
        event_type = event or _annotated_type(handle, "return", "the signal handler's return type")
        return HandleSignal(
            signal=signal,
            handle=handle,
            update=update,
            respond=respond,
            event_type=event_type,
            error_type=error,
            is_async=inspect.iscoroutinefunction(handle),
            meta=Meta(name=signal.name, error=_error_name(error)),
        )


class WIO(Generic[In, E, Out]):
    """Base of every node. Combinators return new nodes; nodes never change."""

    __slots__ = ()
    meta: Meta

    # -- constructors -------------------------------------------------------

    @staticmethod
    def pure(value: T) -> WIO[object, Never, T]:
        """A step that produces a constant value."""
        return Pure(compute=_Constant(value))

    @overload
    @staticmethod
    def pure_from(compute: Callable[[I2], O2], *, error: None = None) -> WIO[I2, Never, O2]: ...

    @overload
    @staticmethod
    def pure_from(compute: Callable[[I2], O2 | Err[E2]], *, error: type[E2]) -> WIO[I2, E2, O2]: ...

    @staticmethod
    def pure_from(
        compute: Callable[[Any], Any], *, error: type[Any] | None = None
    ) -> WIO[Any, Any, Any]:
        """A step that computes its output from its input.

        With ``error=ErrorClass`` it may instead return ``Err(ErrorClass(...))``.
        """
        return Pure(compute=compute, error_type=error, meta=Meta(error=_error_name(error)))

    run: ClassVar[_RunConstructor] = _RunConstructor()
    handle_signal: ClassVar[_HandleSignalConstructor] = _HandleSignalConstructor()

    @staticmethod
    def recover(
        recover_state: Callable[[I2, Ev], O2], *, event: type[Ev] | None = None
    ) -> WIO[I2, Never, O2]:
        """Consume an event already in the journal, running no logic.

        It completes only when a matching event is in the journal (written by an
        earlier checkpoint or by an operator); without one the instance waits.
        """
        event_type = event or _annotated_type(recover_state, 1, "recover_state's event parameter")
        return Recover(recover_state=recover_state, event_type=event_type)

    @staticmethod
    def await_for(
        duration: timedelta | Callable[[I2], timedelta], *, name: str | None = None
    ) -> WIO[I2, Never, I2]:
        """Wait a durable duration, static or computed from the input; passes the input on.

        The release time is computed once, when the timer starts, and recorded;
        workers wake the instance when it is due, also after a restart.
        """
        if isinstance(duration, timedelta) and duration < timedelta(0):
            raise DefinitionError(f"a timer cannot wait a negative duration: {duration}")
        if not isinstance(duration, timedelta) and not callable(duration):
            raise DefinitionError(f"await_for expects a timedelta or a function, got {duration!r}")
        return Timer(duration=duration, meta=Meta(name=name))

    @staticmethod
    def repeat(body: WIO[I2, E2, O2]) -> Repeat[I2, E2, O2]:
        """Run ``body`` again and again: finish it with `Repeat.until`."""
        _require_wio(body, "WIO.repeat()")
        return Repeat(body)

    @overload
    @staticmethod
    def fork(name: str | None = None, *, input: None = None) -> Fork[Any, Never, Never]: ...

    @overload
    @staticmethod
    def fork(name: str | None = None, *, input: type[I2]) -> Fork[I2, Never, Never]: ...

    @staticmethod
    def fork(name: str | None = None, *, input: type[Any] | None = None) -> Fork[Any, Never, Never]:
        """Named branches chosen by conditions on the input; add them with `Fork.branch`.

        ``input=`` only informs the type checker of the input type.
        """
        return Fork(branches=(), meta=Meta(name=name))

    @overload
    @staticmethod
    def parallel(
        name: str | None = None, *, input: None = None
    ) -> Parallel[Any, Never, tuple[()]]: ...

    @overload
    @staticmethod
    def parallel(name: str | None = None, *, input: type[I2]) -> Parallel[I2, Never, tuple[()]]: ...

    @staticmethod
    def parallel(
        name: str | None = None, *, input: type[Any] | None = None
    ) -> Parallel[Any, Never, tuple[()]]:
        """Flows that run concurrently on the same input; add them with `Parallel.flow`.

        The section completes when every flow has, with the tuple of their
        outputs in flow order (or what `Parallel.combine` makes of them); the
        first business error a flow raises fails the section, and the other
        flows stop where they are. ``input=`` only informs the type checker.
        """
        return Parallel(flows=(), meta=Meta(name=name))

    @overload
    @staticmethod
    def for_each(
        items_of: Callable[[I2], Iterable[T]],
        body: WIO[T, E2, O2],
        *,
        key: Callable[[T], str | int] | ElementKey = ...,
        combine: None = None,
        name: str | None = None,
    ) -> WIO[I2, E2, dict[str, O2]]: ...

    @overload
    @staticmethod
    def for_each(
        items_of: Callable[[I2], Iterable[T]],
        body: WIO[T, E2, O2],
        *,
        key: Callable[[T], str | int] | ElementKey = ...,
        combine: Callable[[I2, dict[str, O2]], O3],
        name: str | None = None,
    ) -> WIO[I2, E2, O3]: ...

    @staticmethod
    def for_each(
        items_of: Callable[[Any], Iterable[Any]],
        body: WIO[Any, Any, Any],
        *,
        key: Callable[[Any], str | int] | ElementKey = default_key,
        combine: Callable[[Any, dict[str, Any]], Any] | None = None,
        name: str | None = None,
    ) -> WIO[Any, Any, Any]:
        """Run ``body`` once per element of ``items_of(input)``, all concurrently.

        Each element's body receives the element. ``key(element)`` is the
        element's stable id (a str or an int; by default an element that is a
        str or an int is its own key): its events are routed to it by key, so
        keys must be unique. ``key=BY_POSITION`` routes by position instead.
        The section's output is ``{key: output}`` in element order, or
        ``combine(input, that dict)``. The first business error an element
        raises fails the section, as in `WIO.parallel`.
        """
        _require_wio(body, "WIO.for_each()")
        if not callable(items_of):
            raise DefinitionError(
                f"for_each expects a function giving the elements, got {items_of!r}"
            )
        from wio.paths import walk_static  # wio.paths imports the node classes from here

        if any(isinstance(n, End) for n in walk_static(body)):
            raise DefinitionError(
                "a for_each body contains WIO.end(): an element cannot end the whole "
                "workflow while the others run; end after the section instead"
            )
        return ForEach(
            items_of=items_of,
            body=body,
            key=key,
            combiner=combine,
            meta=Meta(name=name),
        )

    @staticmethod
    def embed(
        workflow: WIO[I2, E2, O2] | Any,
        *,
        input: Callable[[Any], I2] | None = None,
        output: Callable[[Any, O2], O3] | None = None,
        name: str | None = None,
    ) -> WIO[Any, E2, Any]:
        """Run another workflow definition (a WIO or a `wio.Workflow`) inline, in this
        instance and its journal, as a subprocess of this one.

        ``input(outer_input)`` gives the embedded workflow its input (default: the
        input itself); ``output(outer_input, embedded_output)`` gives this node's
        output (default: the embedded output). Its nodes sit under this node in the
        model, so the same definition can be embedded more than once.
        """
        inner = getattr(workflow, "wio", workflow)  # a wio.Workflow embeds its WIO
        _require_wio(inner, "WIO.embed()")
        title = name or getattr(workflow, "name", None)
        return Embed(
            base=inner,
            map_input=input or _identity,
            map_output=output or _second,
            meta=Meta(name=title),
        )

    @staticmethod
    def run_child(
        workflow: Any,
        *,
        id_of: Callable[[Any], str],
        input: Callable[[Any], Any] | None = None,
        output: Callable[[Any, Any], Any] | None = None,
        result_type: Any = object,
        name: str | None = None,
    ) -> WIO[Any, Any, Any]:
        """Start ``workflow`` (a `wio.Workflow`) as a child instance and wait for its end.

        The child is a separate instance in the same journal, with its own id
        (``"{parent id}/{id_of(input)}"``) and history; any worker serving its
        workflow runs it. Starting is idempotent: replay, or a crash between the
        child's creation and the parent's record of it, never creates a second.
        ``input(outer_input)`` gives the child its input (default: the input
        itself); the child's result, decoded as ``result_type``, gives this node's
        output through ``output(outer_input, result)`` (default: the result). A
        business error the child fails with is raised here, as the node's own.
        To start several children at once, run this node in `WIO.for_each`.
        """
        if not isinstance(getattr(workflow, "wio", None), WIO) or not isinstance(
            getattr(workflow, "name", None), str
        ):
            raise DefinitionError(
                f"WIO.run_child() expects a wio.Workflow (a child instance needs the "
                f"name and version a worker serves it under), got {workflow!r}"
            )
        if not callable(id_of):
            raise DefinitionError(
                f"WIO.run_child({workflow.name!r}): id_of must be a function giving the "
                f"child's id from the input, got {id_of!r}"
            )
        errors = escaping_errors(workflow.wio)
        return RunChild(
            workflow=workflow,
            id_of=id_of,
            map_input=input or _identity,
            map_output=output or _second,
            result_type=result_type,
            meta=Meta(
                name=name or workflow.name,
                error=" | ".join(dict.fromkeys(e.__name__ for e in errors)) or None,
            ),
        )

    @staticmethod
    def end() -> WIO[object, Never, Never]:
        """End the whole workflow here, with the current state as its result."""
        return End()

    # Typed for up to 6 steps, each fed the previous one's output; more are
    # accepted untyped (chain `>>` or nest sequences to keep the types).
    @overload
    @staticmethod
    def sequence(s1: WIO[I1, E1, O1], /) -> WIO[I1, E1, O1]: ...

    @overload
    @staticmethod
    def sequence(s1: WIO[I1, E1, O1], s2: WIO[O1, E2, O2], /) -> WIO[I1, E1 | E2, O2]: ...

    @overload
    @staticmethod
    def sequence(
        s1: WIO[I1, E1, O1], s2: WIO[O1, E2, O2], s3: WIO[O2, E3, O3], /
    ) -> WIO[I1, E1 | E2 | E3, O3]: ...

    @overload
    @staticmethod
    def sequence(
        s1: WIO[I1, E1, O1],
        s2: WIO[O1, E2, O2],
        s3: WIO[O2, E3, O3],
        s4: WIO[O3, E4, O4],
        /,
    ) -> WIO[I1, E1 | E2 | E3 | E4, O4]: ...

    @overload
    @staticmethod
    def sequence(
        s1: WIO[I1, E1, O1],
        s2: WIO[O1, E2, O2],
        s3: WIO[O2, E3, O3],
        s4: WIO[O3, E4, O4],
        s5: WIO[O4, E5, O5],
        /,
    ) -> WIO[I1, E1 | E2 | E3 | E4 | E5, O5]: ...

    @overload
    @staticmethod
    def sequence(
        s1: WIO[I1, E1, O1],
        s2: WIO[O1, E2, O2],
        s3: WIO[O2, E3, O3],
        s4: WIO[O3, E4, O4],
        s5: WIO[O4, E5, O5],
        s6: WIO[O5, E6, O6],
        /,
    ) -> WIO[I1, E1 | E2 | E3 | E4 | E5 | E6, O6]: ...

    @overload
    @staticmethod
    def sequence(
        s1: WIO[Any, Any, Any],
        s2: WIO[Any, Any, Any],
        s3: WIO[Any, Any, Any],
        s4: WIO[Any, Any, Any],
        s5: WIO[Any, Any, Any],
        s6: WIO[Any, Any, Any],
        s7: WIO[Any, Any, Any],
        /,
        *more: WIO[Any, Any, Any],
    ) -> WIO[Any, Any, Any]: ...

    @staticmethod
    def sequence(*steps: WIO[Any, Any, Any]) -> WIO[Any, Any, Any]:
        """Sequence many nodes at once, each fed the previous one's output.

        mypy checks the types of up to six steps, as ``a >> b >> c`` does pairwise.
        """
        if not steps:
            raise DefinitionError("WIO.sequence() needs at least one step")
        flat: list[WIO[Any, Any, Any]] = []
        for step in steps:
            _require_wio(step, "WIO.sequence()")
            flat.extend(step.steps if _is_plain_sequence(step) else (step,))  # type: ignore[attr-defined]
        return flat[0] if len(flat) == 1 else Sequence(steps=tuple(flat))

    # -- composition --------------------------------------------------------

    def __rshift__(self, other: WIO[Out, E2, O2]) -> WIO[In, E | E2, O2]:
        """Static sequencing: ``a >> b`` feeds a's output to b."""
        _require_wio(other, "'>>'")
        return WIO.sequence(self, other)

    def flat_map(self, continuation: Callable[[Out], WIO[Out, E2, O2]]) -> WIO[In, E | E2, O2]:
        """Dynamic sequencing: the next node is computed from this node's output."""
        return FlatMap(base=self, continuation=continuation)

    def map(self, fn: Callable[[Out], O2]) -> WIO[In, E, O2]:
        """Transform the output with a pure function."""
        return Transform(base=self, map_input=_identity, map_output=_MapOutput(fn))

    def transform(
        self, map_input: Callable[[I2], In], map_output: Callable[[I2, Out], O2]
    ) -> WIO[I2, E, O2]:
        """Adapt both ends: ``map_input`` feeds this node, ``map_output(outer_input, out)``."""
        return Transform(base=self, map_input=map_input, map_output=map_output)

    def provide_input(self, value: In) -> WIO[object, E, Out]:
        """Run this node on a fixed input, whatever input arrives."""
        return Transform(base=self, map_input=_Constant(value), map_output=_second)

    @overload
    def handle_error_with(
        self, handler: WIO[tuple[object, E], E2, O2], *, error: None = None
    ) -> WIO[In, E2, Out | O2]: ...

    @overload
    def handle_error_with(
        self, handler: WIO[tuple[object, E3], E2, O2], *, error: type[E3]
    ) -> WIO[In, E | E2, Out | O2]: ...

    def handle_error_with(
        self,
        handler: WIO[Any, Any, Any],
        *,
        error: type[Any] | None = None,
    ) -> WIO[Any, Any, Any]:
        """Handle a business error raised inside this section with another node.

        The handler receives ``(last_state, error)``. The last state is the
        value the section's nodes produced last, which can be any of their
        outputs, so it is typed ``object``: narrow it (``isinstance``) to use
        it. With ``error=`` only errors of that type are handled; others
        propagate.
        """
        _require_wio(handler, "handle_error_with()")
        name = _error_name(error) or _declared_errors(self)
        return HandleError(base=self, handler=handler, error_type=error, meta=Meta(error=name))

    def compensate_with(self, undo: WIO[tuple[Any, Any], Never, Any]) -> WIO[In, E, Out]:
        """Register ``undo`` when this step completes inside a `compensating` section.

        If a business error later leaves that section, ``undo`` runs on
        ``(input, output)`` of this step, after the undos of the steps that
        completed after it (reverse order). Each undo is journaled like any
        step and retried per policy; it runs at least once, maybe more after a
        crash, so it must be idempotent. It may not raise a business error.
        """
        _require_wio(undo, "compensate_with()")
        if escaping_errors(undo):
            raise DefinitionError(
                "a compensation cannot raise a business error (it runs while one unwinds): "
                f"{_declared_errors(undo)} can escape {undo.meta.name or 'the undo'}"
            )
        return Compensated(base=self, undo=undo)

    def compensating(self) -> WIO[In, E, Out]:
        """A section whose completed steps are undone (their `compensate_with`) when a
        business error leaves it; then the error goes on unwinding."""
        from wio.paths import walk_static  # wio.paths imports the node classes from here

        for section in walk_static(self):
            if isinstance(section, (Parallel, ForEach)) and any(
                isinstance(inner, Compensated) for inner in walk_static(section)
            ):
                raise DefinitionError(
                    "compensating(): a step with compensate_with() inside a parallel or "
                    "for-each section is not supported yet; make that flow's or body's "
                    "own section compensating instead"
                )
        return Compensating(base=self)

    def checkpointed(
        self,
        save_state: Callable[[In, Out], Ev],
        recover_state: Callable[[In, Ev], Out],
        *,
        event: type[Ev] | None = None,
    ) -> WIO[In, E, Out]:
        """Save one event capturing this section's result when it completes.

        On replay that event marks the whole section complete with output
        ``recover_state(input, event)``; the section's logic is not run again,
        so it may later be changed or removed (see `WIO.recover`).
        """
        event_type = event or _annotated_type(save_state, "return", "save_state's return type")
        return Checkpoint(
            base=self, save_state=save_state, recover_state=recover_state, event_type=event_type
        )

    def interrupted_by(
        self, trigger: WIO[Any, E2, Any], *, then: WIO[Any, E3, O2] | None = None
    ) -> WIO[In, E | E2 | E3, Out | O2]:
        """Let ``trigger`` (a `WIO.handle_signal`) interrupt this section.

        While the section runs, the trigger's signal is expected too. When it
        comes, the rest of the section is dropped: the signal is handled and
        ``then`` (if any) runs on the signal's output instead.
        """
        if not isinstance(trigger, HandleSignal):
            raise DefinitionError(
                f"interrupted_by expects a WIO.handle_signal node, got {type(trigger).__name__}"
            )
        return Interruptible(base=self, trigger=trigger, handler=then)

    def timeout(
        self,
        duration: timedelta | Callable[[In], timedelta],
        *,
        then: WIO[In, E2, O2] | None = None,
        name: str | None = None,
    ) -> WIO[In, E | E2, Out | O2]:
        """Interrupt this section if it has not finished ``duration`` after it started.

        The timer starts, and is recorded, when the section starts; when it
        releases first, the rest of the section is dropped and ``then`` (if
        any) runs on the section's input instead.
        """
        if isinstance(duration, timedelta) and duration < timedelta(0):
            raise DefinitionError(f"a timeout cannot be negative: {duration}")
        trigger: Timer[Any, Any, Any] = Timer(duration=duration, meta=Meta(name=name))
        return Interruptible(base=self, trigger=trigger, handler=then)

    # -- metadata -----------------------------------------------------------

    def named(self, name: str) -> WIO[In, E, Out]:
        """Give this node the name shown in diagrams and progress."""
        if not isinstance(name, str) or not name.strip():
            raise DefinitionError(f"a node name must be a non-empty string, got {name!r}")
        return attrs.evolve(self, meta=attrs.evolve(self.meta, name=name))  # type: ignore[misc]

    def auto_named(self) -> WIO[In, E, Out]:
        """Name this node after the variable it is assigned to.

        ``my_workflow = WIO.pure(1).auto_named()`` is named "My Workflow".
        """
        return self.named(name_from_assignment(inspect.currentframe(), "auto_named"))

    def described(self, description: str) -> WIO[In, E, Out]:
        """Attach a longer description, shown in diagrams and the model."""
        return attrs.evolve(self, meta=attrs.evolve(self.meta, description=description))  # type: ignore[misc]


# -- the nodes ----------------------------------------------------------------


@frozen
class Pure(WIO[In, E, Out]):
    """A step with no side effect; it runs again on every replay."""

    compute: Callable[[Any], Any]
    error_type: type[Any] | None = None
    meta: Meta = Meta()


@frozen
class Run(WIO[In, E, Out]):
    """An effectful step recording exactly one event."""

    effect: Callable[[Any], Any]
    handle: Callable[[Any, Any], Any]
    event_type: type[Any]
    error_type: type[Any] | None = None
    is_async: bool = False
    retry: RetryPolicy | None = None
    meta: Meta = Meta()


@frozen
class Loop(WIO[In, E, Out]):
    """Runs ``body`` until ``condition(output)`` holds; see `WIO.repeat`.

    Between iterations ``on_restart``, if any, turns the body's output into
    the next iteration's input. The names label the diagrams: the condition's
    (``meta.name``), the exit branch's and the restart branch's.
    """

    body: WIO[Any, Any, Any]
    condition: Callable[[Any], bool]
    on_restart: WIO[Any, Any, Any] | None = None
    exit_name: str = "Yes"
    restart_name: str = "No"
    meta: Meta = Meta()


@frozen
class Repeat(Generic[I2, E2, O2]):
    """A loop under construction: ``WIO.repeat(body).until(condition)``."""

    body: WIO[I2, E2, O2]

    @overload
    def until(
        self,
        condition: Callable[[O2], bool],
        *,
        on_restart: None = None,
        name: str | None = None,
        exit: str = "Yes",
        restart: str = "No",
    ) -> WIO[I2, E2, O2]: ...

    @overload
    def until(
        self,
        condition: Callable[[O2], bool],
        *,
        on_restart: WIO[O2, E3, I2],
        name: str | None = None,
        exit: str = "Yes",
        restart: str = "No",
    ) -> WIO[I2, E2 | E3, O2]: ...

    def until(
        self,
        condition: Callable[[Any], bool],
        *,
        on_restart: WIO[Any, Any, Any] | None = None,
        name: str | None = None,
        exit: str = "Yes",
        restart: str = "No",
    ) -> WIO[Any, Any, Any]:
        """Finish the loop: exit when ``condition(output)`` holds, else restart.

        ``on_restart`` runs between iterations, from the body's output to the
        next iteration's input. ``name`` names the condition, ``exit`` and
        ``restart`` its two branches, as diagrams show them.
        """
        if on_restart is not None:
            _require_wio(on_restart, "on_restart")
        return Loop(
            body=self.body,
            condition=condition,
            on_restart=on_restart,
            exit_name=exit,
            restart_name=restart,
            meta=Meta(name=name),
        )


@frozen
class Interruptible(WIO[In, E, Out]):
    """A section that a signal or a timeout can interrupt; see `WIO.interrupted_by`."""

    base: WIO[Any, Any, Any]
    trigger: HandleSignal[Any, Any, Any] | Timer[Any, Any, Any]
    handler: WIO[Any, Any, Any] | None = None
    meta: Meta = Meta()


@frozen
class Timer(WIO[In, E, Out]):
    """Waits a durable duration; see `WIO.await_for`."""

    duration: timedelta | Callable[[Any], timedelta]
    meta: Meta = Meta()


@frozen
class HandleSignal(WIO[In, E, Out]):
    """Waits for a signal from outside; see `WIO.handle_signal`."""

    signal: Signal[Any, Any]
    handle: Callable[[Any, Any], Any]
    update: Callable[[Any, Any], Any]
    respond: Callable[[Any, Any, Any], Any]
    event_type: type[Any]
    error_type: type[Any] | None = None
    is_async: bool = False
    meta: Meta = Meta()


@frozen
class Sequence(WIO[In, E, Out]):
    """Steps run one after another, each fed the previous one's output."""

    steps: tuple[WIO[Any, Any, Any], ...] = field(validator=attrs.validators.min_len(2))
    meta: Meta = Meta()


@frozen
class FlatMap(WIO[In, E, Out]):
    """A dynamic continuation: ``continuation(output)`` is the node to run next."""

    base: WIO[Any, Any, Any]
    continuation: Callable[[Any], WIO[Any, Any, Any]]
    meta: Meta = Meta()


@frozen
class Transform(WIO[In, E, Out]):
    """Adapts the input and output of its base; transparent in diagrams."""

    base: WIO[Any, Any, Any]
    map_input: Callable[[Any], Any]
    map_output: Callable[[Any, Any], Any]
    meta: Meta = Meta()

    # A transform is invisible in diagrams, so its name belongs to its base.
    def named(self, name: str) -> WIO[In, E, Out]:
        return attrs.evolve(self, base=self.base.named(name))

    def described(self, description: str) -> WIO[In, E, Out]:
        return attrs.evolve(self, base=self.base.described(description))


@frozen
class HandleError(WIO[In, E, Out]):
    """A section whose business errors are handled by ``handler``."""

    base: WIO[Any, Any, Any]
    handler: WIO[Any, Any, Any]
    error_type: type[Any] | None = None
    meta: Meta = Meta()


@frozen
class Branch:
    """One arm of a fork: taken when ``condition(input)`` is true."""

    name: str
    condition: Callable[[Any], bool]
    wio: WIO[Any, Any, Any]
    is_default: bool = False


@frozen
class Fork(WIO[In, E, Out]):
    """Exclusive choice: the first branch whose condition holds runs.

    On replay the choice is derived again from the input, so it is not recorded.
    """

    branches: tuple[Branch, ...]
    meta: Meta = Meta()

    def branch(
        self, name: str, when: Callable[[In], bool], then: WIO[In, E3, O3]
    ) -> Fork[In, E | E3, Out | O3]:
        """Add a branch taken when ``when(input)`` is true."""
        return self._add(Branch(name=name, condition=when, wio=then))

    def otherwise(self, name: str, then: WIO[In, E3, O3]) -> Fork[In, E | E3, Out | O3]:
        """Add the default branch, taken when no other branch's condition holds."""
        return self._add(Branch(name=name, condition=_always, wio=then, is_default=True))

    def _add(self, branch: Branch) -> Fork[Any, Any, Any]:
        _require_wio(branch.wio, f"branch {branch.name!r}")
        if any(b.name == branch.name for b in self.branches):
            raise DefinitionError(f"fork {self.meta.name!r} has two branches named {branch.name!r}")
        if any(b.is_default for b in self.branches):
            raise DefinitionError(f"fork {self.meta.name!r}: the default branch must be added last")
        return Fork(branches=(*self.branches, branch), meta=self.meta)


@frozen
class ParallelFlow:
    """One flow of a parallel section."""

    name: str
    wio: WIO[Any, Any, Any]


@frozen
class Parallel(WIO[In, E, Out]):
    """Flows run concurrently within one instance; see `WIO.parallel`.

    Each flow's events are recorded inside an envelope naming the flow, so on
    replay every event goes back to its own flow, however they interleaved.
    """

    flows: tuple[ParallelFlow, ...]
    combiner: Callable[[Any, tuple[Any, ...]], Any] | None = None
    meta: Meta = Meta()

    def flow(self, name: str, then: WIO[In, E3, Any]) -> Parallel[In, E | E3, tuple[Any, ...]]:
        """Add a flow; it receives the section's input."""
        _require_wio(then, f"parallel flow {name!r}")
        if not isinstance(name, str) or not name.strip():
            raise DefinitionError(f"a parallel flow needs a non-empty name, got {name!r}")
        if any(f.name == name for f in self.flows):
            raise DefinitionError(f"parallel {self.meta.name!r} has two flows named {name!r}")
        if self.combiner is not None:
            raise DefinitionError(f"parallel {self.meta.name!r}: add every flow before .combine()")
        from wio.paths import walk_static  # wio.paths imports the node classes from here

        ends = [n for n in walk_static(then) if isinstance(n, End)]
        if ends:
            raise DefinitionError(
                f"parallel flow {name!r} contains WIO.end(): a flow cannot end the whole "
                "workflow while the others run; end after the parallel section instead"
            )
        return Parallel(flows=(*self.flows, ParallelFlow(name, then)), meta=self.meta)

    def combine(self, fn: Callable[[In, tuple[Any, ...]], O3]) -> Parallel[In, E, O3]:
        """Make the section's output from its input and the flows' outputs (in flow order)."""
        if not self.flows:
            raise DefinitionError(f"parallel {self.meta.name!r}: add flows before .combine()")
        return Parallel(flows=self.flows, combiner=fn, meta=self.meta)


@frozen
class ForEach(WIO[In, E, Out]):
    """A body run concurrently once per element of a collection; see `WIO.for_each`.

    Each element's events are recorded inside an envelope naming its key, so on
    replay every event goes back to its own element.
    """

    items_of: Callable[[Any], Iterable[Any]]
    body: WIO[Any, Any, Any]
    key: ElementKey = default_key
    combiner: Callable[[Any, dict[str, Any]], Any] | None = None
    meta: Meta = Meta()
    # What an element's body may wait for, known from the tree: the interpreter asks
    # each element only about waits its body can have (these checks ran per event).
    waits: BodyWaits = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "waits", BodyWaits.of(self.body))


@frozen
class BodyWaits:
    """What a for-each body may wait for: a timer (started, or a timeout armed), and
    something from outside (a signal, a child instance). A ``flat_map`` may build
    anything, so a body with one may wait for both."""

    timers: bool
    outside: bool

    @staticmethod
    def of(body: WIO[Any, Any, Any]) -> BodyWaits:
        from wio.paths import walk_static  # wio.paths imports the node classes from here

        kinds = {type(node) for node in walk_static(body)}
        dynamic = FlatMap in kinds
        return BodyWaits(
            timers=dynamic or Timer in kinds,
            outside=dynamic or bool(kinds & {HandleSignal, RunChild}),
        )


@frozen
class Embed(WIO[In, E, Out]):
    """Another workflow run inline as a subprocess; see `WIO.embed`."""

    base: WIO[Any, Any, Any]
    map_input: Callable[[Any], Any]
    map_output: Callable[[Any, Any], Any]
    meta: Meta = Meta()


@frozen
class RunChild(WIO[In, E, Out]):
    """Another workflow started as a child instance and awaited; see `WIO.run_child`.

    A leaf of this tree: the child's nodes belong to its own workflow and instance."""

    workflow: Any  # a wio.Workflow (wio.definition imports this module)
    id_of: Callable[[Any], str]
    map_input: Callable[[Any], Any]
    map_output: Callable[[Any, Any], Any]
    result_type: Any = object
    meta: Meta = Meta()


@frozen
class Compensated(WIO[In, E, Out]):
    """A step with its undo; see `WIO.compensate_with`."""

    base: WIO[Any, Any, Any]
    undo: WIO[Any, Any, Any]
    meta: Meta = Meta()

    # A step's compensation is drawn beside the step, so names belong to the step.
    def named(self, name: str) -> WIO[In, E, Out]:
        return attrs.evolve(self, base=self.base.named(name))


@frozen
class Compensating(WIO[In, E, Out]):
    """A section that undoes its completed steps on a business error; see
    `WIO.compensating`."""

    base: WIO[Any, Any, Any]
    meta: Meta = Meta()


@frozen
class Checkpoint(WIO[In, E, Out]):
    """A technical node: see `WIO.checkpointed`."""

    base: WIO[Any, Any, Any]
    save_state: Callable[[Any, Any], Any]
    recover_state: Callable[[Any, Any], Any]
    event_type: type[Any]
    meta: Meta = Meta()


@frozen
class Recover(WIO[In, E, Out]):
    """A technical node: see `WIO.recover`."""

    recover_state: Callable[[Any, Any], Any]
    event_type: type[Any]
    meta: Meta = Meta()


@frozen
class End(WIO[In, E, Out]):
    """Ends the workflow; nothing after it runs."""

    meta: Meta = Meta()


Node = (
    Pure[Any, Any, Any]
    | Run[Any, Any, Any]
    | HandleSignal[Any, Any, Any]
    | Timer[Any, Any, Any]
    | Recover[Any, Any, Any]
    | End[Any, Any, Any]
    | Sequence[Any, Any, Any]
    | Transform[Any, Any, Any]
    | FlatMap[Any, Any, Any]
    | HandleError[Any, Any, Any]
    | Checkpoint[Any, Any, Any]
    | Fork[Any, Any, Any]
    | Parallel[Any, Any, Any]
    | ForEach[Any, Any, Any]
    | Embed[Any, Any, Any]
    | RunChild[Any, Any, Any]
    | Compensated[Any, Any, Any]
    | Compensating[Any, Any, Any]
    | Loop[Any, Any, Any]
    | Interruptible[Any, Any, Any]
)
"""Every kind of node: a match over a `Node` ends in ``assert_never``, so mypy
names each place a new kind must be handled (see docs/contributing.md)."""

NODE_CLASSES: tuple[type[WIO[Any, Any, Any]], ...] = tuple(
    typing.get_origin(kind) for kind in typing.get_args(Node)
)


def as_node(wio: WIO[Any, Any, Any]) -> Node:
    """``wio`` as the `Node` it is, for a match that mypy checks for exhaustiveness.

    The constructors make nothing but `Node` instances (`_require_wio` refuses others).
    """
    return typing.cast(Node, wio)


# -- helpers ------------------------------------------------------------------


@frozen
class _Constant:
    """A function returning a fixed value (a class, so nodes compare by value)."""

    value: Any

    def __call__(self, _input: Any) -> Any:
        return self.value


@frozen
class _MapOutput:
    fn: Callable[[Any], Any]

    def __call__(self, _input: Any, output: Any) -> Any:
        return self.fn(output)


def _identity(value: Any) -> Any:
    return value


def _first(first: Any, _second: Any) -> Any:
    return first


def _second(_first: Any, second: Any) -> Any:
    return second


def _always(_input: Any) -> bool:
    return True


def _require_wio(value: object, where: str) -> None:
    if not isinstance(value, NODE_CLASSES):
        raise DefinitionError(f"{where} expects a WIO node, got {type(value).__name__}: {value!r}")


def _is_plain_sequence(node: WIO[Any, Any, Any]) -> bool:
    # An unnamed sequence can be flattened into its parent; a named one is kept
    # as a unit so its name survives.
    return isinstance(node, Sequence) and node.meta == Meta()


def _callable_name(fn: Callable[..., Any]) -> str | None:
    name = getattr(fn, "__name__", None)
    if not name or name == "<lambda>":
        return None
    return name.replace("_", " ").strip().title() or None


def _declared_errors(node: WIO[Any, Any, Any]) -> str | None:
    """The names of the business errors that can escape ``node``, joined for display."""
    names: list[str] = []
    for error in escaping_errors(node):
        if error.__name__ not in names:
            names.append(error.__name__)
    return " | ".join(names) or None


def escaping_errors(wio: WIO[Any, Any, Any]) -> list[type[Any]]:
    """The declared business error types that can escape ``wio``, in tree order."""
    match node := as_node(wio):
        case Pure() | Run() | HandleSignal():
            return [node.error_type] if node.error_type is not None else []
        case Timer() | Recover() | End():
            return []
        case Sequence():
            return [e for step in node.steps for e in escaping_errors(step)]
        case FlatMap() | Transform() | Checkpoint() | Embed() | Compensating():
            return escaping_errors(node.base)
        case Compensated():  # its undo declares none
            return escaping_errors(node.base)
        case HandleError():
            handled = node.error_type
            passed = (
                []
                if handled is None
                else [e for e in escaping_errors(node.base) if not issubclass(e, handled)]
            )
            return passed + escaping_errors(node.handler)
        case Fork():
            return [e for b in node.branches for e in escaping_errors(b.wio)]
        case Parallel():
            return [e for f in node.flows for e in escaping_errors(f.wio)]
        case ForEach():
            return escaping_errors(node.body)
        case RunChild():  # the child's business errors complete the wait
            return escaping_errors(node.workflow.wio)
        case Loop():
            restart = [] if node.on_restart is None else escaping_errors(node.on_restart)
            return escaping_errors(node.body) + restart
        case Interruptible():
            handler = [] if node.handler is None else escaping_errors(node.handler)
            return escaping_errors(node.base) + escaping_errors(node.trigger) + handler
        case _:
            assert_never(node)


def recorded_events(node: Node) -> tuple[type[Any], ...]:
    """The event classes ``node`` itself records (its children's not included)."""
    match node:
        case Run() | Checkpoint() | Recover() | HandleSignal():
            return (node.event_type,)
        case Timer():
            return (TimerStarted, TimerReleased)
        case RunChild():
            return (ChildStarted, ChildFinished)
        case (
            Pure() | End() | Sequence() | Transform() | FlatMap() | HandleError() | Fork()
            | Parallel() | ForEach() | Embed() | Loop() | Interruptible() | Compensated()
            | Compensating()
        ):  # fmt: skip
            return ()
        case _:
            assert_never(node)


def first_to_see_input(node: Node) -> WIO[Any, Any, Any] | Callable[..., Any] | None:
    """What sees ``node``'s input first: a child node, or a function (whose first
    parameter's annotation is the input type), or None when no function does
    (the input of a signal handler, a timer, a fork...)."""
    match node:
        case Sequence():
            return node.steps[0]
        case FlatMap() | HandleError() | Checkpoint() | Compensated() | Compensating():
            return node.base
        case Transform() | Embed() | RunChild():
            return node.map_input
        case Pure():
            return node.compute
        case Run():
            return node.effect
        case Recover():
            return node.recover_state
        case (
            HandleSignal() | Timer() | End() | Fork() | Parallel() | Loop() | Interruptible()
        ):  # fmt: skip
            return None
        case ForEach():
            return node.items_of
        case _:
            assert_never(node)


def always_records(wio: WIO[Any, Any, Any]) -> bool:
    """Whether every way through ``wio`` records at least one event (or ends)."""
    match node := as_node(wio):
        case Run() | HandleSignal() | Timer() | Recover() | Checkpoint() | End() | RunChild():
            return True
        case Pure():
            return False
        case Sequence():
            return any(always_records(step) for step in node.steps)
        case Transform() | FlatMap() | HandleError() | Embed() | Compensated() | Compensating():
            return always_records(node.base)
        case Loop():
            return always_records(node.body)
        case Fork():
            has_default = any(b.is_default for b in node.branches)
            return has_default and all(always_records(b.wio) for b in node.branches)
        case Parallel():  # every flow runs
            return any(always_records(f.wio) for f in node.flows)
        case ForEach():  # the collection may be empty
            return False
        case Interruptible():
            return isinstance(node.trigger, Timer) or always_records(node.base)
        case _:
            assert_never(node)


def own_logic(node: Node) -> list[Any]:
    """The user code ``node`` itself holds (its children's not included)."""
    match node:
        case Pure():
            return [node.compute]
        case Run():
            return [node.effect, node.handle]
        case HandleSignal():
            return [node.handle, node.update, node.respond]
        case Timer():
            return [node.duration]
        case Recover():
            return [node.recover_state]
        case Transform() | Embed():
            return [node.map_input, node.map_output]
        case RunChild():
            return [node.id_of, node.map_input, node.map_output]
        case FlatMap():
            return [node.continuation]
        case Checkpoint():
            return [node.save_state, node.recover_state]
        case Fork():
            return [branch.condition for branch in node.branches]
        case Parallel():
            return [node.combiner]
        case ForEach():
            return [node.items_of, node.key, node.combiner]
        case Loop():
            return [node.condition]
        case (
            End() | Sequence() | HandleError() | Interruptible() | Compensated() | Compensating()
        ):  # fmt: skip
            return []
        case _:
            assert_never(node)


def _describe_callable(fn: Callable[..., Any]) -> str:
    code = getattr(fn, "__code__", None)
    where = f" at {code.co_filename}:{code.co_firstlineno}" if code is not None else ""
    return f"{getattr(fn, '__qualname__', repr(fn))}{where}"


def _annotated_type(fn: Callable[..., Any], position: int | str, what: str) -> type[Any]:
    """Read an event type from a function's annotations, or say how to pass it."""
    try:
        hints = typing.get_type_hints(fn)
        if position == "return":
            hint = hints["return"]
        else:
            params = list(inspect.signature(fn).parameters)
            hint = hints[params[int(position)]]
    except Exception as exc:  # missing annotation, unresolvable name, lambda
        cause = "it has no annotation" if isinstance(exc, KeyError) else f"{exc}"
        raise DefinitionError(
            f"cannot tell the event type from {what} of {_describe_callable(fn)} ({cause}): "
            "annotate it with the event class or pass event=EventClass"
        ) from exc
    origin = typing.get_origin(hint)
    if origin in (Coroutine, Awaitable):
        hint = typing.get_args(hint)[-1 if origin is Coroutine else 0]
    if not isinstance(hint, type):
        raise DefinitionError(f"{what} of {fn!r} is {hint!r}, not a class: pass event=EventClass")
    return hint
