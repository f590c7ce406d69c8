"""The cattrs converter configuration shared by the model, the event codec and inputs.

Scalars are checked, not coerced: a name of 3 is an error, not "3". What was
written by wio reads back exactly; anything else is reported, not guessed at.
"""

from __future__ import annotations

import json
from typing import Any

import cattrs
from cattrs.preconf.json import make_converter
from cattrs.v import format_exception


def _strict(expected: type[Any]) -> Any:
    def structure_scalar(value: Any, _: Any) -> Any:
        # bool is an int in Python, but never in a JSON payload of ours.
        if type(value) is not expected and not (expected is float and type(value) is int):
            raise TypeError(f"expected {expected.__name__}, got {json.dumps(value)}")
        return value

    return structure_scalar


def strict_converter(*, forbid_extra_keys: bool) -> cattrs.Converter:
    converter = make_converter(forbid_extra_keys=forbid_extra_keys)
    for scalar in (str, int, float, bool):
        converter.register_structure_hook(scalar, _strict(scalar))
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
