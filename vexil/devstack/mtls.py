"""``vexil dev up --mtls``: the control-plane API behind a mutual-TLS front (nginx).

The local counterpart of the API's custom domain with a truststore (``infra/api_domain.tf``):
an nginx process on 127.0.0.1 that terminates HTTPS with the stack's server certificate,
requires a client certificate issued by the stack's *client* CA
(``<state>/tls/client-ca.pem``, the truststore) and proxies to ``chalice local``. One
client certificate is issued at start-up for the operator (``<state>/tls/clients/``); more
with :func:`vexil.devstack.tls.issue_client_cert`.

``dev.json`` gains ``api_mtls`` (the URL), ``client_ca``, ``client_cert`` and
``client_key``. The plain ``api`` URL stays for the stack's own tools (the demo, the
CLI until it is given a certificate): it is the Lambda behind API Gateway, which on AWS has
no public endpoint of its own once mutual TLS is on.
"""

from __future__ import annotations

import socket
import sys
from typing import Any, TextIO

from vexil.devstack import nginx as nginx_conf
from vexil.devstack import procs, stack
from vexil.devstack.tls import ensure_client_ca, ensure_tls, issue_client_cert
from vexil.errors import StackError

PROCESS = "api-mtls"
DEFAULT_PORT = 8444
OPERATOR_CERT_NAME = "dev-operator"


def start(paths: stack.StatePaths, info: dict[str, Any], *, fixed_port: bool = True,
          out: TextIO | None = None) -> dict[str, Any]:
    """Start the mutual-TLS front of the running stack's API; record it in ``dev.json``.

    Needs nginx (there is no Python stand-in for client-certificate checks). Returns the
    updated stack description.
    """
    out = out or sys.stdout
    nginx_bin = nginx_conf.find_nginx()
    if not nginx_bin:
        raise StackError("--mtls needs nginx (Debian: apt-get install nginx-light)")
    tls = ensure_tls(paths.tls)
    client_ca = ensure_client_ca(paths.tls)
    operator = issue_client_cert(paths.tls, paths.tls / "clients", OPERATOR_CERT_NAME)
    port = DEFAULT_PORT if fixed_port and stack.port_is_free(DEFAULT_PORT) else stack.free_port()
    api_port = int(info["ports"]["api"])
    layout = nginx_conf.write_mtls_api_config(
        paths.root / "nginx-mtls", logs=paths.logs, port=port, api_port=api_port,
        cert=tls.server_cert, key=tls.server_key, client_ca=client_ca,
    )
    url = f"https://127.0.0.1:{port}"
    print(f"==> control-plane API behind mutual TLS (nginx) on {url}", file=out)
    record = procs.start(PROCESS, nginx_conf.command(nginx_bin, layout), run_dir=paths.run,
                         log_dir=paths.logs, env=stack.stack_env(info))

    def ready() -> bool:
        if not record.is_alive():
            raise procs.ProcessExited("the mutual-TLS API front (nginx) exited during start-up")
        return _listening(port)

    try:
        procs.wait_for(ready, timeout=stack.START_TIMEOUT, what="mutual-TLS API front",
                       interval=0.2)
    except (TimeoutError, procs.ProcessExited) as exc:
        procs.stop(record, run_dir=paths.run)
        raise StackError(f"{exc}; see {paths.logs / 'api-mtls-error.log'}") from None
    info["ports"][PROCESS] = port
    info.update(api_mtls=url, client_ca=str(client_ca), client_cert=str(operator.cert),
                client_key=str(operator.key))
    stack.write_dev_json(paths, info)
    return info


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0
