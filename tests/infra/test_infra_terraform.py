"""The hand-written Terraform in infra/ agrees with the code and with resources.json.

Each test reads the configuration as data (python-hcl2) and checks one promise the
issue makes: names and keys, stream, encryption, the stream mapping, key policies,
CloudFront behaviours, protection and alarms.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from chalicelib import keys

from tests.infra.infra_tf import INFRA, ROOT, SHARED, Tf, all_blocks, first, parse_file


@pytest.fixture(scope="module")
def tf() -> Tf:
    return Tf.load(INFRA)


def test_every_tf_file_parses() -> None:
    files = sorted(INFRA.glob("*.tf"))
    assert len(files) >= 10
    for path in files:
        assert parse_file(path), path.name


def test_names_come_from_resources_json(tf: Tf) -> None:
    from vexil.resources import ResourceNames

    local = ResourceNames.for_prefix()
    assert 'jsondecode(file("${path.module}/resources.json"))' in tf.raw["locals.tf"]
    table = tf.resources[("aws_dynamodb_table", "main")]
    bucket = tf.resources[("aws_s3_bucket", "bundles")]
    assert tf.resolve(table["name"]) == local.table
    assert tf.resolve(bucket["bucket"]) == local.bucket
    assert tf.resolve(tf.resources[("aws_kms_alias", "bundle")]["name"]) == local.bundle_key_alias
    assert tf.resolve(tf.resources[("aws_kms_alias", "table")]["name"]) == local.table_key_alias
    # Another prefix changes every name the same way.
    other = ResourceNames.for_prefix("acme")
    assert tf.resolve(table["name"], "acme") == other.table
    assert tf.resolve(bucket["bucket"], "acme") == other.bucket


def test_table_keys_gsi_and_stream(tf: Tf) -> None:
    table = tf.resources[("aws_dynamodb_table", "main")]
    spec = SHARED["table"]
    assert (tf.resolve(table["hash_key"]), tf.resolve(table["range_key"])) == ("pk", "sk")
    assert spec["attributes"] == {"pk": "S", "sk": "S", "gsi1pk": "S", "gsi1sk": "S"}
    dynamic = {name: block for d in table["dynamic"] for name, block in d.items()}
    assert tf.resolve(dynamic["attribute"]["for_each"]) == spec["attributes"]
    assert first(dynamic["attribute"]["content"]) == {
        "name": "${attribute.key}",
        "type": "${attribute.value}",
    }
    gsi = dynamic["global_secondary_index"]
    assert tf.resolve(gsi["for_each"]) == spec["global_secondary_indexes"]
    assert [g["name"] for g in spec["global_secondary_indexes"]] == ["gsi1"]
    assert table["stream_enabled"] is True
    assert tf.resolve(table["stream_view_type"]) == "NEW_AND_OLD_IMAGES"
    assert tf.resolve(table["billing_mode"]) == "PAY_PER_REQUEST"


def test_key_layout_matches_keys_module() -> None:
    # The table's attribute names are the ones the repository and snapshot code use, and
    # the environment-item prefix the stream filter relies on is keys.py's.
    repo = (ROOT / "control_plane/chalicelib/repository.py").read_text(encoding="utf-8")
    assert '"pk"' in repo
    assert '"sk"' in repo
    assert keys.environment_sk("prod").startswith(keys.ENV_SK_PREFIX)
    assert keys.parse_environment_key(keys.project_pk("shop"), keys.environment_sk("prod")) == (
        "shop",
        "prod",
    )


def test_table_protection(tf: Tf) -> None:
    table = tf.resources[("aws_dynamodb_table", "main")]
    assert first(table["point_in_time_recovery"])["enabled"] is True
    sse = first(table["server_side_encryption"])
    assert sse["enabled"] is True
    assert sse["kms_key_arn"] == "${aws_kms_key.table.arn}"
    assert table["deletion_protection_enabled"] is True
    assert first(table["lifecycle"])["prevent_destroy"] is True


def test_insights_counters_expire_by_ttl(tf: Tf) -> None:
    table = tf.resources[("aws_dynamodb_table", "main")]
    ttl = first(table["ttl"])
    assert ttl == {"attribute_name": keys.INSIGHTS_TTL_ATTRIBUTE, "enabled": True}


def test_stream_event_source_mapping(tf: Tf) -> None:
    esm = tf.resources[("aws_lambda_event_source_mapping", "publisher_stream")]
    assert esm["event_source_arn"] == "${aws_dynamodb_table.main.stream_arn}"
    assert esm["function_name"] == '${module.control_plane.function_arns["publisher"]}'
    assert esm["function_response_types"] == ["ReportBatchItemFailures"]
    assert esm["bisect_batch_on_function_error"] is True
    assert esm["starting_position"] == "TRIM_HORIZON"
    retries = tf.variables["stream_maximum_retry_attempts"]["default"]
    assert esm["maximum_retry_attempts"] == "${var.stream_maximum_retry_attempts}"
    assert 0 <= retries <= 10  # bounded, never -1 (infinite)
    age = tf.variables["stream_maximum_record_age_seconds"]["default"]
    assert esm["maximum_record_age_in_seconds"] == "${var.stream_maximum_record_age_seconds}"
    assert 60 <= age <= 604800
    on_failure = first(first(esm["destination_config"])["on_failure"])
    assert on_failure["destination_arn"] == "${aws_sqs_queue.dead_letter.arn}"
    queue = tf.resources[("aws_sqs_queue", "dead_letter")]
    assert queue["kms_master_key_id"] == "${aws_kms_key.storage.arn}"
    # The filter passes exactly the environment items the publisher reacts to.
    pattern = first(first(esm["filter_criteria"])["filter"])["pattern"]
    assert f'prefix = "{keys.ENV_SK_PREFIX}"' in pattern.replace('\\"', '"')


def _statements(tf: Tf, doc: str) -> dict[str, dict[str, Any]]:
    body = tf.data[("aws_iam_policy_document", doc)]
    return {s["sid"]: s for s in all_blocks(body, "statement")}


def _conditions(statement: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    return {c["variable"]: (c["test"], c["values"]) for c in all_blocks(statement, "condition")}


def test_bundle_key_policy(tf: Tf) -> None:
    from chalicelib.sdk_key_record import SDK_KEY_PURPOSE

    from edge_reader.bundle.hierarchy import (
        KEY_STORE_CONTEXT_PREFIX,
        LOGICAL_KEY_STORE_NAME,
        branch_key_context,
    )

    key = tf.resources[("aws_kms_key", "bundle")]
    assert key["enable_key_rotation"] is True
    assert key["policy"] == "${data.aws_iam_policy_document.bundle_key.json}"
    assert tf.resolve(tf.locals["sdk_key_purpose"]) == SDK_KEY_PURPOSE
    assert tf.resolve(tf.locals["key_store_logical_name"]) == LOGICAL_KEY_STORE_NAME
    st = _statements(tf, "bundle_key")
    publisher = "${local.publisher_role_arn}"
    # The publisher no longer mints bundle data keys with this key: it creates and unwraps
    # branch keys (hierarchical keyring), and only those of this key store.
    assert "PublisherEncryptsBundles" not in st
    branch = st["PublisherUsesBranchKeys"]
    assert sorted(branch["actions"]) == [
        "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom",
        "kms:ReEncryptTo"]
    assert first(branch["principals"])["identifiers"] == [publisher]
    branch_conditions = _conditions(branch)
    assert branch_conditions["kms:EncryptionContext:tablename"] == (
        "StringEquals", ["${local.key_store_logical_name}"])
    assert st["PublisherUnwrapsSdkKeys"]["actions"] == ["kms:Decrypt"]
    assert st["ControlPlaneWrapsSdkKeys"]["actions"] == ["kms:Encrypt"]
    from chalicelib.list_record import LIST_SECRET_PURPOSE

    assert tf.resolve(tf.locals["list_secret_purpose"]) == LIST_SECRET_PURPOSE
    assert sorted(st["ControlPlaneUsesListSecrets"]["actions"]) == ["kms:Decrypt",
                                                                    "kms:Encrypt"]
    assert _conditions(st["ControlPlaneUsesListSecrets"])[
        "kms:EncryptionContext:vexil:purpose"] == ("StringEquals",
                                                   ["${local.list_secret_purpose}"])
    # Readers: Decrypt only, conditioned on the BRANCH KEY's context as KMS sees it.
    document = tf.data[("aws_iam_policy_document", "bundle_key")]
    dynamic = {}
    for d in document["dynamic"]:
        for b in d.values():
            body = first(b["content"])
            dynamic[body["sid"]] = (b, body)
    readers_block, reader = next(v for k, v in dynamic.items() if k.startswith("Reader"))
    assert readers_block["for_each"] == "${var.readers}"
    assert reader["actions"] == ["kms:Decrypt"]
    conditions = _conditions(reader)
    seen = {f"{KEY_STORE_CONTEXT_PREFIX}{k}" for k in branch_key_context("shop", "prod")}
    assert conditions == {
        "kms:EncryptionContext:tablename": ("StringEquals", ["${local.key_store_logical_name}"]),
        "kms:EncryptionContext:aws-crypto-ec:vexil:project": (
            "StringEquals", ["${statement.value.project}"]),
        "kms:EncryptionContext:aws-crypto-ec:vexil:environment": (
            "StringEquals", "${statement.value.environments}"),
    }
    assert {v.removeprefix("kms:EncryptionContext:") for v in conditions} - {"tablename"} == seen
    assert first(reader["principals"])["identifiers"] == "${statement.value.principal_arns}"
    # Rotators: new versions only, never Decrypt.
    _, rotate = dynamic["OperatorsRotateBranchKeys"]
    assert "kms:Decrypt" not in rotate["actions"]
    assert first(rotate["principals"])["identifiers"] == "${var.branch_key_rotator_arns}"
    # Nobody but the named principals gets a data action; admins get none.
    admin = st["KeyAdministration"]["actions"]
    data_actions = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:CreateGrant"}
    assert not data_actions & set(admin)
    assert all("*" not in a for a in admin)


def test_branch_key_context_is_what_kms_sees(
    vexil_resources: dict[str, str], mpl_clock: Any
) -> None:
    # The key policy's condition keys are the ones the key store really sends to KMS.
    import boto3

    from edge_reader.bundle import encryption_context
    from edge_reader.bundle.esdk import EnvelopeCache, encrypt_bundle
    from edge_reader.bundle.hierarchy import BranchKeyStore
    from tests.publisher.tablekit import unique

    session = boto3.session.Session()
    kms = session.client("kms")
    contexts: list[dict[str, str]] = []
    kms.meta.events.register(
        "provide-client-params.kms",
        lambda params, **_: contexts.append(dict(params.get("EncryptionContext")
                                                 or params.get("SourceEncryptionContext")
                                                 or {})))
    store = BranchKeyStore(table=vexil_resources["VEXIL_KEY_STORE_TABLE"],
                           kms_key_arn=vexil_resources["VEXIL_KMS_KEY_ID"],
                           dynamodb_client=session.client("dynamodb"), kms_client=kms)
    project = unique("ctx")
    encrypt_bundle(b"{}", context=encryption_context(project, "prod", 1, "server"),
                   cache=EnvelopeCache(store))
    assert contexts
    for context in contexts:
        assert context["tablename"] == "vexil-branch-keys"
        assert context["aws-crypto-ec:vexil:project"] == project
        assert context["aws-crypto-ec:vexil:environment"] == "prod"


def test_key_store_table(tf: Tf) -> None:
    from edge_reader.bundle.hierarchy import (
        KEY_STORE_HASH_KEY,
        KEY_STORE_RANGE_KEY,
        branch_key_id,
    )
    from vexil.resources import ResourceNames

    table = tf.resources[("aws_dynamodb_table", "key_store")]
    spec = SHARED["key_store"]
    assert tf.resolve(table["name"]) == ResourceNames.for_prefix().key_store_table
    assert (tf.resolve(table["hash_key"]), tf.resolve(table["range_key"])) == (
        KEY_STORE_HASH_KEY, KEY_STORE_RANGE_KEY)
    assert spec["attributes"] == {KEY_STORE_HASH_KEY: "S", KEY_STORE_RANGE_KEY: "S"}
    assert "stream_enabled" not in table
    assert first(table["point_in_time_recovery"])["enabled"] is True
    sse = first(table["server_side_encryption"])
    assert sse == {"enabled": True, "kms_key_arn": "${aws_kms_key.table.arn}"}
    assert table["deletion_protection_enabled"] is True
    assert first(table["lifecycle"])["prevent_destroy"] is True
    # Readers get GetItem on their own environments' branch keys only.
    document = tf.data[("aws_iam_policy_document", "key_store_readers")]
    reader = first(first(document["dynamic"])["statement"]["content"])
    assert reader["actions"] == ["dynamodb:GetItem"]
    test, values = _conditions(reader)["dynamodb:LeadingKeys"]
    assert test == "ForAllValues:StringEquals"
    template = re.fullmatch(r'\$\{\[for e in statement\.value\.environments : "(.*)"\]\}',
                            values)
    assert template, values
    rendered = (template.group(1).replace("${statement.value.project}", "shop")
                .replace("${e}", "prod"))
    assert rendered == branch_key_id("shop", "prod")
    policy = tf.resources[("aws_dynamodb_resource_policy", "key_store")]
    assert policy["resource_arn"] == "${aws_dynamodb_table.key_store.arn}"
    table_key = _statements(tf, "table_key")
    assert "UseThroughDynamoDB" in table_key


def test_table_and_storage_keys(tf: Tf) -> None:
    for name in ("table", "storage"):
        assert tf.resources[("aws_kms_key", name)]["enable_key_rotation"] is True
    table = _statements(tf, "table_key")["UseThroughDynamoDB"]
    assert _conditions(table)["kms:ViaService"] == (
        "StringEquals",
        ["dynamodb.${local.region}.amazonaws.com"],
    )
    storage = _statements(tf, "storage_key")
    cloudfront = storage["CloudFrontReadsBundles"]
    assert cloudfront["actions"] == ["kms:Decrypt"]
    assert _conditions(cloudfront)["AWS:SourceArn"][1] == [
        "${aws_cloudfront_distribution.bundles.arn}"
    ]


def test_bucket_is_private_encrypted_versioned_logged(tf: Tf) -> None:
    pab = tf.resources[("aws_s3_bucket_public_access_block", "bundles")]
    assert all(pab[k] is True for k in ("block_public_acls", "block_public_policy",
                                         "ignore_public_acls", "restrict_public_buckets"))
    versioning = tf.resources[("aws_s3_bucket_versioning", "bundles")]
    assert first(versioning["versioning_configuration"])["status"] == "Enabled"
    encryption = tf.resources[("aws_s3_bucket_server_side_encryption_configuration", "bundles")]
    sse = first(first(encryption["rule"])["apply_server_side_encryption_by_default"])
    assert sse == {"sse_algorithm": "aws:kms", "kms_master_key_id": "${aws_kms_key.storage.arn}"}
    logging = tf.resources[("aws_s3_bucket_logging", "bundles")]
    assert logging["target_bucket"] == "${aws_s3_bucket.logs.id}"
    ownership = tf.resources[("aws_s3_bucket_ownership_controls", "bundles")]
    assert first(ownership["rule"])["object_ownership"] == "BucketOwnerEnforced"


def test_bucket_policy_is_oac_only(tf: Tf) -> None:
    st = _statements(tf, "bundles_bucket")
    allows = [s for s in st.values() if s.get("effect", "Allow") == "Allow"]
    assert [s["sid"] for s in allows] == ["CloudFrontReadsBundles"]
    read = st["CloudFrontReadsBundles"]
    assert read["actions"] == ["s3:GetObject"]
    assert first(read["principals"]) == {
        "type": "Service",
        "identifiers": ["cloudfront.amazonaws.com"],
    }
    assert _conditions(read)["AWS:SourceArn"] == (
        "StringEquals",
        ["${aws_cloudfront_distribution.bundles.arn}"],
    )


def test_lifecycle_keeps_last_n_pointer_versions(tf: Tf) -> None:
    lifecycle = tf.resources[("aws_s3_bucket_lifecycle_configuration", "bundles")]
    rules = {r["id"]: r for r in lifecycle["rule"]}
    keep = rules["keep-last-pointer-versions"]
    assert tf.resolve(first(keep["filter"])["prefix"]) == SHARED["bucket"]["bundle_prefix"]
    expiration = first(keep["noncurrent_version_expiration"])
    keep_n = SHARED["bucket"]["keep_noncurrent_bundles"]
    assert tf.resolve(expiration["newer_noncurrent_versions"]) == keep_n
    rule = rules["expire-superseded-bundles"]
    superseded = first(first(rule["filter"])["and"])
    from chalicelib.publish.store import SUPERSEDED_TAG

    # The tag the publisher writes is exactly the one the rule filters on.
    assert superseded["tags"] == {SUPERSEDED_TAG["Key"]: SUPERSEDED_TAG["Value"]}
    assert tf.resolve(superseded["prefix"]) == SHARED["bucket"]["bundle_prefix"]
    assert first(rule["expiration"])["days"] == "${var.superseded_bundle_expiration_days}"
    assert first(rule["noncurrent_version_expiration"])["noncurrent_days"] == 1


def test_bundles_kept_default_matches_the_publisher() -> None:
    from chalicelib.publish.retention import DEFAULT_KEEP_BUNDLES

    tf = Tf.load(INFRA)
    assert tf.variables["bundles_kept_per_scope"]["default"] == DEFAULT_KEEP_BUNDLES
    module = tf.modules["control_plane"]
    assert module["bundles_kept_per_scope"] == "${var.bundles_kept_per_scope}"
    assert module["key_store_table_name"] == "${aws_dynamodb_table.key_store.name}"
    assert module["key_store_table_arn"] == "${aws_dynamodb_table.key_store.arn}"


def _max_age(cache_control: str) -> int:
    match = re.search(r"max-age=(\d+)", cache_control)
    assert match, cache_control
    return int(match.group(1))


def test_cloudfront(tf: Tf) -> None:
    from chalicelib.publish.store import BUNDLE_CACHE_CONTROL, POINTER_CACHE_CONTROL

    from edge_reader.bundle import bundle_object_key, pointer_object_key

    dist = tf.resources[("aws_cloudfront_distribution", "bundles")]
    origin = first(dist["origin"])
    oac_id = "${aws_cloudfront_origin_access_control.bundles.id}"
    assert origin["origin_access_control_id"] == oac_id
    oac = tf.resources[("aws_cloudfront_origin_access_control", "bundles")]
    assert (oac["signing_behavior"], oac["origin_access_control_origin_type"]) == ("always", "s3")
    cert = first(dist["viewer_certificate"])
    assert cert["minimum_protocol_version"] == "TLSv1.2_2021"
    behaviours = [first(dist["default_cache_behavior"]), *dist["ordered_cache_behavior"]]
    for b in behaviours:
        assert b["viewer_protocol_policy"] == "https-only"
        assert b["compress"] is True
        # The web console's files carry its own CSP (tests/infra/test_infra_console.py).
        policy = "console" if b.get("path_pattern") == "console/*" else "security"
        assert b["response_headers_policy_id"] == (
            f"${{aws_cloudfront_response_headers_policy.{policy}.id}}"
        )
    by_policy = {
        b["cache_policy_id"]: tf.resolve(b["path_pattern"]) for b in dist["ordered_cache_behavior"]
    }
    pointer_glob = by_policy["${aws_cloudfront_cache_policy.pointer.id}"]
    bundle_glob = by_policy["${aws_cloudfront_cache_policy.bundle.id}"]
    # Every real object key lands in the right behaviour (fnmatch ~ CloudFront's * glob).
    from fnmatch import fnmatchcase

    for scope in ("server", "client", "key-abcdefghij"):
        assert fnmatchcase(pointer_object_key("shop", "prod", scope), pointer_glob)
        assert fnmatchcase(bundle_object_key("shop", "prod", scope, 7, "ab" * 32), bundle_glob)
        assert not fnmatchcase(bundle_object_key("shop", "prod", scope, 7, "ab" * 32), pointer_glob)
    # The pointer policy honours the origin's max-age (within its bounds); bundles are
    # cached as long as their immutable Cache-Control says.
    pointer = tf.resources[("aws_cloudfront_cache_policy", "pointer")]
    max_age = _max_age(POINTER_CACHE_CONTROL)
    assert pointer["min_ttl"] == 0
    assert max_age <= tf.variables["pointer_max_ttl_seconds"]["default"]
    bundle = tf.resources[("aws_cloudfront_cache_policy", "bundle")]
    assert bundle["max_ttl"] == _max_age(BUNDLE_CACHE_CONTROL)
    policy = tf.resources[("aws_cloudfront_response_headers_policy", "security")]
    headers = first(policy["security_headers_config"])
    assert {"strict_transport_security", "content_type_options", "frame_options"} <= set(headers)
    assert dist["web_acl_id"] == "${aws_wafv2_web_acl.cdn.arn}"


def test_api_throttling_and_waf(tf: Tf) -> None:
    settings = first(tf.resources[("aws_api_gateway_method_settings", "all")]["settings"])
    assert settings["throttling_rate_limit"] == "${var.api_throttle_rate_limit}"
    assert settings["throttling_burst_limit"] == "${var.api_throttle_burst_limit}"
    assert tf.variables["api_throttle_rate_limit"]["default"] > 0
    assoc = tf.resources[("aws_wafv2_web_acl_association", "api")]
    assert assoc["web_acl_arn"] == "${aws_wafv2_web_acl.api.arn}"
    for acl in ("api", "cdn"):
        rules = tf.resources[("aws_wafv2_web_acl", acl)]["rule"]
        # One per-IP rule over every path (the CDN adds one scoped to /ofrep/: test_infra_edge).
        based = [first(r["statement"]).get("rate_based_statement") for r in rules]
        rate = [r for r, b in zip(rules, based, strict=True)
                if b and ("scope_down_statement" not in first(b)
                          or "not_statement" in first(first(b)["scope_down_statement"]))]
        assert len(rate) == 1, acl
        rate_statement = first(first(rate[0]["statement"])["rate_based_statement"])
        assert rate_statement["aggregate_key_type"] == "IP"
        assert "block" in first(rate[0]["action"])


def test_insights_ingest_has_its_own_waf_budget(tf: Tf) -> None:
    rules = {r["name"]: r for r in tf.resources[("aws_wafv2_web_acl", "api")]["rule"]}

    def match(statement: dict[str, Any]) -> dict[str, Any]:
        return dict(first(statement["byte_match_statement"]))

    # The per-IP rule covers every path except the ingest; the ingest rule exactly that path.
    every = first(first(rules["rate-limit-per-ip"]["statement"])["rate_based_statement"])
    negated = first(first(first(every["scope_down_statement"])["not_statement"])["statement"])
    ingest = first(first(rules["insights-rate-limit-per-ip"]["statement"])[
        "rate_based_statement"])
    scoped = first(ingest["scope_down_statement"])
    assert match(negated) == match(scoped)
    assert match(scoped)["search_string"] == "/v1/insights/evaluations"
    assert match(scoped)["positional_constraint"] == "ENDS_WITH"
    assert ingest["aggregate_key_type"] == "IP"
    assert "block" in first(rules["insights-rate-limit-per-ip"]["action"])
    assert tf.variables["waf_insights_rate_limit"]["default"] > tf.variables[
        "waf_api_rate_limit"]["default"]


def test_alarms_and_topic(tf: Tf) -> None:
    alarms = dict(tf.of_type("aws_cloudwatch_metric_alarm"))
    metrics = {(b["namespace"], b["metric_name"]) for b in alarms.values()}
    assert {
        ("AWS/Lambda", "IteratorAge"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/CloudFront", "5xxErrorRate"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    } <= metrics
    for name, body in alarms.items():
        assert body["alarm_actions"], name
    assert ("aws_sns_topic", "alarms") in tf.resources


def test_variables_outputs_and_example(tf: Tf) -> None:
    for name in ("name_prefix", "aws_region", "readers", "cdn_domain_name", "cdn_certificate_arn"):
        assert name in tf.variables, name
    assert {"api_url", "cdn_url"} <= set(tf.outputs)
    example = (INFRA / "terraform.tfvars.example").read_text(encoding="utf-8")
    import hcl2

    active = set(hcl2.loads(example)) - {"__comments__"}  # the live part is valid HCL
    suggested = set(re.findall(r"^# ([a-z_0-9]+)\s+=", example, flags=re.MULTILINE))
    assert {"name_prefix", "aws_region", "readers"} <= active
    assigned = active | suggested
    assert assigned <= set(tf.variables), assigned - set(tf.variables)


def test_checkov_skips_are_justified() -> None:
    for path in INFRA.glob("*.tf"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if "checkov:skip=" in line:
                match = re.search(r"checkov:skip=(CKV2?_AWS_\d+):(.{20,})", line)
                assert match, f"{path.name}: skip without a reason: {line.strip()}"


def test_policy_files_have_no_wildcard_actions() -> None:
    files = sorted((ROOT / "control_plane/.chalice").glob("policy-*.json"))
    assert {p.name for p in files} >= {"policy-api.json", "policy-publisher.json"}
    for path in files:
        policy = json.loads(path.read_text(encoding="utf-8"))
        for st in policy["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            assert st["Effect"] == "Allow"
            for action in actions:
                assert "*" not in action, f"{path.name}: {action}"
            if st["Resource"] == "*":
                # Only actions that have no resource-level permissions may use "*".
                assert set(actions) <= {"dynamodb:ListStreams"}, f"{path.name}: {actions}"


def test_lambda_environment_matches_code() -> None:
    from infra.package import LAMBDA_ENVIRONMENT

    read = set()
    for path in [*Path(ROOT / "control_plane").rglob("*.py")]:
        if "vendor" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        read |= set(re.findall(r"os\.environ(?:\.get)?[\[(]\"((?:VEXIL|POWERTOOLS)_[A-Z_]+)\"",
                               text))
    assert read, "no VEXIL_* variable read by control_plane"
    # Local-stack-only knobs that a deployment never sets (nginx cache purge; metrics, which
    # Lambda writes by default: chalicelib.observability.metrics_on).
    local_only = {"VEXIL_LOCAL_CDN_CACHE_DIR", "VEXIL_METRICS"}
    assert read - local_only <= set(LAMBDA_ENVIRONMENT), read - set(LAMBDA_ENVIRONMENT)
    assert set(LAMBDA_ENVIRONMENT) == {
        "VEXIL_TABLE", "VEXIL_BUCKET", "VEXIL_KMS_KEY_ID", "VEXIL_KEY_STORE_TABLE",
        "VEXIL_KEEP_BUNDLES", "VEXIL_CLOUDFRONT_DISTRIBUTION_ID", "VEXIL_SIGNING_KEY_ID",
        "VEXIL_POINTER_MAX_AGE", "VEXIL_HEARTBEAT_INTERVAL",
        "VEXIL_ANCHOR_BUCKET", "VEXIL_ANCHOR_TRUSTED_KEYS", "VEXIL_CONSOLE_ORIGIN",
        "VEXIL_ROLLOUT_TOPIC_ARN", "VEXIL_LIST_GRACE_SECONDS",
        "POWERTOOLS_METRICS_NAMESPACE",
    }
    # The publisher signs with the ACTIVE generation's key, which the module call passes.
    assert LAMBDA_ENVIRONMENT["VEXIL_SIGNING_KEY_ID"] == "signing_key_arn"
    root = Tf.load(INFRA)
    assert root.modules["control_plane"]["signing_key_arn"] == "${local.signing_key_arn}"
    assert root.locals["signing_key_arn"] == (
        "${aws_kms_key.signing[var.active_signing_key_generation].arn}")


def test_bundle_key_data_actions_only_through_named_statements(tf: Tf) -> None:
    # No statement hands the account root (and thereby any IAM policy) a data action on
    # the bundle key: readers cannot be widened by IAM, only by this policy.
    data_actions = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom",
                    "kms:ReEncryptTo", "kms:CreateGrant", "kms:GenerateDataKeyWithoutPlaintext"}
    for sid, st in _statements(tf, "bundle_key").items():
        principals = first(st["principals"])["identifiers"]
        if set(st["actions"]) & data_actions:
            assert principals in (
                ["${local.publisher_role_arn}"],
                ["${local.control_plane_role_arn}"],
            ), sid
            assert all_blocks(st, "condition"), f"{sid}: data action without a condition"


def test_publisher_policy_covers_every_object_key() -> None:
    from fnmatch import fnmatchcase

    from edge_reader.bundle import bundle_object_key, pointer_object_key

    policy = json.loads((ROOT / "control_plane/.chalice/policy-publisher.json").read_text())
    writes = next(s for s in policy["Statement"] if "s3:PutObject" in s["Action"])
    pattern = writes["Resource"].replace("${bucket_arn}/", "")
    for scope in ("server", "client", "key-abcdefghij"):
        assert fnmatchcase(pointer_object_key("shop", "prod", scope), pattern)
        assert fnmatchcase(bundle_object_key("shop", "prod", scope, 3, "cd" * 32), pattern)
    assert pattern.startswith(SHARED["bucket"]["bundle_prefix"])
    by_sid = {st["Sid"]: st for st in policy["Statement"]}
    tagging = by_sid["TagSupersededBundles"]["Resource"].replace("${bucket_arn}/", "")
    delete = by_sid["RemoveVanishedScopePointers"]["Resource"].replace("${bucket_arn}/", "")
    for scope in ("server", "client", "key-abcdefghij"):
        assert fnmatchcase(bundle_object_key("shop", "prod", scope, 3, "cd" * 32), tagging)
    # Only pointers of key scopes may be deleted: never a bundle, never server/client.
    assert fnmatchcase(pointer_object_key("shop", "prod", "key-abcdefghij"), delete)
    for scope in ("server", "client"):
        assert not fnmatchcase(pointer_object_key("shop", "prod", scope), delete)
    assert not fnmatchcase(bundle_object_key("shop", "prod", "key-abcdefghij", 3, "cd" * 32),
                           delete)
    key_store = by_sid["BranchKeyStoreReadAndCreate"]
    assert key_store["Resource"] == "${key_store_table_arn}"
    assert sorted(key_store["Action"]) == ["dynamodb:GetItem", "dynamodb:PutItem"]


def test_signing_key_is_an_asymmetric_p256_key_the_publisher_alone_signs_with(tf: Tf) -> None:
    from chalicelib.publish.signing import MESSAGE_TYPE

    from edge_reader.bundle.signing import KEY_SPEC, SIGNING_ALGORITHM
    from vexil.resources import ResourceNames

    key = tf.resources[("aws_kms_key", "signing")]
    assert key["for_each"] == "${var.signing_key_generations}"
    assert key["key_usage"] == "SIGN_VERIFY"
    assert tf.resolve(key["customer_master_key_spec"]) == KEY_SPEC
    # KMS cannot rotate asymmetric keys: rotation is a new generation (docs/operations.md).
    assert key["enable_key_rotation"] is False
    assert "checkov:skip=CKV_AWS_7:asymmetric" in tf.raw["kms.tf"]
    assert key["policy"] == "${data.aws_iam_policy_document.signing_key.json}"
    alias = tf.resources[("aws_kms_alias", "signing")]
    assert tf.resolve(alias["name"]) == ResourceNames.for_prefix().signing_key_alias
    assert alias["target_key_id"] == (
        "${aws_kms_key.signing[var.active_signing_key_generation].key_id}")
    precondition = first(first(alias["lifecycle"])["precondition"])
    assert precondition["condition"] == (
        "${contains(var.signing_key_generations, var.active_signing_key_generation)}")
    assert tf.variables["active_signing_key_generation"]["default"] in (
        tf.variables["signing_key_generations"]["default"])

    st = _statements(tf, "signing_key")
    assert set(st) == {"KeyAdministration", "PublisherSignsPointers", "PublisherReadsPublicKey",
                       "ControlPlaneReadsPublicKey", "OperatorsReadPublicKey"}
    sign = st["PublisherSignsPointers"]
    assert sign["actions"] == ["kms:Sign"]
    assert first(sign["principals"])["identifiers"] == ["${local.publisher_role_arn}"]
    conditions = {k: (t, [tf.resolve(v) for v in vs]) for k, (t, vs) in _conditions(sign).items()}
    assert conditions == {"kms:SigningAlgorithm": ("StringEquals", [SIGNING_ALGORITHM]),
                          "kms:MessageType": ("StringEquals", [MESSAGE_TYPE])}
    # Only the publisher signs; nobody gets a data action (there is nothing to decrypt).
    for sid, statement in st.items():
        if sid != "PublisherSignsPointers":
            assert "kms:Sign" not in statement["actions"], sid
        assert not {a for a in statement["actions"]
                    if a.startswith(("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey",
                                     "kms:ReEncrypt", "kms:CreateGrant"))}, sid
    assert st["PublisherReadsPublicKey"]["actions"] == ["kms:GetPublicKey"]
    operators = st["OperatorsReadPublicKey"]
    assert sorted(operators["actions"]) == ["kms:DescribeKey", "kms:GetPublicKey"]
    assert "var.signing_public_key_reader_arns" in first(operators["principals"])["identifiers"]


def test_signing_public_keys_are_outputs_readers_can_load(tf: Tf) -> None:
    public = tf.data[("aws_kms_public_key", "signing")]
    assert public == {"for_each": "${aws_kms_key.signing}", "key_id": "${each.value.arn}"}
    # One expression (a local) for readers' output and the API's anchor check.
    assert tf.outputs["pointer_signing_public_keys_pem"]["value"] == (
        "${local.signing_public_keys_pem}")
    every = tf.locals["signing_public_keys_pem"]
    assert "data.aws_kms_public_key.signing[g].public_key_pem" in every
    assert "var.signing_key_generations" in every
    active = tf.outputs["pointer_signing_public_key_pem"]["value"]
    assert active == ("${data.aws_kms_public_key.signing"
                      "[var.active_signing_key_generation].public_key_pem}")
    assert tf.outputs["signing_key_arn"]["value"] == "${local.signing_key_arn}"


def test_publisher_policy_signs_only_with_the_signing_key() -> None:
    from chalicelib.publish.signing import MESSAGE_TYPE

    from edge_reader.bundle.signing import SIGNING_ALGORITHM

    policy = json.loads((ROOT / "control_plane/.chalice/policy-publisher.json").read_text())
    by_sid = {st["Sid"]: st for st in policy["Statement"]}
    sign = by_sid["SignPointers"]
    assert (sign["Action"], sign["Resource"]) == (["kms:Sign"], "${signing_key_arn}")
    assert sign["Condition"] == {"StringEquals": {"kms:SigningAlgorithm": SIGNING_ALGORITHM,
                                                  "kms:MessageType": MESSAGE_TYPE}}
    assert by_sid["ReadSigningPublicKey"]["Action"] == ["kms:GetPublicKey"]
    assert by_sid["ReadSigningPublicKey"]["Resource"] == "${signing_key_arn}"
    signs = [st for st in policy["Statement"] if "kms:Sign" in st["Action"]]
    assert signs == [sign]


def test_cdn_forwards_no_query_string_and_never_reads_old_versions(tf: Tf) -> None:
    # F4: ?versionId=<older> must neither reach S3 nor key the cache.
    for name in ("pointer", "bundle"):
        policy = tf.resources[("aws_cloudfront_cache_policy", name)]
        params = first(policy["parameters_in_cache_key_and_forwarded_to_origin"])
        assert first(params["query_strings_config"])["query_string_behavior"] == "none"
    dist = tf.resources[("aws_cloudfront_distribution", "bundles")]
    for b in [first(dist["default_cache_behavior"]), *dist["ordered_cache_behavior"]]:
        assert "origin_request_policy_id" not in b  # it could forward query strings
    deny = _statements(tf, "bundles_bucket")["CloudFrontNeverReadsOldVersions"]
    assert (deny["effect"], deny["actions"]) == ("Deny", ["s3:GetObjectVersion"])
    assert first(deny["principals"])["identifiers"] == ["cloudfront.amazonaws.com"]


def test_heartbeat_schedule_invokes_the_publisher_with_the_heartbeat_event(tf: Tf) -> None:
    from chalicelib.publish.signing import DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_POINTER_MAX_AGE
    from chalicelib.publish.stream import is_heartbeat

    rule = tf.resources[("aws_cloudwatch_event_rule", "heartbeat")]
    assert rule["schedule_expression"] == "rate(${var.heartbeat_interval_minutes} minutes)"
    target = tf.resources[("aws_cloudwatch_event_target", "heartbeat")]
    assert target["arn"] == '${module.control_plane.function_arns["publisher"]}'
    assert target["input"] == '${jsonencode({source = "vexil.heartbeat"})}'
    assert is_heartbeat({"source": "vexil.heartbeat"})
    permission = tf.resources[("aws_lambda_permission", "heartbeat")]
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.heartbeat.arn}"
    # Terraform's defaults are the code's defaults, and reach the Lambda's environment.
    assert tf.variables["heartbeat_interval_minutes"]["default"] * 60 == DEFAULT_HEARTBEAT_INTERVAL
    assert tf.variables["pointer_max_age_minutes"]["default"] * 60 == DEFAULT_POINTER_MAX_AGE
    module = tf.modules["control_plane"]
    assert module["heartbeat_interval_seconds"] == "${var.heartbeat_interval_minutes * 60}"
    assert module["pointer_max_age_seconds"] == "${var.pointer_max_age_minutes * 60}"
