"""The public surface of edge_reader.bundle is pinned: additions are deliberate."""

from __future__ import annotations

from edge_reader import bundle

EXPECTED = {
    "CLIENT_SCOPE", "CONTEXT_KEYS", "FORMAT_VERSION", "POINTER_FORMAT", "SERVER_SCOPE",
    "BundleError", "BundleFormatError", "EnvelopeError", "Pointer", "SdkKey",
    "SdkKeyFormatError", "bundle_object_key", "check_scope", "decode_bundle_document",
    "decode_bundle_document_lazily",
    "decode_pointer", "decrypt_bundle", "encode_bundle_document",
    "encode_pointer", "encryption_context", "generate_sdk_key",
    "parse_sdk_key", "pointer_object_key",
}


def test_exported_names_are_exactly_the_documented_ones() -> None:
    assert set(bundle.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(bundle, name) is not None


def test_error_tree() -> None:
    assert issubclass(bundle.SdkKeyFormatError, bundle.BundleFormatError)
    assert issubclass(bundle.BundleFormatError, bundle.BundleError)
    assert issubclass(bundle.BundleFormatError, ValueError)
    assert issubclass(bundle.EnvelopeError, bundle.BundleError)


def _after_importing_the_bundle_package(expression: str) -> str:
    """What ``expression`` prints in a fresh interpreter that imported only edge_reader.bundle."""
    import subprocess
    import sys

    code = f"import sys, edge_reader.bundle; print({expression})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def test_bundle_package_never_imports_the_control_plane_or_tooling() -> None:
    assert _after_importing_the_bundle_package(
        "any(m.startswith(('chalicelib', 'control_plane', 'vexil')) for m in sys.modules)"
    ) == "False"


def test_importing_the_bundle_package_loads_no_encryption_sdk_and_no_boto3() -> None:
    assert _after_importing_the_bundle_package(
        "sorted(m for m in ('aws_encryption_sdk', 'aws_cryptographic_material_providers',"
        " 'boto3', 'botocore') if m in sys.modules)"
    ) == "[]"
