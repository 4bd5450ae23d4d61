#!/bin/bash
# Runs inside the LocalStack container when it is ready: the bucket holding every stack's
# Terraform state (the same name the moto sandbox uses). Idempotent across restarts.
set -euo pipefail

bucket="${INFRA_GITOPS_STATE_BUCKET:-infra-gitops-state}"
if awslocal s3api head-bucket --bucket "$bucket" 2>/dev/null; then
  echo "state bucket $bucket already exists"
else
  awslocal s3api create-bucket --bucket "$bucket"
  echo "created state bucket $bucket"
fi
