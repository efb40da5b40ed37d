"""Canonical bundle documents: sorted, compact, byte-identical for identical state."""

from __future__ import annotations

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
