"""``vexil dev up`` / ``down`` / ``status``: the whole system on 127.0.0.1.

Start order (each step waits until the previous one answers):

1. ``moto_server`` — DynamoDB (+ Streams), S3 and KMS, serialised by our launcher
   (:mod:`vexil.devstack.motoserver`: one request at a time, as DynamoDB isolates them);
2. the shared resources from ``infra/resources.json`` (:func:`vexil.resources.ensure_resources`),
   a bucket policy that lets the CDN stand-in read ``bundles/``, and the pointer-signing
   key's public half in ``<state>/signing-public-key.pem`` (readers of the stack pin it);
3. a bootstrap admin token (written straight to the table, as the deployed bootstrap does);
4. ``chalice local`` — the control-plane API, custom authorizer enforced;
5. the stream worker — the local event source mapping that runs the publisher — and the
   rollout controller on a timer (:mod:`vexil.rollout_worker`, the scheduled Lambda's code);
6. nginx — HTTPS with a local CA, a cache honouring Cache-Control, ETag/304 (or, when nginx
   is absent, a small Python proxy with no cache — said plainly);
7. the OFREP edge server, once there are client SDK keys to serve (the demo creates them;
   ``vexil dev edge`` starts it for keys of your own).

Everything the stack knows is written to ``<state>/dev.json``; pid files live in
``<state>/run/`` and logs in ``<state>/logs/``. ``down`` stops exactly the processes
named by those pid files.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3
import urllib3

from vexil.bootstrap import bootstrap_admin_token
from vexil.devstack import continuity, procs
from vexil.devstack import nginx as nginx_conf
from vexil.devstack.aws import allow_cdn_reads, local_aws_env
from vexil.devstack.tls import ensure_tls
from vexil.errors import StackError
from vexil.resources import ensure_resources, signing_public_key_pem

# Fixed defaults keep URLs stable between runs; a busy port falls back to a free one.
DEFAULT_PORTS: dict[str, int] = {"moto": 4566, "api": 8000, "cdn": 8443, "edge": 8070,
                                 "console": 8090}
# Start order; ``down`` stops in reverse.
PROCESS_ORDER = ("moto", "api", "worker", "rollouts", "cdn", "edge", "console")
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class StatePaths:
    """The layout of a state directory (``.vexil/`` by default)."""

    root: Path

    @property
    def run(self) -> Path:
        """Pid files."""
        return self.root / "run"

    @property
    def logs(self) -> Path:
        """One log file per process."""
        return self.root / "logs"

    @property
    def tls(self) -> Path:
        """The local CA and the CDN's server certificate."""
        return self.root / "tls"

    @property
    def nginx(self) -> Path:
        """nginx's prefix: generated config, cache, temp files."""
        return self.root / "nginx"

    @property
    def stream(self) -> Path:
        """The stream worker's checkpoint."""
        return self.root / "stream"

    @property
    def dev_json(self) -> Path:
        """URLs, token and keys of the running stack."""
        return self.root / "dev.json"

    @property
    def edge_config(self) -> Path:
        """The OFREP edge server's configuration."""
        return self.root / "edge.json"

    @property
    def signing_key(self) -> Path:
        """The publisher's pointer-signing public key (PEM): what the stack's readers trust."""
        return self.root / "signing-public-key.pem"

    @property
    def emulator_state(self) -> Path:
        """moto's DynamoDB, S3 and KMS, saved by the launcher (and ``.prev``, ``.tmp``)."""
        return self.root / "emulator" / "moto.state"

    @property
    def kept(self) -> Path:
        """What ``up`` hands out and must hand out again after a restart (admin token, SDK
        keys, demo facts): the secrets' text is not in the emulator, only their hashes."""
        return self.root / "kept.json"


def default_state_dir() -> Path:
    """``$VEXIL_STATE_DIR`` or ``./.vexil``."""
    return Path(os.environ.get("VEXIL_STATE_DIR") or ".vexil").resolve()


def repo_root() -> Path:
    """The checkout holding ``control_plane/`` (the stack runs the API from source)."""
    return Path(__file__).resolve().parents[2]


def control_plane_dir() -> Path:
    """The Chalice project dir ``chalice local`` runs in (``$VEXIL_CONTROL_PLANE_DIR``
    overrides the checkout's ``control_plane/``)."""
    override = os.environ.get("VEXIL_CONTROL_PLANE_DIR")
    return Path(override).resolve() if override else repo_root() / "control_plane"


def _venv_tool(name: str) -> str:
    # Prefer the script next to this interpreter: the stack must run the venv's versions.
    sibling = Path(sys.executable).parent / name
    if sibling.exists():
        return str(sibling)
    found = shutil.which(name)
    if not found:
        raise StackError(f"cannot find the '{name}' program (is the virtualenv installed?)")
    return found


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port`` and we may bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As our servers bind (SO_REUSEADDR): a port the last run just closed, with
        # connections still in TIME_WAIT, is free to them, and must be to this check.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# Listening ports come from below the kernel's ephemeral range (32768-60999 on Linux): a
# port the kernel hands out for bind(0) is also a candidate source port of the next outgoing
# connection (boto3 to the emulator opens thousands), and a server started a moment later
# then fails with "address in use". Random within the range, so parallel stacks rarely meet.
LISTEN_PORTS = range(20000, 32768)


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago, outside the ephemeral range."""
    for _ in range(200):
        port = random.choice(LISTEN_PORTS)  # noqa: S311 - not a secret, a spread
        if port_is_free(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # crowded: the kernel's pick
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def choose_ports(fixed: bool, last: Mapping[str, int] | None = None) -> dict[str, int]:
    """The ports of the ``last`` run when free (so configured clients keep their URLs), else
    the defaults when free (``fixed``), else free ones; all distinct."""
    chosen: dict[str, int] = {}
    for name, default in DEFAULT_PORTS.items():
        preferred = int((last or {}).get(name) or 0)
        if preferred and port_is_free(preferred):
            port = preferred
        else:
            port = default if fixed and port_is_free(default) else free_port()
        while port in chosen.values():
            port = free_port()
        chosen[name] = port
    return chosen


def _http_ok(url: str, *, ca: Path | None = None, accept: tuple[int, ...] = (200,)) -> bool:
    pool = urllib3.PoolManager(
        ca_certs=str(ca) if ca else None,
        cert_reqs="CERT_REQUIRED" if ca else "CERT_NONE",
        retries=False,
        timeout=urllib3.Timeout(connect=1.0, read=3.0),
    )
    try:
        return pool.request("GET", url).status in accept
    finally:
        pool.clear()


def _tcp_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def running(paths: StatePaths) -> list[procs.ProcessRecord]:
    """The recorded processes that are still alive."""
    return [r for r in procs.records(paths.run) if r.is_alive()]


def read_dev_json(paths: StatePaths) -> dict[str, Any] | None:
    """The stack description written by ``up``, or None."""
    try:
        data: dict[str, Any] = json.loads(paths.dev_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


class _Starter:
    """Starts processes one by one and, on any failure, stops those already started."""

    def __init__(self, paths: StatePaths, env: Mapping[str, str]) -> None:
        self.paths = paths
        self.env = dict(env)
        self.started: list[procs.ProcessRecord] = []

    def start(
        self,
        name: str,
        argv: list[str],
        ready: Callable[[], object],
        *,
        what: str,
        cwd: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> procs.ProcessRecord:
        record = procs.start(
            name, argv, run_dir=self.paths.run, log_dir=self.paths.logs,
            env={**self.env, **(extra_env or {})}, cwd=cwd,
        )
        self.started.append(record)

        def check() -> object:
            if not record.is_alive():
                raise procs.ProcessExited(f"{what} exited during start-up")
            return ready()

        try:
            procs.wait_for(check, timeout=START_TIMEOUT, what=what, interval=0.2)
        except (TimeoutError, procs.ProcessExited) as exc:
            log = self.paths.logs / f"{name}.log"
            raise StackError(f"{exc}; see {log}: {_last_line(log)}") from None
        return record

    def rollback(self) -> None:
        for record in reversed(self.started):
            procs.stop(record, run_dir=self.paths.run)


def _last_line(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln]
    except OSError:
        return "(no log)"
    return lines[-1][:300] if lines else "(empty log)"


def _bootstrap_token(env: Mapping[str, str]) -> str:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return bootstrap_admin_token(name="dev-admin")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _ensure_aws(env: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """Create the resources; return the VEXIL_* names and the signing key's PEM."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        session = boto3.session.Session()
        names = ensure_resources(session=session)
        allow_cdn_reads(session.client("s3"), names["VEXIL_BUCKET"])
        return names, signing_public_key_pem(names["VEXIL_SIGNING_KEY_ID"], session=session)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def write_edge_config(
    paths: StatePaths, *, cdn: str, ca_bundle: Path, environments: list[dict[str, str]],
    signing_keys: list[str] | None = None, insights_url: str | None = None,
) -> None:
    """Write the OFREP edge server's configuration (which client keys map to which env).

    ``insights_url``: the API the edge sends evaluation summaries to (docs/insights.md).

    ``signing_keys`` default: the stack's own public key file, when it exists, so the
    local edge verifies the publisher as a deployed one should. Mode 0600: it holds SDK keys.
    """
    if signing_keys is None:
        signing_keys = [str(paths.signing_key)] if paths.signing_key.exists() else []
    config: dict[str, Any] = {"cdn": cdn, "ca_bundle": str(ca_bundle),
                              "environments": environments}
    if signing_keys:
        config["signing_keys"] = signing_keys
    if insights_url:
        config["insights_url"] = insights_url
    fd = os.open(paths.edge_config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(config, fh, indent=2)


def start_edge(paths: StatePaths, info: dict[str, Any], env: Mapping[str, str]) -> None:
    """(Re)start the OFREP edge server with ``edge.json``; record it in ``dev.json``."""
    old = procs.read(paths.run, "edge")
    if old is not None:
        procs.stop(old, run_dir=paths.run)
    port = int(info["ports"]["edge"])
    if not port_is_free(port):
        port = free_port()
    starter = _Starter(paths, env)
    starter.start(
        "edge",
        [sys.executable, "-m", "edge_reader.edge", "--host", "127.0.0.1", "--port", str(port),
         "--config", str(paths.edge_config)],
        lambda: _tcp_open(port),
        what="OFREP edge server",
    )
    info["ports"]["edge"] = port
    info["edge"] = f"http://127.0.0.1:{port}"
    write_dev_json(paths, info)


def _start_console(starter: _Starter, console: str, port: int, api: str) -> None:
    """The web console's static files (``vexil.devstack.consoleserve``), naming ``api``."""
    starter.start(
        "console",
        [sys.executable, "-m", "vexil.devstack.consoleserve", "--host", "127.0.0.1",
         "--port", str(port), "--api", api],
        lambda: _http_ok(f"{console}/console/config.json"),
        what="web console",
    )


def write_dev_json(paths: StatePaths, info: Mapping[str, Any]) -> None:
    """Write ``dev.json`` atomically and readable by the owner only (it holds the token),
    and ``kept.json`` — the part the next ``up`` hands out again (token, SDK keys, demo)."""
    _write_private_json(paths.dev_json, info)
    _write_private_json(paths.kept, {k: info[k] for k in KEPT_FIELDS if k in info})


# What survives `down`: the secrets' text (the emulator keeps only their hashes).
KEPT_FIELDS = ("admin_token", "sdk_keys", "demo", "ports")


def _write_private_json(target: Path, data: Mapping[str, Any]) -> None:
    tmp = target.with_suffix(".json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, target)


def _kept(paths: StatePaths) -> dict[str, Any]:
    try:
        data = json.loads(paths.kept.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def emulator_census(aws_endpoint: str) -> dict[str, Any]:
    """The launcher's ``/_vexil/emulator`` report (RSS, what moto holds, ``restored``)."""
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=30.0))
    try:
        resp = pool.request("GET", f"{aws_endpoint}/_vexil/emulator")
    finally:
        pool.clear()
    data = json.loads(resp.data) if resp.status == 200 else {}
    return data if isinstance(data, dict) else {}


def up(
    paths: StatePaths,
    *,
    fixed_ports: bool = True,
    force_python_cdn: bool = False,
    out: TextIO | None = None,
) -> dict[str, Any]:
    """Start the whole local stack; return (and write to ``dev.json``) its description.

    Refuses to start over a running stack. On any failure every process started so far is
    stopped again and :class:`StackError` names the step and its log file.
    """
    out = out or sys.stdout
    alive = running(paths)
    if alive:
        which = ", ".join(r.name for r in alive)
        raise StackError(
            f"a local stack is already running from {paths.root} ({which}); "
            "run `vexil dev down` first"
        )
    for stale in procs.records(paths.run):
        procs.pid_path(paths.run, stale.name).unlink(missing_ok=True)
    paths.root.mkdir(parents=True, exist_ok=True)
    kept = _kept(paths)
    ports = choose_ports(fixed_ports, kept.get("ports"))
    aws_endpoint = f"http://127.0.0.1:{ports['moto']}"
    # VEXIL_METRICS: the API and the publisher write CloudWatch EMF lines into their logs, as
    # in Lambda (docs/operations.md).
    base_env = {**os.environ, **local_aws_env(aws_endpoint), "PYTHONUNBUFFERED": "1",
                "VEXIL_METRICS": "emf"}
    # The API and the workers must import this checkout's code, whatever the caller's cwd.
    base_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(repo_root()), base_env.get("PYTHONPATH", "")) if p
    )
    # The web console is its own origin, as on AWS: the API answers CORS for it alone.
    console = f"http://127.0.0.1:{ports['console']}"
    base_env["VEXIL_CONSOLE_ORIGIN"] = console
    starter = _Starter(paths, base_env)
    try:
        print(f"==> moto_server (serialised) on {aws_endpoint}", file=out)
        starter.start(
            "moto",
            # Our launcher, not moto's CLI: one request at a time, so transactions and
            # conditional writes are atomic and isolated as on AWS (devstack/motoserver.py).
            # It keeps its state in the state dir across restarts (devstack/emulator_state.py).
            [sys.executable, "-m", "vexil.devstack.motoserver", "-H", "127.0.0.1",
             "-p", str(ports["moto"]), "--state-file", str(paths.emulator_state)],
            lambda: _http_ok(f"{aws_endpoint}/moto-api/data.json"),
            what="moto_server",
        )
        census = emulator_census(aws_endpoint)
        if not census.get("restored"):
            kept = {}  # a fresh emulator: the old token and keys mean nothing to it
        else:
            print(f"    state restored from {census['restored']['file']}", file=out)
            continuity.align_checkpoint(paths.stream, census)
        print("==> tables, bucket and KMS keys from infra/resources.json", file=out)
        names, signing_pem = _ensure_aws(local_aws_env(aws_endpoint))
        starter.env.update(names)  # VEXIL_SIGNING_KEY_ID too: the stream worker signs
        # Public, so not 0600: any reader of the stack may pin it.
        paths.signing_key.write_text(signing_pem, encoding="ascii")

        api = f"http://127.0.0.1:{ports['api']}"
        print(f"==> control-plane API (chalice local) on {api}", file=out)
        starter.start(
            "api",
            # chalice local's app and config, plus a read timeout (vexil.devstack.apiserver).
            [sys.executable, "-m", "vexil.devstack.apiserver", "--host", "127.0.0.1",
             "--port", str(ports["api"]), "--stage", "local"],
            lambda: _http_ok(f"{api}/v1/health"),
            what="chalice local",
            cwd=control_plane_dir(),
        )
        token = kept.get("admin_token")
        if isinstance(token, str) and continuity.token_is_live(api, token):
            print("==> admin token kept from the last run", file=out)
        else:
            print("==> bootstrap admin token", file=out)
            token = _bootstrap_token({**local_aws_env(aws_endpoint), **names})

        print(f"==> web console on {console}/console/", file=out)
        _start_console(starter, console, ports["console"], api)

        print("==> stream worker (publisher)", file=out)
        paths.stream.mkdir(parents=True, exist_ok=True)
        starter.start(
            "worker",
            [sys.executable, "-m", "vexil.stream_worker", "--state-dir", str(paths.stream)],
            lambda: True,
            what="stream worker",
            # The publisher purges nginx's cached pointers after each publish, as it
            # invalidates CloudFront on AWS; without it readers wait out the pointer max-age.
            extra_env={"VEXIL_LOCAL_CDN_CACHE_DIR": str(paths.nginx / "cache")},
        )

        print("==> rollout controller (every 1 s, $VEXIL_ROLLOUT_TICK_SECONDS)", file=out)
        starter.start(
            "rollouts", [sys.executable, "-m", "vexil.rollout_worker"], lambda: True,
            what="rollout controller",
        )

        tls = ensure_tls(paths.tls)
        cdn = f"https://127.0.0.1:{ports['cdn']}"
        nginx_bin = None if force_python_cdn else nginx_conf.find_nginx()
        if nginx_bin:
            print(f"==> CDN stand-in (nginx, TLS, proxy_cache) on {cdn}", file=out)
            layout = nginx_conf.write_config(
                paths.nginx, logs=paths.logs, cdn_port=ports["cdn"], moto_port=ports["moto"],
                bucket=names["VEXIL_BUCKET"], cert=tls.server_cert, key=tls.server_key,
            )
            cdn_argv = nginx_conf.command(nginx_bin, layout)
            cdn_kind = "nginx"
        else:
            print(
                "!! nginx is not installed: serving bundles through a small Python HTTPS proxy "
                "instead (no shared cache; ETag/304 passed through from S3)",
                file=out,
            )
            cdn_argv = [
                sys.executable, "-m", "vexil.devstack.cdnproxy", "--port", str(ports["cdn"]),
                "--origin", f"{aws_endpoint}/{names['VEXIL_BUCKET']}",
                "--cert", str(tls.server_cert), "--key", str(tls.server_key),
            ]
            cdn_kind = "python-proxy"
        starter.start(
            "cdn", cdn_argv, lambda: _http_ok(f"{cdn}/health", ca=tls.ca_cert),
            what=f"CDN stand-in ({cdn_kind})",
        )
    except BaseException:
        starter.rollback()
        raise

    info: dict[str, Any] = {
        "api": api,
        "console": f"{console}/console/",
        "cdn": cdn,
        "cdn_kind": cdn_kind,
        "edge": None,
        "aws_endpoint": aws_endpoint,
        "admin_token": token,
        "ca_bundle": str(tls.ca_cert),
        "table": names["VEXIL_TABLE"],
        "bucket": names["VEXIL_BUCKET"],
        "kms_key_id": names["VEXIL_KMS_KEY_ID"],
        "key_store_table": names["VEXIL_KEY_STORE_TABLE"],
        "signing_key_id": names["VEXIL_SIGNING_KEY_ID"],
        "signing_public_key": signing_pem,
        "signing_public_key_file": str(paths.signing_key),
        "ports": ports,
        "state_dir": str(paths.root),
        "logs": str(paths.logs),
        # Kept across restarts with the emulator's state: the keys still open the bundles.
        "sdk_keys": kept.get("sdk_keys") or {},
    }
    if kept.get("demo"):
        info["demo"] = kept["demo"]
    # The OFREP edge server needs at least one client SDK key to serve; the demo (or
    # `vexil dev edge`) starts it once keys exist.
    write_dev_json(paths, info)
    return info


def stack_env(info: Mapping[str, Any]) -> dict[str, str]:
    """The environment the stack's processes run with (for restarting one of them)."""
    env = {**os.environ, **local_aws_env(str(info["aws_endpoint"])), "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(repo_root()), env.get("PYTHONPATH", "")) if p
    )
    env.update(
        VEXIL_TABLE=str(info["table"]),
        VEXIL_BUCKET=str(info["bucket"]),
        VEXIL_KMS_KEY_ID=str(info["kms_key_id"]),
        VEXIL_KEY_STORE_TABLE=str(info["key_store_table"]),
        VEXIL_SIGNING_KEY_ID=str(info["signing_key_id"]),
    )
    if info.get("console"):
        env["VEXIL_CONSOLE_ORIGIN"] = str(info["console"]).removesuffix("/console/")
    return env


def down(paths: StatePaths, *, out: TextIO | None = None) -> list[str]:
    """Stop every process named by a pid file (in reverse start order); return survivors.

    Removes ``dev.json`` (nothing runs to talk to); the emulator saves its state on the way
    out, and ``kept.json`` keeps the token and keys for the next ``up``.
    """
    out = out or sys.stdout
    records = {r.name: r for r in procs.records(paths.run)}
    order = [n for n in reversed(PROCESS_ORDER) if n in records]
    order += [n for n in records if n not in order]
    survivors: list[str] = []
    was_alive = {name: records[name].is_alive() for name in order}
    left = procs.stop_many([records[n] for n in order], run_dir=paths.run)
    for name in order:
        if left[name]:
            survivors.append(f"{name} (pids {', '.join(map(str, left[name]))})")
            print(f"!! {name}: still running: {left[name]}", file=out)
        elif was_alive[name]:
            print(f"==> stopped {name} (pid {records[name].pid})", file=out)
    paths.dev_json.unlink(missing_ok=True)
    if not records:
        print(f"no local stack recorded under {paths.root}", file=out)
    return survivors


def reset(paths: StatePaths, *, out: TextIO | None = None) -> list[Path]:
    """Wipe what the local stack keeps across restarts; return what was removed.

    Stops a running stack first. Removes the emulator's state (projects, tokens, SDK keys,
    KMS keys: the signing key changes), ``kept.json``, the stream checkpoint, the demo's
    files, ``dev.json`` and ``edge.json``. Keeps the local CA (``tls/``, so clients that
    trust it still do) and the logs.
    """
    out = out or sys.stdout
    survivors = down(paths, out=out) if running(paths) else []
    if survivors:
        raise StackError(f"could not stop: {', '.join(survivors)}; nothing was wiped")
    removed: list[Path] = []
    for target in (paths.emulator_state.parent, paths.stream, paths.root / "demo",
                   paths.kept, paths.dev_json, paths.edge_config, paths.signing_key):
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        else:
            continue
        removed.append(target)
        print(f"==> removed {target}", file=out)
    return removed


def status(paths: StatePaths) -> dict[str, Any]:
    """Which recorded processes are alive, and the URLs from ``dev.json``."""
    info = read_dev_json(paths) or {}
    procs_state = {
        r.name: {"pid": r.pid, "alive": r.is_alive()} for r in procs.records(paths.run)
    }
    return {"state_dir": str(paths.root), "processes": procs_state, **{
        k: info.get(k) for k in ("api", "console", "cdn", "edge", "aws_endpoint", "ca_bundle")
    }}
