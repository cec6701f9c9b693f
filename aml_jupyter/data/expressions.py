"""``ds.filter(ds['age'] > 30)``: v1's column expressions, kept as JSON in a dataset's
definition and run as pyarrow compute expressions.

What is supported is what v1 notebooks write: a column compared with a value or another
column (``== != < <= > >=``), combined with ``&``, ``|`` and ``~``. Anything else (``and``/
``or``, arithmetic, an unknown operator in a stored definition) is an :class:`AmlError`.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from ..errors import AmlError

_COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")
_LITERALS = (bool, int, float, str)


class Expression:
    """A condition on a dataset's rows (``ds['x'] > 3``), as a JSON-able tree."""

    def __init__(self, tree: Any) -> None:
        self.tree = tree

    def __and__(self, other: Any) -> Expression:
        return Expression({"op": "and", "args": [self.tree, _condition(other).tree]})

    def __or__(self, other: Any) -> Expression:
        return Expression({"op": "or", "args": [self.tree, _condition(other).tree]})

    def __invert__(self) -> Expression:
        return Expression({"op": "not", "args": [self.tree]})

    def __bool__(self) -> bool:
        raise AmlError(
            "A dataset condition has no truth value: combine conditions with & | ~ (with "
            "parentheses), not 'and', 'or', 'not', and compare one column at a time."
        )

    def __repr__(self) -> str:
        return f"Expression({self.tree!r})"


def _condition(value: Any) -> Expression:
    if not isinstance(value, Expression) or isinstance(value, Column):
        raise AmlError(
            f"Cannot combine a dataset condition with {value!r}: both sides of & and | must "
            "be conditions such as ds['x'] > 3."
        )
    return value


def _operand(value: Any) -> Any:
    if isinstance(value, Column):
        return value.tree
    if isinstance(value, Expression):
        raise AmlError("A condition cannot be compared with another condition.")
    if value is None or isinstance(value, _LITERALS):
        if isinstance(value, float) and not math.isfinite(value):
            raise AmlError(f"Compare with a finite number, not {value!r}.")
        return {"value": value}
    if isinstance(value, (datetime, date)):
        return {"value": value.isoformat(), "type": type(value).__name__}
    raise AmlError(
        f"A dataset column can be compared with a number, a string, a bool, a date or another "
        f"column; got {type(value).__name__}."
    )


def _unsupported(*_: Any) -> Any:
    raise AmlError(
        "Only comparisons (== != < <= > >=) combined with & | ~ are supported in a dataset "
        "filter; compute new columns after to_pandas_dataframe()."
    )


class Column(Expression):
    """``ds['name']``: a column to compare."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise AmlError(f"A column name is a non-empty string; got {name!r}.")
        super().__init__({"column": name})

    def _compare(self, op: str, other: Any) -> Expression:
        return Expression({"op": op, "args": [self.tree, _operand(other)]})

    def __eq__(self, other: Any) -> Expression:  # type: ignore[override]
        return self._compare("eq", other)

    def __ne__(self, other: Any) -> Expression:  # type: ignore[override]
        return self._compare("ne", other)

    def __lt__(self, other: Any) -> Expression:
        return self._compare("lt", other)

    def __le__(self, other: Any) -> Expression:
        return self._compare("le", other)

    def __gt__(self, other: Any) -> Expression:
        return self._compare("gt", other)

    def __ge__(self, other: Any) -> Expression:
        return self._compare("ge", other)

    __hash__ = None  # type: ignore[assignment]
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _unsupported
    __truediv__ = __rtruediv__ = __mod__ = __pow__ = __neg__ = _unsupported
    __and__ = __or__ = __invert__ = _unsupported


def columns_of(tree: Any) -> set[str]:
    """The columns a stored condition reads (checked as :func:`to_arrow` does)."""
    check(tree)
    found: set[str] = set()

    def walk(node: Any) -> None:
        if "column" in node:
            found.add(node["column"])
        for arg in node.get("args", []):
            walk(arg)

    walk(tree)
    return found


def check(tree: Any, depth: int = 0) -> None:
    """Refuse a stored condition that is not one this module writes."""
    if depth > 200:
        raise AmlError("A dataset filter is nested too deeply.")
    if not isinstance(tree, dict):
        raise AmlError(f"A dataset filter is unreadable: {tree!r}.")
    op = tree.get("op")
    args = tree.get("args")
    if op in _COMPARISONS and isinstance(args, list) and len(args) == 2:
        left, right = args
        if not (isinstance(left, dict) and isinstance(left.get("column"), str) and left["column"]):
            raise AmlError(f"A comparison's left side must be a column: {left!r}.")
        _check_operand(right)
        return
    if op in ("and", "or") and isinstance(args, list) and len(args) == 2:
        for arg in args:
            check(arg, depth + 1)
        return
    if op == "not" and isinstance(args, list) and len(args) == 1:
        check(args[0], depth + 1)
        return
    raise AmlError(f"A dataset filter has an unsupported operation: {op!r}.")


def _check_operand(node: Any) -> None:
    if isinstance(node, dict) and isinstance(node.get("column"), str) and node["column"]:
        return
    if isinstance(node, dict) and "value" in node:
        value = node["value"]
        if (value is None or isinstance(value, _LITERALS)) and node.get("type") in (
            None,
            "date",
            "datetime",
        ):
            return
    raise AmlError(f"A comparison's right side is unreadable: {node!r}.")


def to_arrow(tree: Any) -> Any:
    """A stored condition as a ``pyarrow.compute.Expression``."""
    import pyarrow.compute as pc

    check(tree)

    def build(node: Any) -> Any:
        if "column" in node:
            return pc.field(node["column"])
        if "value" in node:
            return pc.scalar(_literal(node))
        op, args = node["op"], [build(a) for a in node["args"]]
        if op == "and":
            return args[0] & args[1]
        if op == "or":
            return args[0] | args[1]
        if op == "not":
            return ~args[0]
        left, right = args
        return {
            "eq": left == right,
            "ne": left != right,
            "lt": left < right,
            "le": left <= right,
            "gt": left > right,
            "ge": left >= right,
        }[op]

    return build(tree)


def _literal(node: dict[str, Any]) -> Any:
    kind = node.get("type")
    if kind == "datetime":
        return datetime.fromisoformat(node["value"])
    if kind == "date":
        return date.fromisoformat(node["value"])
    return node["value"]
