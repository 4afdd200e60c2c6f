#!/usr/bin/env bash
# The quick-start demo: a scratch copy of this repository in .ecrctl/demo, the local emulator,
# one repository per risk tier, a plan, an apply and the listing. Leaves the emulator running.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
demo="$here/.ecrctl/demo"
ecrctl="$here/.venv/bin/ecrctl"
mkdir -p "$demo"
rm -rf "$demo/terraform"
cp -R "$here/terraform" "$demo/terraform"
[ -d "$demo/envs" ] || cp -R "$here/envs" "$demo/envs"
mkdir -p "$demo/catalog"
[ -f "$demo/catalog/ecr-catalog.yaml" ] || cp "$here/catalog/ecr-catalog.yaml" "$demo/catalog/"
export ECRCTL_ROOT="$demo"
port="${ECRCTL_DEMO_PORT:-5055}"

"$ecrctl" local up --port "$port"
"$ecrctl" create demo-web --env local --owner app-team-demo --risk low \
  --description "Demo web front end"
"$ecrctl" create demo-search --env local --owner app-team-demo --risk medium
"$ecrctl" create demo-payments --env local --owner app-team-demo --risk high \
  --push-principal arn:aws:iam::123456789012:role/demo-ci \
  --pull-principal arn:aws:iam::123456789012:role/demo-deployer
"$ecrctl" plan demo-web demo-search demo-payments --env local
"$ecrctl" apply demo-web demo-search demo-payments --env local --auto-approve
"$ecrctl" list --env local
cat <<MSG

Demo done. Its files are in .ecrctl/demo (catalog/, envs/local/terraform.tfvars).
The local emulator is STILL RUNNING on 127.0.0.1:$port and holds the demo repositories.
Stop it with: make demo-down
MSG
