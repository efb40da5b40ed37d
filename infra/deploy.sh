#!/usr/bin/env bash
# Deploy Vexil to AWS: the steps of docs/deploy.md, in order, from the repository root.
#
#   infra/deploy.sh                 preflight, package, offline checks, then PRINT the
#                                   terraform commands to run (review the plan yourself)
#   infra/deploy.sh --skip-checks   the same without checkov (e.g. a code-only redeploy)
#   infra/deploy.sh --var-file F    variables from F (default infra/terraform.tfvars)
#
# It never runs `terraform apply`: a deployment is applied from a plan a person has read.
# Every command it prints is relative to the repository root (terraform -chdir=infra), so
# nothing later runs `.venv/bin/vexil` from inside infra/.
#
# Exit status: 0 ready to plan; 1 a step failed (the message names it); 2 usage error.
set -euo pipefail
CALLER_DIR=$(pwd)
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY="${VEXIL_PYTHON:-$ROOT/.venv/bin/python}"
TF_MIN="1.5.0"
PLAN_FILE="vexil.plan"
skip_checks=0
var_file=""

while [ $# -gt 0 ]; do
  case "$1" in
    --skip-checks) skip_checks=1 ;;
    --var-file)
      [ $# -ge 2 ] || { echo "deploy.sh: --var-file needs a file" >&2; exit 2; }
      # Absolute: the printed commands run terraform with -chdir=infra.
      case "$2" in /*) var_file=$2 ;; *) var_file=$CALLER_DIR/$2 ;; esac
      shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "deploy.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
tfvars=${var_file:-infra/terraform.tfvars}
# terraform.tfvars in infra/ is read automatically; another file is passed explicitly.
var_arg=""
[ -z "$var_file" ] || var_arg=" -var-file=$var_file"

step() { echo; echo "==> [$1] $2"; }
fail() { echo "deploy.sh: $*" >&2; exit 1; }

# version_ge A B: A >= B for dotted numeric versions.
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

step 1 "preflight: tools, virtualenv, terraform.tfvars, region"
missing=()
for tool in aws jq openssl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] || fail "missing prerequisites: ${missing[*]} (docs/deploy.md, Prerequisites)"
[ -x "$PY" ] || fail "no virtualenv at $ROOT/.venv: run ./run setup first"
[ -f "$tfvars" ] \
  || fail "$tfvars is missing: cp infra/terraform.tfvars.example infra/terraform.tfvars and edit it"
# The region is a Terraform variable, not the CLI's profile default: state it explicitly.
region=$(sed -n 's/^[[:space:]]*aws_region[[:space:]]*=[[:space:]]*"\([a-z0-9-]*\)".*/\1/p' \
  "$tfvars" | head -n1)
[ -n "$region" ] || fail "$tfvars sets no aws_region (e.g. aws_region = \"eu-west-1\")"
echo "region: $region (CloudFront's certificate, WAF and alarm stay in us-east-1 by AWS rule)"
terraform_ok=0
if command -v terraform >/dev/null 2>&1; then
  tf_version=$(terraform version -json 2>/dev/null | jq -r '.terraform_version // empty' || true)
  [ -n "$tf_version" ] || fail "could not read 'terraform version -json'"
  version_ge "$tf_version" "$TF_MIN" || fail "terraform $tf_version is too old: >= $TF_MIN needed"
  echo "terraform $tf_version"
  terraform_ok=1
else
  echo "!! terraform is not on PATH: the commands below need terraform >= $TF_MIN"
fi

step 2 "package the control plane (python -m infra.package)"
"$PY" -m infra.package
[ -f infra/chalice_app/deployment.zip ] || fail "infra.package wrote no infra/chalice_app/deployment.zip"

if [ "$skip_checks" -eq 0 ]; then
  step 3 "offline checks (infra/checks.sh)"
  infra/checks.sh
else
  step 3 "offline checks skipped (--skip-checks)"
fi
# The checks must leave the deployable build alone (they once deleted the zip: issue 15).
[ -f infra/chalice_app/deployment.zip ] \
  || fail "infra/chalice_app/deployment.zip vanished after the checks; run python -m infra.package again"
zip_bytes=$(wc -c < infra/chalice_app/deployment.zip)
echo "deployment.zip: $zip_bytes bytes"

step 4 "terraform: run these from $ROOT and review the plan before applying"
cat <<EOF
terraform -chdir=infra init
terraform -chdir=infra plan$var_arg -out=$PLAN_FILE
terraform -chdir=infra apply $PLAN_FILE
terraform -chdir=infra output
EOF
[ "$terraform_ok" -eq 1 ] || echo "(install terraform >= $TF_MIN first)"

step 5 "after the first apply (docs/deploy.md, Bootstrap), still from $ROOT"
cat <<'EOF'
.venv/bin/vexil tokens bootstrap --name admin --table "$(terraform -chdir=infra output -raw table_name)"
export VEXIL_API="$(terraform -chdir=infra output -raw api_url)"
EOF
