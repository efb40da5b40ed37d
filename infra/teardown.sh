#!/usr/bin/env bash
# Tear down a Vexil deployment: stop writers, empty the versioned buckets (versions and
# delete markers), switch off deletion protection, list prevent_destroy, print destroy.
#   infra/teardown.sh --prefix vexil --dry-run     report only
#   infra/teardown.sh --prefix vexil --yes         do it
# See infra/teardown.py and docs/deploy.md ("Tear down").
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${VEXIL_PYTHON:-.venv/bin/python}" -m infra.teardown "$@"
