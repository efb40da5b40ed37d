#!/usr/bin/env bash
# Static security checks, run by the test command (and by tests/reliability/test_secrets.py):
#   1. bandit over edge_reader, control_plane and vexil: nothing of medium severity or above
#      (configuration and the one justified skip live in pyproject.toml [tool.bandit]);
#   2. a secret scan over every file git tracks or would track (not .gitignored): no Vexil
#      API token, SDK key, AWS access key or private key committed.
# Exit 0 when both are clean; prints "bandit: OK" and "secret scan: OK".
set -euo pipefail
cd "$(dirname "$0")/.."
BANDIT="${BANDIT:-.venv/bin/bandit}"
[ -x "$BANDIT" ] || BANDIT=bandit

echo "==> bandit (medium severity and above)"
"$BANDIT" -q -c pyproject.toml -r edge_reader control_plane vexil -ll -x control_plane/vendor
echo "bandit: OK"

echo "==> secret scan"
# Full-length credentials only: documentation examples are elided ("vxl_srv_…").
patterns=(
  'vxl_tok_[A-Za-z0-9_-]{43}'
  'vxl_(srv|cli)_[a-z2-7]{10}_[A-Za-z0-9_-]{43}'
  '(AKIA|ASIA)[0-9A-Z]{16}'
  '-----BEGIN ([A-Z]+ )?PRIVATE KEY-----'
  'aws_secret_access_key *= *[A-Za-z0-9/+]{40}'
)
found=0
while IFS= read -r -d '' file; do
  [ -f "$file" ] || continue
  case "$file" in
    control_plane/vendor/*|build/*|*.zip|*.gz|*.png) continue ;;
  esac
  for pat in "${patterns[@]}"; do
    if grep -EIHn -e "$pat" -- "$file" >/dev/null 2>&1; then
      # file:line only: the scan must not print the credential it found
      grep -EIHn -e "$pat" -- "$file" | cut -d: -f1,2 | sed 's/^/  credential-shaped string at /'
      found=1
    fi
  done
done < <(git ls-files -z --cached --others --exclude-standard)
if [ "$found" -ne 0 ]; then
  echo "secret scan: FAILED (a credential-shaped string is in the tree)"
  exit 1
fi
echo "secret scan: OK"
