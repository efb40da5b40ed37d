"""SDK key text format, generation and the derived wrapping key."""

from __future__ import annotations

import re

import pytest

from edge_reader.bundle import SdkKey, SdkKeyFormatError, generate_sdk_key, parse_sdk_key

TEXT_RE = re.compile(r"^vxl_(srv|cli)_[a-z2-7]{10}_[A-Za-z0-9_-]{43}$")


@pytest.mark.parametrize("kind", ["srv", "cli"])
def test_generated_keys_round_trip(kind: str) -> None:
    key = generate_sdk_key(kind)  # type: ignore[arg-type]
    assert TEXT_RE.match(key.text)
    assert parse_sdk_key(key.text) == key
    assert key.scope_name == f"key-{key.key_id}"


def test_keys_are_unique_and_secret_is_hidden_from_repr() -> None:
    a, b = generate_sdk_key("srv"), generate_sdk_key("srv")
    assert a.key_id != b.key_id
    assert a.secret != b.secret
    assert a.text.split("_")[-1] not in repr(a)


def test_wrapping_key_is_derived_not_the_secret() -> None:
    key = generate_sdk_key("srv")
    assert len(key.wrapping_key()) == 32
    assert key.wrapping_key() != key.secret
    assert key.wrapping_key() == parse_sdk_key(key.text).wrapping_key()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "vxl_adm_abcdefghij_" + "A" * 43,
        "vxl_srv_ABCDEFGHIJ_" + "A" * 43,
        "vxl_srv_abcdefghij_" + "A" * 42,
        "vxl_srv_abcdefghij_" + "A" * 42 + "=",
        "xyz_srv_abcdefghij_" + "A" * 43,
    ],
)
def test_malformed_keys_are_refused_without_echoing_them(text: str) -> None:
    with pytest.raises(SdkKeyFormatError) as info:
        parse_sdk_key(text)
    assert "A" * 20 not in str(info.value)


def test_constructor_validates() -> None:
    with pytest.raises(SdkKeyFormatError, match="secret"):
        SdkKey(kind="srv", key_id="abcdefghij", secret=b"short")
    with pytest.raises(SdkKeyFormatError, match="kind"):
        generate_sdk_key("adm")  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "name"), [("srv", "server"), ("cli", "client")])
def test_kind_names_map_both_ways_and_name_the_default_scope(kind: str, name: str) -> None:
    from edge_reader.bundle import CLIENT_SCOPE, SERVER_SCOPE
    from edge_reader.bundle.sdk_key import kind_of_name

    key = generate_sdk_key(kind)  # type: ignore[arg-type]
    assert key.kind_name == name
    assert kind_of_name(name) == kind
    assert name in (SERVER_SCOPE, CLIENT_SCOPE)


@pytest.mark.parametrize("name", ["srv", "admin", "", None, "Server"])
def test_other_kind_names_are_refused(name: object) -> None:
    from edge_reader.bundle.sdk_key import kind_of_name

    with pytest.raises(SdkKeyFormatError, match=r"sdk_key\.kind: must be 'server' or 'client'"):
        kind_of_name(name)  # type: ignore[arg-type]
