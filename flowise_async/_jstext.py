"""
JSON as JavaScript's ``JSON.stringify`` writes it: compact, non-ASCII as raw UTF-8, numbers as
``Number.prototype.toString`` writes them.

Flowise is a JavaScript server: the JSON strings it stores (``flowData``, ``followUpPrompts``
...) and the frames it streams are written this way. No package imports here: the converter,
the event table and the wire helpers all use it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


__all__ = ["js_dumps", "js_number"]

_FLOAT_MARK = "\ue000flowise-float\ue000"


def js_number(value: float) -> str:
    """Write a finite float as JavaScript's ``Number.prototype.toString`` does."""
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    k = len(digits)
    n = int(exponent) + len(digit_tuple)  # value = 0.digits x 10^n
    minus = "-" if sign else ""
    if k <= n <= 21:
        return minus + digits + "0" * (n - k)
    if 0 < n <= 21:
        return minus + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return minus + "0." + "0" * -n + digits
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{minus}{mantissa}e{'+' if n - 1 > 0 else '-'}{abs(n - 1)}"


def _mark_floats(value: Any, floats: list[str]) -> Any:
    if type(value) is float:
        floats.append(js_number(value))
        return f"{_FLOAT_MARK}{len(floats) - 1}{_FLOAT_MARK}"
    if isinstance(value, dict):
        return {k: _mark_floats(v, floats) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark_floats(v, floats) for v in value]
    return value


def js_dumps(value: Any) -> str:
    """The output of JavaScript's JSON.stringify: compact, non-ASCII as raw UTF-8, JS numbers."""
    floats: list[str] = []
    text = json.dumps(_mark_floats(value, floats), separators=(",", ":"), ensure_ascii=False)
    if not floats:
        return text
    pieces = text.split(f'"{_FLOAT_MARK}')
    out = [pieces[0]]
    for piece in pieces[1:]:
        index, _, rest = piece.partition(f'{_FLOAT_MARK}"')
        out.append(floats[int(index)] + rest)
    return "".join(out)
