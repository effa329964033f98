#!/usr/bin/env bash
# Deploy HolySheep Edge Router everywhere: the DynamoDB global table once, then one regional
# stack per region (`make build` once, then sam deploy --config-env <region> from samconfig.toml).
# Safe to run again: unchanged stacks are left alone (--no-fail-on-empty-changeset).
set -euo pipefail

DEFAULT_REGIONS="us-east-1,us-west-1,ap-northeast-2,ap-southeast-1,eu-central-1"

usage() {
  cat <<EOF
Usage: infra/deploy-all.sh [options]

Deploys, in this order:
  1. infra/global-table.yaml as stack TABLE_STACK in TABLE_REGION (aws cloudformation deploy),
     with a replica in every REPLICA_REGION;
  2. make build (once; the artifact is region-independent), as a developer builds;
  3. sam deploy --config-env <region> for every region in REGIONS, in the order given.

Options:
  --regions LIST          regional stacks to deploy, comma-separated
                          (default: $DEFAULT_REGIONS)
  --replica-regions LIST  global table replicas, at most 5 (default: the same five regions).
                          Kept separate from --regions on purpose: redeploying one region
                          must not remove the other regions' replicas.
  --table-region REGION   where the global table stack lives (default: us-east-1); must be
                          one of the replica regions
  --table-stack NAME      global table stack name (default: edge-router-global-table)
  --table-name NAME       table name (default: edge-router-health); must equal
                          HealthTableName in samconfig.toml
  --skip-table            do not deploy the global table stack
  --skip-build            do not run make build (use the existing .aws-sam/build)
  --dry-run               print every command, in order, instead of running it
  -h, --help              show this help

Environment:
  AWS_CLI  aws command (default: aws)
  SAM_CLI  sam command (default: .venv-tools/bin/sam when present, else sam)
  AWS_PROFILE and the usual AWS variables select the account, as for the AWS CLI.

Examples:
  infra/deploy-all.sh --dry-run
  infra/deploy-all.sh
  infra/deploy-all.sh --skip-table --regions ap-northeast-2
EOF
}

die() {
  echo "deploy-all: $*" >&2
  exit 2
}

regions="$DEFAULT_REGIONS"
replica_regions="$DEFAULT_REGIONS"
table_region="us-east-1"
table_stack="edge-router-global-table"
table_name="edge-router-health"
skip_table=0
skip_build=0
dry_run=0

while (($#)); do
  case "$1" in
    --regions) regions="${2:?--regions needs a value}"; shift 2 ;;
    --replica-regions) replica_regions="${2:?--replica-regions needs a value}"; shift 2 ;;
    --table-region) table_region="${2:?--table-region needs a value}"; shift 2 ;;
    --table-stack) table_stack="${2:?--table-stack needs a value}"; shift 2 ;;
    --table-name) table_name="${2:?--table-name needs a value}"; shift 2 ;;
    --skip-table) skip_table=1; shift ;;
    --skip-build) skip_build=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

aws_cli="${AWS_CLI:-aws}"
if [[ -n "${SAM_CLI:-}" ]]; then
  sam_cli="$SAM_CLI"
elif [[ -x .venv-tools/bin/sam ]]; then
  sam_cli=".venv-tools/bin/sam"
else
  sam_cli="sam"
fi

IFS=',' read -r -a region_list <<<"$regions"
IFS=',' read -r -a replica_list <<<"$replica_regions"
((${#region_list[@]})) || die "--regions is empty"
((${#replica_list[@]} >= 1 && ${#replica_list[@]} <= 5)) || die "--replica-regions takes 1 to 5 regions"

contains() {
  local wanted="$1" item
  shift
  for item in "$@"; do [[ "$item" == "$wanted" ]] && return 0; done
  return 1
}

for region in "${region_list[@]}"; do
  [[ "$region" =~ ^[a-z]{2}(-gov)?-[a-z]+-[0-9]$ ]] || die "not a region: '$region'"
  grep -q "^\[$region\.deploy\.parameters\]" samconfig.toml \
    || die "samconfig.toml has no [$region.deploy.parameters] environment"
  contains "$region" "${replica_list[@]}" \
    || die "$region has no table replica: add it to --replica-regions (or set HealthTableRegion)"
done
contains "$table_region" "${replica_list[@]}" \
  || die "--table-region $table_region must be one of the replica regions"

run() {
  if ((dry_run)); then
    printf '%q ' "$@" | sed 's/ $//'
    echo
  else
    echo "+ $*" >&2
    "$@"
  fi
}

# 1. The global table, once.
if ((!skip_table)); then
  table_params=("TableName=$table_name")
  for i in 1 2 3 4 5; do
    table_params+=("ReplicaRegion$i=${replica_list[i - 1]:-}")
  done
  run "$aws_cli" cloudformation deploy \
    --region "$table_region" \
    --stack-name "$table_stack" \
    --template-file infra/global-table.yaml \
    --parameter-overrides "${table_params[@]}" \
    --tags app=edge-router \
    --no-fail-on-empty-changeset
fi

# 2. One build for every region, exactly as `make build` does it (layers from uv.lock with
#    bytecode via shared/Makefile, validation, the python3.12 toolchain), with this SAM CLI.
if ((!skip_build)); then
  run make build SAM="$sam_cli"
fi

# 3. Every region, in order.
for region in "${region_list[@]}"; do
  run "$sam_cli" deploy --config-env "$region" --no-fail-on-empty-changeset
done

if ((!dry_run)); then
  echo "deploy-all: done (${region_list[*]})" >&2
fi
