#!/usr/bin/env bash
# The whole loop on the offline local cloud: plan, apply, a change made by hand, drift
# detected and shown, healed, history. Needs only Python >= 3.11 and PyPI access.
#
# Usage: scripts/quickstart.sh            (from the repository root)
# Everything it creates lives under .quickstart/ (state, the demo infra repo); it stops
# the local cloud when it ends, even on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/infra-gitops ]; then
  "$PY" -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e '.[sandbox]'
fi
IG=.venv/bin/infra-gitops
ROOT=$PWD/.quickstart
rm -rf "$ROOT"
mkdir -p "$ROOT"
export INFRA_GITOPS_HOME=$ROOT/state
# The demo's one secret: an SSM SecureString value. It never shows in any output below.
export DEMO_DB_PASSWORD=${DEMO_DB_PASSWORD:-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(18))')}

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# The Pulumi example stack needs the pulumi CLI, which pip cannot install.
STACKS=()
if command -v pulumi >/dev/null 2>&1; then
  export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE:-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(18))')}
else
  STACKS=(--stack storage --stack app)
  echo "note: the Pulumi stack 'queue' is left out: the pulumi CLI is not installed"
  echo "      (https://www.pulumi.com/docs/install/); the Terraform stacks run without it."
fi

step "A Git repo holding the example stacks (gitops.yaml + stacks/)"
REPO=$ROOT/infra-repo
mkdir -p "$REPO"
cp -r gitops.yaml stacks "$REPO"/
git -C "$REPO" init --quiet --initial-branch=main
git -C "$REPO" add -A
git -C "$REPO" -c user.name="Quickstart" -c user.email="quickstart@example.com" \
  commit --quiet -m "Declare storage and app stacks"
git -C "$REPO" log --oneline

step "Start the offline local cloud (moto server + the sandbox Terraform provider)"
trap '$IG sandbox down --quiet >/dev/null 2>&1 || true' EXIT
$IG sandbox up

step "infra-gitops validate"
$IG validate --repo "$REPO"

step "infra-gitops plan   (exit 2: changes to make)"
set +e; $IG plan --repo "$REPO" "${STACKS[@]}"; code=$?; set -e
echo "exit code: $code"

step "infra-gitops apply --auto-approve"
$IG apply --repo "$REPO" --auto-approve "${STACKS[@]}"

step "Someone changes the bucket's tags by hand, outside Git"
ENDPOINT=$($IG sandbox status --json --quiet | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["result"]["endpoint"])')
AWS_ENDPOINT_URL=$ENDPOINT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
  .venv/bin/python - <<'PY'
import boto3
s3 = boto3.client("s3")
bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"] != "infra-gitops-state")
s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [
    {"Key": "environment", "Value": "hand-edited"}, {"Key": "owner", "Value": "someone"}]})
print(f"changed tags of s3://{bucket} with boto3")
PY

step "infra-gitops drift   (exit 2: drift found, shown per resource)"
set +e; $IG drift --repo "$REPO" "${STACKS[@]}"; code=$?; set -e
echo "exit code: $code"

step "infra-gitops drift --heal   (the Git state is applied back)"
set +e; $IG drift --repo "$REPO" --heal "${STACKS[@]}"; code=$?; set -e
echo "exit code: $code"

step "infra-gitops drift   (exit 0: live matches Git again)"
$IG drift --repo "$REPO" "${STACKS[@]}"

step "infra-gitops history   (every run, against its commit)"
$IG history --repo "$REPO"

step "An account and an API token: the daemon's API authenticates every caller"
"$PY" -c 'import secrets; print(secrets.token_urlsafe(18))' | $IG accounts add demo --role admin --password-stdin
# Shown once, kept only as a hash; the daemon below takes it as `Authorization: Bearer`.
DEMO_API_TOKEN=$($IG tokens create --account demo --expires 1h --name quickstart)
export DEMO_API_TOKEN
$IG tokens list

step "The daemon: it follows the repo, checks drift every few seconds and heals it (self_heal)"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$IG daemon --repo "$REPO" --poll-interval 2 --drift-interval 4 --listen "127.0.0.1:$PORT" \
  > "$ROOT/daemon.log" 2>&1 &
DAEMON=$!
trap 'kill -TERM $DAEMON 2>/dev/null || true; wait $DAEMON 2>/dev/null || true; $IG sandbox down --quiet >/dev/null 2>&1 || true' EXIT
AWS_ENDPOINT_URL=$ENDPOINT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
  .venv/bin/python - "$PORT" <<'PY'
import json, os, sys, time, urllib.error, urllib.request
import boto3
port = sys.argv[1]
bearer = {"Authorization": "Bearer " + os.environ["DEMO_API_TOKEN"]}
s3 = boto3.client("s3")
bucket = "demo-dev-artifacts"

def wait(what, check, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"timed out waiting for {what}")

wait("the daemon to serve", lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz").status == 200)
print(f"daemon up: http://127.0.0.1:{port}/healthz, /readyz, /metrics, /api/stacks")
try:
    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/stacks")
    sys.exit("the API answered without a token")
except urllib.error.HTTPError as exc:
    print(f"GET /api/stacks without a token: {exc.code}")
def stacks():
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/stacks", headers=bearer)
    with urllib.request.urlopen(request) as answer:
        return {s["name"]: s["status"] for s in json.load(answer)}
wait("the daemon's first pass", lambda: stacks() and "Unknown" not in stacks().values())
print(f"GET /api/stacks with the token: {stacks()}")
s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "environment", "Value": "by-hand-again"}]})
print(f"changed the tags of s3://{bucket} by hand again; waiting for the daemon to heal them...")
started = time.monotonic()
tags = lambda: {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
wait("the heal", lambda: tags().get("environment") == "dev" and "stack" in tags())
print(f"healed by the daemon after {time.monotonic() - started:.0f}s: {tags()}")
PY

step "infra-gitops status   (every stack's state, last applied commit, last drift check)"
$IG status

step "Done. The daemon and the local cloud stop on exit; state is in $INFRA_GITOPS_HOME"
