#!/usr/bin/env bash
# Terraform checked against the AWS provider schema, standing in for `terraform validate`
# (no terraform binary or provider download is possible here):
#   infra/tf_schema.sh            (from anywhere; needs npm and .venv's python-hcl2)
# The schema is extracted from the TypeScript declarations of the provider bindings that
# `npm pack` fetches (scripts/tf_schema_check.py says how). The two pins bracket the
# provider range of infra/versions.tf (">= 5.80, < 7.0"):
#   @cdktf/provider-aws 19.46.0 = aws 5.80.0 (the floor)
#   @cdktn/provider-aws 25.7.0  = aws 6.66.0 (the newest 6.x build)
# Each extracted schema (a few MB of JSON) is cached outside the checkout, keyed by the pin,
# so a fresh clone on the same machine (CI) downloads nothing: VEXIL_TF_SCHEMA_CACHE, else
# ${XDG_CACHE_HOME:-~/.cache}/vexil/tf-schema.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY="$ROOT/.venv/bin/python"
CHECKER="$ROOT/scripts/tf_schema_check.py"
CACHE="${VEXIL_TF_SCHEMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vexil/tf-schema}"
PINS=("@cdktf/provider-aws@19.46.0" "@cdktn/provider-aws@25.7.0")

mkdir -p "$CACHE"
schemas=()
for pin in "${PINS[@]}"; do
  name=$(echo "$pin" | sed 's|^@||; s|@|-|; s|/|-|')
  json="$CACHE/$name.json"
  if [ ! -s "$json" ]; then
    command -v npm >/dev/null 2>&1 || { echo "tf_schema: npm is required to fetch $pin" >&2; exit 2; }
    echo "==> fetching $pin (declarations only, cached in $CACHE)"
    work=$(mktemp -d)
    ( cd "$work" && npm pack --silent "$pin" >/dev/null )
    mkdir -p "$work/pkg"
    tar xzf "$work"/*.tgz -C "$work/pkg" --strip-components=1 --wildcards \
      'package/package.json' 'package/README.md' 'package/lib/*.d.ts'
    # --self-test proves the extracted schema still catches the checker's known mistakes.
    "$PY" "$CHECKER" --schema-from "$work/pkg" --cache-dir '' --self-test >/dev/null
    "$PY" "$CHECKER" --schema-from "$work/pkg" --cache-dir '' --dump-schema "$json.tmp" \
      "$ROOT/infra" >/dev/null || true  # findings are reported below, against both pins
    mv "$json.tmp" "$json"
    rm -rf "$work"
  fi
  schemas+=(--schema-from "$json")
done

dirs=("$ROOT/infra")
# The generated Chalice module, when present (infra/checks.sh builds it first).
[ -f "$ROOT/infra/chalice_app/main.tf" ] && dirs+=("$ROOT/infra/chalice_app")
echo "==> Terraform against the AWS provider schema"
"$PY" "$CHECKER" --cache-dir '' "${schemas[@]}" "${dirs[@]}"
