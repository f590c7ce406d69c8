"""BPMN 2.0 XML with a BPMNDI layout, for BPMN tools and engines.

The mapping:

- one executable process, from a start event to an end event;
- run steps are ``serviceTask``s; pure and dynamic steps are plain ``task``s;
- a fork is a diverging ``exclusiveGateway``: every branch but the default has
  a ``conditionExpression``, a Python expression over process data
  (``route_<fork> == '<branch>'``), so an engine such as SpiffWorkflow can be
  driven down each branch; branches meet again at a converging gateway;
- a parallel section is a diverging ``parallelGateway`` with one outgoing flow
  per flow, named after it, and a converging ``parallelGateway`` where they
  all meet;
- a for-each section is a parallel multi-instance ``subProcess`` around its body,
  its cardinality the process variable ``elements_<path>``;
- an embedded workflow is an expanded ``subProcess`` named after it;
- a step with ``compensate_with`` carries a compensation boundary event,
  associated with a task marked ``isForCompensation`` for its undo; a
  compensating section is a ``subProcess`` named "Compensating";
- a handled section is a ``subProcess`` with an error boundary event for its
  declared error, leading to the handler;
- waiting for a signal is an intermediate catch event with a signal definition;
- a loop is a converging gateway, the body, and a diverging gateway deciding
  (``loop_<path> == '<restart branch>'`` restarts; the exit is the default
  flow), with the ``on_restart`` flow and the edge back running underneath;
- a timer is an intermediate catch event with a timer definition whose
  ``timeDuration`` is the quoted ISO-8601 duration (a Python expression, as
  SpiffWorkflow reads it), or a process variable ``wait_<path>`` when computed;
- ``WIO.end`` is a terminate end event;
- a workflow's cleanup flow (``Workflow(..., on_cancel=flow)``) is an event
  subprocess ("On cancel", ``triggeredByEvent``) below the main flow, started
  by an interrupting signal start event "Cancelled" (the signal
  ``wio.Cancelled``, the event wio records);
- technical nodes follow the user's rule: a checkpoint shows only its base, a
  recovery nothing.

The layout is computed here, structurally: each construct is placed in a box
of its own, and boxes never overlap, so neither do shapes. Ids derive from
model paths, so the output is stable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal, assert_never
from xml.sax.saxutils import escape, quoteattr

from attrs import define, field

from wio import model
from wio.paths import (
    BASE,
    CLEANUP,
    COMPENSATION,
    ERROR_HANDLER,
    INTERRUPTION_HANDLER,
    ON_RESTART,
    ROOT,
    TRIGGER,
    Path,
    child,
    children,
    descend_model,
    within,
)

from . import errors
from .marks import CLEANUP_END, END, Marks, State, done_of, join_of, shown_on, states

# Sizes and gaps, in BPMN diagram units (pixels in most tools).
TASK_W, TASK_H = 100.0, 80.0  # the smallest task; longer names widen it, then lengthen it
TASK_MAX_W = 200.0
# A task's name: 12 px Arial inside a 5-unit padding, wrapped at the box's width.
TASK_CHAR_W, TASK_LINE_H, TASK_PAD = 7.2, 15.0, 5.0
EVENT = 36.0
GATEWAY = 50.0
GAP_X, GAP_Y = 50.0, 40.0
PAD = 30.0  # inside an expanded subprocess
# External labels (of events, gateways and flows): bpmn-js wraps them at 90
# units, in 11 px Arial, about 6.5 units a character (7 to be safe) and 14 a line.
BOUNDARY_LABEL_W = LABEL_W = 90.0
CHAR_W, LINE_H = 7.0, 14.0
LABEL_ROOM = 3 * LINE_H + 6  # under a boundary event, for its label
BOUNDARY_SLOT = EVENT + 6 + BOUNDARY_LABEL_W + 20  # one boundary event and its label
BEND = 12.0  # where a gateway's arms turn, right of it

# Placeholders in element XML, filled in once every flow is known. NUL cannot
# occur in XML, and `_clean` removes it from names.
IO = "\0io\0"
CHILDREN = "\0children\0"

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@define
class Shape:
    id: str
    x: float
    y: float
    w: float
    h: float
    expanded: bool = False
    label: tuple[float, float, float, float] | None = None  # x, y from the shape; w, h

    @property
    def mid_y(self) -> float:
        return self.y + self.h / 2


@define
class Flow:
    id: str
    source: str
    target: str
    condition: str | None = None
    name: str | None = None
    from_bottom: bool = False  # leaves a boundary event downwards
    lane: Shape | None = None  # an empty branch's row, which the flow runs along
    loop: tuple[str, Shape] | None = None  # a loop's back edge: its kind and its lane
    documentation: str | None = None
    under: Shape | None = None  # a boundary's flow to the join: along this row, then up
    arm: bool = False  # a way out of a diverging gateway: turns just right of it


@define
class Fragment:
    """A placed construct: its box, its main line, and where flows enter and leave."""

    width: float = 0
    height: float = 0
    axis: float = 0  # y of the line flows enter on, from the top of the box
    entry: str | None = None  # None: the construct draws nothing
    exit: str | None = None  # None with an entry: the construct ends the workflow
    shapes: list[Shape] = field(factory=list)
    flows: list[Flow] = field(factory=list)
    lanes: list[Shape] = field(factory=list)  # not drawn: rows that flows run along

    def moved(self, dx: float, dy: float) -> Fragment:
        for shape in (*self.shapes, *self.lanes):
            shape.x += dx
            shape.y += dy
        return self


@define
class Arm:
    """One way out of a diverging gateway: a fork's branch or a parallel flow."""

    name: str
    fragment: Fragment
    default: bool = False
    condition: str | None = None  # a Python expression over process data
    labelled: bool = True  # bpmnlint: a parallel gateway's flows carry no label


@define
class Association:
    """A dotted link, such as a compensation boundary event's to its undo task."""

    id: str
    source: str
    target: str
    scope: str


@define
class Element:
    """A flow node of a scope (the process or a subprocess), as XML with placeholders."""

    id: str
    xml: str
    scope: str


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _event(id_: str, name: str) -> Fragment:
    """An event, its name under it: the fragment holds both, so that nothing is
    placed over the name."""
    w, h = _text_box(name)
    width = max(EVENT, w)
    shape = Shape(
        id_, (width - EVENT) / 2, 0, EVENT, EVENT, label=(EVENT / 2 - w / 2, EVENT + 4, w, h)
    )
    return Fragment(width, EVENT + 4 + h, EVENT / 2, id_, id_, [shape])


class _Renderer:
    def __init__(self, dialect: _Dialect) -> None:
        self.dialect = dialect
        self.elements: list[Element] = []
        self.errors: dict[str, str] = {}  # error id -> name
        self.signals: dict[str, str] = {}  # signal id -> name
        # Flows a construct must name before it knows their target (a loop's exit
        # is its decision's default); whoever connects the exit completes them.
        self.pending_exits: dict[str, Flow] = {}
        self.flow_count = 0
        self.scopes: list[str] = ["process"]
        self.associations: list[Association] = []
        self.by_path: dict[Path, str] = {}  # the element that shows each model node
        self.loop_joins: dict[Path, str] = {}  # where each loop starts, by its path
        # The subprocess drawn around each section that has one: where a node it
        # does not draw (a recovery) inside it is marked.
        self.containers: dict[Path, str] = {}
        self.section_starts: dict[Path, str] = {}  # each subprocess's own start event
        # Per handled section: each step that may raise, and the boundary event catching it.
        self.catchers: dict[Path, list[tuple[Path, str]]] = {}

    def signal_id(self, name: str) -> str:
        """The id of the `bpmn:signal` named ``name``."""
        id_ = _reference_id("SignalDefinition_", name)
        self.signals[id_] = name
        return id_

    def error_id(self, name: str) -> str:
        """The id of the `bpmn:error` whose code is ``name``."""
        id_ = _reference_id("Error_", name)
        self.errors[id_] = name
        return id_

    def element(self, id_: str, xml: str) -> None:
        self.elements.append(Element(id_, xml, self.scopes[-1]))

    def connect(self, source: str, target: str) -> Flow:
        """The flow from a construct's exit to ``target``: its pending one, or a new one."""
        pending = self.pending_exits.pop(source, None)
        if pending is None:
            return self.flow(source, target)
        pending.target = target
        return pending

    def flow(self, source: str, target: str, **extra: object) -> Flow:
        self.flow_count += 1
        return Flow(f"Flow_{self.flow_count}", source, target, **extra)  # type: ignore[arg-type]

    def task(
        self, kind: str, id_: str, name: str, description: str | None, called: str | None = None
    ) -> Fragment:
        attributes = f" calledElement={quoteattr(called)}" if called is not None else ""
        documentation = (
            f"<bpmn:documentation>{escape(_clean(description))}</bpmn:documentation>"
            if description
            else ""
        )
        extensions = self.dialect.service(_clean(name)) if kind == "serviceTask" else ""
        if kind == "callActivity":
            extensions = self.dialect.call(called or "")
        self.element(
            id_,
            f"<bpmn:{kind} id={quoteattr(id_)} name={quoteattr(_clean(name))}{attributes}>"
            f"{documentation}{extensions}{IO}</bpmn:{kind}>",
        )
        w, h = _task_size(_clean(name))
        return Fragment(w, h, h / 2, id_, id_, [Shape(id_, 0, 0, w, h)])

    def event(self, kind: str, id_: str, name: str, definition: str = "") -> Fragment:
        self.element(
            id_, f'<bpmn:{kind} id="{id_}" name={quoteattr(name)}>{IO}{definition}</bpmn:{kind}>'
        )
        return _event(id_, _clean(name))

    def gateway(
        self,
        id_: str,
        name: str | None = None,
        default: str | None = None,
        *,
        kind: str = "exclusiveGateway",
    ) -> None:
        attributes = (f" name={quoteattr(_clean(name))}" if name else "") + (
            f' default="{default}"' if default else ""
        )
        self.element(id_, f'<bpmn:{kind} id="{id_}"{attributes}>{IO}</bpmn:{kind}>')

    # -- constructs ---------------------------------------------------------------

    def place(self, node: model.ModelNode, path: Path) -> Fragment:
        fragment = self._place(node, path)
        pid = _path_id(path)
        shown = {s.id for s in fragment.shapes}
        shows = [
            (path, f"Task_{pid}"), (path, f"Signal_{pid}"), (path, f"Timer_{pid}"),
            (path, f"Loop_{pid}"), (path, f"Gateway_{pid}"),
        ]  # fmt: skip
        if isinstance(node, model.End):
            shows.append((path, f"End_{pid}"))  # WIO.end's own event
        else:
            # A subprocess's "Done" event, once its section ran to its end through its
            # base (its record alone does not say so: a handled error leaves it too).
            shows.append((done_of(path), f"End_{pid}"))
        if isinstance(node, model.Fork | model.Parallel | model.HandleError | model.Interruptible):
            shows.append((join_of(path), f"Join_{pid}"))  # where its ways meet again
        if isinstance(node, model.Interruptible):  # its trigger is the boundary event
            shows.append((child(path, TRIGGER), f"Boundary_{pid}"))
        for key, id_ in shows:
            if id_ in shown:
                self.by_path.setdefault(key, id_)
        if f"SubProcess_{pid}" in shown:
            self.containers.setdefault(path, f"SubProcess_{pid}")
        if f"Start_{pid}" in shown:
            self.section_starts.setdefault(path, f"Start_{pid}")
        return fragment

    def _place(self, node: model.ModelNode, path: Path) -> Fragment:
        pid = _path_id(path)
        match node:
            case model.RunIO():
                name = node.meta.name or f"Run: {node.event}"
                notes = [node.meta.description] if node.meta.description else []
                if node.retry is not None:
                    notes.append(
                        f"Retried up to {node.retry.max_attempts} attempts, first after "
                        f"{node.retry.initial_delay:g} s, backing off x{node.retry.multiplier:g}"
                    )
                documentation = "\n".join(notes) or None
                return self.task("serviceTask", f"Task_{pid}", name, documentation)
            case model.HandleSignal():
                # Definitions and catch events have distinct id prefixes: no collisions.
                signal_id = self.signal_id(_clean(node.signal))
                catch = (
                    f'<bpmn:signalEventDefinition id="Signal_{pid}_definition" '
                    f'signalRef="{signal_id}"/>'
                )
                name = _clean(node.meta.name or node.signal)
                return self.event("intermediateCatchEvent", f"Signal_{pid}", name, catch)
            case model.Loop():
                return self.loop(node, path)
            case model.Timer():
                timer = self.dialect.timer(f"Timer_{pid}_definition", node, pid)
                name = _clean(node.meta.name or f"Wait {node.duration or 'computed'}")
                return self.event("intermediateCatchEvent", f"Timer_{pid}", name, timer)
            case model.Interruptible():
                return self.interruptible(node, path)
            case model.RunChild():  # another process, run as its own instance
                name = _clean(node.meta.name or node.workflow)
                called = _clean(node.workflow)
                return self.task("callActivity", f"Call_{pid}", name, node.meta.description, called)
            case model.Pure() | model.Dynamic():
                default = "Dynamic" if isinstance(node, model.Dynamic) else "Pure"
                name = node.meta.name or default
                return self.task("task", f"Task_{pid}", name, node.meta.description)
            case model.Sequence():
                return self.sequence([self.place(s.node, s.path(path)) for s in children(node)])
            case model.Checkpoint():
                return self.place(node.base, child(path, BASE))
            case model.Recovery():
                return Fragment()
            case model.End():
                terminate = f'<bpmn:terminateEventDefinition id="End_{pid}_terminate"/>'
                ended = self.event("endEvent", f"End_{pid}", "End", terminate)
                ended.exit = None
                return ended
            case model.Fork():
                return self.fork(node, path)
            case model.Parallel():
                return self.parallel(node, path)
            case model.ForEach():
                return self.for_each(node, path)
            case model.Embed():
                return self.subprocess(node.base, path, node.meta.name or "Embedded")
            case model.Compensated():
                return self.compensated(node, path)
            case model.Compensating():
                return self.subprocess(node.base, path, "Compensating")
            case model.HandleError():
                return self.handled(node, path)
            case _:
                assert_never(node)

    def sequence(self, parts: list[Fragment]) -> Fragment:
        parts = [p for p in parts if p.entry is not None]
        if not parts:
            return Fragment()
        # Anything after a construct that ends the workflow is unreachable: not drawn.
        for index, part in enumerate(parts):
            if part.exit is None:
                parts = parts[: index + 1]
                break
        axis = max(p.axis for p in parts)
        result = Fragment(axis=axis, entry=parts[0].entry, exit=parts[-1].exit)
        x = 0.0
        previous: Fragment | None = None
        for part in parts:
            part.moved(x, axis - part.axis)
            result.shapes += part.shapes
            result.flows += part.flows
            result.lanes += part.lanes
            if previous is not None:
                assert previous.exit is not None and part.entry is not None
                result.flows.append(self.connect(previous.exit, part.entry))
            result.height = max(result.height, axis - part.axis + part.height)
            x += part.width + GAP_X
            previous = part
        result.width = x - GAP_X
        return result

    def fork(self, node: model.Fork, path: Path) -> Fragment:
        """An exclusive choice: each branch but the default has a condition."""
        variable = f"route_{_path_id(path)}"
        arms = [
            Arm(b.name, self.place(arm.node, arm.path(path)), b.default,
                None if b.default else self.dialect.equals(variable, b.name))
            for b, arm in zip(node.branches, children(node), strict=True)
        ]  # fmt: skip
        return self.split_and_join("exclusiveGateway", path, node.meta.name or "Fork", arms)

    def parallel(self, node: model.Parallel, path: Path) -> Fragment:
        """Concurrent flows: a diverging parallel gateway, and a converging one
        that waits for every flow."""
        arms = [
            Arm(f.name, self.place(lane.node, lane.path(path)), labelled=False)
            for f, lane in zip(node.flows, children(node), strict=True)
        ]
        name = node.meta.name or "Parallel"
        return self.split_and_join("parallelGateway", path, name, arms, always_join=True)

    def for_each(self, node: model.ForEach, path: Path) -> Fragment:
        """A parallel multi-instance subprocess: the body, run once per element."""
        pid = _path_id(path)
        title = f"For each: {node.meta.name}" if node.meta.name else "For each"
        return self.subprocess(node.base, path, title, self.dialect.multi_instance(pid))

    def compensated(self, node: model.Compensated, path: Path) -> Fragment:
        """The step (a task, or a subprocess around a compound step) with a
        compensation boundary event, associated with its undo below it: a task
        marked ``isForCompensation``, named after the undo."""
        pid = _path_id(path)
        if isinstance(node.base, model.RunIO | model.Pure | model.Dynamic):
            step = self.place(node.base, child(path, BASE))
        else:
            step = self.subprocess(node.base, path, "Compensated")
        assert step.entry is not None
        activity = next(s for s in step.shapes if s.id == step.entry)
        boundary, undo = f"Compensation_{pid}", f"Undo_{pid}"
        self.element(
            boundary,
            f'<bpmn:boundaryEvent id="{boundary}" name="Undo" attachedToRef="{step.entry}">'
            f'<bpmn:compensateEventDefinition id="{boundary}_definition"/></bpmn:boundaryEvent>',
        )
        undo_name = _clean(_undo_name(node.undo))
        extensions = self.dialect.service(undo_name)  # Zeebe: its job type too
        self.element(
            undo,
            f"<bpmn:serviceTask id={quoteattr(undo)} name={quoteattr(undo_name)} "
            'isForCompensation="true"'
            + (f">{extensions}</bpmn:serviceTask>" if extensions else "/>"),
        )
        # In the process's artifacts, wherever the step is: bpmnlint looks for a
        # compensation boundary event's association there.
        self.associations.append(Association(f"Association_{pid}", boundary, undo, "process"))
        event_x = activity.x + activity.w - EVENT - 10
        event_y = activity.y + activity.h - EVENT / 2
        # The event's name right of the association going straight down from it.
        label = _text_box("Undo", BOUNDARY_LABEL_W)
        undo_w, undo_h = _task_size(undo_name)
        undo_x = max(activity.x, event_x + EVENT / 2 - undo_w / 2)
        undo_y = max(step.height, event_y + EVENT + 2 + label[1]) + GAP_Y
        step.shapes += [
            Shape(boundary, event_x, event_y, EVENT, EVENT,
                  label=(EVENT / 2 + 6, EVENT + 2, *label)),
            Shape(undo, undo_x, undo_y, undo_w, undo_h),
        ]  # fmt: skip
        step.width = max(step.width, undo_x + undo_w, event_x + EVENT / 2 + 6 + label[0])
        step.height = undo_y + undo_h
        # An undo that ran is marked on its task.
        for _, at in descend_model(node.undo, child(path, COMPENSATION)):
            self.by_path.setdefault(at, undo)
        return step

    def subprocess(self, base: model.ModelNode, path: Path, title: str, loop: str = "") -> Fragment:
        """An expanded subprocess around ``base`` (a for-each body, an embedded
        workflow), with its own start and end; ``loop`` its loop characteristics."""
        pid = _path_id(path)
        sub = f"SubProcess_{pid}"
        self.scopes.append(sub)
        inner = self.sequence(
            [
                self.event("startEvent", f"Start_{pid}", "Start"),
                self.place(base, child(path, BASE)),
                self.event("endEvent", f"End_{pid}", "Done"),
            ]
        )
        self.scopes.pop()
        return self.expanded(sub, inner, title, inside=loop)

    def expanded(self, sub: str, inner: Fragment, title: str, **xml: str) -> Fragment:
        """The subprocess ``sub`` around ``inner``, its scope's content; ``xml``'s
        ``attributes`` and ``inside`` (before its children) complete its XML."""
        width = inner.width + 2 * PAD
        # The title (12 px, wrapped at the subprocess's width) above the content.
        top = max(PAD, _lines(title, width - 2 * TASK_PAD, TASK_CHAR_W) * TASK_LINE_H + 12)
        inner.moved(PAD, top)
        height = inner.height + top + PAD
        self.element(
            sub,
            f"<bpmn:subProcess id={quoteattr(sub)} name={quoteattr(_clean(title))}"
            f"{xml.get('attributes', '')}>{IO}{xml.get('inside', '')}{CHILDREN}"
            "</bpmn:subProcess>",
        )
        shapes = [Shape(sub, 0, 0, width, height, expanded=True), *inner.shapes]
        return Fragment(width, height, height / 2, sub, sub, shapes, inner.flows, inner.lanes)

    def cleanup(self, flow: model.ModelNode) -> Fragment:
        """The cleanup flow: an event subprocess, which no sequence flow enters,
        started by an interrupting start event when the instance is cancelled.

        A signal start event, because the cancellation comes from outside the
        process (an operator) and carries nothing to correlate: a message start
        would need a correlation key in Camunda 8, and escalations and errors are
        thrown from inside the process. bpmnlint, Camunda 8's rules (8.3 and later
        take signal starts in event subprocesses), bpmn-js and SpiffWorkflow take it."""
        self.scopes.append(CLEANUP_SUBPROCESS)
        signal_id = self.signal_id(CANCELLED_SIGNAL)
        self.element(
            CANCELLED_START,
            f'<bpmn:startEvent id="{CANCELLED_START}" name="Cancelled" isInterrupting="true">'
            f'{IO}<bpmn:signalEventDefinition id="{CANCELLED_START}_signal" '
            f'signalRef="{signal_id}"/></bpmn:startEvent>',
        )
        parts = [_event(CANCELLED_START, "Cancelled"), self.place(flow, CLEANUP)]
        if parts[-1].entry is None or parts[-1].exit is not None:
            parts.append(self.event("endEvent", CLEANUP_END_EVENT, "End"))
        inner = self.sequence(parts)
        self.scopes.pop()
        attributes = ' triggeredByEvent="true"'
        sub = self.expanded(CLEANUP_SUBPROCESS, inner, "On cancel", attributes=attributes)
        sub.entry = sub.exit = None  # no sequence flow enters or leaves it
        return sub

    def split_and_join(
        self,
        kind: str,
        path: Path,
        name: str,
        arms: list[Arm],
        *,
        always_join: bool = False,
    ) -> Fragment:
        """A diverging gateway, the arms one under another, and a converging gateway.

        The first arm leaves the gateway straight ahead; the others turn down just
        right of it, and a default arm leaves from its bottom, so that the
        default marker sits on a segment of its own. Each arm's name sits on its
        own row, before its first shape; the gateway's name sits above it."""
        empty = [arm for arm in arms if arm.fragment.entry is None]
        if kind == "parallelGateway" and len(empty) > 1:
            # Flows that do nothing are one path, not several: parallel flows carry
            # no condition, so two would be the same sequence flow.
            arms = [arm for arm in arms if arm.fragment.entry is not None or arm is empty[0]]
        if len(arms) == 1:
            # One way through: no choice and no concurrency, so no gateway.
            return arms[0].fragment
        pid = _path_id(path)
        split, join = f"Gateway_{pid}", f"Join_{pid}"
        branches = [arm.fragment for arm in arms]
        # Branches that carry on after the fork; an empty one goes straight to the join.
        carrying_on = [b for b in branches if b.entry is None or b.exit is not None]
        needs_join = (
            always_join or len(carrying_on) > 1 or any(b.entry is None for b in carrying_on)
        )
        names = [_text_box(_clean(a.name))[0] for a in arms if a.labelled]
        # Room for the arms' names, and for the name of a gateway an arm may start
        # with, which reaches back over the arm by half its excess over the gateway.
        overhang = (LABEL_W - GATEWAY) / 2 if names else 0.0
        x_branch = max(GATEWAY + GAP_X, GATEWAY + BEND + 6 + max(names, default=0) + 8 + overhang)
        x_join = x_branch + max((b.width for b in branches), default=0) + GAP_X
        shapes: list[Shape] = []
        flows: list[Flow] = []
        lanes: list[Shape] = []
        default_flow: str | None = None
        exit_: str | None = join if needs_join else None
        label = _text_box(_clean(name))
        beside = _text_box(_clean(arms[0].name))[1] if arms[0].labelled else 0.0
        first_axis = branches[0].axis if branches[0].entry else GATEWAY / 2
        y = top = max(0.0, _room_above(label, beside) - first_axis)  # the gateway's name
        for index, (branch, arm) in enumerate(zip(branches, arms, strict=True)):
            lane: Shape | None = None
            if branch.entry is None:
                target, height = join, GATEWAY
                lane = Shape(f"{split}_lane", x_branch, y, 0, GATEWAY)
                lanes.append(lane)
            else:
                branch.moved(x_branch, y)
                shapes += branch.shapes
                flows += branch.flows
                lanes += branch.lanes
                target, height = branch.entry, branch.height
                if branch.exit is not None:
                    if needs_join:
                        flows.append(self.connect(branch.exit, join))
                    else:
                        exit_ = branch.exit  # the only branch that carries on
            arm_name = _clean(arm.name)
            flow = self.flow(
                split,
                target,
                condition=arm.condition,
                lane=lane,
                name=arm_name if arm.labelled else None,
                documentation=None if arm.labelled else f"Flow {arm_name}",
                arm=True,
                from_bottom=arm.default and index > 0,
            )
            if arm.default:
                default_flow = flow.id
            flows.append(flow)
            y += height + GAP_Y
        height = max(y - GAP_Y, GATEWAY)
        axis = top + first_axis
        self.gateway(split, name, default_flow, kind=kind)
        shapes.append(_gateway_shape(split, 0, axis, label, beside))
        width = x_join - GAP_X
        if needs_join:
            self.gateway(join, kind=kind)
            shapes.append(Shape(join, x_join, axis - GATEWAY / 2, GATEWAY, GATEWAY))
            width = x_join + GATEWAY
        return Fragment(width, height, axis, split, exit_, shapes, flows, lanes)

    def loop(self, node: model.Loop, path: Path) -> Fragment:
        """join -> body -> decision -> exit; decision -> on_restart -> join, underneath.
        The decision's name sits above it, and room is left after it for the exit's."""
        pid = _path_id(path)
        join, decision = f"LoopJoin_{pid}", f"Loop_{pid}"
        self.loop_joins[path] = join
        body = self.place(node.base, child(path, BASE))
        restart = (
            self.place(node.on_restart, child(path, ON_RESTART)) if node.on_restart else Fragment()
        )
        label = _text_box(_clean(node.meta.name or "Repeat?"))
        exit_name = _clean(node.exit)
        beside = _text_box(exit_name)[1]
        axis = max(body.axis, _room_above(label, beside))
        shapes = [Shape(join, 0, axis - GATEWAY / 2, GATEWAY, GATEWAY)]
        flows: list[Flow] = []
        lanes: list[Shape] = []
        x = GATEWAY + GAP_X
        after_body: str = join
        if body.entry is not None:
            body.moved(x, axis - body.axis)
            shapes += body.shapes
            flows += body.flows
            lanes += body.lanes
            flows.append(self.flow(join, body.entry))
            x += body.width + GAP_X
            assert body.exit is not None, "a loop body that ends the workflow cannot loop"
            after_body = body.exit
        shapes.append(_gateway_shape(decision, x, axis, label, beside))
        flows.append(self.connect(after_body, decision))
        height = max(axis + GATEWAY / 2, body.height + (axis - body.axis))
        variable = f"loop_{pid}"
        condition = self.dialect.equals(variable, node.restart)
        back_lane = Shape(f"{decision}_back", 0, 0, 0, 0)
        restart_name = _clean(node.restart)
        restart_label = _text_box(restart_name)[1]
        if restart.entry is not None:
            # Out along the gap above the restart row (its name under that lane),
            # back along a lane below it.
            out_lane = Shape(f"{decision}_out", 0, height + GAP_Y / 2, 0, 0)
            top = out_lane.y + 4 + restart_label + GAP_Y / 2
            restart.moved(GATEWAY + GAP_X, top)
            shapes += restart.shapes
            flows += restart.flows
            lanes += restart.lanes
            back_lane.y = top + restart.height + GAP_Y / 2
            lanes += [out_lane, back_lane]
            flows.append(
                self.flow(decision, restart.entry, condition=condition, name=restart_name,
                          loop=("out", out_lane))
            )  # fmt: skip
            assert restart.exit is not None, "an on_restart that ends the workflow cannot loop"
            back = self.connect(restart.exit, join)
            back.loop = ("back", back_lane)
            flows.append(back)
            height = back_lane.y
        else:
            back_lane.y = height + GAP_Y / 2
            lanes.append(back_lane)
            flows.append(
                self.flow(decision, join, condition=condition, name=restart_name,
                          loop=("back", back_lane))
            )  # fmt: skip
            height = back_lane.y + 4 + restart_label  # the restart's name, under the lane
        exit_flow = self.flow(decision, "", name=exit_name)  # target set by the sequence
        self.gateway(join)
        self.gateway(decision, node.meta.name or "Repeat?", exit_flow.id)
        self.pending_exits[decision] = exit_flow
        # Room after the decision for the exit's name (its flow may turn half a gap
        # after the loop), and for the restart row and its way back, if wider.
        width = x + GATEWAY + _text_box(exit_name)[0] + 12 - GAP_X / 2
        if restart.entry is not None:
            width = max(width, GATEWAY + GAP_X + restart.width + GAP_X)
        return Fragment(width, height, axis, join, decision, shapes, flows, lanes)

    def handled(self, node: model.HandleError, path: Path) -> Fragment:
        """A section whose errors, each caught at its boundary by its own code,
        lead to the handler."""
        pid = _path_id(path)
        names = [_clean(name) for name in errors.caught_names(node, path)]
        boundaries = [
            (name, f'<bpmn:errorEventDefinition id="{_nth(f"Boundary_{pid}", i)}_error" '
                   f'errorRef="{self.error_id(name)}"/>')
            for i, name in enumerate(names)
        ]  # fmt: skip
        if not boundaries:  # nothing declared: an error boundary with no code catches any
            boundaries = [("Any error", f'<bpmn:errorEventDefinition id="Boundary_{pid}_error"/>')]
        title = f"Handles {' or '.join(names) if names else 'any error'}"
        # Which boundary event catches what each step raises, to mark the one that fired.
        ids = {name: _nth(f"Boundary_{pid}", i) for i, name in enumerate(names)}
        self.catchers[path] = [
            (r.path, ids.get(_clean(r.error), f"Boundary_{pid}")) for r in errors.caught(node, path)
        ]
        return self.bounded(node.base, node.handler, path, title, boundaries, ERROR_HANDLER)

    def interruptible(self, node: model.Interruptible, path: Path) -> Fragment:
        """A section that a signal or a timeout, at its boundary, cuts short."""
        pid = _path_id(path)
        trigger = node.trigger
        if isinstance(trigger, model.HandleSignal):
            signal_id = self.signal_id(_clean(trigger.signal))
            catch = (
                f'<bpmn:signalEventDefinition id="Boundary_{pid}_signal" signalRef="{signal_id}"/>'
            )
            name = _clean(trigger.meta.name or trigger.signal)
        else:
            assert isinstance(trigger, model.Timer), trigger
            catch = self.dialect.timer(f"Boundary_{pid}_timer", trigger, f"{pid}_{TRIGGER}")
            name = _clean(trigger.meta.name or f"After {trigger.duration or 'computed'}")
        title = f"Interrupted by {name}"
        return self.bounded(
            node.base, node.handler, path, title, [(name, catch)], INTERRUPTION_HANDLER
        )

    def bounded(
        self,
        base: model.ModelNode,
        handler_node: model.ModelNode | None,
        path: Path,
        title: str,
        boundaries: list[tuple[str, str]],
        handler_segment: int,
    ) -> Fragment:
        """A subprocess around ``base`` whose boundary events (a name and an event
        definition each) lead to the handler, through a converging gateway when
        there are several; the subprocess and the handler meet again at a
        converging gateway."""
        pid = _path_id(path)
        sub, join, merge = f"SubProcess_{pid}", f"Join_{pid}", f"Merge_{pid}"

        # Inside the subprocess: its own start, the section, its own end.
        self.scopes.append(sub)
        inner = self.sequence(
            [
                self.event("startEvent", f"Start_{pid}", "Start"),
                self.place(base, child(path, BASE)),
                self.event("endEvent", f"End_{pid}", "Done"),
            ]
        )
        self.scopes.pop()
        # Each boundary event has its slot along the bottom edge, after the inner
        # start event's label, its own label right of the flow leaving it downwards.
        first_slot = PAD + EVENT + GAP_X / 2
        sub_w = max(inner.width + 2 * PAD, first_slot + len(boundaries) * BOUNDARY_SLOT)
        # The title (12 px, wrapped at the subprocess's width) above the content.
        top = max(PAD, _lines(title, sub_w - 2 * TASK_PAD, TASK_CHAR_W) * TASK_LINE_H + 12)
        inner.moved(PAD, top)
        sub_h = inner.height + top + PAD
        self.element(
            sub,
            f'<bpmn:subProcess id="{sub}" name={quoteattr(title)}>{IO}{CHILDREN}</bpmn:subProcess>',
        )
        shapes = [Shape(sub, 0, 0, sub_w, sub_h, expanded=True), *inner.shapes]
        flows = list(inner.flows)
        lanes = list(inner.lanes)
        ids = [_nth(f"Boundary_{pid}", i) for i in range(len(boundaries))]
        for i, (id_, (name, definition)) in enumerate(zip(ids, boundaries, strict=True)):
            self.element(
                id_,
                f'<bpmn:boundaryEvent id="{id_}" name={quoteattr(name)} '
                f'attachedToRef="{sub}">{IO}{definition}</bpmn:boundaryEvent>',
            )
            label = _text_box(name, BOUNDARY_LABEL_W)
            shapes.append(
                Shape(id_, first_slot + i * BOUNDARY_SLOT, sub_h - EVENT / 2, EVENT, EVENT,
                      label=(EVENT / 2 + 6, EVENT + 2, *label))
            )  # fmt: skip
        below = sub_h + EVENT / 2 + LABEL_ROOM  # clear of the boundary labels

        handler = (
            self.place(handler_node, child(path, handler_segment)) if handler_node else Fragment()
        )
        handler_x = first_slot + (len(boundaries) - 1) * BOUNDARY_SLOT + EVENT + GAP_X
        handler_y = below + GAP_Y / 2
        caught = ids
        height = handler_y + max(handler.height, EVENT) if handler.entry else below
        if len(ids) > 1:  # the errors' ways meet before the handler (or the join)
            self.gateway(merge)
            row = handler.axis if handler.entry is not None else GATEWAY / 2
            shapes.append(Shape(merge, handler_x, handler_y + row - GATEWAY / 2, GATEWAY, GATEWAY))
            flows += [self.flow(id_, merge, from_bottom=True) for id_ in ids]
            caught = [merge]
            handler_x += GATEWAY + GAP_X
            height = max(height, handler_y + GATEWAY)
        join_x = max(sub_w, handler_x - GAP_X) + GAP_X
        if handler.entry is not None:
            handler.moved(handler_x, handler_y)
            shapes += handler.shapes
            flows += handler.flows
            lanes += handler.lanes
            (source,) = caught
            flows.append(self.flow(source, handler.entry, from_bottom=source != merge))
            join_x = max(join_x, handler_x + handler.width + GAP_X)
        if handler.entry is not None and handler.exit is None:
            # The handler ends the workflow: only the subprocess carries on.
            width = max(sub_w, join_x - GAP_X)
            return Fragment(width, height, sub_h / 2, sub, sub, shapes, flows, lanes)
        self.gateway(join)
        shapes.append(Shape(join, join_x, sub_h / 2 - GATEWAY / 2, GATEWAY, GATEWAY))
        flows.append(self.flow(sub, join))
        if handler.exit is not None:
            flows.append(self.connect(handler.exit, join))
        elif len(ids) > 1:  # no handler: from where the errors' ways meet
            flows.append(self.flow(merge, join))
        else:
            # No handler: under the subprocess, and up into the join from below.
            under = Shape(f"{sub}_under", 0, below, 0, 0)
            lanes.append(under)
            flows.append(self.flow(ids[0], join, from_bottom=True, under=under))
        return Fragment(join_x + GATEWAY, height, sub_h / 2, sub, join, shapes, flows, lanes)


BpmnTarget = Literal["spiffworkflow", "camunda8"]
BPMN_TARGETS: tuple[BpmnTarget, ...] = ("spiffworkflow", "camunda8")


class _Dialect:
    """How the default target writes what an engine evaluates: Python
    expressions over process data, as SpiffWorkflow reads them."""

    namespaces = ""

    def equals(self, variable: str, value: str) -> str:
        return f"{variable} == {value!r}"

    def duration(self, iso: str) -> str:
        return repr(iso)  # a Python expression whose value is the ISO-8601 duration

    def variable(self, name: str) -> str:
        return name

    def service(self, name: str) -> str:
        """The extension elements a service task needs to run."""
        return ""

    def call(self, workflow: str) -> str:
        """The extension elements a call activity (a child workflow) needs to run."""
        return ""

    def multi_instance(self, pid: str) -> str:
        """A for-each section's loop characteristics. How many elements there are
        is known only at run time: a process variable, as SpiffWorkflow evaluates
        the cardinality over process data."""
        return (
            f'<bpmn:multiInstanceLoopCharacteristics id="MultiInstance_{pid}">'
            f'<bpmn:loopCardinality xsi:type="bpmn:tFormalExpression">elements_{pid}'
            "</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>"
        )

    def timer(self, id_: str, timer: model.Timer, variable_suffix: str) -> str:
        """A timer definition: the static duration, or a process variable when
        it is computed from the input."""
        expression = (
            self.duration(timer.duration)
            if timer.duration
            else self.variable(f"wait_{variable_suffix}")
        )
        return (
            f'<bpmn:timerEventDefinition id="{id_}">'
            f'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{escape(expression)}'
            "</bpmn:timeDuration></bpmn:timerEventDefinition>"
        )


class _Camunda8(_Dialect):
    """Camunda 8 (Zeebe): FEEL expressions (``=...``), plain ISO-8601 durations,
    and a job type on every service task, from its name, for its worker."""

    namespaces = (
        'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
        'xmlns:modeler="http://camunda.org/schema/modeler/1.0" '
        'modeler:executionPlatform="Camunda Cloud" modeler:executionPlatformVersion="8.8.0" '
    )

    def equals(self, variable: str, value: str) -> str:
        return f"={variable} = {_feel_string(value)}"

    def duration(self, iso: str) -> str:
        return iso

    def variable(self, name: str) -> str:
        return f"={name}"

    def service(self, name: str) -> str:
        return (
            "<bpmn:extensionElements>"
            f"<zeebe:taskDefinition type={quoteattr(job_type(name))}/>"
            "</bpmn:extensionElements>"
        )

    def call(self, workflow: str) -> str:
        # Zeebe finds the called process by its id: the child workflow's name.
        return (
            "<bpmn:extensionElements>"
            f"<zeebe:calledElement processId={quoteattr(workflow)} "
            'propagateAllChildVariables="false"/>'
            "</bpmn:extensionElements>"
        )

    def multi_instance(self, pid: str) -> str:
        # Zeebe runs one instance per item of a collection (it reads no
        # cardinality): the elements themselves, each as ``element_<path>``.
        return (
            f'<bpmn:multiInstanceLoopCharacteristics id="MultiInstance_{pid}">'
            "<bpmn:extensionElements>"
            f'<zeebe:loopCharacteristics inputCollection="=elements_{pid}" '
            f'inputElement="element_{pid}"/>'
            "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics>"
        )


def job_type(name: str) -> str:
    """The Zeebe job type of a step: its name in lower case, words joined by "-"."""
    return re.sub(r"\W+", "-", name.lower()).strip("-_") or "step"


def _feel_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


_DIALECTS: dict[BpmnTarget, _Dialect] = {"spiffworkflow": _Dialect(), "camunda8": _Camunda8()}


# The cleanup flow's event subprocess, its start and its end.
CLEANUP_SUBPROCESS, CANCELLED_START, CLEANUP_END_EVENT = (
    "CleanupSubProcess", "CancelledStartEvent", "CleanupEndEvent"
)  # fmt: skip
# The signal that starts it: named after the event a cancellation records, so that
# it is no signal of the workflow's own.
CANCELLED_SIGNAL = "wio.Cancelled"


def render_bpmn(
    root: model.Model,
    *,
    name: str = "Workflow",
    process_id: str = "Process_1",
    marks: Marks | None = None,
    target: BpmnTarget = "spiffworkflow",
) -> str:
    """The BPMN 2.0 XML (with BPMNDI) of a model; ``marks`` colour what an instance
    ran, where it waits and what failed (as bpmn-js and Camunda Modeler draw it).
    ``target`` is the engine the expressions are written for: SpiffWorkflow's
    Python, or Camunda 8's FEEL with Zeebe task definitions."""
    renderer = _Renderer(_DIALECTS[target])
    tree, cleanup = model.parts(root)
    start = renderer.event("startEvent", "StartEvent", "Start")
    body = renderer.place(tree, ROOT)
    parts = [start, body]
    if body.entry is None or body.exit is not None:
        parts.append(renderer.event("endEvent", "EndEvent", "End"))
    whole = renderer.sequence(parts)
    if cleanup is not None:
        below = renderer.cleanup(cleanup).moved(0, whole.height + 2 * GAP_Y)
        whole.shapes += below.shapes
        whole.flows += below.flows
        whole.lanes += below.lanes
        whole.width = max(whole.width, below.width)
        whole.height += 2 * GAP_Y + below.height
    whole.moved(100, 100)
    colours: dict[str, State] = {}
    if marks:
        renderer.by_path[END] = "EndEvent"
        renderer.by_path[CLEANUP_END] = CLEANUP_END_EVENT
        shapes = {**renderer.containers, **renderer.by_path}
        found = shown_on(root, states(root, marks), shapes.__contains__)
        for path, state in found.items():
            if path in shapes:
                colours[shapes[path]] = state
        for path, join in renderer.loop_joins.items():  # entered once the loop is
            if any(within(p, path) for p in found):
                colours.setdefault(join, "executed")
        for path, inner_start in renderer.section_starts.items():  # once it is entered
            if any(within(p, child(path, BASE)) for p in found):
                colours.setdefault(inner_start, "executed")
        for path, catchers in renderer.catchers.items():  # the error was caught there
            if path in marks.executed:
                fired = [b for raiser, b in catchers if raiser in marks.failed]
                for boundary in fired or [f"Boundary_{_path_id(path)}"]:
                    colours.setdefault(boundary, "executed")
        colours.setdefault("StartEvent", "executed")
        if any(within(p, CLEANUP) for p in found):  # the cancellation started the cleanup
            colours.setdefault(CLEANUP_SUBPROCESS, "executed")
            colours.setdefault(CANCELLED_START, "executed")
    return _xml(renderer, whole, _clean(name), process_id, colours)


# -- XML ----------------------------------------------------------------------------


# Fill and outline of a marked shape (bpmn-js's bioc and OMG's color extensions).
COLOURS: dict[State, tuple[str, str]] = {
    "executed": ("#d4edda", "#2e7d32"),
    "waiting": ("#fff3cd", "#b26a00"),
    "failed": ("#f8d7da", "#a71d2a"),
}
COLOUR_NAMESPACES = (
    'xmlns:bioc="http://bpmn.io/schema/bpmn/biocolor/1.0" '
    'xmlns:color="http://www.omg.org/spec/BPMN/non-normative/color/1.0" '
)


def _xml(
    renderer: _Renderer,
    whole: Fragment,
    name: str,
    process_id: str,
    colours: dict[str, State] | None = None,
) -> str:
    colours = colours or {}
    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    for flow in whole.flows:
        outgoing.setdefault(flow.source, []).append(flow.id)
        incoming.setdefault(flow.target, []).append(flow.id)
    scope_of = {e.id: e.scope for e in renderer.elements}

    def io(id_: str) -> str:
        refs = [f"<bpmn:incoming>{f}</bpmn:incoming>" for f in incoming.get(id_, [])]
        refs += [f"<bpmn:outgoing>{f}</bpmn:outgoing>" for f in outgoing.get(id_, [])]
        return "".join(refs)

    def content(scope: str, indent: str) -> Iterator[str]:
        for element in renderer.elements:
            if element.scope == scope:
                children = "\n" + "\n".join(content(element.id, indent + "  ")) + "\n" + indent
                yield indent + element.xml.replace(IO, io(element.id)).replace(CHILDREN, children)
        for flow in whole.flows:
            if scope_of[flow.source] == scope:
                yield indent + _sequence_flow(flow)
        for link in renderer.associations:  # artifacts come after the flow elements
            if link.scope == scope:
                yield (
                    f'{indent}<bpmn:association id="{link.id}" associationDirection="One" '
                    f'sourceRef="{link.source}" targetRef="{link.target}"/>'
                )

    shapes = {s.id: s for s in whole.shapes}
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
        'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f"{COLOUR_NAMESPACES if colours else ''}{renderer.dialect.namespaces}"
        'id="Definitions_1" targetNamespace="https://wio.dev/bpmn" '
        'exporter="wio" exporterVersion="0.1">',
    ]
    for error_id, error_name in sorted(renderer.errors.items()):
        lines.append(
            f'  <bpmn:error id="{error_id}" name={quoteattr(error_name)} '
            f"errorCode={quoteattr(error_name)}/>"
        )
    for signal_id, signal_name in sorted(renderer.signals.items()):
        lines.append(f'  <bpmn:signal id="{signal_id}" name={quoteattr(signal_name)}/>')
    lines.append(f'  <bpmn:process id="{process_id}" name={quoteattr(name)} isExecutable="true">')
    lines.extend(content("process", "    "))
    lines.append("  </bpmn:process>")
    lines.append('  <bpmndi:BPMNDiagram id="BPMNDiagram_1">')
    lines.append(f'    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="{process_id}">')
    for shape in whole.shapes:
        expanded = ' isExpanded="true"' if shape.expanded else ""
        bounds = (
            f'<dc:Bounds x="{_n(shape.x)}" y="{_n(shape.y)}" '
            f'width="{_n(shape.w)}" height="{_n(shape.h)}"/>'
        )
        label = ""
        if shape.label is not None:
            dx, dy, w, h = shape.label
            label = (
                f'<bpmndi:BPMNLabel><dc:Bounds x="{_n(shape.x + dx)}" y="{_n(shape.y + dy)}" '
                f'width="{_n(w)}" height="{_n(h)}"/></bpmndi:BPMNLabel>'
            )
        colour = ""
        if shape.id in colours:
            fill, stroke = COLOURS[colours[shape.id]]
            colour = (
                f' bioc:fill="{fill}" bioc:stroke="{stroke}" '
                f'color:background-color="{fill}" color:border-color="{stroke}"'
            )
        lines.append(
            f'      <bpmndi:BPMNShape id="{shape.id}_di" bpmnElement="{shape.id}"'
            f"{expanded}{colour}>{bounds}{label}</bpmndi:BPMNShape>"
        )
    for flow in whole.flows:
        route = _route(flow, shapes)
        points = "".join(f'<di:waypoint x="{_n(x)}" y="{_n(y)}"/>' for x, y in route)
        lines.append(
            f'      <bpmndi:BPMNEdge id="{flow.id}_di" bpmnElement="{flow.id}">'
            f"{points}{_label(flow, route)}</bpmndi:BPMNEdge>"
        )
    for link in renderer.associations:
        source, target = shapes[link.source], shapes[link.target]
        down = source.x + source.w / 2
        points = (
            f'<di:waypoint x="{_n(down)}" y="{_n(source.y + source.h)}"/>'
            f'<di:waypoint x="{_n(down)}" y="{_n(target.y)}"/>'
        )
        lines.append(
            f'      <bpmndi:BPMNEdge id="{link.id}_di" bpmnElement="{link.id}">{points}'
            "</bpmndi:BPMNEdge>"
        )
    lines += ["    </bpmndi:BPMNPlane>", "  </bpmndi:BPMNDiagram>", "</bpmn:definitions>"]
    return "\n".join(lines) + "\n"


def _sequence_flow(flow: Flow) -> str:
    name = f" name={quoteattr(flow.name)}" if flow.name else ""
    opening = (
        f'<bpmn:sequenceFlow id="{flow.id}"{name} '
        f'sourceRef="{flow.source}" targetRef="{flow.target}"'
    )
    inside = ""
    if flow.documentation is not None:
        inside += f"<bpmn:documentation>{escape(flow.documentation)}</bpmn:documentation>"
    if flow.condition is not None:
        inside += (
            '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">'
            f"{escape(flow.condition)}</bpmn:conditionExpression>"
        )
    return f"{opening}>{inside}</bpmn:sequenceFlow>" if inside else opening + "/>"


def _route(flow: Flow, shapes: dict[str, Shape]) -> list[tuple[float, float]]:
    """Orthogonal waypoints from the source's right (or bottom) to the target's left."""
    source, target = shapes[flow.source], shapes[flow.target]
    end = (target.x, target.mid_y)
    if flow.from_bottom:
        start = (source.x + source.w / 2, source.y + source.h)
        if flow.under is not None:
            up = (target.x + target.w / 2, target.y + target.h)
            return [start, (start[0], flow.under.y), (up[0], flow.under.y), up]
        if flow.lane is not None:  # an empty default branch: along its row to the join
            lane, back = flow.lane.mid_y, end[0] - GAP_X / 2
            return [start, (start[0], lane), (back, lane), (back, end[1]), end]
        return [start, (start[0], end[1]), end]
    if flow.loop is not None:
        return _loop_route(flow, flow.loop[1].y, source, target)
    start = (source.x + source.w, source.mid_y)
    if flow.lane is not None and flow.lane.mid_y != start[1]:
        # An empty branch runs along its own row, clear of the other branches.
        out, back = start[0] + BEND, end[0] - GAP_X / 2
        lane = flow.lane.mid_y
        return [start, (out, start[1]), (out, lane), (back, lane), (back, end[1]), end]
    if start[1] == end[1]:
        return [start, end]
    # An arm turns just right of its gateway; other flows in the gap before the target.
    bend = start[0] + BEND if flow.arm else end[0] - GAP_X / 2
    return [start, (bend, start[1]), (bend, end[1]), end]


def _loop_route(flow: Flow, lane: float, source: Shape, target: Shape) -> list[tuple[float, float]]:
    """A loop's edges: from the decision down to the gap above the restart flow
    and into it ("out"), and back along a lane below, up into the join ("back"):
    the restart itself from the decision's bottom, or the end of the restart
    flow (an inner loop's exit too) from its right."""
    assert flow.loop is not None
    if flow.loop[0] == "out":
        down = (source.x + source.w / 2, source.y + source.h)
        into = target.x - GAP_X / 2
        return [down, (down[0], lane), (into, lane), (into, target.mid_y), (target.x, target.mid_y)]
    up = (target.x + target.w / 2, target.y + target.h)
    if flow.condition is not None:  # the decision restarts: straight down from it
        down = (source.x + source.w / 2, source.y + source.h)
        return [down, (down[0], lane), (up[0], lane), up]
    out = (source.x + source.w, source.mid_y)
    # It turns down right of the source's name too (an event's, under it).
    right = (
        out[0]
        if source.label is None
        else max(out[0], source.x + source.label[0] + source.label[2])
    )
    turn = right + GAP_X / 2
    return [out, (turn, out[1]), (turn, lane), (up[0], lane), up]


def _label(flow: Flow, route: list[tuple[float, float]]) -> str:
    """Where a flow's name goes: an arm's on its own row, just after it turns (or
    leaves its gateway); a loop's restart under its lane, right of the drop from
    the decision; any other above its first segment, where the layout leaves
    room after the source."""
    if not flow.name:
        return ""
    width, height = _text_box(flow.name)
    if flow.loop is not None and flow.condition is not None:
        x, y = route[1][0] + 6, route[1][1] + 4
    elif flow.arm and len(route) > 2:
        x, y = route[1][0] + 6, route[2][1] - 4 - height
    else:
        x, y = route[0][0] + 6, route[0][1] - 4 - height
    return (
        f'<bpmndi:BPMNLabel><dc:Bounds x="{_n(x)}" y="{_n(y)}" '
        f'width="{_n(width)}" height="{_n(height)}"/></bpmndi:BPMNLabel>'
    )


def _undo_name(undo: model.ModelNode) -> str:
    """An undo is drawn as one task: named after its first named node."""
    for node, _ in descend_model(undo):
        meta = getattr(node, "meta", None)
        if meta is not None and meta.name:
            return str(meta.name)
    return "Undo"


def _reference_id(prefix: str, name: str) -> str:
    """An XML id for a named error or signal: stable (it depends on the name only)
    and one-to-one, so distinct names never share one. Letters and digits stay;
    "_" is doubled; any other character is its code point in hex between "_"s."""
    return prefix + "".join(
        char if char.isascii() and char.isalnum() else "__" if char == "_" else f"_{ord(char):x}_"
        for char in name
    )


def _nth(base: str, index: int) -> str:
    """The id of the ``index``-th of several elements: ``base`` for the first."""
    return base if index == 0 else f"{base}_e{index}"


def _gateway_shape(
    id_: str, x: float, axis: float, label: tuple[float, float], beside: float
) -> Shape:
    """A gateway centred on ``axis``, its name centred above it and above the
    name (``beside`` high) of the flow leaving it on the right."""
    w, h = label
    return Shape(id_, x, axis - GATEWAY / 2, GATEWAY, GATEWAY,
                 label=(GATEWAY / 2 - w / 2, _label_bottom(beside) - h, w, h))  # fmt: skip


def _label_bottom(beside: float) -> float:
    """Where a gateway's name ends, from the gateway's top: above the gateway,
    and above the name (``beside`` high) of the flow leaving it on the right."""
    return min(-4.0, GATEWAY / 2 - 4 - beside - 2)


def _room_above(label: tuple[float, float], beside: float) -> float:
    """How far above a gateway's axis its name reaches."""
    return GATEWAY / 2 - _label_bottom(beside) + label[1]


def _lines(text: str, width: float, char_w: float) -> int:
    """How many lines ``text`` takes wrapped at ``width`` (words longer than a line
    are broken, as bpmn-js does)."""
    per_line = max(1, int(width // char_w))
    lines, used = 1, 0
    for word in text.split():
        size = len(word)
        if used and used + 1 + size > per_line:  # the word starts a new line
            lines, used = lines + 1, 0
        elif used:
            size += 1  # the space before it
        while used + size > per_line:  # longer than a line: broken
            size -= per_line - used
            lines, used = lines + 1, 0
        used += size
    return lines


def _text_box(text: str, max_width: float = LABEL_W) -> tuple[float, float]:
    """The width and height of an external label's ``text`` wrapped at ``max_width``."""
    widest = min(max_width, len(text) * CHAR_W + 10)
    return widest, _lines(text, max_width, CHAR_W) * LINE_H


def _task_size(name: str) -> tuple[float, float]:
    """A task just large enough for its name: wider first, then taller."""
    for width in (TASK_W, 150.0, TASK_MAX_W):
        height = _lines(name, width - 2 * TASK_PAD, TASK_CHAR_W) * TASK_LINE_H + 2 * TASK_PAD
        if height <= TASK_H:
            return width, TASK_H
    return TASK_MAX_W, height + TASK_LINE_H  # a spare line: glyph widths vary


def _path_id(path: Path) -> str:
    """``0_2`` for ``/0/2``; a cleanup flow's segment -1 is ``c`` (``c_0`` for ``/-1/0``)."""
    return "_".join("c" if segment == -1 else str(segment) for segment in path) or "root"


def _n(value: float) -> str:
    return f"{value:g}"
