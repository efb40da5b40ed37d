"""The publisher: table state → encrypted, signed bundles and pointers on S3.

Everything the publisher Lambda runs and the API never loads. One module per stage, in the
order a publish runs them (docs/architecture.md, "Publisher, stream handler and stream
worker"):

- :mod:`.stream` — the Lambda entry (``handler``: stream batches and the heartbeat);
- :mod:`.snapshot` — a consistent read of one environment (``SnapshotReader``);
- :mod:`.build` — pure: snapshot → one document per scope (``build_scopes``);
- :mod:`.publisher` — ``Publisher``: compile-check, encrypt, sign, put, swing pointers;
- :mod:`.signing` — ``PointerSigner``: one KMS ``Sign`` per publish, checked before use;
- :mod:`.store` — ``BundleStore``: S3 objects, pointers, CDN invalidation;
- :mod:`.retention` — housekeeping after a publish (superseded tags, stale scopes);
- :mod:`.anchoring` — audit-chain anchors written with a publish and by ``vexil audit anchor``.

Shared with the API, so kept outside this package: the anchor format and store
(``chalicelib.anchors``, which the API's ``anchor_check`` reads), the SDK-key record
(``chalicelib.sdk_key_record``), the table's keys and value conversion (``chalicelib.keys``,
``chalicelib.repository``). The API modules never import this package; ``app.py``'s
``publisher`` Lambda entry alone does, inside the function (tests/control_plane/
test_api_imports.py).

This file imports nothing on purpose: importing one module (``signing`` for the
``vexil audit anchor`` command, a test's ``PointerSigner``) must not load the encryption SDK
that :mod:`.publisher` needs.
"""
