#!/usr/bin/env bash
# The whole test suite, as CI runs it. Called by `./run test` after set-up.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
export PATH="$PWD/$VENV/bin:$PATH"

echo "==> ruff"
ruff check edge_reader control_plane vexil loadtests tests infra scripts
echo "==> mypy --strict"
mypy edge_reader control_plane/chalicelib control_plane/app.py vexil loadtests infra
echo "==> security: bandit + secret scan"
scripts/security_checks.sh
echo "==> pytest"
python -m pytest -q -p no:cacheprovider --durations=20 "$@"
echo "==> infra: Terraform parsed and checked offline (checkov in .venv-checkov)"
infra/checks.sh
