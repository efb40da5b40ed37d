#!/usr/bin/env bash
# Offline infrastructure checks: the provider-schema check and checkov over infra/ with the
# Chalice module generated.
#   infra/checks.sh            (from anywhere; uses .venv for packaging, .venv-checkov for checkov)
# checkov pins an old boto3, so it lives in its own virtualenv, built when absent.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CHECKOV_VERSION=3.3.30
CK_VENV="$ROOT/.venv-checkov"
PY="$ROOT/.venv/bin/python"

if [ ! -x "$CK_VENV/bin/checkov" ] || ! "$CK_VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  echo "==> building $CK_VENV (checkov $CHECKOV_VERSION)"
  rm -rf "$CK_VENV"
  python3 -m venv "$CK_VENV"
  "$CK_VENV/bin/python" -m pip install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi

# checkov scans a copy of infra/ whose Chalice module is a configuration-only build: the
# checks never touch infra/chalice_app/, so a deployable build (main.tf + deployment.zip
# from `python -m infra.package`, docs/deploy.md step 3) survives them.
WORK=$(mktemp -d)
REPORT="$WORK/checkov.json"
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/infra"
tar -C infra --exclude=./chalice_app --exclude=./.terraform --exclude=__pycache__ -cf - . \
  | tar -C "$WORK/infra" -xf -

echo "==> packaging the Chalice app into a scratch copy of infra/ (configuration only)"
"$PY" -m infra.package --config-only --module-dir "$WORK/infra/chalice_app"

# The stand-in for `terraform validate`: every block, argument and reference against the
# AWS provider schema of both ends of versions.tf's range (infra/tf_schema.sh).
"$ROOT/infra/tf_schema.sh"

echo "==> checkov (offline)"
# --skip-download: no network, no platform policies. checkov exits non-zero on failed
# checks itself; parsing errors and unjustified skips are judged by checkov_gate.
set +e
"$CK_VENV/bin/checkov" -d "$WORK/infra" --framework terraform --skip-download --quiet --compact \
  -o json > "$REPORT"
status=$?
set -e
gate=0
"$PY" -m infra.checkov_gate "$REPORT" 40 || gate=$?
if [ "$status" -ne 0 ] && [ "$gate" -eq 0 ]; then
  echo "checkov exited $status" >&2
  exit "$status"
fi
exit "$gate"
