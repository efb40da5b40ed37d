"""Canonical bundle documents: sorted, compact, byte-identical for identical state."""

from __future__ import annotations

import gc
import tracemalloc
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_reader.bundle import BundleFormatError, decode_bundle_document, encode_bundle_document

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=4),
    max_leaves=20,
)


def test_keys_are_sorted_and_output_is_compact() -> None:
    data = encode_bundle_document({"b": 1, "a": {"d": [1, 2], "c": True}})
    assert data == b'{"a":{"c":true,"d":[1,2]},"b":1}'


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6))
def test_round_trip_and_insertion_order_does_not_matter(doc: dict[str, object]) -> None:
    data = encode_bundle_document(doc)
    assert decode_bundle_document(data) == doc
    reversed_doc = dict(reversed(list(doc.items())))
    assert encode_bundle_document(reversed_doc) == data


@pytest.mark.parametrize("bad", [{"x": Decimal("1.5")}, {"x": {1: "a"}}, {"x": object()}])
def test_unencodable_documents_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(BundleFormatError, match="document"):
        encode_bundle_document(bad)


@pytest.mark.parametrize("data", [b"", b"not json", b"[1,2]", b'"s"'])
def test_decode_refuses_non_objects(data: bytes) -> None:
    with pytest.raises(BundleFormatError, match="document"):
        decode_bundle_document(data)


@pytest.mark.parametrize("data", [
    b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b'{"a": 1e400}',
    b'{"a": "\\ud800"}', b'{"a": "\\udc00x"}', b'{"a": "\xed\xa0\x80"}', b'{"a": "\xff"}',
    b'\xef\xbb\xbf{}', '{"a": 1}'.encode("utf-16"), b'{"a": 01}', b'{"a": "x\ty"}',
    b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
])
def test_decode_is_as_strict_as_json_itself(data: bytes) -> None:
    # The rules orjson applied (and our encoder's output always meets).
    with pytest.raises(BundleFormatError, match="not valid JSON"):
        decode_bundle_document(data)


def test_decode_accepts_escapes_that_are_valid() -> None:
    data = b'{"pair": "\\ud83d\\ude00", "text": "\\\\ud800", "e": "\\u00e9", "z": -0.0}'
    assert decode_bundle_document(data) == {"pair": "\U0001f600", "text": "\\ud800",
                                            "e": "\u00e9", "z": -0.0}


def test_a_dropped_document_leaves_no_allocation_behind() -> None:
    # orjson kept the last 2048 object keys it parsed alive, process-wide; spread through a
    # large document they kept all of it resident. Nothing of a decode may outlive it.
    data = encode_bundle_document({"flags": {f"flag-{i:05d}": {"kind": "boolean", "n": i}
                                             for i in range(5000)}})
    tracemalloc.start()
    try:
        doc = decode_bundle_document(data)
        assert len(doc["flags"]) == 5000
        del doc
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(True, "*edge_reader/bundle/document.py")])
    finally:
        tracemalloc.stop()
    assert sum(stat.size for stat in snapshot.statistics("filename")) == 0
