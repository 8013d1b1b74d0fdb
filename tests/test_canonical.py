"""Tests for audit.canonical, checked against the rfc8785 package."""

import enum
import math
import struct
from collections import OrderedDict, namedtuple
from decimal import Decimal

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalizationError,
    _encode_full,
    _fits_fast_path,
    dumps,
)

# Characters where JSON escaping, UTF-8 width or UTF-16 key order change.
TRICKY_CHARACTERS = [
    "\x00",
    "\x08",
    "\x1f",
    "\x7f",
    '"',
    "\\",
    "/",
    "a",
    "é",
    "\u2028",
    "\ud7ff",
    "\ue000",
    "\ufb33",
    "\uffff",
    "\U00010000",
    "\U0001f600",
    "\U0010ffff",
]

# Hypothesis excludes surrogates (category Cs) from generated text by default.
texts = st.one_of(
    st.text(max_size=12),
    st.text(st.sampled_from(TRICKY_CHARACTERS), max_size=4),
)
safe_integers = st.one_of(
    st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),
    st.sampled_from([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 0, 2**31, -(2**31)]),
)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(st.none(), st.booleans(), safe_integers, finite_floats, texts)
float_free_scalars = st.one_of(st.none(), st.booleans(), safe_integers, texts)


def _containers(children):
    return st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(texts, children, max_size=6),
    )


json_values = st.recursive(scalars, _containers, max_leaves=25)
float_free_values = st.recursive(float_free_scalars, _containers, max_leaves=25)


class Unsupported:
    pass


lone_surrogates = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
invalid_leaves = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.integers(min_value=MAX_SAFE_INTEGER + 1),
    st.integers(max_value=-MAX_SAFE_INTEGER - 1),
    st.builds(lambda head, bad, tail: head + bad + tail, texts, lone_surrogates, texts),
    st.sampled_from(
        [{1, 2}, frozenset(), b"bytes", bytearray(b"x"), Decimal("1.5"), 1j]
    ),
    st.builds(Unsupported),
    st.builds(
        lambda key, value: {key: value},
        st.one_of(
            st.integers(),
            st.none(),
            st.booleans(),
            st.just(b"key"),
            st.just((1, 2)),
            st.just(1.5),
            st.builds(lambda bad, tail: bad + tail, lone_surrogates, texts),
        ),
        scalars,
    ),
)


def _wrap_invalid(children):
    """Place an invalid child inside a list or dict among valid siblings."""
    in_list = st.builds(
        lambda head, child, tail: [*head, child, *tail],
        st.lists(json_values, max_size=2),
        children,
        st.lists(json_values, max_size=2),
    )
    in_dict = st.builds(
        lambda siblings, key, child: {**siblings, key: child},
        st.dictionaries(texts, json_values, max_size=2),
        texts,
        children,
    )
    return st.one_of(in_list, in_dict)


invalid_values = st.recursive(invalid_leaves, _wrap_invalid, max_leaves=4)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_dumps_matches_rfc8785(value):
    assert dumps(value) == rfc8785.dumps(value)


@settings(max_examples=300, deadline=None)
@given(float_free_values)
def test_fast_path_matches_rfc8785(value):
    # Float-free values with tricky keys exercise both the json.dumps fast path
    # and the decision to leave it.
    assert dumps(value) == rfc8785.dumps(value)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_full_encoder_matches_rfc8785(value):
    assert _encode_full(value).encode("utf-8") == rfc8785.dumps(value)


@settings(max_examples=300, deadline=None)
@given(finite_floats)
def test_float_matches_rfc8785(number):
    assert dumps(number) == rfc8785.dumps(number)


@settings(max_examples=300, deadline=None)
@given(invalid_values)
def test_rejects_what_rfc8785_rejects(value):
    # rfc8785 raises its CanonicalizationError, or UnicodeEncodeError for a lone
    # surrogate in a key, or ValueError for an int too long to print. All of
    # them are ValueError subclasses.
    with pytest.raises(ValueError):
        rfc8785.dumps(value)
    with pytest.raises(CanonicalizationError):
        dumps(value)


# RFC 8785 Appendix B: IEEE 754 bit patterns and their JCS text.
APPENDIX_B_NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B_NUMBERS)
def test_appendix_b_number(bits, expected):
    number = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert rfc8785.dumps(number) == expected.encode()
    assert dumps(number) == expected.encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000"])
def test_appendix_b_nan_infinity_rejected(bits):
    number = struct.unpack(">d", bytes.fromhex(bits))[0]
    with pytest.raises(CanonicalizationError):
        dumps(number)


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (1.0, "1"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (1.5e-7, "1.5e-7"),
        (123456789012345680000.0, "123456789012345680000"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (4.5, "4.5"),
        (1e300, "1e+300"),
    ],
)
def test_float_uses_ecmascript_layout(number, expected):
    assert rfc8785.dumps(number) == expected.encode()
    assert dumps(number) == expected.encode()


def test_negative_zero_is_zero():
    assert dumps(-0.0) == b"0"
    assert dumps({"x": [-0.0]}) == rfc8785.dumps({"x": [-0.0]})


def test_rfc_example_matches():
    # The example in RFC 8785 section 3.2.2, after JSON parsing.
    value = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 1e-27],
        "string": '\u20ac$\x0f\nA\'B"\\\\"/',
        "literals": [None, True, False],
    }
    expected = (
        '{"literals":[null,true,false],'
        '"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    ).encode()
    assert rfc8785.dumps(value) == expected
    assert dumps(value) == expected


def test_keys_sort_by_utf16_units():
    # The sorting example in RFC 8785 section 3.2.3. U+1F600 is the surrogate
    # pair D83D DE00, so it sorts before U+FB33 although its code point is larger.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return",'
        '"1":"One",'
        '"\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis",'
        '"\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face",'
        '"\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    ).encode()
    assert rfc8785.dumps(value) == expected
    assert dumps(value) == expected


def test_astral_key_before_private_use():
    value = {"\ue000": 1, "\U00010000": 2}
    assert dumps(value) == '{"\U00010000":2,"\ue000":1}'.encode()
    assert _fits_fast_path(value) is False


def test_tuple_is_array():
    assert dumps((1, "a", (None,))) == b'[1,"a",[null]]'
    assert dumps({"t": ()}) == b'{"t":[]}'


def test_control_characters_match_rfc8785():
    for code in range(0x80):
        character = chr(code)
        # The same character as value and as key, on the fast path.
        assert dumps({character: character}) == rfc8785.dumps({character: character}), (
            hex(code)
        )
        # And once on the full encoder, which a float forces.
        assert dumps([character, 0.5]) == rfc8785.dumps([character, 0.5]), hex(code)


def test_control_escapes_are_lowercase():
    assert dumps("\x1f\x0b\t") == b'"\\u001f\\u000b\\t"'


def test_non_ascii_is_raw_utf8():
    assert dumps("\u00e9\u2028\U0001f600") == '"\u00e9\u2028\U0001f600"'.encode()


def test_integer_range_boundaries():
    assert dumps(MAX_SAFE_INTEGER) == b"9007199254740991"
    assert dumps(-MAX_SAFE_INTEGER) == b"-9007199254740991"
    with pytest.raises(CanonicalizationError):
        dumps(MAX_SAFE_INTEGER + 1)
    with pytest.raises(CanonicalizationError):
        dumps(-MAX_SAFE_INTEGER - 1)


def test_bool_is_not_integer():
    assert dumps([True, False, None]) == b"[true,false,null]"


class Side(enum.Enum):
    BUY = "BUY"


class Color(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Price(float):
    pass


class Name(str):
    pass


Point = namedtuple("Point", ["x", "y"])


@pytest.mark.parametrize(
    "value",
    [
        {"color": Color.RED},
        {"level": Level.HIGH},
        {"price": Price(1.5)},
        {Name("b"): Name("x"), "a": 1},
        OrderedDict([("b", 1), ("a", 2)]),
        [Point(1, 2)],
    ],
    ids=["str-enum", "int-enum", "float-subclass", "str-subclass", "ordered", "named"],
)
def test_subclasses_match_rfc8785(value):
    assert dumps(value) == rfc8785.dumps(value)


def test_typical_event_takes_fast_path():
    event = {
        "event_type": "order.submit.approved",
        "sequence": 184467,
        "outcome": "allowed",
        "metadata": {"symbol": "AAPL", "quantity": 150, "checks": ["hours"]},
    }
    assert _fits_fast_path(event) is True
    assert dumps(event) == rfc8785.dumps(event)


@pytest.mark.parametrize(
    ("value", "type_name", "path", "advice"),
    [
        (
            {"metadata": {"items": [1, 2, {"price": Decimal("1.5")}]}},
            "decimal.Decimal",
            "metadata.items[2].price",
            "str(value)",
        ),
        ({"a": {"b": [math.nan]}}, "float nan", "a.b[0]", "None or a string"),
        ({"limit": math.inf}, "float inf", "limit", "None or a string"),
        ([-math.inf], "float -inf", "[0]", "None or a string"),
        ({"qty": 2**53}, "int 9007199254740992", "qty", "as strings"),
        ({"note": "ab\ud800"}, "U+D800", "note", "lone surrogate"),
        ({"m": {"k\udc00": 1}}, "U+DC00", "m", "lone surrogate"),
        ({"m": {1: "x"}}, "(int)", "m", "str(key)"),
        ({"tags": {"a"}}, "set", "tags", "sorted list"),
        ({"raw": b"\x00"}, "bytes", "raw", "base64"),
        ({"a.b": [Unsupported()]}, "Unsupported", '["a.b"][0]', "Convert it"),
        ({"side": Side.BUY}, "Side", "side", "member.value"),
        (Decimal("2"), "decimal.Decimal", "", "the top level"),
    ],
    ids=[
        "decimal",
        "nan",
        "inf",
        "negative-inf",
        "big-int",
        "surrogate-value",
        "surrogate-key",
        "int-key",
        "set",
        "bytes",
        "object",
        "enum",
        "top-level",
    ],
)
def test_rejection_names_type_and_path(value, type_name, path, advice):
    with pytest.raises(CanonicalizationError) as caught:
        dumps(value)
    message = str(caught.value)
    assert type_name in message
    assert caught.value.path == path
    assert path in message
    assert advice in message


def test_error_is_value_error():
    assert issubclass(CanonicalizationError, ValueError)


def test_circular_reference_rejected():
    value = {"a": {"b": []}}
    value["a"]["b"].append(value["a"])
    with pytest.raises(CanonicalizationError) as caught:
        dumps(value)
    assert caught.value.path == "a.b[0]"
    assert "circular reference to a" in str(caught.value)


def test_deep_nesting_rejected():
    value = []
    innermost = value
    for _ in range(5000):
        innermost.append([])
        innermost = innermost[0]
    with pytest.raises(RecursionError):
        rfc8785.dumps(value)
    with pytest.raises(CanonicalizationError) as caught:
        dumps(value)
    assert "recursion limit" in str(caught.value)


def test_huge_int_message_shows_bits():
    with pytest.raises(CanonicalizationError) as caught:
        dumps(10**5000)
    assert "int of 16610 bits" in str(caught.value)
