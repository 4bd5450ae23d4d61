"""`mock:` on a from_stack variable: built into Stack.mock_outputs, refused elsewhere with
file, line and key (schema and semantic_check.py)."""

from __future__ import annotations

from pathlib import Path

from config_helpers import make_repo, problems

from infra_gitops.config import load_manifest

TWO_STACKS = """
    version: 1
    stacks:
      - name: storage
        path: storage
      - name: app
        path: app
        variables:
{variables}
"""


def _repo(tmp_path: Path, variables: str) -> Path:
    return make_repo(tmp_path, TWO_STACKS.format(variables=variables), ("storage", "app"))


def test_mock_values_of_any_yaml_kind_are_built(tmp_path: Path) -> None:
    _repo(
        tmp_path,
        """\
          queue_url: {from_stack: storage, output: queue_url, mock: "https://mock/q"}
          count: {from_stack: storage, output: count, mock: 3}
          zones: {from_stack: storage, output: zones, mock: [a, b]}
          tags: {from_stack: storage, output: tags, mock: {team: core}}
          flag: {from_stack: storage, output: flag, mock: false}
          key: {from_stack: storage, output: key, mock: s3cr3t, sensitive: true}
          plain: {from_stack: storage, output: plain}
""",
    )

    app = load_manifest(tmp_path).stack("app")

    assert app.mock_outputs == {
        "queue_url": "https://mock/q",
        "count": 3,
        "zones": ["a", "b"],
        "tags": {"team": "core"},
        "flag": False,
        "key": "s3cr3t",
    }
    assert "key" in app.sensitive_variables  # its mock is a secret like the real value
    assert app.variables_from_stack["plain"] == ("storage", "plain")
    assert "queue_url" not in app.variables  # never a literal


def test_mock_on_a_from_env_variable_names_file_line_and_key(tmp_path: Path) -> None:
    _repo(tmp_path, "          password: {from_env: DB_PASSWORD, mock: x}\n")

    found = problems(tmp_path)

    assert len(found) == 1
    assert found[0].startswith("gitops.yaml:8: stacks[1].variables.password.mock: unknown key")


def test_mock_without_from_stack_is_refused(tmp_path: Path) -> None:
    _repo(tmp_path, "          queue_url: {output: queue_url, mock: x}\n")

    assert problems(tmp_path) == [
        "gitops.yaml:8: stacks[1].variables.queue_url.mock: 'mock' is only for a from_stack "
        "variable ({from_stack: STACK, output: NAME, mock: VALUE}); this mapping has no "
        "'from_stack'"
    ]


def test_null_mock_is_refused(tmp_path: Path) -> None:
    _repo(tmp_path, "          queue_url: {from_stack: storage, output: queue_url, mock: null}\n")

    found = problems(tmp_path)

    assert len(found) == 1
    assert found[0].startswith("gitops.yaml:8: stacks[1].variables.queue_url.mock: expected")
    assert "not null" in found[0]


def test_a_literal_map_with_a_mock_key_stays_a_literal(tmp_path: Path) -> None:
    _repo(tmp_path, "          settings: {mock: true, retries: 2}\n")

    assert problems(tmp_path) == []
    assert load_manifest(tmp_path).stack("app").variables["settings"] == {
        "mock": True,
        "retries": 2,
    }


def test_an_environment_instance_gets_the_mock_of_its_own_reference(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: storage
            path: storage
            environments: [{name: dev}, {name: prod}]
          - name: app
            path: app
            variables:
              queue_url: {from_stack: storage, output: queue_url, mock: https://mock/q}
            environments:
              - name: dev
              - name: prod
                variables:
                  queue_url: {from_stack: storage, output: queue_url, mock: https://mock/prod}
        """,
        ("storage", "app"),
    )

    manifest = load_manifest(tmp_path)

    dev, prod = manifest.stack("app@dev"), manifest.stack("app@prod")
    assert dev.variables_from_stack["queue_url"] == ("storage@dev", "queue_url")
    assert dev.mock_outputs == {"queue_url": "https://mock/q"}
    assert prod.mock_outputs == {"queue_url": "https://mock/prod"}
