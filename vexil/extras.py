"""Which optional dependency a command needs, said in one line instead of a traceback.

``pip install vexil`` is the reader SDK plus the CLI's API verbs; flags files, AWS-direct
commands and the server parts come as extras (pyproject.toml) and as the
``vexil-control-plane`` distribution (``chalicelib``). Modules import third-party packages
only where a command needs them; ``vexil.cli`` runs every command inside :func:`requires`, so
a command run without its extra fails with :class:`MissingExtra`, naming the exact thing to
install::

    vexil: error: vexil dev up needs boto3: pip install 'vexil[server]'
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from vexil.errors import UsageError

CONTROL_PLANE_HINT = (
    "pip install vexil-control-plane (the control plane's shared code; in a checkout: "
    "pip install ./control_plane)"
)
# Top-level module -> what installs it. Only third-party modules (and chalicelib) appear:
# a missing module of our own is a broken install, which must stay a loud error.
INSTALL_HINTS: dict[str, str] = {
    "yaml": "pip install 'vexil[cli]'",
    "pathspec": "pip install 'vexil[cli]'",
    "openfeature": "pip install 'vexil[openfeature]'",
    "boto3": "pip install 'vexil[aws]'",
    "botocore": "pip install 'vexil[aws]'",
    "aws_encryption_sdk": "pip install 'vexil[aws]'",
    "aws_cryptographic_material_providers": "pip install 'vexil[aws]'",
    "chalicelib": CONTROL_PLANE_HINT,
    "aws_lambda_powertools": CONTROL_PLANE_HINT,
    "chalice": "pip install 'vexil[server]'",
    "moto": "pip install 'vexil[server]'",
    "werkzeug": "pip install 'vexil[server]'",
    "psutil": "pip install 'vexil[server]'",
}
# The local stack runs every server part, from a checkout (chalice local serves
# control_plane/ from source): whatever it misses, the checkout's set-up installs.
SERVER_COMMANDS = ("vexil dev",)
SERVER_HINT = ("the local stack runs from a checkout: ./run setup there (installs "
               "vexil[server] and vexil-control-plane)")


class MissingExtra(UsageError):
    """A command needs an optional dependency that is not installed; the message says which."""

    def __init__(self, what: str, module: str, hint: str) -> None:
        super().__init__(f"{what} needs {module}: {hint}")
        self.module = module
        self.hint = hint


def hint_for(exc: ModuleNotFoundError, what: str = "") -> str | None:
    """The install hint for a missing third-party module, or None for anything else."""
    top = (exc.name or "").split(".")[0]
    if top not in INSTALL_HINTS:
        return None
    if what.startswith(SERVER_COMMANDS):
        return SERVER_HINT
    return INSTALL_HINTS[top]


@contextmanager
def requires(what: str) -> Iterator[None]:
    """Turn a missing optional dependency raised inside the block into :class:`MissingExtra`.

    ``what`` names the command (``"vexil dev up"``). Missing modules with no known hint
    (our own, or a dependency's internals) propagate unchanged.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        hint = hint_for(exc, what)
        if hint is None:
            raise
        raise MissingExtra(what, str(exc.name).split(".")[0], hint) from exc
