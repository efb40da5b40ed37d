"""The CLI's parser and API verbs load no server extra: a CLI installed without
``[server]`` (no urllib3, boto3, PyYAML, chalice, moto, psutil) can run ``--help`` and talk to
the API. Heavy modules are imported inside the commands that need them."""

from __future__ import annotations

import subprocess
import sys

SERVER_EXTRAS = ("urllib3", "boto3", "botocore", "yaml", "chalice", "moto", "psutil",
                 "aws_encryption_sdk")


def test_parser_and_api_client_load_no_server_extra() -> None:
    code = (
        "import sys\n"
        "from vexil.cli import build_parser\n"
        "from vexil.cli import projects, sdk_keys, segments, changes, tokens\n"
        "build_parser().parse_args(['projects', 'list'])\n"
        f"print(sorted(m for m in {SERVER_EXTRAS!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
