"""Regenerate the recorded `terraform apply -json` streams in this directory.

    PYTHONPATH=. .venv/bin/python tests/engines/data/record_apply.py

Runs the real embedded Terraform (1.15.5) with the sandbox provider against a moto
server (`sandbox up` in a temp dir, stopped at the end): a bucket and a queue created,
the bucket's tags updated, both destroyed, and an apply that fails (a bucket name the
emulator rejects), with -json and in plain text.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from infra_gitops import sandbox

HERE = Path(__file__).parent
TERRAFORM = [sys.executable, "-m", "infra_gitops.engines.embedded_terraform"]

STACK = """
terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}
variable "environment" {
  type = string
}
variable "bucket" {
  type    = string
  default = "rec-artifacts"
}
resource "aws_s3_bucket" "artifacts" {
  bucket = var.bucket
  tags   = { environment = var.environment }
}
resource "aws_sqs_queue" "jobs" {
  name = "rec-jobs"
}
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        info = sandbox.up(root / "state")
        try:
            stack = root / "stack"
            stack.mkdir()
            (stack / "main.tf").write_text(STACK)
            for name, content in info.override_files().items():
                (stack / name).write_text(content)
            env = {**_base_env(), **info.terraform_env()}
            tf = _runner(stack, env)
            tf("init", "-input=false", "-no-color")
            _record(tf, "apply_create.jsonl", "-var=environment=dev")
            _record(tf, "apply_update.jsonl", "-var=environment=prod")
            _record(tf, "apply_destroy.jsonl", "-var=environment=prod", "-destroy")
            _record(tf, "apply_errored.jsonl", "-var=environment=dev", "-var=bucket=x", ok=1)
            # The same failure in plain text, as every other command reports errors.
            tf(
                "plan",
                "-input=false",
                "-no-color",
                "-out=rec.tfplan",
                "-var=environment=dev",
                "-var=bucket=x",
            )
            plain = tf(
                "apply",
                "-input=false",
                "-no-color",
                "-auto-approve",
                "rec.tfplan",
                ok=1,
                stream="stderr",
            )
            (HERE / "apply_errored.txt").write_text(plain)
        finally:
            sandbox.down(root / "state")


Terraform = Callable[..., str]


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}


def _runner(stack: Path, env: dict[str, str]) -> Terraform:
    def tf(*args: str, ok: int = 0, stream: str = "stdout") -> str:
        done = subprocess.run(
            [*TERRAFORM, *args], cwd=stack, env=env, capture_output=True, text=True
        )
        if done.returncode != ok:
            sys.exit(f"terraform {args[0]} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return str(getattr(done, stream))

    return tf


def _record(tf: Terraform, name: str, *plan_args: str, ok: int = 0) -> None:
    tf("plan", "-input=false", "-no-color", "-out=rec.tfplan", *plan_args)
    stream = tf("apply", "-input=false", "-no-color", "-json", "-auto-approve", "rec.tfplan", ok=ok)
    (HERE / name).write_text(stream)
    print(f"wrote {name}: {len(stream.splitlines())} messages")


if __name__ == "__main__":
    main()
