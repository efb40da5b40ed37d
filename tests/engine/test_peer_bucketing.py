"""Peer hashes (docs/bucketing.md, "Peer hashes"): each reproduces its system's published vectors.

Every expected value below is copied from the peer's own test suite or specification (cited
per test), never computed with the code under test.
"""

from __future__ import annotations

import hashlib
import math

import mmh3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_reader.engine.bucketing import (
    LD_SCALE,
    UNLEASH_VARIANT_SEED,
    bucket_cut,
    bucket_function,
    js_number_string,
    value_function,
)

# --- LaunchDarkly -------------------------------------------------------------------------
# launchdarkly/python-server-sdk, ldclient/testing/impl/test_evaluator_bucketing.py:
# _bucket_context(seed, user, None, "hashKey", "saltyA", None) ≈ the float bucket p.
LD_VECTORS = [
    (None, "userKeyA", 0.42157587), (None, "userKeyB", 0.6708485),
    (None, "userKeyC", 0.10343106),
    (61, "userKeyA", 0.09801207), (61, "userKeyB", 0.14483777), (61, "userKeyC", 0.9242641),
]


@pytest.mark.parametrize(("seed", "key", "p"), LD_VECTORS)
def test_launchdarkly_published_vectors(seed: int | None, key: str, p: float) -> None:
    b = bucket_function("launchdarkly", "hashKey.saltyA", seed, 100_000)(key)
    # The SDK's test asserts p to 1e-7; our bucket is floor(p * 100000).
    assert b == math.floor(p * 100_000)
    # and to the full resolution the integer arithmetic keeps:
    fine = bucket_function("launchdarkly", "hashKey.saltyA", seed, 10**8)(key)
    assert abs(fine / 10**8 - p) < 1e-7


def test_launchdarkly_seed_replaces_key_and_salt() -> None:
    """Same SDK file, test_seed_independent_of_salt_and_hashKey / test_seed_changes_hash."""
    a = bucket_function("launchdarkly", "hashKey.saltyA", 61, 100_000)("userKeyA")
    assert a == bucket_function("launchdarkly", "hashKey2.saltyB", 61, 100_000)("userKeyA")
    assert a != bucket_function("launchdarkly", "hashKey.saltyA", 62, 100_000)("userKeyA")


def test_launchdarkly_int_attribute_is_its_decimal_string() -> None:
    """Same SDK file, test_bucket_by_int_attr: 33333 and "33333" bucket alike (≈ 0.54771423)."""
    to_text = value_function("launchdarkly")
    f = bucket_function("launchdarkly", "hashKey.saltyA", None, 100_000)
    assert to_text(33333) == to_text("33333") == "33333"
    assert f("33333") == math.floor(0.54771423 * 100_000)
    assert to_text(33.5) is None  # test_bucket_by_float_attr_not_allowed
    assert to_text(True) is None


def test_launchdarkly_boundaries_are_exact() -> None:
    """b < S  ⟺  h / L < S / 100000 for the hashes right at and beside a boundary."""
    f = bucket_function("launchdarkly", "k.s", None, 100_000)
    for value in ("a", "b", "c", "userKeyA"):
        h = int(hashlib.sha1(f"k.s.{value}".encode()).hexdigest()[:15], 16)
        b = f(value)
        # The exact rational p = h / L lies in [b, b + 1) / 100000.
        assert b * LD_SCALE <= h * 100_000 < (b + 1) * LD_SCALE


# --- Unleash ------------------------------------------------------------------------------
# Unleash/unleash-client-java, StrategyUtilsTest:
# getNormalizedNumber("123", "gr1", 0) == 73, ("999", "groupX", 0) == 25 (the "same across
# node, java and go clients" vectors), and with VARIANT_NORMALIZATION_SEED: 96 and 60.
@pytest.mark.parametrize(("value", "group", "seed", "normalized"), [
    ("123", "gr1", 0, 73), ("999", "groupX", 0, 25),
    ("123", "gr1", UNLEASH_VARIANT_SEED, 96), ("999", "groupX", UNLEASH_VARIANT_SEED, 60),
])
def test_unleash_published_vectors(value: str, group: str, seed: int, normalized: int) -> None:
    # Unleash's normalized number is n = hash % 100 + 1; our bucket is n - 1.
    assert bucket_function("unleash", group, seed, 100)(value) == normalized - 1


def test_unleash_seed_defaults_to_the_strategy_seed() -> None:
    assert bucket_function("unleash", "gr1", None, 100)("123") == 72


# --- flagd --------------------------------------------------------------------------------
# open-feature/flagd-testbed, evaluator/gherkin/fractional.feature, "@fractional-v2"
# examples, with the flags of evaluator/flags/testkit-flags.json: four equal weights of 25
# (total 100) over clubs, diamonds, hearts, spades.
SUITS = ("clubs", "diamonds", "hearts", "spades")


@pytest.mark.parametrize(("salt", "name", "suit"), [
    # "fractional-flag": {"cat": [{"var": "$flagd.flagKey"}, {"var": "user.name"}]}
    ("fractional-flag", "jack", "hearts"), ("fractional-flag", "queen", "spades"),
    ("fractional-flag", "ten", "clubs"), ("fractional-flag", "nine", "diamonds"),
    ("fractional-flag", "3", "clubs"),
    # "fractional-flag-A-shared-seed": {"cat": ["shared-seed", {"var": "user.name"}]}
    ("shared-seed", "seven", "hearts"), ("shared-seed", "eight", "diamonds"),
    ("shared-seed", "nine", "clubs"), ("shared-seed", "two", "spades"),
])
def test_flagd_testbed_vectors(salt: str, name: str, suit: str) -> None:
    assert SUITS[bucket_function("flagd", salt, None, 100)(name) // 25] == suit


@pytest.mark.parametrize(("key", "side"), [
    ("jon@company.com", "heads"), ("jane@company.com", "tails"),
])
def test_flagd_shorthand_vectors(key: str, side: str) -> None:
    """"fractional-flag-shorthand": [["heads"], ["tails", 1]] — weights 1 and 1, the default
    bucketing string flagKey + targetingKey."""
    f = bucket_function("flagd", "fractional-flag-shorthand", None, 2)
    assert ("heads", "tails")[f(key)] == side


@pytest.mark.parametrize(("key", "murmur", "side"), [
    ("ejOoVL", 0x00000000, "lower"), ("bY9fO-", 0x00000001, "lower"),
    ("SI7p-", 0x7FFFFFFF, "lower"), ("6LvT0", 0x80000000, "upper"),
    ("ceQdGm", 0xFFFFFFFF, "upper"),
])
def test_flagd_hash_edge_vectors(key: str, murmur: int, side: str) -> None:
    """"fractional-hash-edge-flag": keys whose murmur3 hits the boundary values, 50/50."""
    assert mmh3.hash(key, 0, False) == murmur
    b = bucket_function("flagd", "", None, 100)(key)
    assert ("lower", "upper")[b // 50] == side
    assert b in (0, 49, 50, 99)


# --- GrowthBook ---------------------------------------------------------------------------
# growthbook/growthbook, packages/sdk-js/test/cases.json, section "hash":
# [seed, value, hashVersion, expected n].
GB_HASH_CASES = [
    ("", "a", 1, 0.22), ("", "b", 1, 0.077), ("b", "a", 1, 0.946), ("ef", "d", 1, 0.652),
    ("asdf", "8952klfjas09ujk", 1, 0.549), ("", "123", 1, 0.011),
    ("", '___)((*":&', 1, 0.563),
    ("seed", "a", 2, 0.0505), ("seed", "b", 2, 0.2696), ("foo", "ab", 2, 0.2575),
    ("foo", "def", 2, 0.2019), ("89123klj", "8952klfjas09ujkasdf", 2, 0.124),
    ("90850943850283058242805", "123", 2, 0.7516),
    ("()**(%$##$%#$#", '___)((*":&', 2, 0.0128),
]


@pytest.mark.parametrize(("seed", "value", "version", "n"), GB_HASH_CASES)
def test_growthbook_hash_cases(seed: str, value: str, version: int, n: float) -> None:
    size = 1000 if version == 1 else 10000
    b = bucket_function(f"growthbook-v{version}", seed, None, size)(value)
    assert b / size == n
    # With finer buckets the position is the same number, scaled.
    assert bucket_function(f"growthbook-v{version}", seed, None, size * 10)(value) == b * 10


# cases.json, section "run": experiment "my-test" (seed = key, hashVersion 1, hash attribute
# "id"), default weights [0.5, 0.5] → ranges [0, 0.5), [0.5, 1); expected variation per id.
@pytest.mark.parametrize(("user", "variation"), [
    ("1", 1), ("2", 0), ("3", 0), ("4", 1), ("5", 1), ("6", 1), ("7", 0), ("8", 1), ("9", 0),
])
def test_growthbook_run_default_weights(user: str, variation: int) -> None:
    b = bucket_function("growthbook-v1", "my-test", None, 1000)(user)
    assert (0 if b < bucket_cut(0.5, 1000) else 1) == variation


# cases.json "run", "coverage - N": coverage 0.4 over [0.5, 0.5] → ranges [0, 0.2),
# [0.5, 0.7); (variation, inExperiment) per id.
@pytest.mark.parametrize(("user", "variation", "included"), [
    ("1", 0, False), ("2", 0, True), ("3", 0, True), ("4", 0, False), ("5", 1, True),
    ("6", 0, False), ("7", 0, True), ("8", 1, True),
])
def test_growthbook_run_coverage(user: str, variation: int, included: bool) -> None:
    b = bucket_function("growthbook-v1", "my-test", None, 1000)(user)
    ranges = [(bucket_cut(0.0, 1000), bucket_cut(0.2, 1000)),
              (bucket_cut(0.5, 1000), bucket_cut(0.7, 1000))]
    chosen = [i for i, (lo, hi) in enumerate(ranges) if lo <= b < hi]
    assert (chosen != []) == included
    assert (chosen[0] if chosen else 0) == variation


def test_growthbook_hashes_utf16_code_units() -> None:
    """JavaScript's charCodeAt: an astral character is two code units, each xor'd whole."""
    f = bucket_function("growthbook-v1", "", None, 1000)
    h = 0x811C9DC5
    for unit in (0xD83D, 0xDE00):  # "😀"
        h = ((h ^ unit) * 0x01000193) & 0xFFFFFFFF
    assert f("\U0001F600") == h % 1000


def test_growthbook_hash_value_is_javascripts_string() -> None:
    """A falsy attribute is "no hash value" (GrowthBook: ``if (!hashValue)``)."""
    to_text = value_function("growthbook-v2")
    falsy: tuple[object, ...] = ("", 0, 0.0, False, None, [], {})
    assert [to_text(v) for v in falsy] == [None] * 7
    assert [to_text(v) for v in ("u", 3, 3.0, 1.5, True)] == ["u", "3", "3", "1.5", "true"]
    assert value_function("flagd")(3) is None  # flagd buckets by strings only


@pytest.mark.parametrize(("x", "text"), [
    (3.0, "3"), (1.5, "1.5"), (-2.5, "-2.5"), (1e21, "1e+21"), (1e16, "10000000000000000"),
    (1e-7, "1e-7"), (1e-6, "0.000001"), (0.1 + 0.2, "0.30000000000000004"), (123e20, "1.23e+22"),
])
def test_js_number_string(x: float, text: str) -> None:
    # Expected strings are what ECMAScript's Number::toString specifies (ECMA-262 §6.1.6.1.20).
    assert js_number_string(x) == text


@given(st.floats(min_value=0.0, max_value=1.0), st.sampled_from([100, 1000, 10000, 100000]),
       st.booleans())
def test_bucket_cut_counts_what_the_peer_puts_below(x: float, buckets: int,
                                                   inclusive: bool) -> None:
    cut = bucket_cut(x, buckets, inclusive=inclusive)
    for k in (cut - 1, cut):
        if 0 <= k < buckets:
            below = k / buckets <= x if inclusive else k / buckets < x
            assert below == (k < cut)


def test_unknown_hash_is_refused_by_the_factory() -> None:
    with pytest.raises(ValueError, match="unknown hash"):
        bucket_function("sha256", "s", None, 100)
