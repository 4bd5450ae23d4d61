"""Stacks with environments: instances, settings over the stack's, references resolved
within an environment, and what is refused (config/entries.py, references.py)."""

from __future__ import annotations

from pathlib import Path

from config_helpers import make_repo, problems

from infra_gitops.config import load_manifest

BASE = """
    version: 1
    defaults:
      policy: {auto_apply: true}
    stacks:
      - name: net
        path: net
      - name: storage
        path: storage
        variables: {size: small, team: data}
        environments:
          - name: dev
          - name: prod
            variables: {size: large}
            env: {AWS_REGION: eu-west-1}
            policy: {auto_apply: false}
            tags: [critical]
      - name: app
        path: app
        depends_on: [net]
        variables:
          bucket: {from_stack: storage, output: bucket}
        environments:
          - name: dev
          - name: prod
"""


def test_each_environment_is_a_stack_with_its_settings_over_the_stacks(tmp_path: Path) -> None:
    make_repo(tmp_path, BASE, ("net", "storage", "app"))
    stacks = {s.name: s for s in load_manifest(tmp_path).stacks}
    assert list(stacks) == ["net", "storage@dev", "storage@prod", "app@dev", "app@prod"]
    dev, prod = stacks["storage@dev"], stacks["storage@prod"]
    assert dev.variables == {"size": "small", "team": "data"}
    assert prod.variables == {"size": "large", "team": "data"}
    assert (dev.policy.auto_apply, prod.policy.auto_apply) == (True, False)
    assert prod.env == {"AWS_REGION": "eu-west-1"}
    assert prod.tags == ("critical", "prod") and dev.tags == ("dev",)
    assert (prod.environment, prod.definition, prod.path) == ("prod", "storage", "storage")
    app = stacks["app@prod"]
    assert app.depends_on == ("net", "storage@prod")
    assert app.variables_from_stack == {"bucket": ("storage@prod", "bucket")}


STORAGE = """
    version: 1
    stacks:
      - name: storage
        path: storage
        environments: [{name: dev}, {name: prod}]
"""


def test_an_instance_can_be_named_outright(tmp_path: Path) -> None:
    manifest = (
        STORAGE
        + """\
      - name: app
        path: app
        variables:
          bucket: {from_stack: storage, output: bucket}
        environments:
          - name: dev
          - name: staging
            variables:
              bucket: {from_stack: storage@prod, output: bucket}
    """
    )
    make_repo(tmp_path, manifest, ("storage", "app"))
    stacks = {s.name: s for s in load_manifest(tmp_path).stacks}
    assert stacks["app@dev"].variables_from_stack == {"bucket": ("storage@dev", "bucket")}
    assert stacks["app@staging"].depends_on == ("storage@prod",)


def test_references_that_name_no_instance_are_refused_with_their_line(tmp_path: Path) -> None:
    in_qa = (
        STORAGE
        + """\
      - name: app
        path: app
        variables:
          bucket: {from_stack: storage, output: bucket}
        environments: [{name: qa}]
    """
    )
    make_repo(tmp_path, in_qa, ("storage", "app"))
    found = problems(tmp_path)
    assert found == [
        "gitops.yaml:9: stacks[1].variables.bucket.from_stack: stack 'storage' has no "
        "environment 'qa' (its instances: storage@dev, storage@prod): name one of them"
    ]

    plain = (
        STORAGE
        + """\
      - name: app
        path: app
        depends_on: [storage]
    """
    )
    make_repo(tmp_path, plain, ("storage", "app"))
    assert problems(tmp_path) == [
        "gitops.yaml:8: stacks[1].depends_on[0]: stack 'storage' is deployed to environments "
        "(storage@dev, storage@prod): name one of its instances, e.g. storage@dev"
    ]


def test_duplicate_environments_and_bad_names_are_refused(tmp_path: Path) -> None:
    manifest = BASE.replace(
        "          - name: prod\n            variables",
        "          - name: dev\n            variables",
    )
    manifest = manifest.replace(
        "- name: net\n", "- name: net\n        environments: [{name: Dev}]\n"
    )
    make_repo(tmp_path, manifest, ("net", "storage", "app"))
    found = problems(tmp_path)
    assert any("duplicate environment 'dev' of stack 'storage'" in p for p in found), found
    assert any("expected an environment name of lowercase" in p for p in found), found


def test_a_cycle_through_instances_is_found(tmp_path: Path) -> None:
    manifest = BASE.replace(
        "        variables: {size: small, team: data}\n",
        "        variables: {size: small, team: data}\n        depends_on: [app]\n",
    )
    make_repo(tmp_path, manifest, ("net", "storage", "app"))
    found = problems(tmp_path)
    assert any("dependency cycle: storage@dev -> app@dev -> storage@dev" in p for p in found), found


def test_two_environments_on_one_state_key_are_refused(tmp_path: Path) -> None:
    manifest = BASE.replace(
        "            tags: [critical]\n",
        "            tags: [critical]\n            backend: {key: shared.tfstate}\n",
    ).replace(
        "          - name: dev\n",
        "          - name: dev\n            backend: {key: shared.tfstate}\n",
        1,
    )
    make_repo(tmp_path, manifest, ("net", "storage", "app"))
    found = problems(tmp_path)
    assert any(
        "'storage@dev'" in p and "'storage@prod'" in p and "share one state" in p for p in found
    ), found


def test_a_promotion_order_names_the_stacks_environments(tmp_path: Path) -> None:
    manifest = STORAGE.replace(
        "        environments: [{name: dev}, {name: prod}]\n",
        "        promotion: {order: [dev, qa, prod], soak: 30m}\n"
        "        environments: [{name: dev}, {name: prod}]\n"
        "      - name: plain\n        path: app\n        promotion: {order: [a, b]}\n",
    )
    make_repo(tmp_path, manifest, ("storage", "app"))
    assert problems(tmp_path) == [
        "gitops.yaml:5: stacks[0].promotion.order[1]: 'qa' is not an environment of stack "
        "'storage' (expected one of: dev, prod)",
        "gitops.yaml:9: stacks[1].promotion: a promotion is only for a stack with environments",
    ]
    fine = STORAGE.replace(
        "        environments:",
        "        promotion: {order: [dev, prod], soak: 30m}\n        environments:",
    )
    make_repo(tmp_path, fine, ("storage", "app"))
    prod = {s.name: s for s in load_manifest(tmp_path).stacks}["storage@prod"]
    assert (prod.promotion.order, prod.promotion.soak_s) == (("dev", "prod"), 1800)


MATRIX = """
    version: 1
    stacks:
      - name: app
        path: app
        variables: {size: small}
        promotion: {order: [dev-use1, prod-use1]}
        environments:
          matrix:
            stage:
              - dev
              - name: prod
                variables: {size: large}
                policy: {auto_apply: false}
            region:
              - name: use1
                env: {AWS_REGION: us-east-1}
              - name: euw1
                env: {AWS_REGION: eu-west-1}
"""


def test_a_matrix_makes_one_environment_per_combination(tmp_path: Path) -> None:
    make_repo(tmp_path, MATRIX, ("app",))
    stacks = {s.name: s for s in load_manifest(tmp_path).stacks}
    assert list(stacks) == ["app@dev-use1", "app@dev-euw1", "app@prod-use1", "app@prod-euw1"]
    prod_eu = stacks["app@prod-euw1"]
    assert prod_eu.environment == "prod-euw1"
    assert prod_eu.variables == {"size": "large"}
    assert prod_eu.env == {"AWS_REGION": "eu-west-1"}
    assert not prod_eu.policy.auto_apply and stacks["app@dev-use1"].policy.auto_apply is False
    assert stacks["app@dev-euw1"].variables == {"size": "small"}
    assert prod_eu.promotion.order == ("dev-use1", "prod-use1")


def test_a_matrix_is_checked_like_a_list(tmp_path: Path) -> None:
    bad = MATRIX.replace("order: [dev-use1, prod-use1]", "order: [dev, prod-use1]").replace(
        "              - dev\n", "              - dev\n              - Dev\n"
    )
    make_repo(tmp_path, bad, ("app",))
    found = problems(tmp_path)
    assert any("stacks[0].environments" in p for p in found), found
