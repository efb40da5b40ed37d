"""The launcher keeps DynamoDB, S3 and KMS across restarts, and a crash never costs the state.

Each test runs the launcher in its own process (``tests/devstack/launcher.py``) with a state
file in a temporary directory, writes through boto3, stops it (SIGTERM, or SIGKILL for the
crash cases) and starts a new one on the same file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from edge_reader.bundle.signing import KEY_SPEC
from tests.devstack.launcher import Launcher
from vexil.devstack import emulator_state

TABLE, BUCKET = "state-test", "state-test-bucket"
Spawn = Callable[..., Launcher]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start launchers; every one is stopped at teardown, whatever the test did."""
    started: list[Launcher] = []

    def start(state: Path, **kwargs: Any) -> Launcher:
        started.append(Launcher(state, **kwargs))
        return started[-1]

    yield start
    for launcher in started:
        launcher.stop()


def _seed(launcher: Launcher) -> dict[str, Any]:
    ddb, s3, kms = (launcher.client(s) for s in ("dynamodb", "s3", "kms"))
    ddb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "project#shop"}, "n": {"N": "1"}})
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=BUCKET, Key="bundles/p.json", Body=b"v1")["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="bundles/p.json", Body=b"v2")
    data_key = kms.create_key(Description="envelopes")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/state-test", TargetKeyId=data_key)
    signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec=KEY_SPEC)["KeyMetadata"]["KeyId"]
    return {
        "first_version": first,
        "ciphertext": kms.encrypt(KeyId=data_key, Plaintext=b"secret")["CiphertextBlob"],
        "signing": signing,
        "public_key": kms.get_public_key(KeyId=signing)["PublicKey"],
        "signature": kms.sign(KeyId=signing, Message=b"pointer", MessageType="RAW",
                              SigningAlgorithm="ECDSA_SHA_256")["Signature"],
    }


def _assert_restored(launcher: Launcher, seeded: dict[str, Any]) -> None:
    ddb, s3, kms = (launcher.client(s) for s in ("dynamodb", "s3", "kms"))
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "project#shop"}})["Item"]
    assert item["n"] == {"N": "1"}
    assert s3.get_object(Bucket=BUCKET, Key="bundles/p.json")["Body"].read() == b"v2"
    # Every version, not only the latest (S3's key store pickles only the latest by itself).
    old = s3.get_object(Bucket=BUCKET, Key="bundles/p.json", VersionId=seeded["first_version"])
    assert old["Body"].read() == b"v1"
    # The same key material: old ciphertext decrypts, the public key and signatures hold.
    assert kms.decrypt(CiphertextBlob=seeded["ciphertext"])["Plaintext"] == b"secret"
    assert kms.get_public_key(KeyId=seeded["signing"])["PublicKey"] == seeded["public_key"]
    assert kms.verify(KeyId=seeded["signing"], Message=b"pointer", MessageType="RAW",
                      Signature=seeded["signature"],
                      SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]
    assert kms.describe_key(KeyId="alias/state-test")["KeyMetadata"]["Enabled"]


def test_state_survives_a_restart(tmp_path: Path, spawn: Spawn) -> None:
    state = tmp_path / "moto.state"
    first = spawn(state).wait_ready()
    try:
        seeded = _seed(first)
    finally:
        assert first.stop() == 0
    assert "saved emulator state" in first.output()

    second = spawn(state).wait_ready()
    try:
        _assert_restored(second, seeded)
        assert second.census()["restored"]["file"] == str(state)
        # The stream keeps its records and numbering: a worker's checkpoint stays valid.
        tables = second.census()["tables"]
        assert tables[TABLE]["stream_records"] == 1
    finally:
        second.stop()


def test_kill9_after_a_save_loses_nothing_saved(tmp_path: Path, spawn: Spawn) -> None:
    state = tmp_path / "moto.state"
    first = spawn(state, save_interval=0.1).wait_ready()
    seeded = _seed(first)
    first.wait_saved()
    first.kill9()

    second = spawn(state).wait_ready()
    try:
        _assert_restored(second, seeded)
    finally:
        second.stop()


@pytest.mark.parametrize("damage", ["torn", "missing"])
def test_a_damaged_state_file_falls_back_to_the_last_good_copy(
    tmp_path: Path, damage: str, spawn: Callable[..., Launcher]
) -> None:
    state = tmp_path / "moto.state"
    first = spawn(state, save_interval=0.1).wait_ready()
    seeded = _seed(first)
    first.wait_saved()
    first.client("dynamodb").put_item(TableName=TABLE, Item={"pk": {"S": "later"}})
    first.wait_saved()
    first.kill9()
    assert emulator_state.previous(state).exists()
    if damage == "torn":
        # A write cut short: half the file (what a crash inside a non-atomic write leaves).
        data = state.read_bytes()
        state.write_bytes(data[: len(data) // 2])
    else:
        # A crash between the two renames: only the last good copy is there.
        state.unlink()

    second = spawn(state).wait_ready()
    try:
        _assert_restored(second, seeded)  # .prev holds everything of the first save
        assert second.census()["restored"]["file"] == str(emulator_state.previous(state))
    finally:
        second.stop()


def test_no_usable_copy_refuses_to_start_and_keeps_the_files(tmp_path: Path, spawn: Spawn) -> None:
    state = tmp_path / "moto.state"
    first = spawn(state, save_interval=0.1).wait_ready()
    _seed(first)
    first.wait_saved()
    first.client("dynamodb").put_item(TableName=TABLE, Item={"pk": {"S": "later"}})
    first.wait_saved()
    first.stop()
    for copy in (state, emulator_state.previous(state)):
        data = bytearray(copy.read_bytes())
        data[-10] ^= 0xFF  # one flipped bit: the checksum must catch it
        copy.write_bytes(bytes(data))
    damaged = state.read_bytes()

    second = spawn(state)
    assert second.proc.wait(60) != 0
    assert "cannot restore the emulator state" in second.output()
    assert "checksum" in second.output()
    # Starting empty would have overwritten them at the next save: they are left alone.
    assert state.read_bytes() == damaged


def test_without_a_state_file_nothing_is_restored(tmp_path: Path, spawn: Spawn) -> None:
    launcher = spawn(tmp_path / "fresh" / "moto.state").wait_ready()
    try:
        assert launcher.census()["restored"] is None
        with pytest.raises(ClientError):
            launcher.client("dynamodb").describe_table(TableName=TABLE)
    finally:
        launcher.stop()
