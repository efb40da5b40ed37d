"""A reader's snapshot keeps nothing of the parsed document, and still detects changes.

One string of the document kept by the snapshot (a fingerprint key, a dependent's name)
would pin a pymalloc arena of it after it is dropped (see edge_reader/engine/_fresh.py).
"""

from __future__ import annotations

from typing import Any

from edge_reader.bundle import decode_bundle_document, encode_bundle_document
from edge_reader.client._verify import _fingerprint, changed_flags, snapshot_from_document
from tests.engine.graph import kept_from

BOOL = {"on": True, "off": False}


def _document(country: str = "DE", staff: str = "u-1") -> dict[str, Any]:
    return {
        "format": 1, "project": "shop", "environment": "prod", "revision": 1000,
        "segments": {"staff": {"included": [staff]}},
        "flags": {
            "base": {"kind": "boolean", "variations": BOOL, "default": {"variation": "on"}},
            "geo": {"kind": "boolean", "variations": BOOL, "default": {"variation": "off"},
                    "rules": [{"id": "eu", "clauses": [
                        {"attribute": "country", "op": "in", "values": [country]}],
                        "serve": {"variation": "on"}}]},
            "needs-geo": {"kind": "boolean", "variations": BOOL,
                          "prerequisites": [{"flag": "geo", "variation": "on"}],
                          "default": {"variation": "on"}, "off_variation": "off"},
            "for-staff": {"kind": "boolean", "variations": BOOL,
                          "default": {"variation": "off"},
                          "rules": [{"clauses": [{"op": "segment_match", "values": ["staff"]}],
                                     "serve": {"variation": "on"}}]},
            "missing-prereq": {"kind": "boolean", "variations": BOOL,
                               "prerequisites": [{"flag": "nowhere", "variation": "on"}],
                               "default": {"variation": "on"}},
        },
    }


def _parsed(document: dict[str, Any]) -> dict[str, Any]:
    return decode_bundle_document(encode_bundle_document(document))


def test_snapshot_keeps_no_object_of_the_document() -> None:
    doc = _parsed(_document())
    snap = snapshot_from_document(doc, identity=None, source="file")
    assert kept_from(doc, snap) == []
    assert set(snap.flag_fingerprints) == set(doc["flags"])
    assert set(snap.segment_fingerprints) == {"staff"}
    assert snap.dependents == {"geo": frozenset({"needs-geo"}),
                               "nowhere": frozenset({"missing-prereq"}),
                               "segment:staff": frozenset({"for-staff"})}


def test_snapshot_keys_are_the_compiled_environments_own() -> None:
    snap = snapshot_from_document(_parsed(_document()), identity=None, source="file")
    keys = {id(k) for k in snap.env.flag_keys}
    assert all(id(k) in keys for k in snap.flag_fingerprints)


def test_changes_still_reach_dependents() -> None:
    old = snapshot_from_document(_parsed(_document()), identity=None, source="file")
    moved = snapshot_from_document(_parsed(_document(country="FR")), identity=None,
                                   source="file")
    assert changed_flags(old, moved) == {"geo", "needs-geo"}
    staff = snapshot_from_document(_parsed(_document(staff="u-2")), identity=None,
                                   source="file")
    assert changed_flags(old, staff) == {"for-staff"}
    same = snapshot_from_document(_parsed(_document()), identity=None, source="file")
    assert changed_flags(old, same) == frozenset()


def test_fingerprints_of_a_lazy_snapshot_are_those_of_the_document() -> None:
    """Computed on first lookup from the environment's own copy of each flag (so a cold
    start skips them), with the very values the document gives."""
    doc = _parsed(_document())
    snap = snapshot_from_document(doc, identity=None, source="file")
    assert len(snap.flag_fingerprints) == len(doc["flags"])
    assert dict(snap.flag_fingerprints) == {k: _fingerprint(v) for k, v in doc["flags"].items()}
