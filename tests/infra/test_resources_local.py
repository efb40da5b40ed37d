import boto3


def test_resources(vexil_resources):
    ddb = boto3.client("dynamodb")
    t = ddb.describe_table(TableName=vexil_resources["VEXIL_TABLE"])["Table"]
    assert t["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    from vexil.resources import ensure_resources
    assert ensure_resources() == vexil_resources


def test_the_key_store_table_is_what_the_mpl_expects(vexil_resources):
    # CreateKeyStore on an existing table only validates it: a wrong key schema (e.g. a
    # sort key named "version") is refused with "does not conform".
    from aws_cryptographic_material_providers.keystore.models import CreateKeyStoreInput

    from edge_reader.bundle.hierarchy import BranchKeyStore

    store = BranchKeyStore(table=vexil_resources["VEXIL_KEY_STORE_TABLE"],
                           kms_key_arn=vexil_resources["VEXIL_KMS_KEY_ID"],
                           dynamodb_client=boto3.client("dynamodb"),
                           kms_client=boto3.client("kms"))
    out = store.key_store.create_key_store(CreateKeyStoreInput())
    assert out.table_arn.endswith(f":table/{vexil_resources['VEXIL_KEY_STORE_TABLE']}")


def test_the_local_signing_key_is_what_terraform_declares(vexil_resources):
    # Same alias, usage and spec as infra/kms.tf's aws_kms_key.signing; readers load its
    # public key as the publisher's.
    from edge_reader.bundle.signing import KEY_SPEC, SIGNING_ALGORITHM, load_trusted_keys
    from vexil.resources import ResourceNames, signing_public_key_pem

    kms = boto3.client("kms")
    alias = ResourceNames.for_prefix().signing_key_alias
    meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
    assert meta["Arn"] == vexil_resources["VEXIL_SIGNING_KEY_ID"]
    assert (meta["KeyUsage"], meta["KeySpec"]) == ("SIGN_VERIFY", KEY_SPEC)
    assert meta["SigningAlgorithms"] == [SIGNING_ALGORITHM]
    pem = signing_public_key_pem(vexil_resources["VEXIL_SIGNING_KEY_ID"])
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert len(load_trusted_keys(pem)) == 1
