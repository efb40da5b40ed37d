"""The envelope contract shared by its three modules: suite, key namespace, encryption context.

One owner for what the publisher writes and every reader checks, imported by
:mod:`edge_reader.bundle.envelope` (the light dispatcher), :mod:`edge_reader.bundle._message`
(the SDK-key decoder) and :mod:`edge_reader.bundle.esdk` (the aws-encryption-sdk half). It
imports none of them, so the three never import each other in a circle
(``tests/engine/test_imports.py`` fails if a circle among edge_reader modules reappears).
"""

from __future__ import annotations

from collections.abc import Mapping

from edge_reader.bundle.errors import EnvelopeError

FORMAT_VERSION = "1"
KEY_NAMESPACE = "vexil"
FRAME_LENGTH = 65536
# AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384: the ESDK's default (signed, committing) suite.
ALGORITHM_ID = 0x0578
# Bounds what a hostile message can make a reader do; far above any real key count.
MAX_ENCRYPTED_DATA_KEYS = 1024
CONTEXT_KEYS: tuple[str, ...] = (
    "vexil:project",
    "vexil:environment",
    "vexil:revision",
    "vexil:scope",
    "vexil:format",
)
# Added by the ESDK itself for signed suites; not part of what the caller expects.
SDK_CONTEXT_KEYS = frozenset({"aws-crypto-public-key"})


def encryption_context(
    project: str, environment: str, revision: int, scope: str
) -> dict[str, str]:
    """The encryption context of one bundle: project, environment, revision, scope, format."""
    return {
        "vexil:project": project,
        "vexil:environment": environment,
        "vexil:revision": str(int(revision)),
        "vexil:scope": scope,
        "vexil:format": FORMAT_VERSION,
    }


def check_context(context: Mapping[str, str]) -> None:
    """Raise :class:`EnvelopeError` unless ``context`` has every key of CONTEXT_KEYS, as strings."""
    missing = [k for k in CONTEXT_KEYS if k not in context]
    if missing:
        raise EnvelopeError(f"context: missing {missing}")
    for k, v in context.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise EnvelopeError(f"context.{k}: keys and values must be strings")


def check_expected_context(actual: Mapping[str, str], expected: Mapping[str, str]) -> None:
    """Raise :class:`EnvelopeError` unless a message's context is *exactly* ``expected``.

    ``actual`` is the context read from the message header; the ESDK's own keys
    (SDK_CONTEXT_KEYS) are ignored. A bundle for another environment, revision or scope
    never opens, even under a key that could decrypt it.
    """
    got = {k: v for k, v in actual.items() if k not in SDK_CONTEXT_KEYS}
    wanted = dict(expected)
    if got != wanted:
        diffs = sorted(k for k in set(got) | set(wanted) if got.get(k) != wanted.get(k))
        raise EnvelopeError(f"decrypt: encryption context mismatch on {diffs}")
