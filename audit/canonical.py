"""Serialize an audit payload to RFC 8785 (JCS) canonical UTF-8 bytes.

`dumps` accepts dict with str keys, list, tuple, str, int, float, bool and None,
returns bytes identical to those of the `rfc8785` package (tested against
0.1.4), and raises `CanonicalizationError` with the value's type and path for
anything else.
"""

import json
import math
import operator
import re
import sys
from collections.abc import Mapping
from json.encoder import encode_basestring

__all__ = ["MAX_SAFE_INTEGER", "CanonicalizationError", "dumps"]

# JCS numbers are IEEE 754 doubles, so integers beyond 2**53 - 1 in magnitude
# would not survive a round trip through a JavaScript or other double-based
# reader. The `rfc8785` package rejects them, and so does this module.
MAX_SAFE_INTEGER = 2**53 - 1

# With these options, json output equals the JCS output for exact dict, list,
# tuple, str, int (in range), bool and None, as long as every key sorts the
# same by code point as by UTF-16 code unit. check_circular is off because
# _fits_fast_path visits the whole value first, and a cycle makes that walk
# raise RecursionError.
_FAST_PATH_ENCODER = json.JSONEncoder(
    ensure_ascii=False,
    allow_nan=False,
    sort_keys=True,
    separators=(",", ":"),
    check_circular=False,
)

# Code point order and UTF-16 order differ only between a character at or above
# U+10000 (a surrogate pair starting D800-DBFF) and one in U+E000..U+FFFF. Any
# key with a character at or above U+D800 goes to the full encoder, which also
# rejects lone surrogates in keys.
_FIRST_UTF16_SENSITIVE_CHAR = "\ud800"

# RFC 8785 section 3.2.2.2 escapes exactly the quotation mark, the backslash
# and U+0000..U+001F, using \b \t \n \f \r and lowercase \u00xx for the other
# controls. json.encoder.encode_basestring (CPython 3.11, C or Python version)
# writes exactly that, and _FAST_PATH_ENCODER uses it too. The tests compare
# every ASCII character with the rfc8785 package.
_quote = encode_basestring

# RFC 8785 section 3.2.3 orders properties by their UTF-16 code units, which is
# the byte order of their UTF-16BE encoding. Encoding fails on lone surrogates.
_utf16_code_units = operator.methodcaller("encode", "utf-16-be")

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_DOTTED_PATH_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")

_CONTAINERS = (dict, list, tuple)

# Advice for unsupported types, looked up by fully qualified name along the
# MRO so that subclasses match and no module has to be imported here.
_TYPE_ADVICE = {
    "decimal.Decimal": "Convert the Decimal to a string with str(value), "
    "which keeps every digit.",
    "bytes": "Decode it to str, or encode it as base64 or hex text.",
    "bytearray": "Decode it to str, or encode it as base64 or hex text.",
    "memoryview": "Decode it to str, or encode it as base64 or hex text.",
    "set": "Convert it to a sorted list.",
    "frozenset": "Convert it to a sorted list.",
    "datetime.datetime": "Convert it to an ISO 8601 string with value.isoformat().",
    "datetime.date": "Convert it to an ISO 8601 string with value.isoformat().",
    "datetime.time": "Convert it to an ISO 8601 string with value.isoformat().",
    "uuid.UUID": "Convert it to a string with str(value).",
    "enum.Enum": "Pass the member's value (member.value) instead of the member.",
}
_GENERIC_ADVICE = (
    "Convert it to str, int, float, bool, None, list, tuple or dict "
    "before canonicalization."
)


class CanonicalizationError(ValueError):
    """Value that RFC 8785 cannot represent, with its location in the input.

    `path` is the location in dotted and indexed form, for example
    ``metadata.items[2].price``, and is empty for the top-level value.
    """

    def __init__(self, message, path):
        super().__init__(message)
        self.path = path


class _InvalidValue(Exception):
    """Internal error that each enclosing container extends with its path segment.

    Building the path only while unwinding keeps the successful path free of
    bookkeeping. Segments are appended innermost first.
    """

    def __init__(self, problem, advice, in_object=False):
        super().__init__(problem)
        self.problem = problem
        self.advice = advice
        self.in_object = in_object
        self.segments = []

    def to_public(self):
        segments = list(reversed(self.segments))
        return _located_error(self.problem, segments, self.advice, self.in_object)


def dumps(obj):
    """Serialize ``obj`` to RFC 8785 canonical JSON and return it as UTF-8 bytes.

    Raise CanonicalizationError for an unsupported type, a non-str key, a NaN or
    infinite float, an int outside +-MAX_SAFE_INTEGER, a lone surrogate, a
    circular reference or nesting deeper than the interpreter's recursion limit.
    """
    try:
        if _fits_fast_path(obj):
            text = _FAST_PATH_ENCODER.encode(obj)
        else:
            text = _encode_full(obj)
    except _InvalidValue as error:
        raise error.to_public() from None
    except RecursionError:
        raise _recursion_error(obj) from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates pass both encoders and only fail here, so the
        # location is found with a second walk, which runs on errors only.
        raise _lone_surrogate_error(obj) from None


def _fits_fast_path(value):
    """Return whether _FAST_PATH_ENCODER writes ``value`` exactly as RFC 8785 does.

    Only exact types qualify. Subclasses, floats and values outside the JCS
    domain return False, so that the full encoder serializes or rejects them.
    """
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            if not key.isascii() and max(key) >= _FIRST_UTF16_SENSITIVE_CHAR:
                return False
            if type(item) is not str and not _fits_fast_path(item):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:
            if type(item) is not str and not _fits_fast_path(item):
                return False
        return True
    if kind is int:
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    return kind is str or kind is bool or value is None


def _encode_full(value):
    """Serialize ``value`` to canonical JSON text, for any input in the JCS domain.

    Raise _InvalidValue for values outside the domain, except lone surrogates in
    strings, which the caller detects when it encodes the text to UTF-8.
    """
    parts = []
    _append_value(value, parts)
    return "".join(parts)


def _append_value(value, parts):
    # Subclasses are accepted like their base types, to match `rfc8785`.
    # True and False are matched before int because bool is an int subclass.
    if isinstance(value, str):
        parts.append(_quote(value))
    elif isinstance(value, dict):
        _append_object(value, parts)
    elif isinstance(value, (list, tuple)):
        _append_array(value, parts)
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(_format_int(int(value)))
    elif isinstance(value, float):
        parts.append(_format_float(float(value)))
    else:
        raise _InvalidValue(
            f"unsupported type {_type_name(value)}", _advice_for_type(value)
        )


def _append_array(items, parts):
    parts.append("[")
    for index, item in enumerate(items):
        if index:
            parts.append(",")
        try:
            _append_value(item, parts)
        except _InvalidValue as error:
            error.segments.append(index)
            raise
    parts.append("]")


def _append_object(mapping, parts):
    if type(mapping) is not dict:
        mapping = dict(mapping)
    keys = list(mapping)
    for key in keys:
        if not isinstance(key, str):
            raise _InvalidValue(
                f"non-str object key {_short_repr(key)} ({_type_name(key)})",
                "JSON object keys must be strings. Convert the key with str(key).",
                in_object=True,
            )
    try:
        keys.sort(key=_utf16_code_units)
    except UnicodeEncodeError:
        raise _key_surrogate_error(keys) from None
    parts.append("{")
    for index, key in enumerate(keys):
        if index:
            parts.append(",")
        parts.append(_quote(key))
        parts.append(":")
        try:
            _append_value(mapping[key], parts)
        except _InvalidValue as error:
            error.segments.append(key)
            raise
    parts.append("}")


def _key_surrogate_error(keys):
    for key in keys:
        match = _LONE_SURROGATE.search(key)
        if match is not None:
            return _InvalidValue(
                _surrogate_problem(key, match.start(), "object key"),
                _SURROGATE_ADVICE,
                in_object=True,
            )
    return _InvalidValue(
        "object key that UTF-16 cannot encode", _SURROGATE_ADVICE, in_object=True
    )


def _format_int(number):
    if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        return repr(number)
    if number.bit_length() <= 128:
        description = str(number)
    else:
        # Printing a huge int is slow, and Python 3.11 raises ValueError for
        # ints of more than 4300 digits under its default int_max_str_digits.
        description = f"of {number.bit_length()} bits"
    raise _InvalidValue(
        f"out-of-range int {description}",
        "JCS numbers are IEEE 754 doubles, so integers must lie between "
        "-(2**53 - 1) and 2**53 - 1. Send larger ones as strings, "
        "for example str(value).",
    )


def _format_float(number):
    """Format a finite float as ECMAScript's Number::toString does.

    ECMA-262 writes a number as the shortest digit string s of length k with
    value 0.s * 10**n, in plain notation when -6 < n <= 21 and in exponent
    notation otherwise. s has the fewest digits that round-trip, and the closest
    to the exact value among those. Python's repr() picks the same digits, so
    only the layout is computed here.
    """
    if not math.isfinite(number):
        raise _InvalidValue(
            f"non-finite float {number!r}",
            "JSON has no NaN or Infinity. Use None or a string instead.",
        )
    if number == 0:
        # ECMAScript prints both +0 and -0 as "0".
        return "0"

    text = repr(number)
    sign = ""
    if text[0] == "-":
        sign = "-"
        text = text[1:]
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    # point is n in the docstring: the value is 0.significant * 10**point.
    point = len(whole) + (int(exponent) if exponent else 0)
    significant = digits.lstrip("0")
    point -= len(digits) - len(significant)
    significant = significant.rstrip("0")
    count = len(significant)

    if count <= point <= 21:
        body = significant + "0" * (point - count)
    elif 0 < point <= 21:
        body = f"{significant[:point]}.{significant[point:]}"
    elif -6 < point <= 0:
        body = f"0.{'0' * -point}{significant}"
    else:
        fraction_part = f".{significant[1:]}" if count > 1 else ""
        body = f"{significant[0]}{fraction_part}e{point - 1:+d}"
    return sign + body


_SURROGATE_ADVICE = (
    "UTF-8 cannot encode a lone surrogate. Fix the decoding of the source text, "
    "or replace the character."
)


def _surrogate_problem(text, index, role):
    return (
        f"lone surrogate U+{ord(text[index]):04X} at index {index} "
        f"of {role} {_short_repr(text)}"
    )


def _lone_surrogate_error(value):
    found = _find_lone_surrogate(value, [])
    if found is None:
        # Only a lone surrogate makes a str fail UTF-8 encoding, so this is a
        # fallback for containers whose iteration changed between the walks.
        return _located_error("lone surrogate", [], _SURROGATE_ADVICE)
    problem, segments, in_object = found
    return _located_error(problem, segments, _SURROGATE_ADVICE, in_object)


def _find_lone_surrogate(value, segments):
    """Find the first lone surrogate in a str value or object key.

    Return its description, the path segments and whether the path is that of
    the object containing the key, or None.
    """
    if isinstance(value, str):
        match = _LONE_SURROGATE.search(value)
        if match is None:
            return None
        return _surrogate_problem(value, match.start(), "str"), segments, False
    if isinstance(value, dict):
        for key, item in value.items():
            match = _LONE_SURROGATE.search(key) if isinstance(key, str) else None
            if match is not None:
                problem = _surrogate_problem(key, match.start(), "object key")
                return problem, segments, True
            found = _find_lone_surrogate(item, [*segments, key])
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find_lone_surrogate(item, [*segments, index])
            if found is not None:
                return found
    return None


def _recursion_error(value):
    """Build the error for a value whose encoding exceeded the recursion limit.

    A cycle is reported with the path of the reference that closes it. Without a
    cycle, the value is nested too deeply for a recursive encoder, which the
    `rfc8785` package also fails on.

    NOTE: the depth that fails depends on the caller's stack depth, and it can
    differ by a few levels from the depth at which `rfc8785` fails.
    """
    cycle = _find_cycle(value)
    if cycle is not None:
        segments, ancestor_segments = cycle
        return _located_error(
            f"circular reference to {_describe_path(_format_path(ancestor_segments))}",
            segments,
            "Pass a copy of the value without the cycle.",
        )
    return CanonicalizationError(
        "value nested deeper than the Python recursion limit of "
        f"{sys.getrecursionlimit()} allows. Flatten the value, or raise the limit "
        "with sys.setrecursionlimit().",
        "",
    )


def _find_cycle(root):
    """Find a reference from inside a container back to that container.

    Return the path of the reference and the path of the container, or None
    without a cycle. The walk is iterative, so it also works on values too deep
    for recursion.
    """
    if not isinstance(root, _CONTAINERS):
        return None
    open_containers = [root]
    open_ids = {id(root)}
    segments = []
    pending = [_child_items(root)]
    while pending:
        next_child = next(pending[-1], None)
        if next_child is None:
            pending.pop()
            open_ids.discard(id(open_containers.pop()))
            if segments:
                segments.pop()
            continue
        segment, child = next_child
        if not isinstance(child, _CONTAINERS):
            continue
        if id(child) in open_ids:
            depth = next(
                index
                for index, container in enumerate(open_containers)
                if container is child
            )
            return [*segments, segment], segments[:depth]
        open_containers.append(child)
        open_ids.add(id(child))
        segments.append(segment)
        pending.append(_child_items(child))
    return None


def _child_items(container):
    if isinstance(container, dict):
        return iter(
            [
                (key if isinstance(key, str) else repr(key), item)
                for key, item in dict(container).items()
            ]
        )
    return iter(list(enumerate(container)))


def _located_error(problem, segments, advice, in_object=False):
    path = _format_path(segments)
    where = _describe_path(path)
    if in_object:
        where = f"in the object at {where}"
    else:
        where = f"at {where}"
    return CanonicalizationError(f"{problem} {where}. {advice}", path)


def _format_path(segments):
    path = ""
    for segment in segments:
        if isinstance(segment, int):
            path += f"[{segment}]"
        elif _DOTTED_PATH_KEY.match(segment):
            path += f".{segment}" if path else segment
        else:
            # ASCII-only JSON quoting keeps control characters and surrogates
            # in keys readable in logs.
            path += f"[{json.dumps(str.__str__(segment))}]"
    return path


def _describe_path(path):
    return path if path else "the top level"


def _type_name(value):
    return _qualified_name(type(value))


def _qualified_name(kind):
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def _advice_for_type(value):
    for kind in type(value).__mro__:
        advice = _TYPE_ADVICE.get(_qualified_name(kind))
        if advice is not None:
            return advice
    if isinstance(value, Mapping):
        return "Convert it to a dict with dict(value)."
    return _GENERIC_ADVICE


def _short_repr(value, limit=60):
    try:
        text = repr(value)
    except Exception:
        # A broken __repr__ must not replace the error being reported.
        return f"<{_type_name(value)}>"
    if len(text) > limit:
        return text[: limit - 3] + "..."
    return text
