"""The static model of a workflow, and its JSON form.

`to_model` derives a tree of plain data from a WIO tree: what each node is and
how people call it, with no functions inside. Renderers draw the model, and
two versions of a workflow are compared through it, so it round-trips through
JSON exactly (``from_json(to_json(m)) == m``).

JSON objects carry their node type in ``_type``; technical nodes are
``Checkpoint`` (around its base) and ``Recovery``. `Transform` nodes are
transparent, and ``flat_map`` shows as a sequence ending in ``Dynamic``.
A workflow with a cleanup flow (`Workflow.on_cancel`) is modelled as a
`WithCleanup` root around its tree; any other model is its tree's root node.
See docs/model.md and docs/model.schema.json.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Optional, Union, assert_never, overload

import attrs
import cattrs
from attrs import frozen
from cattrs.gen import make_dict_unstructure_fn, override

from wio import algebra, paths
from wio.algebra import WIO, as_node
from wio.converter import describe_structure_error, strict_converter
from wio.errors import DefinitionError
from wio.for_each import BY_POSITION
from wio.timers import iso_duration

if TYPE_CHECKING:  # wio.definition imports wio.paths, which imports this module
    from wio.definition import Workflow


@frozen
class ErrorMeta:
    name: str


@frozen
class NodeMeta:
    name: str | None = None
    error: ErrorMeta | None = None
    description: str | None = None  # omitted from JSON when absent


@frozen
class Sequence:
    steps: list[ModelNode]


@frozen
class Dynamic:
    meta: NodeMeta


@frozen
class Retry:
    max_attempts: int
    initial_delay: float
    multiplier: float
    max_delay: float


@frozen
class RunIO:
    meta: NodeMeta
    event: str
    retry: Retry | None = None  # the step's own policy; omitted from JSON when it has none


@frozen
class Pure:
    meta: NodeMeta


@frozen
class Loop:
    base: ModelNode
    on_restart: ModelNode | None
    meta: NodeMeta  # meta.name names the condition
    exit: str
    restart: str


@frozen
class Interruptible:
    base: ModelNode
    trigger: ModelNode  # a HandleSignal or a Timer
    handler: ModelNode | None


@frozen
class Timer:
    meta: NodeMeta
    duration: str | None  # ISO-8601; None when computed from the input


@frozen
class HandleSignal:
    meta: NodeMeta
    signal: str
    event: str


@frozen
class HandleError:
    base: ModelNode
    handler: ModelNode
    meta: NodeMeta


@frozen
class Branch:
    name: str
    base: ModelNode
    default: bool = False


@frozen
class Fork:
    branches: list[Branch]
    meta: NodeMeta


@frozen
class Flow:
    name: str
    base: ModelNode


@frozen
class Parallel:
    flows: list[Flow]
    meta: NodeMeta


@frozen
class ForEach:
    base: ModelNode  # the body, run once per element
    meta: NodeMeta
    key: str  # "key": elements are known by a key; "position": by their position


@frozen
class Embed:
    base: ModelNode  # the embedded workflow
    meta: NodeMeta  # meta.name: the embedded workflow's name


@frozen
class RunChild:
    meta: NodeMeta  # meta.name: the node's name (by default the child workflow's)
    workflow: str  # the child workflow's name
    version: int  # and version, as workers serve it


@frozen
class Compensated:
    base: ModelNode  # the step
    undo: ModelNode  # what undoes it


@frozen
class Compensating:
    base: ModelNode  # the section whose completed steps are undone on an error


@frozen
class Checkpoint:
    base: ModelNode


@frozen
class Recovery:
    pass


@frozen
class End:
    pass


ModelNode = Union[  # noqa: UP007 - cattrs needs a runtime Union with forward references
    Sequence,
    Dynamic,
    RunIO,
    Pure,
    HandleSignal,
    Timer,
    Loop,
    Interruptible,
    HandleError,
    Fork,
    Parallel,
    ForEach,
    Embed,
    RunChild,
    Compensated,
    Compensating,
    Checkpoint,
    Recovery,
    End,
]

NODE_TYPES: tuple[type[Any], ...] = ModelNode.__args__  # type: ignore[attr-defined]


@frozen
class WithCleanup:
    """A workflow with a cleanup flow (`Workflow.on_cancel`): only ever a model's root.

    A wrapper rather than a field of every node, so that a workflow without a
    cleanup keeps the model it always had (its tree's root node)."""

    base: ModelNode  # the workflow's tree, at the root path
    on_cancel: ModelNode  # the cleanup flow, at `wio.paths.CLEANUP`


Model = ModelNode | WithCleanup
"""A whole workflow's model: its tree, or a `WithCleanup` around it."""


def parts(model: Model) -> tuple[ModelNode, ModelNode | None]:
    """A model's tree and its cleanup flow (None when it declares none)."""
    if isinstance(model, WithCleanup):
        return model.base, model.on_cancel
    return model, None


for _cls in (*NODE_TYPES, Branch, Flow, Retry, WithCleanup):
    attrs.resolve_types(_cls, globals(), locals())


def _meta(meta: algebra.Meta) -> NodeMeta:
    error = ErrorMeta(meta.error) if meta.error else None
    return NodeMeta(name=meta.name, error=error, description=meta.description)


@overload
def to_model(wio: WIO[Any, Any, Any]) -> ModelNode: ...


@overload
def to_model(wio: Workflow[Any, Any, Any]) -> Model: ...


def to_model(wio: WIO[Any, Any, Any] | Workflow[Any, Any, Any]) -> Model:
    """The static model of a WIO tree, or of a `Workflow`: its tree's, in a
    `WithCleanup` when it declares a cleanup flow (no user code runs).

    Each node's children are modelled in the order and slots `wio.paths.children`
    gives them, so the model's nodes sit at the paths the interpreter records.
    """
    if isinstance(wio, WIO):
        return _tree(wio)
    tree = _tree(wio.wio)
    return tree if wio.on_cancel is None else WithCleanup(tree, _tree(wio.on_cancel))


def _tree(wio: WIO[Any, Any, Any]) -> ModelNode:
    node = as_node(wio)
    kids = paths.children(node)
    inner = [_tree(kid.node) for kid in kids]
    slot = {kid.slot: part for kid, part in zip(kids, inner, strict=True)}
    match node:
        case algebra.Pure():
            return Pure(_meta(node.meta))
        case algebra.Run():
            policy = node.retry
            retry = None if policy is None else Retry(
                policy.max_attempts, policy.initial_delay, policy.multiplier, policy.max_delay
            )  # fmt: skip
            return RunIO(_meta(node.meta), node.event_type.__name__, retry)
        case algebra.HandleSignal():
            return HandleSignal(_meta(node.meta), node.signal.name, node.event_type.__name__)
        case algebra.Timer():
            duration = node.duration
            static = iso_duration(duration) if isinstance(duration, timedelta) else None
            return Timer(_meta(node.meta), static)
        case algebra.Recover():
            return Recovery()
        case algebra.End():
            return End()
        case algebra.Sequence():
            return Sequence(inner)
        case algebra.Transform():
            return slot["base"]
        case algebra.FlatMap():
            return Sequence([slot["base"], Dynamic(_meta(node.meta))])
        case algebra.HandleError():
            return HandleError(slot["base"], slot["handler"], _meta(node.meta))
        case algebra.Checkpoint():
            return Checkpoint(slot["base"])
        case algebra.Fork():
            branches = zip(node.branches, inner, strict=True)
            return Fork(
                [Branch(b.name, part, b.is_default) for b, part in branches], _meta(node.meta)
            )
        case algebra.Parallel():
            flows = zip(node.flows, inner, strict=True)
            return Parallel([Flow(f.name, part) for f, part in flows], _meta(node.meta))
        case algebra.ForEach():
            by = "position" if isinstance(node.key, type(BY_POSITION)) else "key"
            return ForEach(slot["body"], _meta(node.meta), by)
        case algebra.Embed():
            return Embed(slot["base"], _meta(node.meta))
        case algebra.RunChild():
            return RunChild(_meta(node.meta), node.workflow.name, node.workflow.version)
        case algebra.Compensated():
            return Compensated(slot["base"], slot["undo"])
        case algebra.Compensating():
            return Compensating(slot["base"])
        case algebra.Loop():
            return Loop(
                slot["body"], slot.get("on_restart"), _meta(node.meta), node.exit_name,
                node.restart_name,
            )  # fmt: skip
        case algebra.Interruptible():
            return Interruptible(slot["base"], slot["trigger"], slot.get("handler"))
        case _:
            assert_never(node)


_TYPES_BY_TAG: dict[str, type[Any]] = {cls.__name__: cls for cls in NODE_TYPES}


def _make_converter() -> cattrs.Converter:
    converter = strict_converter(forbid_extra_keys=True)
    converter.register_unstructure_hook(
        NodeMeta,
        make_dict_unstructure_fn(NodeMeta, converter, description=override(omit_if_default=True)),
    )

    def unstructure_node(node: Any) -> dict[str, Any]:
        data: dict[str, Any] = converter.unstructure(node, type(node))
        data["_type"] = type(node).__name__  # after the fields, as in the documented examples
        return data

    def structure_node(data: Any, _: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object with _type, got {json.dumps(data)}")
        fields = dict(data)
        tag = fields.pop("_type", None)
        if tag == "WithCleanup":
            raise ValueError("unknown node _type 'WithCleanup' here: it is only a model's root")
        if tag not in _TYPES_BY_TAG:
            known = ", ".join(sorted(_TYPES_BY_TAG))
            raise ValueError(f"unknown node _type {tag!r} (expected one of: {known})")
        return converter.structure(fields, _TYPES_BY_TAG[tag])

    def structure_optional(data: Any, _: Any) -> Any:
        return None if data is None else structure_node(data, _)

    def unstructure_optional(node: Any) -> Any:
        return None if node is None else unstructure_node(node)

    converter.register_structure_hook(Optional[ModelNode], structure_optional)  # noqa: UP045
    converter.register_unstructure_hook(Optional[ModelNode], unstructure_optional)  # noqa: UP045
    converter.register_unstructure_hook(ModelNode, unstructure_node)
    for cls in NODE_TYPES:
        if cls is not RunIO:
            converter.register_unstructure_hook(cls, converter.gen_unstructure_attrs_fromdict(cls))
    converter.register_unstructure_hook(
        RunIO, make_dict_unstructure_fn(RunIO, converter, retry=override(omit_if_default=True))
    )
    converter.register_structure_hook(ModelNode, structure_node)

    def unstructure_model(root: Any) -> dict[str, Any]:
        if not isinstance(root, WithCleanup):
            return unstructure_node(root)
        return {
            "base": unstructure_node(root.base),
            "on_cancel": unstructure_node(root.on_cancel),
            "_type": "WithCleanup",
        }

    def structure_model(data: Any, _: Any) -> Any:
        if isinstance(data, dict) and data.get("_type") == "WithCleanup":
            fields = {key: value for key, value in data.items() if key != "_type"}
            return converter.structure(fields, WithCleanup)
        return structure_node(data, _)

    converter.register_unstructure_hook(Model, unstructure_model)
    converter.register_structure_hook(Model, structure_model)
    return converter


converter = _make_converter()


def unstructure(model: Model) -> dict[str, Any]:
    return converter.unstructure(model, Model)  # type: ignore[no-any-return]


def structure(data: Any) -> Model:
    """Load a model from its JSON value; raises ``ModelFormatError`` saying where it is wrong."""
    try:
        loaded: Model = converter.structure(data, Model)  # type: ignore[arg-type]
        return loaded
    except Exception as exc:
        raise ModelFormatError(describe_structure_error(exc, "model")) from exc


def to_json(
    model: Model | WIO[Any, Any, Any] | Workflow[Any, Any, Any], *, indent: int | None = None
) -> str:
    from wio.definition import Workflow  # here: wio.definition imports wio.paths, then this

    if isinstance(model, WIO | Workflow):
        model = to_model(model)
    return json.dumps(unstructure(model), indent=indent, ensure_ascii=False)


def from_json(text: str) -> Model:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFormatError(f"not JSON: {exc}") from exc
    return structure(data)


class ModelFormatError(DefinitionError):
    """Raised by `from_json` and `structure` when a value does not describe a
    workflow model; says where it is wrong."""
