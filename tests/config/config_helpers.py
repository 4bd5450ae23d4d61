"""Shared by the tests of infra_gitops/config: a repo holding a manifest and stacks."""

from __future__ import annotations

import textwrap
from pathlib import Path

from infra_gitops.config import MANIFEST_NAME, validate_manifest

MANIFESTS = Path(__file__).parent.parent / "data" / "manifests"


def make_repo(root: Path, manifest: str, stacks: tuple[str, ...] = ()) -> Path:
    """A repo at root with the manifest and a Terraform stack in each of stacks."""
    root.mkdir(parents=True, exist_ok=True)
    for stack in stacks:
        (root / stack).mkdir(parents=True, exist_ok=True)
        (root / stack / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    (root / MANIFEST_NAME).write_text(textwrap.dedent(manifest).lstrip("\n"))
    return root


def problems(root: Path) -> list[str]:
    return [str(problem) for problem in validate_manifest(root)]


FULL = """
    version: 1
    defaults:
      env: {AWS_REGION: us-east-1}
      backend: {bucket: state}
      policy: {drift_interval: 10m, prune: true}
    stacks:
      - name: network
        path: stacks/network
      - name: storage
        path: ./stacks/storage/
        engine: tofu
        workspace: prod
        binary: /opt/tofu/bin/tofu
        variables:
          name_prefix: demo
          zones: [a, b]
          db_password: {from_env: DEMO_DB_PASSWORD}
          region: {from_env: DEMO_REGION, sensitive: false}
          vpc_id: {from_stack: network, output: vpc_id}
          api_token: literal-secret
        sensitive_variables: [api_token]
        env: {TF_LOG: ""}
        depends_on: [network]
        backend: {key: custom/key.tfstate}
        policy: {drift_interval: 1h30m, self_heal: true, auto_apply: true}
"""
