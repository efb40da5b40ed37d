"""Pointer format and S3 object layout."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from edge_reader.bundle import (
    BundleFormatError,
    Pointer,
    bundle_object_key,
    decode_pointer,
    encode_pointer,
    pointer_object_key,
)

SHA = "ab" * 32


def make_pointer(**over: object) -> Pointer:
    base = Pointer(
        format=1, project="shop", environment="prod", scope="server", revision=7,
        key=bundle_object_key("shop", "prod", "server", 7, SHA), sha256=SHA, size=123,
        generated_at="2026-11-24T06:00:00.000Z",
    )
    return replace(base, **over)  # type: ignore[arg-type]


def test_object_keys_follow_the_documented_layout() -> None:
    key = bundle_object_key("shop", "prod", "server", 7, SHA)
    assert key == f"bundles/shop/prod/7-{SHA}.bundle"
    assert pointer_object_key("shop", "prod", "server") == "bundles/shop/prod/current.json"
    assert (bundle_object_key("shop", "prod", "client", 7, SHA)
            == f"bundles/shop/prod/scopes/client/7-{SHA}.bundle")
    assert (pointer_object_key("shop", "prod", "key-abcdefghij")
            == "bundles/shop/prod/scopes/key-abcdefghij/current.json")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("Shop", "prod", "server"), "project"),
        (("shop", "../x", "server"), "environment"),
        (("shop", "prod", "admin"), "scope"),
        (("shop", "prod", "key-ABC"), "scope"),
    ],
)
def test_bad_names_are_refused_with_the_field(args: tuple[str, str, str], field: str) -> None:
    with pytest.raises(BundleFormatError, match=field):
        pointer_object_key(*args)


def test_bundle_key_refuses_bad_revision_and_hash() -> None:
    with pytest.raises(BundleFormatError, match="revision"):
        bundle_object_key("shop", "prod", "server", -1, SHA)
    with pytest.raises(BundleFormatError, match="sha256"):
        bundle_object_key("shop", "prod", "server", 1, "xyz")


def test_round_trip_is_canonical() -> None:
    pointer = make_pointer()
    data = encode_pointer(pointer)
    assert decode_pointer(data) == pointer
    assert list(orjson.loads(data)) == sorted(orjson.loads(data))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("sha256"), "pointer.sha256: missing"),
        (lambda d: d.update(revision="7"), "pointer.revision"),
        (lambda d: d.update(revision=True), "pointer.revision"),
        (lambda d: d.update(format=2), "pointer.format"),
        (lambda d: d.update(key="bundles/other/prod/7-x.bundle"), "pointer.key"),
        (lambda d: d.update(extra=1), "unknown field"),
        (lambda d: d.update(size=-1), "size"),
    ],
)
def test_decode_names_the_bad_field(mutate: object, field: str) -> None:
    raw = orjson.loads(encode_pointer(make_pointer()))
    mutate(raw)  # type: ignore[operator]
    with pytest.raises(BundleFormatError, match=field):
        decode_pointer(orjson.dumps(raw))


@pytest.mark.parametrize("data", [b"", b"{", b"[]"])
def test_decode_refuses_garbage(data: bytes) -> None:
    with pytest.raises(BundleFormatError, match="pointer"):
        decode_pointer(data)
