"""What the schema cannot know: cycles, names across stacks, engines (semantic_check.py)."""

from __future__ import annotations

from pathlib import Path

from config_helpers import make_repo, problems


def test_dependency_cycle_is_named(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: a
            path: a
            depends_on: [b]
          - name: b
            path: b
            variables:
              x: {from_stack: c, output: x}
          - name: c
            path: c
            depends_on: [a]
    """,
        ("a", "b", "c"),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:5: stacks[0].depends_on[0]: dependency cycle: a -> b -> c -> a"
    ]


def test_self_dependency_is_a_cycle(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: a
            path: a
            depends_on:
              - a
    """,
        ("a",),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:6: stacks[0].depends_on[0]: dependency cycle: a -> a"
    ]


def test_unknown_stack_references(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: network
            path: a
          - name: app
            path: b
            depends_on: [netwrk]
            variables:
              vpc: {from_stack: zzz, output: id}
    """,
        ("a", "b"),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:7: stacks[1].depends_on[0]: unknown stack 'netwrk' "
        "(did you mean 'network'?); known stacks: network, app",
        "gitops.yaml:9: stacks[1].variables.vpc.from_stack: unknown stack 'zzz'; "
        "known stacks: network, app",
    ]


def test_unknown_engine_with_did_you_mean(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        defaults:
          engine: docker
        stacks:
          - name: a
            path: a
            engine: terrafrom
    """,
        ("a",),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:3: defaults.engine: unknown engine 'docker' "
        "(expected one of: terraform, tofu, pulumi)",
        "gitops.yaml:7: stacks[0].engine: unknown engine 'terrafrom' (did you mean 'terraform'?)",
    ]


def test_sensitive_variables_must_name_variables(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: a
            path: a
            variables: {api_token: s3cr3t}
            sensitive_variables: [api_tokn]
    """,
        ("a",),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:6: stacks[0].sensitive_variables[0]: 'api_tokn' is not a variable of "
        "stack 'a' (did you mean 'api_token'?)"
    ]


def test_two_stacks_with_the_same_state_key_are_refused_naming_both(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        defaults:
          backend: {bucket: state, key: shared/terraform.tfstate}
        stacks:
          - name: network
            path: network
          - name: storage
            path: storage
    """,
        ("network", "storage"),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:7: stacks[1]: stacks 'network' (gitops.yaml:5) and 'storage' would share "
        "one state (bucket 'state', key 'shared/terraform.tfstate', workspace 'default'): "
        "each would destroy what the other manages. Give each stack its own backend key, "
        "or leave `key` out: a stack then gets NAME/terraform.tfstate"
    ]


def test_own_keys_workspaces_and_default_keys_keep_states_apart(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        defaults:
          backend: {bucket: state}
        stacks:
          - name: a
            path: a
          - name: b
            path: a
          - name: c
            path: c
            backend: {key: c/terraform.tfstate}
          - name: d
            path: c
            workspace: prod
            backend: {key: c/terraform.tfstate}
    """,
        ("a", "c"),
    )

    assert problems(tmp_path) == []


def test_the_same_key_given_by_two_stacks_points_at_the_second(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: a
            path: a
            backend: {key: same.tfstate}
          - name: b
            path: b
            backend:
              key: same.tfstate
    """,
        ("a", "b"),
    )

    [problem] = problems(tmp_path)
    assert problem.startswith("gitops.yaml:9: stacks[1].backend.key: stacks 'a' (gitops.yaml:5)")
    assert "key 'same.tfstate', workspace 'default'" in problem


def test_a_key_that_is_another_stacks_default_key_is_refused(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: storage
            path: storage
          - name: copy
            path: copy
            backend: {key: storage/terraform.tfstate}
    """,
        ("storage", "copy"),
    )

    [problem] = problems(tmp_path)
    assert problem.startswith(
        "gitops.yaml:7: stacks[1].backend.key: stacks 'storage' (gitops.yaml:3) and 'copy'"
    )
