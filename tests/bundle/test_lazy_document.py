"""The reader's lazy bundle decode (flags kept as JSON text, decoded on first use) accepts,
refuses and returns exactly what the full decode does — for everything the publisher can
write and for the inputs where msgspec and ``json`` part ways."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_reader.bundle import (
    BundleFormatError,
    decode_bundle_document,
    decode_bundle_document_lazily,
    encode_bundle_document,
)
from edge_reader.engine import compile_environment
from edge_reader.engine._lazy import FlagSources, LazyEnvironment
from loadtests import bench_eval

# What orjson (the publisher's encoder) can write: 64-bit integers; longer ones are tested
# as text below.
scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=4),
    max_leaves=25,
)
documents = st.fixed_dictionaries(
    {"flags": st.dictionaries(st.text(max_size=10), json_values, max_size=6)},
    optional={"revision": st.integers(0, 2**63), "segments": json_values,
              "features": st.lists(st.text(max_size=8), max_size=3)})


def _same(a: Any, b: Any) -> None:
    """Equal with the same types all the way down (1 == 1.0 == True in Python)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, float):
        assert a == b
        assert math.copysign(1, a) == math.copysign(1, b)
    else:
        assert a == b


def _materialised(doc: dict[str, Any]) -> dict[str, Any]:
    flags = doc.get("flags")
    if flags is None:
        return doc
    return {**doc, "flags": dict(flags.items()) if isinstance(flags, Mapping) else flags}


def _check(data: bytes) -> None:
    try:
        want: Any = decode_bundle_document(data)
    except BundleFormatError as exc:
        message = str(exc)
    else:
        _same(_materialised(decode_bundle_document_lazily(data)), want)
        return
    with pytest.raises(BundleFormatError) as got:
        decode_bundle_document_lazily(data)
    assert str(got.value) == message


@settings(max_examples=300, deadline=None)
@given(documents)
def test_what_the_publisher_writes_decodes_to_the_same_values(doc: dict[str, Any]) -> None:
    data = encode_bundle_document(doc)
    lazy = decode_bundle_document_lazily(data)
    # The fast path, not the fallback — unless a float has a 3-digit exponent (1e+100):
    # then the whole-text test sends the document the full way (the values are the same).
    assert isinstance(lazy["flags"], FlagSources) or re.search(rb"e[+-]?[0-9]{3}", data)
    _same(_materialised(lazy), decode_bundle_document(data))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 299).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)),
       st.text("0123456789", min_size=1, max_size=40), st.integers(-99, 99))
def test_numbers_are_read_as_json_reads_them(digits: str, frac: str, exp: int) -> None:
    # Long integers, long mantissas and every two-digit exponent: msgspec's own parsing.
    for text in (f"-{digits}", f"{digits}.{frac}", f"{digits}.{frac}e{exp}", f"0.{frac}E{exp}"):
        if text.lstrip("-").startswith("0") and not text.lstrip("-").startswith("0."):
            continue  # a leading zero: refused by both (checked below)
        data = f'{{"flags": {{"f": {{"n": [{text}]}}}}, "top": {text}}}'.encode()
        _check(data)


@pytest.mark.parametrize("data", [
    # Where msgspec alone would differ: invalid UTF-8 inside a skipped string, escaped lone
    # surrogates, out-of-range floats (and their look-alikes), Python's int digit limit.
    b'{"flags": {"f": {"s": "\xff"}}}', b'{"flags": {"f": {"s": "\xed\xa0\x80"}}}',
    b'{"flags": {"f": {"s": "\\ud800"}}}', b'{"flags": {"f": {"s": "\\udc00x"}}}',
    b'{"flags": {"f": {"n": 1e400}}}', b'{"flags": {"f": {"n": -1E+0309}}}',
    b'{"flags": {"f": {"n": 1e-400}}}', b'{"flags": {"f": {"n": 1' + b"0" * 320 + b'.5}}}',
    b'{"flags": {"f": {"n": ' + b"7" * 5000 + b"}}}",
    b'{"flags": {"f": {"s": "release-100 v2e100"}}}',  # look-alikes: the full path, same value
    # Syntax both refuse, and shapes the split does not take.
    b'{"flags": {"f": {"n": 01}}}', b'{"flags": {"f": [1,]}}', b'{"flags": {"f": NaN}}',
    b'{"flags": {"f": {"s": "x\ty"}}}', b'{"flags": {"f": 1}} x', b'\xef\xbb\xbf{"flags": {}}',
    b'{"flags": [1]}', b'{"flags": null}', b'{"a": 1}', b"[1]", b"", b'{"flags": {}}',
    b'{"flags": {"f": 1, "f": {"x": 2}}, "flags": {"g": {}, "f": 3}}',  # duplicates: last wins
    b'{"flags": {"f": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
    b'{"flags": {"f": {"s": "\\u00e9\\ud83d\\ude00\\n\\/"}}}',
])
def test_edge_inputs_are_accepted_and_refused_alike(data: bytes) -> None:
    _check(data)


def test_a_flag_with_prerequisites_spelt_with_escapes_is_still_found() -> None:
    # The field name written with a \\u escape: the text test must not miss it.
    data = (b'{"flags": {"a": {"kind": "boolean", "variations": {"on": true}, '
            b'"default": {"variation": "on"}}, "b": {"kind": "boolean", "variations": '
            b'{"on": true, "off": false}, "off_variation": "off", '
            b'"prerequisit\\u0065s": [{"flag": "a", "variation": "on"}], '
            b'"default": {"variation": "on"}}}}')
    lazy = compile_environment(decode_bundle_document_lazily(data), strict=False, lazy=True)
    eager = compile_environment(decode_bundle_document(data), strict=False)
    assert isinstance(lazy, LazyEnvironment)
    assert lazy.deferred_flags == 1  # "b" was compiled at load, as a flag with prerequisites
    for key in ("a", "b"):
        ctx = {"targetingKey": "u"}
        assert lazy.evaluate(key, ctx) == eager.evaluate(key, ctx)


def test_the_benchmark_environment_evaluates_alike_both_ways() -> None:
    import random

    rng = random.Random(3)
    mappings = bench_eval.build_mappings(rng, 200)
    doc = bench_eval.build_document(rng, [m["targetingKey"] for m in mappings], 50)
    doc["flags"].update(bench_eval.compile_flags(50))
    data = encode_bundle_document(doc)
    lazy = compile_environment(decode_bundle_document_lazily(data), strict=False, lazy=True)
    eager = compile_environment(json.loads(data), strict=False)
    assert lazy.flag_keys == eager.flag_keys
    for key in sorted(eager.flag_keys):
        for m in mappings[::10]:
            assert lazy.evaluate(key, m, "d") == eager.evaluate(key, m, "d")
    assert lazy.errors == eager.errors
    assert lazy.warnings == eager.warnings
