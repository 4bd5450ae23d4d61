"""Regenerate the recorded `terraform show -json` documents in this directory.

    .venv/bin/python tests/engines/data/record_plans.py

Runs the real embedded Terraform (1.15.5). The drift recording also needs a real
resource whose live state can change outside Terraform: it uses the hashicorp/aws
provider from a local filesystem mirror (/opt/tf-plugins, or $TF_PLUGIN_MIRROR) against
a moto server, and is skipped when that mirror is absent. The secrets in the recordings
("rec-secret-...") are test values: the tests check that none of them survives redaction.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

HERE = Path(__file__).parent
TERRAFORM = [sys.executable, "-m", "infra_gitops.engines.embedded_terraform"]
MIRROR = Path(os.environ.get("TF_PLUGIN_MIRROR", "/opt/tf-plugins"))

APP_MAIN = """
variable "db_password" {
  type      = string
  sensitive = true
}
variable "tags" {
  type = map(string)
}
variable "generation" {
  type    = number
  default = 1
}
variable "legacy" {
  type    = bool
  default = true
}
resource "terraform_data" "config" {
  input = { tags = var.tags, password = var.db_password }
}
resource "terraform_data" "server" {
  input            = "web"
  triggers_replace = [var.generation]
}
resource "terraform_data" "legacy" {
  count = var.legacy ? 1 : 0
  input = "old"
}
module "child" {
  source = "./child"
  token  = "rec-secret-literal-token"
  label  = "blue"
}
output "password" {
  value     = var.db_password
  sensitive = true
}
output "server_id" {
  value = terraform_data.server.id
}
output "tags" {
  value = var.tags
}
"""

CHILD_MAIN = """
variable "token" {
  type      = string
  sensitive = true
}
variable "label" {
  type = string
}
resource "terraform_data" "inner" {
  input = { label = var.label, token = var.token }
}
"""

DRIFT_MAIN = """
terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws" }}
  }}
}}
provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {{
    s3 = "{url}"
  }}
}}
resource "aws_s3_bucket" "retagged" {{
  bucket = "retagged"
  tags   = {{ env = "dev", team = "a" }}
}}
resource "aws_s3_bucket" "deleted" {{
  bucket = "deleted"
}}
"""


def terraform(cwd: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*TERRAFORM, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 2):
        raise SystemExit(f"terraform {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def record(cwd: Path, env: dict[str, str], name: str, *plan_args: str) -> None:
    plan_file = cwd / f"{name}.tfplan"
    terraform(cwd, env, "plan", "-input=false", "-no-color", f"-out={plan_file}", *plan_args)
    doc = json.loads(terraform(cwd, env, "show", "-json", str(plan_file)))
    (HERE / f"{name}.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(f"recorded {name}.json")


def base_env(tmp: Path, cli_config: str = "") -> dict[str, str]:
    rc = tmp / "cli.tfrc"
    rc.write_text(cli_config)
    env = dict(os.environ, CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1")
    env.update(TF_CLI_CONFIG_FILE=str(rc), TF_DATA_DIR=str(tmp / "data"))
    return env


def record_app(tmp: Path) -> None:
    stack = tmp / "app"
    (stack / "child").mkdir(parents=True)
    (stack / "main.tf").write_text(APP_MAIN)
    (stack / "child" / "main.tf").write_text(CHILD_MAIN)
    env = base_env(tmp)
    terraform(stack, env, "init", "-input=false", "-no-color")
    first = dict(env, TF_VAR_db_password="rec-secret-one", TF_VAR_tags='{"env":"dev","team":"a"}')
    record(stack, first, "plan_create")
    terraform(stack, first, "apply", "-input=false", "-no-color", str(stack / "plan_create.tfplan"))
    second = dict(
        env,
        TF_VAR_db_password="rec-secret-two",
        TF_VAR_tags='{"env":"prod","team":"a"}',
        TF_VAR_generation="2",
        TF_VAR_legacy="false",
    )
    record(stack, second, "plan_changes")


def record_drift(tmp: Path) -> None:
    if not MIRROR.is_dir():
        print(f"skipped plan_drift.json: no provider mirror at {MIRROR}")
        return
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        stack = tmp / "drift"
        stack.mkdir()
        (stack / "main.tf").write_text(DRIFT_MAIN.format(url=url))
        mirror = (
            f'provider_installation {{\n  filesystem_mirror {{\n    path = "{MIRROR}"\n  }}\n}}\n'
        )
        env = base_env(tmp, mirror)
        terraform(stack, env, "init", "-input=false", "-no-color")
        terraform(stack, env, "apply", "-input=false", "-no-color", "-auto-approve")
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        s3.put_bucket_tagging(
            Bucket="retagged",
            Tagging={"TagSet": [{"Key": "env", "Value": "hacked"}, {"Key": "team", "Value": "a"}]},
        )
        s3.delete_bucket(Bucket="deleted")
        record(stack, env, "plan_drift", "-refresh-only")
    finally:
        server.stop()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        record_app(Path(tmp))
        record_drift(Path(tmp))


if __name__ == "__main__":
    main()
