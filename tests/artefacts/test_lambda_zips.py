"""The Lambda zips are proven, not assumed: built, unpacked, imported alone, invoked.

Every zip of :data:`infra.package.LAMBDA_ARTEFACTS` (the control plane's, the OFREP edge's)
is built exactly as a deploy builds it, unpacked into an empty directory and run by a fresh
interpreter with only that directory in front of the standard library (``python -I -S``, as
the Lambda runtime runs /var/task: see lambda_runtime.py) — no checkout, no site-packages.
The control plane's handlers are then invoked with the events AWS delivers: API Gateway's
TOKEN authorizer event and REST proxy events for the API, a DynamoDB stream batch read from
the emulator's own stream for the publisher, and the EventBridge scheduled event for the
heartbeat. The AWS side is the session's moto (our launcher), with resources of their own so
the heartbeat touches nothing of other tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.package import (
    LAMBDA_ARTEFACTS,
    LambdaArtefact,
    clean_source,
    wheel_platform_problems,
    zip_missing_requirements,
)

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = Path(__file__).with_name("lambda_runtime.py")
API_ID = "abc123defg"
ACCOUNT = "123456789012"

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every artefact's zip, built once for this module (about a minute): name -> zip."""
    return {a.name: a.build(tmp_path_factory.mktemp(a.name)) for a in LAMBDA_ARTEFACTS}


@pytest.fixture(scope="module")
def lambda_env(aws_env: str) -> dict[str, str]:
    """The environment a deployed function gets: its own tables, bucket and keys in moto."""
    import os

    from vexil.devstack.aws import local_aws_env
    from vexil.resources import ResourceNames, ensure_resources

    names = ensure_resources(ResourceNames.for_prefix(f"zip{uuid.uuid4().hex[:6]}"))
    return {
        **local_aws_env(aws_env), **names,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    }


def _unpack(zip_path: Path, into: Path) -> Path:
    task = into / "task"
    task.mkdir()
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(task)
    return task


class Container:
    """One warm Lambda container running lambda_runtime.py over an unpacked zip."""

    def __init__(self, task: Path, env: dict[str, str], log: Path,
                 runtime: Path | None = None) -> None:
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(RUNTIME), str(task),
             *([str(runtime)] if runtime else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
            env={**env, "LAMBDA_TASK_ROOT": str(task)}, cwd=task,
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request; return the runtime's answer (fails if the process died)."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the runtime exited; see {self.log.name}"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def invoke(self, handler: str, event: dict[str, Any], timeout: float = 30
               ) -> dict[str, Any]:
        """Invoke ``handler`` (``timeout``: the function's, in seconds); return its result,
        failing the test on an invocation error."""
        answer = self.ask({"handler": handler, "event": event, "timeout": timeout})
        assert "result" in answer, answer
        result: dict[str, Any] = answer["result"]
        return result

    def close(self) -> None:
        """Stop the process (closing stdin ends its loop) and the log."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()


@pytest.fixture(scope="module")
def control_plane(built: dict[str, Path], lambda_env: dict[str, str],
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """A warm container of the control-plane zip (API, authorizer, publisher)."""
    where = tmp_path_factory.mktemp("control-plane")
    container = Container(_unpack(built["control-plane"], where), lambda_env,
                          where / "runtime.log")
    try:
        yield container
    finally:
        container.close()


# --- the zip's contents -------------------------------------------------------------------


def test_every_zip_carries_loadable_wheels(built: dict[str, Path]) -> None:
    assert set(built) == {a.name for a in LAMBDA_ARTEFACTS}
    for name, zip_path in built.items():
        assert wheel_platform_problems(zip_path) == [], name
        names = zipfile.ZipFile(zip_path).namelist()
        # The re2 pin: 1.1 is the last google-re2 with a wheel glibc 2.26 loads.
        assert "google_re2-1.1.dist-info/WHEEL" in names, name
        assert "edge_reader/__init__.py" in names, name


def test_the_control_plane_zip_carries_its_requirements_once(built: dict[str, Path]) -> None:
    zip_path = built["control-plane"]
    requirements = ROOT / "control_plane" / "requirements.txt"
    assert zip_missing_requirements(zip_path, requirements) == []
    names = zipfile.ZipFile(zip_path).namelist()
    # chalicelib comes from the Chalice project once, not a second time from a wheel.
    assert not any(n.startswith("vexil_control_plane") for n in names)
    assert "chalicelib/__init__.py" in names


def _fake_zip(path: Path, wheels: dict[str, str], files: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for dist, tags in wheels.items():
            body = "Wheel-Version: 1.0\n" + "".join(f"Tag: {t}\n" for t in tags.split())
            zf.writestr(f"{dist}.dist-info/WHEEL", body)
        for name in files:
            zf.writestr(name, b"")
    return path


def test_the_platform_check_refuses_what_lambda_cannot_load(tmp_path: Path) -> None:
    good = {
        "pure-1.0": "py3-none-any",
        "old_glibc-1.0": "cp311-cp311-manylinux_2_17_x86_64 cp311-cp311-manylinux2014_x86_64",
        "abi3-1.0": "cp37-abi3-manylinux2014_x86_64",
        "either-1.0": "cp311-cp311-manylinux_2_28_x86_64 cp311-cp311-manylinux1_x86_64",
    }
    bad = {
        "new_glibc-1.0": "cp311-cp311-manylinux_2_28_x86_64",  # google-re2 2025 builds
        "musl-1.0": "cp311-cp311-musllinux_1_2_x86_64",
        "arm-1.0": "cp311-cp311-manylinux2014_aarch64",
        "local-1.0": "cp311-cp311-linux_x86_64",
        "other_python-1.0": "cp312-cp312-manylinux2014_x86_64",
    }
    files = ["ok/_speed.cpython-311-x86_64-linux-gnu.so",
             "bad/_speed.cpython-312-x86_64-linux-gnu.so"]
    problems = wheel_platform_problems(_fake_zip(tmp_path / "z.zip", {**good, **bad}, files),
                                       python="3.11", arch="x86_64")
    reported = {p.split(":")[0] for p in problems}
    assert reported == {f"{d}.dist-info" for d in bad} | {files[1]}
    # python3.12 runs on glibc 2.34: the manylinux_2_28 wheel loads there.
    later = wheel_platform_problems(_fake_zip(tmp_path / "y.zip", {"new_glibc-1.0":
                                    "cp312-cp312-manylinux_2_28_x86_64"}, []), python="3.12")
    assert later == []


def test_wheels_are_built_from_a_copy_without_build_leftovers(tmp_path: Path) -> None:
    # setuptools reuses build/lib/: a module deleted from the source would still ship.
    tree = tmp_path / "tree"
    for name in ("vexil/cli.py", "build/lib/vexil/ghost.py", ".venv/bin/python",
                 "control_plane/vendor/x.py", "control_plane/chalicelib/keys.py"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("")
    copy = clean_source(tree, tmp_path / "copy")
    kept = sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file())
    assert kept == ["control_plane/chalicelib/keys.py", "vexil/cli.py"]


@pytest.mark.parametrize("artefact", LAMBDA_ARTEFACTS, ids=lambda a: a.name)
def test_each_handler_imports_with_only_its_zip_on_the_path(
    artefact: LambdaArtefact, built: dict[str, Path], lambda_env: dict[str, str],
    tmp_path: Path
) -> None:
    task = _unpack(built[artefact.name], tmp_path)
    container = Container(task, lambda_env, tmp_path / "runtime.log")
    try:
        for handler in artefact.handlers:
            assert container.ask({"handler": handler, "import_only": True}) == {"result": True}
        loaded = container.ask({"modules": True})
    finally:
        container.close()
    assert loaded["path"][0] == str(task)
    assert not [p for p in loaded["path"] if "site-packages" in p or str(ROOT) in p]
    outside = {name: f for name, f in loaded["modules"].items()
               if not f.startswith(str(task)) and f != str(RUNTIME)}
    assert outside == {}, "imported from outside the zip"
    for handler in artefact.handlers:
        assert handler.rpartition(".")[0] in loaded["modules"]
    assert "edge_reader" in loaded["modules"]


# --- invocations --------------------------------------------------------------------------


def _authorizer_event(token: str, method: str, path: str) -> dict[str, Any]:
    # What API Gateway sends a TOKEN authorizer (Chalice's built-in authorizer type).
    return {"type": "TOKEN", "authorizationToken": f"Bearer {token}",
            "methodArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{API_ID}/api/{method}{path}"}


def _proxy_event(method: str, resource: str, params: dict[str, str], body: Any,
                 authorizer: dict[str, Any]) -> dict[str, Any]:
    """A REST API (v1 payload) Lambda proxy event, as API Gateway delivers it."""
    path = resource.format(**params)
    headers = {"Accept": "application/json", "Content-Type": "application/json",
               "Host": f"{API_ID}.execute-api.us-east-1.amazonaws.com",
               "User-Agent": "vexil-tests/1.0", "X-Forwarded-For": "203.0.113.7",
               "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https"}
    return {
        "resource": resource, "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": params or None, "stageVariables": None,
        "requestContext": {
            "resourceId": "a1b2c3", "resourcePath": resource, "httpMethod": method,
            "extendedRequestId": "Ab1Cd2Ef3Gh=", "requestTime": "06/Dec/2026:04:00:00 +0000",
            "path": f"/api{path}", "accountId": ACCOUNT, "protocol": "HTTP/1.1",
            "stage": "api", "domainPrefix": API_ID, "requestTimeEpoch": 1796529600000,
            "requestId": str(uuid.uuid4()), "apiId": API_ID,
            "domainName": f"{API_ID}.execute-api.us-east-1.amazonaws.com",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "vexil-tests/1.0",
                         "accountId": None, "caller": None, "user": None, "userArn": None},
            "authorizer": authorizer,
        },
        "body": None if body is None else json.dumps(body), "isBase64Encoded": False,
    }


@pytest.fixture(scope="module")
def seeded(control_plane: Container, lambda_env: dict[str, str]) -> dict[str, Any]:
    """A token, then a project, an environment, a flag and an SDK key, all written through
    the zip's API handler behind its own authorizer; returns what each step answered."""
    from vexil.bootstrap import bootstrap_admin_token

    token = bootstrap_admin_token("zip-tests", table=lambda_env["VEXIL_TABLE"])
    project = f"z{uuid.uuid4().hex[:8]}"
    decision = control_plane.invoke("app.token_authorizer",
                                    _authorizer_event(token, "POST", "/v1/projects"))
    authorizer = {**decision["context"], "principalId": decision["principalId"]}

    def api(method: str, resource: str, params: dict[str, str], body: Any) -> dict[str, Any]:
        return control_plane.invoke("app.app", _proxy_event(method, resource, params, body,
                                                             authorizer))

    steps = {
        "project": api("POST", "/v1/projects", {}, {"key": project}),
        "environment": api("POST", "/v1/projects/{project}/environments",
                           {"project": project}, {"key": "prod"}),
        "flag": api("POST", "/v1/projects/{project}/flags", {"project": project},
                    {"key": "checkout", "kind": "boolean", "client_visible": True,
                     "variations": {"on": True, "off": False}}),
        "sdk_key": api("POST", "/v1/projects/{project}/environments/{env}/sdk-keys",
                       {"project": project, "env": "prod"}, {"kind": "server"}),
        "client_key": api("POST", "/v1/projects/{project}/environments/{env}/sdk-keys",
                          {"project": project, "env": "prod"}, {"kind": "client"}),
        "bad_project": api("POST", "/v1/projects", {}, {"key": "Not A Key!"}),
        "read": api("GET", "/v1/projects/{project}", {"project": project}, None),
    }
    return {"token": token, "project": project, "decision": decision, "steps": steps}


def test_api_handler_answers_proxy_events_behind_its_authorizer(
    control_plane: Container, seeded: dict[str, Any]
) -> None:
    decision = seeded["decision"]
    statement = decision["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert decision["context"]["role"] == "admin"
    # A wrong token: the runtime must report the failure API Gateway turns into a 401.
    forged = _authorizer_event("vxl_tok_forged", "GET", "/v1/projects")
    denied = control_plane.ask({"handler": "app.token_authorizer", "event": forged})
    assert denied.get("errorMessage") == "Unauthorized", denied
    assert denied.get("errorType") == "AuthorizerUnauthorized"

    steps = seeded["steps"]
    for name in ("project", "environment", "flag", "sdk_key", "client_key"):
        assert steps[name]["statusCode"] == 201, (name, steps[name])
    assert json.loads(steps["sdk_key"]["body"])["key"].startswith("vxl_srv_")
    read = steps["read"]
    assert read["statusCode"] == 200
    assert json.loads(read["body"])["project"] == seeded["project"]
    bad = steps["bad_project"]
    assert bad["statusCode"] == 400, bad
    assert "key" in bad["body"]


def _stream_batch(table: str) -> dict[str, Any]:
    """Every record of the table's stream, as the event source mapping delivers a batch."""
    from vexil.stream_worker import lambda_record

    session = boto3.session.Session()
    arn = session.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = session.client("dynamodbstreams")
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    return {"Records": [lambda_record(r, arn) for r in records]}


def test_publisher_handles_a_stream_batch_then_the_heartbeat(
    control_plane: Container, seeded: dict[str, Any], lambda_env: dict[str, str]
) -> None:
    from edge_reader.bundle.pointer import pointer_object_key

    batch = _stream_batch(lambda_env["VEXIL_TABLE"])
    touched = [r for r in batch["Records"]
               if r["dynamodb"]["Keys"]["pk"]["S"] == f"P#{seeded['project']}"]
    assert touched, "the API writes reached the stream"
    assert control_plane.invoke("app.publisher", batch) == {"batchItemFailures": []}

    s3 = boto3.session.Session().client("s3")
    key = pointer_object_key(seeded["project"], "prod", "server")
    pointer = json.loads(s3.get_object(Bucket=lambda_env["VEXIL_BUCKET"], Key=key)["Body"].read())
    assert pointer["revision"] >= 1
    assert s3.head_object(Bucket=lambda_env["VEXIL_BUCKET"], Key=pointer["key"])

    scheduled = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                 "source": "aws.events", "account": ACCOUNT, "time": "2026-12-06T04:00:00Z",
                 "region": "us-east-1", "detail": {},
                 "resources": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/vexil-heartbeat"]}
    beat = control_plane.invoke("app.publisher", scheduled)["heartbeat"]
    assert beat["environments"] >= 1


def test_rollout_controller_runs_on_its_schedule_event(control_plane: Container) -> None:
    # infra/rollouts.tf's EventBridge target delivers this constant input every minute.
    report = control_plane.invoke("app.rollout_controller", {"source": "vexil.rollouts"})
    assert set(report) >= {"advanced", "rolled_back", "paused", "frozen", "errors"}
    assert report["errors"] == []


def test_list_importer_drains_an_import_on_a_queue_insert_then_on_its_schedule(
    control_plane: Container, seeded: dict[str, Any], lambda_env: dict[str, str]
) -> None:
    # A list segment and an uploaded, started import (through the zip's API), then the
    # importer invoked as the stream mapping of infra/importer.tf delivers a queue insert.
    token, project = seeded["token"], seeded["project"]
    decision = control_plane.invoke("app.token_authorizer",
                                    _authorizer_event(token, "POST", "/v1/projects"))
    authorizer = {**decision["context"], "principalId": decision["principalId"]}
    seg = "/v1/projects/{project}/environments/{env}/segments"
    params = {"project": project, "env": "prod"}

    def api(method: str, resource: str, extra: dict[str, str], body: Any) -> dict[str, Any]:
        answer = control_plane.invoke("app.app", _proxy_event(
            method, resource, {**params, **extra}, body, authorizer))
        assert answer["statusCode"] < 300, answer
        return dict(json.loads(answer["body"]))

    api("POST", seg, {}, {"key": "beta", "type": "list"})
    created = api("POST", seg + "/{segment}/imports", {"segment": "beta"}, {"format": "csv"})
    s3 = boto3.session.Session().client("s3")
    s3.put_object(Bucket=lambda_env["VEXIL_BUCKET"],
                  Key=f"imports/{project}/prod/beta/{created['import_id']}",
                  Body=b"id\nalice\nbob\nalice\n")
    path = seg + "/{segment}/imports/{import_id}"
    ids = {"segment": "beta", "import_id": created["import_id"]}
    assert api("POST", path + "/start", ids, {})["status"] == "queued"
    table = lambda_env["VEXIL_TABLE"]
    inserts = [r for r in _stream_batch(table)["Records"]
               if r["dynamodb"]["Keys"]["pk"]["S"] == "IMPORTQ"]
    assert inserts
    assert all(r["eventName"] == "INSERT" for r in inserts)
    # control_plane/.chalice/config.json gives the importer 900 s.
    report = control_plane.invoke("app.list_importer", {"Records": inserts}, timeout=900)
    assert report == {"processed": [created["import_id"]], "queue_age_seconds": 0.0}
    done = api("GET", path, ids, None)
    assert done["status"] == "done", done
    assert done["result"]["added"] == 2
    assert done["result"]["duplicates"] == 1
    assert api("GET", seg + "/{segment}/members", {"segment": "beta"}, None)["members"] == 2
    # The schedule (infra/importer.tf's constant input): nothing left to do.
    idle = control_plane.invoke("app.list_importer", {"source": "vexil.list-importer"},
                                timeout=900)
    assert idle == {"processed": [], "queue_age_seconds": 0.0}


@pytest.fixture(scope="module")
def var_runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the python3.11 runtime has in /var/runtime that a zip may rely on: boto3."""
    where = tmp_path_factory.mktemp("var_runtime")
    import boto3 as local_boto3

    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(where),
         f"boto3=={local_boto3.__version__}"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return where


def test_edge_zip_answers_an_ofrep_request_from_what_the_publisher_wrote(
    built: dict[str, Path], control_plane: Container, seeded: dict[str, Any],
    lambda_env: dict[str, str], var_runtime: Path, tmp_path: Path
) -> None:
    # The publisher (from its zip) writes the client-scope bundle; the edge (from its zip,
    # boto3 from the runtime) reads it from the bucket and answers the HTTP API event
    # CloudFront forwards.
    assert control_plane.invoke("app.publisher", _stream_batch(lambda_env["VEXIL_TABLE"])) \
        == {"batchItemFailures": []}
    client_key = json.loads(seeded["steps"]["client_key"]["body"])["key"]
    secret = f"origin-{uuid.uuid4().hex}"
    config = {"s3_bucket": lambda_env["VEXIL_BUCKET"], "cors_origins": ["https://shop.example"],
              "environments": [{"project": seeded["project"], "environment": "prod",
                                "sdk_key": client_key}]}
    env = {**lambda_env, "VEXIL_EDGE_CONFIG_JSON": json.dumps(config),
           "VEXIL_EDGE_ORIGIN_SECRET": secret}
    edge = next(a for a in LAMBDA_ARTEFACTS if a.name == "edge")
    event = json.loads((ROOT / "tests" / "edge" / "events" / "http_api_via_cloudfront.json"
                        ).read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = \
        "/ofrep/v1/evaluate/flags/checkout"
    event["headers"]["authorization"] = f"Bearer {client_key}"
    event["headers"]["x-vexil-origin-verify"] = secret
    container = Container(_unpack(built["edge"], tmp_path), env, tmp_path / "edge.log",
                          runtime=var_runtime)
    try:
        answer = container.invoke(edge.handlers[0], event)
        refused = container.invoke(edge.handlers[0], {**event, "headers": {
            k: v for k, v in event["headers"].items() if k != "authorization"}})
        loaded = container.ask({"modules": True})["modules"]
    finally:
        container.close()
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"])["key"] == "checkout"
    assert refused["statusCode"] == 401
    # Everything came from the zip, except what the runtime provides.
    outside = {name.split(".")[0] for name, f in loaded.items()
               if not f.startswith(str(tmp_path / "task")) and f != str(RUNTIME)}
    assert outside <= set(edge.from_runtime), outside
    assert "boto3" in outside
