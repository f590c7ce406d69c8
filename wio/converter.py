"""The cattrs converter configuration shared by the model, the event codec and inputs.

Scalars are checked, not coerced: a name of 3 is an error, not "3". What was
written by wio reads back exactly; anything else is reported, not guessed at.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import cattrs
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    is_any_set,
    is_mapping,
    is_sequence,
    list_structure_factory,
)
from cattrs.preconf.json import make_converter
from cattrs.v import format_exception


def _strict(expected: type[Any]) -> Any:
    def structure_scalar(value: Any, _: Any) -> Any:
        # bool is an int in Python, but never in a JSON payload of ours.
        if type(value) is not expected and not (expected is float and type(value) is int):
            raise TypeError(f"expected {expected.__name__}, got {json.dumps(value)}")
        return value

    return structure_scalar


def _shaped(json_type: str, accepted: tuple[type[Any], ...], inner: Any) -> Any:
    """``inner``, after checking that the value has the JSON shape it needs: a string is
    not an array of characters, and an object's keys are not an array."""

    def structure_shaped(value: Any, type_: Any) -> Any:
        if not isinstance(value, accepted):
            raise TypeError(f"expected {json_type}, got {_excerpt(value)}")
        return inner(value, type_)

    return structure_shaped


def _excerpt(value: Any) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def _shape_checks(converter: cattrs.Converter) -> None:
    arrays = (list, tuple)

    def is_tuple(type_: Any) -> bool:
        return type_ is tuple or getattr(type_, "__origin__", None) is tuple

    def tuples(type_: Any) -> Any:
        args = getattr(type_, "__args__", ())
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            inner = homogenous_tuple_structure_factory(type_, converter)
        else:
            inner = converter.gen_structure_hetero_tuple(type_)
        return _shaped("an array", arrays, inner)

    def sets(type_: Any) -> Any:
        args = getattr(type_, "__args__", ())
        element = args[0] if args else Any
        container = frozenset if getattr(type_, "__origin__", type_) is frozenset else set

        def structure_set(value: Any, _: Any) -> Any:
            return container(converter.structure(item, element) for item in value)

        return _shaped("an array", (*arrays, set, frozenset), structure_set)

    converter.register_structure_hook_factory(
        lambda t: is_sequence(t) and not is_tuple(t),
        lambda t: _shaped("an array", arrays, list_structure_factory(t, converter)),
    )
    converter.register_structure_hook_factory(is_tuple, tuples)
    converter.register_structure_hook_factory(is_any_set, sets)
    converter.register_structure_hook_factory(
        is_mapping, lambda t: _shaped("an object", (dict,), converter.gen_structure_mapping(t))
    )
    converter.register_structure_hook_factory(
        lambda t: isinstance(t, type) and attrs.has(t),
        lambda t: _shaped("an object", (dict,), converter.gen_structure_attrs_fromdict(t)),
    )


def strict_converter(
    *, forbid_extra_keys: bool, detailed_validation: bool = True
) -> cattrs.Converter:
    """A strict converter. Without ``detailed_validation`` its structure functions
    are about twice as fast, but name neither the field at fault nor every
    problem: for a first attempt, with a detailed converter to say what is wrong."""
    converter = make_converter(
        forbid_extra_keys=forbid_extra_keys, detailed_validation=detailed_validation
    )
    for scalar in (str, int, float, bool):
        converter.register_structure_hook(scalar, _strict(scalar))
    _shape_checks(converter)
    return converter


def describe_structure_error(exc: BaseException, root: str) -> str:
    """One line per problem, each with the path of the field at fault."""

    def explain(error: BaseException, type_: Any) -> str:
        # Our own hooks word their errors precisely; keep cattrs' wording for the rest.
        message = str(error)
        if isinstance(error, TypeError | ValueError) and message.startswith(
            ("expected", "unknown")
        ):
            return message
        return format_exception(error, type_)

    if isinstance(exc, Exception):
        return "; ".join(cattrs.transform_error(exc, path=root, format_exception=explain))
    return f"{type(exc).__name__}: {exc}"
