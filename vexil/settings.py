"""Where the CLI finds the API, the token and TLS material: flags, then env, then ``dev.json``.

Precedence (first wins), per setting:

======================  ========================  ==================================
command line            environment               the local stack's ``dev.json``
======================  ========================  ==================================
``--api``               ``VEXIL_API``             ``api``
``--token``             ``VEXIL_TOKEN``           ``admin_token``
``--ca-bundle``         ``VEXIL_CA_BUNDLE``       ``ca_bundle``
``--client-cert``       ``VEXIL_CLIENT_CERT``     (none)
``--client-key``        ``VEXIL_CLIENT_KEY``      (none)
======================  ========================  ==================================

The local stack's state directory (which holds ``dev.json``) is, first that applies:
``--state-dir``; ``$VEXIL_STATE_DIR``; ``$VEXIL_HOME`` (the directory ``vexil dev up`` ran in,
or its ``.vexil`` directory itself); the nearest ``.vexil/dev.json`` walking up from the
current directory; else ``./.vexil``. So every command works from any subdirectory of the
checkout that runs the stack, and from anywhere with ``VEXIL_HOME`` set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vexil.errors import UsageError

STATE_DIR_NAME = ".vexil"
DEV_JSON = "dev.json"


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings for one CLI invocation.

    ``token_source`` says where the token came from (``--token``, ``$VEXIL_TOKEN`` or the
    dev.json path), so an authentication error can say which credential was refused.
    """

    api: str
    token: str | None
    ca_bundle: str | None
    dev: dict[str, Any]
    token_source: str = ""
    client_cert: str | None = None
    client_key: str | None = None
    dev_json: Path | None = field(default=None)


def find_state_dir(cwd: Path | None = None) -> Path:
    """The local stack's state directory by the rule in the module docstring (absolute)."""
    explicit = os.environ.get("VEXIL_STATE_DIR")
    if explicit:
        return Path(explicit).resolve()
    home = os.environ.get("VEXIL_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        # VEXIL_HOME may name the checkout or its state directory; accept either.
        return root if (root / DEV_JSON).is_file() else root / STATE_DIR_NAME
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / STATE_DIR_NAME / DEV_JSON).is_file():
            return folder / STATE_DIR_NAME
    return start / STATE_DIR_NAME


def load_dev_json(state_dir: Path | None = None) -> dict[str, Any]:
    """``state_dir/dev.json`` (default: :func:`find_state_dir`) as a dict, ``{}`` if absent."""
    path = (state_dir if state_dir is not None else find_state_dir()) / DEV_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable ({exc})") from None
    return data if isinstance(data, dict) else {}


def _pick(flag: str | None, flag_name: str, env: str,
          dev_value: Any, dev_where: str) -> tuple[str | None, str]:
    """The first of flag, environment variable, dev.json value; and where it came from."""
    if flag:
        return flag, flag_name
    if os.environ.get(env):
        return os.environ[env], f"${env}"
    if dev_value:
        return str(dev_value), dev_where
    return None, "none"


def resolve(
    *,
    api: str | None,
    token: str | None,
    ca_bundle: str | None,
    state_dir: Path | None = None,
    client_cert: str | None = None,
    client_key: str | None = None,
    need_token: bool = True,
) -> Settings:
    """Combine flags, environment and ``dev.json``; raise UsageError if the API is unknown,
    the token is missing (with ``need_token``) or a client key comes without its certificate."""
    folder = state_dir if state_dir is not None else find_state_dir()
    dev = load_dev_json(folder)
    where = str(folder / DEV_JSON)
    final_api, _ = _pick(api, "--api", "VEXIL_API", dev.get("api"), where)
    if not final_api:
        raise UsageError(
            "no API URL: pass --api, set VEXIL_API, or start the local stack (vexil dev up; "
            f"no {DEV_JSON} found in {folder}, in .vexil/ above the current directory, "
            "or via $VEXIL_HOME)"
        )
    final_token, token_source = _pick(token, "--token", "VEXIL_TOKEN",
                                      dev.get("admin_token"), where)
    if need_token and not final_token:
        raise UsageError("no API token: pass --token or set VEXIL_TOKEN")
    final_ca, _ = _pick(ca_bundle, "--ca-bundle", "VEXIL_CA_BUNDLE", dev.get("ca_bundle"), where)
    cert, _ = _pick(client_cert, "--client-cert", "VEXIL_CLIENT_CERT", None, where)
    key, _ = _pick(client_key, "--client-key", "VEXIL_CLIENT_KEY", None, where)
    if key and not cert:
        raise UsageError("--client-key given without --client-cert (or $VEXIL_CLIENT_CERT)")
    return Settings(
        api=final_api.rstrip("/"), token=final_token, ca_bundle=final_ca, dev=dev,
        token_source=token_source, client_cert=cert, client_key=key,
        dev_json=folder / DEV_JSON if dev else None,
    )


def local_stack_aws(dev: dict[str, Any], table: str | None) -> dict[str, str]:
    """The environment that points boto3 at the local stack's emulator, or ``{}``.

    A command that talks to AWS directly (backup, tokens bootstrap) uses the local stack when
    there is one (``dev`` is its dev.json), ``AWS_ENDPOINT_URL`` does not already name an
    endpoint, and the table is unnamed or is the stack's own. A different table name means
    real AWS: it is never sent to the emulator, nor the stack's table to AWS.
    """
    endpoint = dev.get("aws_endpoint")
    if not endpoint or os.environ.get("AWS_ENDPOINT_URL"):
        return {}
    if table and table != dev.get("table"):
        return {}
    from vexil.devstack.aws import local_aws_env  # noqa: PLC0415 - a leaf module, no boto3

    return local_aws_env(str(endpoint))


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, old in saved.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old
