"""Engine features: the names a document lists in ``features`` (docs/flag-format.md).

The format stays ``"format": 1``; everything added to it since is optional, and a document
says which of those additions it uses. The compiler computes the list (a feature is used
when its field is present), the publisher writes it into every bundle document, and a
reader meeting a name it does not know reports it once and carries on: the clauses using
the unknown feature degrade on their own (see ``_clauses.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

KNOWN_FEATURES: frozenset[str] = frozenset({
    "clause_groups", "case_insensitive", "when_absent", "now_clause", "optional_default",
    "prerequisite_any_of", "prerequisite_negate", "prerequisite_off", "peer_hash",
    "rollout_gaps", "rollout_missing_skip", "rollout_buckets", "semver_dialect",
    "bucket_clause",
})
"""Every feature name this engine implements (format_spec: the agreed spelling)."""


def rollout_features(raw: object) -> set[str]:
    """The features a ROLLOUT object uses: detection is "the field is present"."""
    found: set[str] = set()
    if not isinstance(raw, Mapping):
        return found
    bucketing = raw.get("bucketing")
    if bucketing is not None:
        found.add("peer_hash")
        if isinstance(bucketing, Mapping) and "buckets" in bucketing:
            found.add("rollout_buckets")
    if "missing" in raw:
        found.add("rollout_missing_skip")
    entries = raw.get("variations")
    if isinstance(entries, list) and any(
        isinstance(e, Mapping) and "variation" not in e for e in entries
    ):
        found.add("rollout_gaps")
    return found
