#!/bin/sh
# Creates the bucket holding every stack's Terraform state (the name the moto sandbox
# uses too). Idempotent. Needs only curl or python3, no AWS CLI (no `awslocal`), so the
# same script serves both ways LocalStack runs:
#   - in the container, as a ready.d hook: LocalStack runs it once it is ready;
#   - on the host, by hand:
#       AWS_ENDPOINT_URL=http://127.0.0.1:4577 localstack/init/ready.d/10-state-bucket.sh
# The request is unsigned: LocalStack (like moto) takes anonymous S3 requests unless
# IAM enforcement is on. Exit 0 when the bucket exists afterwards, 1 otherwise.
set -eu

endpoint="${AWS_ENDPOINT_URL:-http://localhost:4566}"
bucket="${INFRA_GITOPS_STATE_BUCKET:-infra-gitops-state}"
url="${endpoint%/}/${bucket}"

if command -v curl >/dev/null 2>&1; then
  status=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$url" || echo 000)
else
  status=$(python3 - "$url" <<'PY'
import sys
import urllib.error
import urllib.request

request = urllib.request.Request(sys.argv[1], method="PUT", data=b"")
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        print(response.status)
except urllib.error.HTTPError as error:
    print(error.code)
except OSError:
    print("000")
PY
)
fi

case "$status" in
  200) echo "state bucket $bucket ready at $endpoint" ;;
  # 409: BucketAlreadyOwnedByYou (or taken): already there on a restart.
  409) echo "state bucket $bucket already exists at $endpoint" ;;
  *)
    echo "cannot create the state bucket $bucket at $endpoint (HTTP $status)" >&2
    exit 1
    ;;
esac
