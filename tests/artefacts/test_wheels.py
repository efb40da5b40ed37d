"""The wheels install by name into clean virtualenvs and work there, with no checkout in sight.

Built once per module from a copy of the source tree (``pip wheel --no-deps``: the ``vexil``
wheel and the ``vexil-control-plane`` wheel), then installed into FRESH virtualenvs (no
system site-packages) from the local wheel files, dependencies from the configured index:

* the reader SDK, ``vexil`` with no extras: only its light dependencies arrive, and
  ``FlagClient`` reads a flag that the stack published, through the CDN stand-in;
* the operator CLI, ``vexil[cli]``: no server packages; ``vexil plan`` / ``apply`` against
  the local stack; a command that needs a server extra names it;
* the control plane, ``vexil-control-plane``: ``chalicelib`` imports without any sys.path
  edit and ``vexil tokens bootstrap`` writes a working token into the stack's table.

Every process runs from a temporary directory with a scrubbed environment (``python -I``
where we start the interpreter ourselves), and asserts it imported the venv's copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.package import clean_source

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# What the reader may pull in (pyproject.toml `dependencies` and theirs), nothing more.
SDK_DISTRIBUTIONS = {
    "vexil", "orjson", "msgspec", "mmh3", "google-re2", "jsonschema", "jsonschema-specifications",
    "referencing", "rpds-py", "attrs", "typing-extensions", "cryptography", "cffi",
    "pycparser", "pip", "setuptools",
}
SERVER_ONLY = {"boto3", "botocore", "chalice", "moto", "aws-lambda-powertools", "psutil",
               "aws-encryption-sdk", "werkzeug"}
_SCRUB = ("VEXIL_", "AWS_", "PYTHON", "VIRTUAL_ENV")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env.update(extra)
    return env


def _run(argv: list[str], cwd: Path, timeout: float = 300,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=_env(**(env or {})), capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both wheels, built from a clean copy of the tree (no stale build/ of the checkout)."""
    src = clean_source(ROOT, tmp_path_factory.mktemp("src") / "vexil")
    out = tmp_path_factory.mktemp("wheelhouse")
    built = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
                  str(src), str(src / "control_plane")], cwd=out)
    assert built.returncode == 0, built.stderr
    assert sorted(p.name for p in out.glob("*.whl")) == [
        f"vexil-{VERSION}-py3-none-any.whl", f"vexil_control_plane-{VERSION}-py3-none-any.whl"]
    return out


class Venv:
    """A fresh virtualenv (no system site-packages) with some wheels installed."""

    def __init__(self, where: Path, wheelhouse: Path, *requirements: str) -> None:
        self.dir = where
        made = _run([sys.executable, "-m", "venv", str(where)], cwd=where.parent)
        assert made.returncode == 0, made.stderr
        self.python = where / "bin" / "python"
        installed = _run([str(self.python), "-m", "pip", "install", "-q", "--find-links",
                          str(wheelhouse), *requirements], cwd=where.parent, timeout=600)
        assert installed.returncode == 0, installed.stderr[-3000:]

    def distributions(self) -> set[str]:
        """Names of every installed distribution, normalised (lower case, dashes)."""
        listed = _run([str(self.python), "-m", "pip", "list", "--format", "json"],
                      cwd=self.dir)
        return {d["name"].lower().replace("_", "-") for d in json.loads(listed.stdout)}

    def python_code(self, code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``code`` isolated (``-I``: no cwd, no PYTHONPATH, no user site) in this venv."""
        return _run([str(self.python), "-I", "-c", code], cwd=cwd, env=env)

    def vexil(self, *argv: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        """The installed ``vexil`` console script."""
        return _run([str(self.dir / "bin" / "vexil"), *argv], cwd=cwd, env=env)


@pytest.fixture(scope="module")
def sdk(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """``pip install vexil``: the reader SDK alone."""
    return Venv(tmp_path_factory.mktemp("sdk") / "venv", wheelhouse,
                str(wheelhouse / f"vexil-{VERSION}-py3-none-any.whl"))


@pytest.fixture(scope="module")
def cli(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """``pip install 'vexil[cli]'``: what a CI job running ``vexil plan`` installs."""
    return Venv(tmp_path_factory.mktemp("cli") / "venv", wheelhouse,
                f"{wheelhouse / f'vexil-{VERSION}-py3-none-any.whl'}[cli]")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The local stack (from this checkout's venv), on random ports; stopped afterwards."""
    state = tmp_path_factory.mktemp("state")
    env = {"VEXIL_STATE_DIR": str(state)}
    argv = [sys.executable, "-m", "vexil.cli"]
    up = _run([*argv, "dev", "up", "--random-ports"], cwd=ROOT, timeout=240, env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield json.loads((state / "dev.json").read_text())
    finally:
        down = _run([*argv, "dev", "down"], cwd=ROOT, timeout=60, env=env)
        assert down.returncode == 0, down.stdout + down.stderr


def _imported_from(venv: Venv, module: str, cwd: Path) -> str:
    found = venv.python_code(f"import {module}; print({module}.__file__)", cwd)
    assert found.returncode == 0, found.stderr
    return found.stdout.strip()


def test_the_sdk_wheel_brings_only_light_dependencies(sdk: Venv, tmp_path: Path) -> None:
    assert sdk.distributions() <= SDK_DISTRIBUTIONS
    assert _imported_from(sdk, "edge_reader", tmp_path).startswith(str(sdk.dir))
    # The CLI's API verbs need nothing more; flags files say what they lack, in one line.
    version = sdk.vexil("--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"vexil {VERSION}"
    bare = sdk.vexil("plan", "-f", "x.yaml", cwd=tmp_path)
    assert bare.returncode == 2
    assert bare.stderr.strip() == "vexil: error: vexil plan needs yaml: pip install 'vexil[cli]'"


def test_the_cli_wheel_needs_no_server_extra(cli: Venv, tmp_path: Path) -> None:
    assert not cli.distributions() & (SERVER_ONLY | {"urllib3"})
    assert _imported_from(cli, "vexil", tmp_path).startswith(str(cli.dir))
    helped = cli.vexil("--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "plan" in helped.stdout
    version = cli.vexil("--version", cwd=tmp_path)
    assert version.stdout.strip() == f"vexil {VERSION}"
    # Commands that need more name exactly what to install.
    for argv, hint in ((["dev", "status"], "the local stack runs from a checkout: ./run setup"),
                       (["backup", "export", "-", "--table", "t"], "pip install 'vexil[aws]'"),
                       (["tokens", "bootstrap", "--table", "t"],
                        "pip install vexil-control-plane")):
        res = cli.vexil(*argv, cwd=tmp_path)
        assert res.returncode == 2, (argv, res.stderr)
        assert hint in res.stderr, (argv, res.stderr)
        assert "Traceback" not in res.stderr


FLAGS = {
    "project": "wheels", "environment": "dev",
    "flags": {"checkout": {"kind": "boolean", "variations": {"on": True, "off": False},
                           "enabled": True, "off_variation": "off",
                           "default": {"variation": "on"}}},
}


@pytest.fixture(scope="module")
def applied(cli: Venv, stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, Any]:
    """``vexil plan`` then ``apply`` of a flags file, from the CLI venv, against the stack."""
    work = tmp_path_factory.mktemp("ci-job")
    (work / "flags.yaml").write_text(yaml.safe_dump(FLAGS), encoding="utf-8")
    conn = {"VEXIL_API": stack["api"], "VEXIL_TOKEN": stack["admin_token"]}
    return {
        "plan": cli.vexil("plan", "-f", "flags.yaml", "--detailed-exitcode", cwd=work, **conn),
        "apply": cli.vexil("apply", "-f", "flags.yaml", cwd=work, **conn),
        "replan": cli.vexil("plan", "-f", "flags.yaml", "--detailed-exitcode", cwd=work,
                            **conn),
    }


def test_cli_wheel_plans_and_applies_against_the_local_stack(applied: dict[str, Any]) -> None:
    plan, apply, replan = applied["plan"], applied["apply"], applied["replan"]
    assert plan.returncode == 2, plan.stdout + plan.stderr  # changes to make
    assert "+ project wheels" in plan.stdout
    assert "checkout" in plan.stdout
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert replan.returncode == 0, replan.stdout + replan.stderr
    assert "No changes" in replan.stdout


READ_FLAG = """
import json, sys
import edge_reader
from edge_reader import FlagClient
cfg = json.loads(sys.argv[1])
client = FlagClient(project="wheels", environment="dev", sdk_key=cfg["key"],
                    cdn_url=cfg["cdn"], ca_bundle=cfg["ca_bundle"], poll_interval=0.5,
                    signing_keys=cfg["signing_public_key"])
try:
    ready = client.wait_until_ready(60)
    print(json.dumps({"ready": ready, "from": edge_reader.__file__,
                      "verifies": client.verifies_publisher,
                      "value": client.get_boolean("checkout", {"targetingKey": "u1"}, False)}))
finally:
    client.close()
"""


@pytest.fixture(scope="module")
def reader_config(stack: dict[str, Any], applied: dict[str, Any]) -> dict[str, Any]:
    """What an application gets to read the applied flags: a server SDK key and the CDN."""
    from vexil.api import ApiClient

    assert applied["apply"].returncode == 0
    key = ApiClient(stack["api"], stack["admin_token"]).request(
        "POST", "/v1/projects/wheels/environments/dev/sdk-keys", body={"kind": "server"}
    ).body["key"]
    return {"key": key, "cdn": stack["cdn"], "ca_bundle": stack["ca_bundle"],
            "signing_public_key": stack["signing_public_key"]}


def _read(venv: Venv, script: str, cfg: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "read_flag.py"
    path.write_text(script, encoding="utf-8")
    read = _run([str(venv.python), "-I", str(path), json.dumps(cfg)], cwd=tmp_path,
                timeout=120)
    assert read.returncode == 0, read.stderr
    answer: dict[str, Any] = json.loads(read.stdout.strip().splitlines()[-1])
    return answer


def test_sdk_wheel_reads_the_flag_through_the_cdn(
    sdk: Venv, reader_config: dict[str, Any], tmp_path: Path
) -> None:
    answer = _read(sdk, READ_FLAG, reader_config, tmp_path)
    assert answer["from"].startswith(str(sdk.dir))
    assert answer["ready"] is True
    assert answer["verifies"] is True
    assert answer["value"] is True  # False is the default: True came from the bundle


READ_WITH_OPENFEATURE = """
import json, sys
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from edge_reader import FlagClient
from edge_reader.openfeature import VexilProvider
import edge_reader.bundle.esdk  # the kms extra's reading path imports
cfg = json.loads(sys.argv[1])
flags = FlagClient(project="wheels", environment="dev", sdk_key=cfg["key"],
                   cdn_url=cfg["cdn"], ca_bundle=cfg["ca_bundle"], poll_interval=0.5,
                   signing_keys=cfg["signing_public_key"])
try:
    assert flags.wait_until_ready(60)
    api.set_provider(VexilProvider(flags))
    detail = api.get_client().get_boolean_details("checkout", False, EvaluationContext("u1"))
    print(json.dumps({"value": detail.value, "variant": detail.variant,
                      "esdk": edge_reader.bundle.esdk.__file__}))
finally:
    flags.close()
"""


def test_sdk_extras_openfeature_and_kms_install_and_read(
    wheelhouse: Path, reader_config: dict[str, Any], tmp_path: Path
) -> None:
    venv = Venv(tmp_path / "venv", wheelhouse,
                f"{wheelhouse / f'vexil-{VERSION}-py3-none-any.whl'}[openfeature,kms]")
    assert {"openfeature-sdk", "aws-encryption-sdk", "boto3"} <= venv.distributions()
    assert not venv.distributions() & {"chalice", "moto", "pyyaml"}
    answer = _read(venv, READ_WITH_OPENFEATURE, reader_config, tmp_path)
    assert answer["value"] is True
    assert answer["variant"] == "on"
    assert answer["esdk"].startswith(str(venv.dir))


def test_control_plane_wheel_imports_chalicelib_and_bootstraps_a_token(
    wheelhouse: Path, stack: dict[str, Any], tmp_path: Path
) -> None:
    server = Venv(tmp_path / "venv", wheelhouse,
                  str(wheelhouse / f"vexil_control_plane-{VERSION}-py3-none-any.whl"))
    assert {"vexil", "vexil-control-plane", "chalice", "boto3"} <= server.distributions()
    where = _imported_from(server, "chalicelib.publish.stream", tmp_path)
    assert where.startswith(str(server.dir))
    aws = {"AWS_ENDPOINT_URL": stack["aws_endpoint"], "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    made = server.vexil("tokens", "bootstrap", "--name", "from-wheel", "--table",
                        stack["table"], cwd=tmp_path, **aws)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("vxl_tok_")
    # The token works against the API: the wheel wrote a record the control plane accepts.
    listed = server.vexil("tokens", "list", "--api", stack["api"], "--token", token,
                          cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "from-wheel" in listed.stdout
