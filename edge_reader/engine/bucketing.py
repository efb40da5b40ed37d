"""The bucketing spec (docs/bucketing.md): Vexil's own hash, and the peers' for migrations.

``bucket(salt, value) = (murmur3_32(salt + ":" + value, seed=0) unsigned * 100000) >> 32``

The multiply-shift maps the 32-bit hash onto ``[0, 100000)`` without modulo bias: every
bucket receives either 42949 or 42950 of the 2**32 hash values. A rollout's variations
occupy consecutive bucket ranges in list order, so raising the first variation's weight
only ever adds contexts to it.

Rollouts may instead name a peer system's hash (``bucketing.hash``): :func:`bucket_function`
reproduces LaunchDarkly's, Unleash's, flagd's and GrowthBook's published bucketing exactly,
so an imported rollout assigns every context to the bucket its old system did.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from functools import partial

import mmh3

BUCKETS = 100_000  # 0.001 % granularity


def bucket_hash(salt: str, value: str) -> int:
    """The unsigned 32-bit murmur3 (seed 0) of the UTF-8 bytes of ``salt + ":" + value``."""
    return int(mmh3.hash(f"{salt}:{value}", 0, False))


def bucket(salt: str, value: str) -> int:
    """The bucket in ``[0, 100000)`` of ``value`` under ``salt``."""
    return (bucket_hash(salt, value) * BUCKETS) >> 32


def bucketable(value: object) -> str | None:
    """The string a context value is bucketed by: strings as-is, integers in decimal.

    Anything else (booleans, floats, objects, arrays, missing) cannot be bucketed — the
    rule LaunchDarkly uses for its ``bucketBy`` attributes.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


# --- peer hashes (docs/bucketing.md, "Peer hashes") -------------------------------------
# Each peer system's published bucketing, reduced to one integer bucket b in [0, buckets]
# such that the engine's rule "serve the entry whose cumulative range [lower, upper) holds b"
# picks exactly the entry the peer picks. Every formula below is integer arithmetic; the
# comment above each says why it is equivalent to the peer's own comparison.

HASHES: tuple[str, ...] = ("vexil", "launchdarkly", "unleash", "flagd", "growthbook-v1",
                           "growthbook-v2")
DEFAULT_HASH = "vexil"
SEEDED_HASHES = frozenset({"launchdarkly", "unleash"})  # the hashes that read ``seed``
MAX_BUCKETS = 2**31 - 1  # flagd's limit on a total weight; larger is never needed
UNLEASH_VARIANT_SEED = 86028157  # Unleash hashes variants with this murmur3 seed
LD_SCALE = 0xFFFFFFFFFFFFFFF  # LaunchDarkly: the largest 15-hex-digit number
_GB_SIZES = {"growthbook-v1": 1000, "growthbook-v2": 10000}  # GrowthBook's n = k / size

BucketFn = Callable[[str], int]
ValueFn = Callable[[object], str | None]


def bucket_function(hash_name: str, salt: str, seed: int | None, buckets: int) -> BucketFn:
    """The function ``value -> bucket`` of ``hash_name`` (one of :data:`HASHES`).

    Promises a bucket in ``[0, buckets)`` (``launchdarkly`` alone can return ``buckets``
    itself, for the one hash LaunchDarkly places at 1.0, past every range — as LaunchDarkly
    does). ``salt`` and ``seed`` take the role docs/bucketing.md gives them per hash. All
    per-rollout work (prefixes, encodings) is done here, once, not per evaluation.
    """
    if hash_name == "vexil":
        return partial(_vexil, salt + ":", buckets)
    if hash_name == "launchdarkly":
        prefix = (str(seed) if seed is not None else salt) + "."
        return partial(_launchdarkly, prefix, buckets)
    if hash_name == "unleash":
        return partial(_unleash, salt + ":", seed or 0, buckets)
    if hash_name == "flagd":
        return partial(_flagd, salt, buckets)
    if hash_name == "growthbook-v1":
        return partial(_growthbook_v1, salt, buckets)
    if hash_name == "growthbook-v2":
        # FNV-1a is a left fold: hash the seed prefix once, continue per value.
        return partial(_growthbook_v2, _fnv1a32(salt), buckets)
    raise ValueError(f"unknown hash {hash_name!r}")


def _vexil(prefix: str, buckets: int, value: str) -> int:
    # Vexil's own spec (above), with `buckets` in place of 100000.
    return (int(mmh3.hash(prefix + value, 0, False)) * buckets) >> 32


def _launchdarkly(prefix: str, buckets: int, value: str) -> int:
    # LaunchDarkly: p = h / L with h the first 15 hex digits of SHA-1("<flagKey>.<salt>.<v>")
    # (or "<seed>.<v>"), L = 0xFFFFFFFFFFFFFFF; entry i is served when p < S_i / 100000
    # (S_i the cumulative weight). With integers h, L, S_i, B: h/L < S/B ⟺ h·B < S·L ⟺
    # floor(h·B / L) < S (S is an integer), so b = (h·B) // L reproduces every comparison
    # exactly — no float rounding — and h = L gives b = B: past every range, as p = 1.0 is.
    # The first 15 hex digits are the top 60 bits of the first 8 bytes. SHA-1 here is a
    # bucketing function, not a security one (usedforsecurity=False: allowed under FIPS).
    digest = hashlib.sha1((prefix + value).encode("utf-8"), usedforsecurity=False).digest()
    return ((int.from_bytes(digest[:8], "big") >> 4) * buckets) // LD_SCALE


def _unleash(prefix: str, seed: int, buckets: int, value: str) -> int:
    # Unleash: n = murmur3_32("<groupId>:<stickiness>", seed) % N + 1 (N = 100 for a rollout
    # percentage, the total variant weight for variants); a strategy is on when n <= P and
    # variant i is chosen when C_{i-1} < n <= C_i. With b = n - 1 = h % N both read
    # "b < P" and "C_{i-1} <= b < C_i": the engine's cumulative ranges, with N = buckets.
    return int(mmh3.hash(prefix + value, seed, False)) % buckets


def _flagd(salt: str, buckets: int, value: str) -> int:
    # flagd `fractional` (integer bucketing, flagd-testbed "@fractional-v2"): with the
    # bucketing string s (default flagKey + targetingKey) and T the total weight,
    # bucket = (uint32(murmur3_32(s)) * T) >> 32 and variant i is chosen when
    # bucket < C_i — the engine's rule exactly, with T = buckets and s = salt + value.
    return (int(mmh3.hash(salt + value, 0, False)) * buckets) >> 32


def _growthbook_v1(seed: str, buckets: int, value: str) -> int:
    # GrowthBook hash(seed, value, 1) = (fnv1a32(value + seed) % 1000) / 1000 = k / 1000.
    # b = floor(k·B / 1000) keeps every comparison with a range end E/B (E an integer):
    # k/1000 < E/B ⟺ k·B < E·1000 ⟺ floor(k·B/1000) < E. Float range ends (0.26, ...)
    # become integers with bucket_cut() below, which repeats GrowthBook's own division.
    return (_fnv1a32(value + seed) % 1000) * buckets // 1000


def _growthbook_v2(seed_state: int, buckets: int, value: str) -> int:
    # GrowthBook hash(seed, value, 2) = (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000;
    # the same reasoning as v1, with 10000. `seed_state` is fnv1a32(seed), so continuing
    # the fold over `value` gives fnv1a32(seed + value).
    inner = _fnv1a32(value, seed_state)
    return (_fnv1a32(str(inner)) % 10000) * buckets // 10000


_FNV_OFFSET = 0x811C9DC5
_UTF16_NATIVE = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"


def _fnv1a32(text: str, h: int = _FNV_OFFSET) -> int:
    """FNV-1a 32 over the UTF-16 code units of ``text`` (JavaScript's ``charCodeAt``),
    continuing from state ``h``.

    GrowthBook's reference SDK (JavaScript) xors whole UTF-16 code units, not bytes; for
    ASCII text a code unit is the byte, which is the fast path.
    """
    units: Iterable[int] = (text.encode("ascii") if text.isascii()
                            else memoryview(text.encode(_UTF16_NATIVE)).cast("H"))
    for unit in units:
        h = ((h ^ unit) * 0x01000193) & 0xFFFFFFFF
    return h


def value_function(hash_name: str) -> ValueFn:
    """How ``hash_name`` turns a context value into the string it hashes (None: it cannot).

    ``vexil`` and ``unleash``: :func:`bucketable` (strings, integers in decimal).
    ``launchdarkly``: the same, and an integral float as the integer it equals (``3.0`` is
    ``"3"``: LaunchDarkly's SDKs see one JSON number type). ``flagd``: strings only (its
    bucketing value must be a string). GrowthBook:
    JavaScript's ``String(v)`` of a truthy string, number or ``true`` — a falsy value
    (``""``, ``0``, ``false``) is "no hash value", as in GrowthBook's SDKs.
    """
    if hash_name == "flagd":
        return _string_only
    if hash_name == "launchdarkly":
        return _launchdarkly_bucketable
    if hash_name in _GB_SIZES:
        return _js_truthy_string
    return bucketable


def _launchdarkly_bucketable(value: object) -> str | None:
    # LaunchDarkly buckets a string, or a number that is an integer ("3.0" arrives from
    # JSON as a float here but is the int 3 to LaunchDarkly); other floats are unbucketable.
    if value.__class__ is float:
        assert isinstance(value, float)
        return str(int(value)) if value.is_integer() and abs(value) < _EXACT_INTS else None
    return bucketable(value)


_EXACT_INTS = 2.0**53  # beyond this a float's integer is not the number the SDKs parsed


def _string_only(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _js_truthy_string(value: object) -> str | None:
    if value is True:
        return "true"
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if value else None
    if isinstance(value, float) and value and math.isfinite(value):
        return js_number_string(value)
    return None


def js_number_string(x: float) -> str:
    """JavaScript's ``String(x)`` of a finite float (ECMAScript Number::toString).

    Python's ``repr`` finds the same shortest round-tripping digits; only the layout
    differs (``repr`` writes ``3.0`` and ``1e+16`` where JavaScript writes ``3`` and
    ``10000000000000000``).
    """
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    digits, exp = _shortest_digits(abs(x))
    k, n = len(digits), exp + len(digits)  # value = 0.d1..dk × 10^n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def _shortest_digits(x: float) -> tuple[str, int]:
    """(digits, exponent) with x = int(digits) × 10^exponent, digits as short as repr's."""
    mantissa, _, exponent = repr(x).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    exp = int(exponent or 0) - len(fraction)
    stripped = digits.rstrip("0")
    return stripped, exp + len(digits) - len(stripped)


def bucket_cut(x: float, buckets: int, *, inclusive: bool = False) -> int:
    """How many buckets k in [0, buckets) a peer with float positions k / buckets puts below x.

    For importers of peers that compare a float position (GrowthBook's ``n = k / 1000``)
    with float range ends: the number of k with ``k / buckets < x`` (``<= x`` when
    ``inclusive``), each division done in IEEE double exactly as the peer does. Division
    by a fixed positive number is monotone, so the k below x are exactly ``[0, cut)``: a
    peer range ``[start, end)`` is the bucket range ``[cut(start), cut(end))``, and
    GrowthBook's coverage test ``n <= c`` is ``[0, cut(c, inclusive=True))``.
    """
    if not math.isfinite(x) or buckets < 1:
        raise ValueError(f"bucket_cut needs a finite x and buckets >= 1, got {x!r}, {buckets!r}")

    def below(k: int) -> bool:
        p = k / buckets
        return p <= x if inclusive else p < x

    k = min(max(math.floor(x * buckets), 0), buckets)
    while k > 0 and not below(k - 1):
        k -= 1
    while k < buckets and below(k):
        k += 1
    return k


def entries_from_ranges(
    ranges: Sequence[tuple[float, float]], size: int, buckets: int | None = None,
) -> list[tuple[int | None, int]]:
    """Rollout entries ``(range index or None for a gap, weight)`` for a peer's float ranges.

    For importers of peers that place a context at ``n = k / size`` and serve the **first**
    range with ``start <= n < end`` (GrowthBook's ``chooseVariation``; ranges may be unsorted,
    overlap or leave holes). The entries cover ``[0, buckets)`` (``buckets`` defaults to
    ``size``, which must divide it) in order, each range's integer ends cut with
    :func:`bucket_cut` exactly as the peer divides, so a context gets the same range index
    — or a gap, where the peer serves no range.
    """
    total = size if buckets is None else buckets
    if total % size:
        raise ValueError(f"buckets ({total}) must be a multiple of the peer's size ({size})")
    scale = total // size
    cuts = [(bucket_cut(start, size) * scale, bucket_cut(end, size) * scale)
            for start, end in ranges]
    points = sorted({0, total, *(p for pair in cuts for p in pair if 0 <= p <= total)})
    entries: list[tuple[int | None, int]] = []
    for lower, upper in itertools.pairwise(points):
        # Between two consecutive ends no range starts or stops: one owner for the stretch.
        owner = next((i for i, (lo, hi) in enumerate(cuts) if lo <= lower < hi), None)
        if entries and entries[-1][0] == owner:
            entries[-1] = (owner, entries[-1][1] + upper - lower)
        else:
            entries.append((owner, upper - lower))
    return entries
