from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from infra_gitops.config import (
    ENGINES,
    MANIFEST_NAME,
    ConfigError,
    Manifest,
    Problem,
    load_manifest,
    load_schema,
    render_key_path,
    validate_manifest,
)
from infra_gitops.durations import format_duration, parse_duration
from infra_gitops.models import Policy, Stack

MANIFESTS = Path(__file__).parent / "data" / "manifests"


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


# --------------------------------------------------------------------------- valid manifests


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


def test_full_manifest_builds_the_declared_stacks(tmp_path: Path) -> None:
    make_repo(tmp_path, FULL, ("stacks/network", "stacks/storage"))

    manifest = load_manifest(tmp_path)

    assert manifest.path == tmp_path / "gitops.yaml"
    assert manifest.stacks == (
        Stack(
            name="network",
            path="stacks/network",
            env={"AWS_REGION": "us-east-1"},
            backend_config={"bucket": "state"},
            policy=Policy(drift_interval=600, prune=True),
        ),
        Stack(
            name="storage",
            path="stacks/storage",
            engine="tofu",
            workspace="prod",
            binary="/opt/tofu/bin/tofu",
            variables={"name_prefix": "demo", "zones": ["a", "b"], "api_token": "literal-secret"},
            env={"AWS_REGION": "us-east-1", "TF_LOG": ""},
            depends_on=("network",),
            backend_config={"bucket": "state", "key": "custom/key.tfstate"},
            policy=Policy(drift_interval=5400, self_heal=True, auto_apply=True, prune=True),
            variables_from_env={"db_password": "DEMO_DB_PASSWORD", "region": "DEMO_REGION"},
            variables_from_stack={"vpc_id": ("network", "vpc_id")},
            sensitive_variables=frozenset({"db_password", "api_token"}),
        ),
    )


def test_from_stack_implies_depends_on_once_after_explicit_ones(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - {name: a, path: a}
          - {name: b, path: b}
          - name: c
            path: c
            depends_on: [b]
            variables:
              x: {from_stack: a, output: x}
              y: {from_stack: b, output: y}
              z: {from_stack: a, output: z, sensitive: true}
    """, ("a", "b", "c"))

    stack = load_manifest(tmp_path).stack("c")

    assert stack.depends_on == ("b", "a")
    assert stack.sensitive_variables == frozenset({"z"})
    assert stack.variables == {}


def test_stack_keys_override_defaults_and_maps_merge(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        defaults:
          engine: tofu
          workspace: shared
          env: {A: "1", B: "2"}
          variables: {region: eu-west-1, owner: ops, token: {from_env: TOKEN}}
          sensitive_variables: [owner, not_everywhere]
          policy: {drift_interval: 5m, self_heal: true}
        stacks:
          - name: one
            path: one
            engine: terraform
            env: {B: "3"}
            variables: {region: us-east-1, token: plain}
            policy: {auto_apply: true}
    """, ("one",))

    stack = load_manifest(tmp_path).stack("one")

    assert stack.engine == "terraform"
    assert stack.workspace == "shared"
    assert stack.env == {"A": "1", "B": "3"}
    assert stack.variables == {"region": "us-east-1", "owner": "ops", "token": "plain"}
    assert stack.variables_from_env == {}
    assert stack.sensitive_variables == frozenset({"owner"})
    assert stack.policy == Policy(drift_interval=300, self_heal=True, auto_apply=True)


def test_yaml_dates_stay_strings_and_anchors_work(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - name: a
            path: a
            variables: &common {since: 2024-01-01, retries: 3}
          - name: b
            path: b
            variables:
              <<: *common
              retries: 5
    """, ("a", "b"))

    manifest = load_manifest(tmp_path)

    assert manifest.stack("a").variables == {"since": "2024-01-01", "retries": 3}
    assert manifest.stack("b").variables == {"since": "2024-01-01", "retries": 5}


def test_stack_lookup_names_the_known_stacks(tmp_path: Path) -> None:
    make_repo(tmp_path, FULL, ("stacks/network", "stacks/storage"))
    manifest = load_manifest(tmp_path)

    with pytest.raises(ConfigError) as caught:
        manifest.stack("storag")

    assert str(caught.value) == (
        "unknown stack 'storag' (did you mean 'storage'?); known stacks: network, storage"
    )
    assert manifest.names == ("network", "storage")
    assert manifest.root == tmp_path


@pytest.mark.parametrize("example", sorted(MANIFESTS.glob("valid*")), ids=lambda p: p.name)
def test_every_valid_example_validates_against_the_schema_and_loads(example: Path) -> None:
    data = yaml.safe_load((example / "gitops.yaml").read_text())

    assert list(Draft202012Validator(load_schema()).iter_errors(data)) == []
    assert validate_manifest(example) == []
    assert isinstance(load_manifest(example), Manifest)


def test_valid_examples_exist() -> None:
    assert len(list(MANIFESTS.glob("valid*/gitops.yaml"))) >= 3


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = load_schema()

    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$defs"]["engine"]["examples"] == list(ENGINES)


def test_schema_closes_every_fixed_mapping() -> None:
    def closed(node: object, where: str) -> list[str]:
        found: list[str] = []
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False:
                found.append(where)
            for key, child in node.items():
                found += closed(child, f"{where}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                found += closed(child, f"{where}/{index}")
        return found

    assert closed(load_schema(), "#") == []


# --------------------------------------------------------------------------- file-level problems


def test_missing_manifest_names_the_expected_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_manifest(tmp_path)

    assert str(caught.value) == f"gitops.yaml: manifest not found: expected {tmp_path}/gitops.yaml"
    assert caught.value.problems == (
        Problem("gitops.yaml", None, "", f"manifest not found: expected {tmp_path}/gitops.yaml"),
    )


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_manifest(tmp_path: Path, text: str) -> None:
    (tmp_path / "gitops.yaml").write_text(text)

    assert problems(tmp_path) == [
        "gitops.yaml: the manifest is empty: expected a mapping with 'version: 1' and 'stacks'"
    ]


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - name: a
            path: [unclosed
    """)

    [problem] = validate_manifest(tmp_path)

    assert problem.line == 5
    assert problem.message.startswith("invalid YAML: ")


def test_duplicate_yaml_keys_are_errors_with_both_lines(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - name: a
            path: a
            policy:
              self_heal: true
              self_heal: false
    """, ("a",))

    assert problems(tmp_path) == [
        "gitops.yaml:7: stacks[0].policy.self_heal: duplicate key 'self_heal' (first at line 6)"
    ]


def test_duplicate_keys_do_not_hide_other_problems(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        version: 1
        stacks:
          - {name: a, path: a, engine: tofoo}
    """, ("a",))

    assert problems(tmp_path) == [
        "gitops.yaml:2: version: duplicate key 'version' (first at line 1)",
        "gitops.yaml:4: stacks[0].engine: unknown engine 'tofoo' (did you mean 'tofu'?)",
    ]


def test_keys_must_be_strings(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - name: a
            path: a
            variables:
              1: one
    """, ("a",))

    assert problems(tmp_path) == [
        "gitops.yaml:6: stacks[0].variables: key '1' is not a string: quote it"
    ]


def test_recursive_alias(tmp_path: Path) -> None:
    make_repo(tmp_path, "version: 1\nstacks: &x [*x]\n")

    assert problems(tmp_path) == [
        "gitops.yaml:2: stacks[0]: recursive YAML alias: a value cannot contain itself"
    ]


def test_more_than_one_yaml_document(tmp_path: Path) -> None:
    make_repo(tmp_path, "version: 1\nstacks: []\n---\nversion: 1\n")

    assert problems(tmp_path) == [
        "gitops.yaml:3: invalid YAML: expected a single document in the stream at line 1, "
        "but found another document"
    ]


def test_root_must_be_a_mapping(tmp_path: Path) -> None:
    make_repo(tmp_path, "- just\n- a list\n")

    assert problems(tmp_path) == [
        "gitops.yaml:1: expected a mapping with 'version: 1' and 'stacks', got a list"
    ]


# --------------------------------------------------------------------------- structure


def test_unknown_key_with_did_you_mean_at_its_line(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - name: a
            path: a
          - name: b
            path: b
            polcy: {self_heal: true}
    """, ("a", "b"))

    assert problems(tmp_path) == [
        "gitops.yaml:7: stacks[1].polcy: unknown key 'polcy' (did you mean 'policy'?)"
    ]


def test_unknown_key_without_close_match_lists_the_expected_keys(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - name: a
            path: a
            policy: {self_heal: true, frobnicate: 3}
    """, ("a",))

    assert problems(tmp_path) == [
        "gitops.yaml:5: stacks[0].policy.frobnicate: unknown key 'frobnicate' "
        "(expected one of: drift_interval, self_heal, auto_apply, prune)"
    ]


def test_unknown_top_level_key(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stack:
          - {name: a, path: a}
    """, ("a",))

    assert problems(tmp_path) == [
        "gitops.yaml:1: missing required key: 'stacks' or 'discover'",
        "gitops.yaml:2: stack: unknown key 'stack' (did you mean 'stacks'?)",
    ]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("version: 2", "gitops.yaml:1: version: expected 1 (the only manifest version this "
                       "infra-gitops reads), got 2"),
        ("version: '1'", "gitops.yaml:1: version: expected 1 (the only manifest version this "
                         "infra-gitops reads), got '1'"),
        ("", "gitops.yaml:1: missing required key 'version'"),
    ],
)
def test_version(tmp_path: Path, version: str, expected: str) -> None:
    make_repo(tmp_path, f"{version}\nstacks: []\n")

    assert problems(tmp_path) == [expected]


def test_missing_name_and_path(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - engine: terraform
    """)

    assert problems(tmp_path) == [
        "gitops.yaml:3: stacks[0]: missing required key 'name'",
        "gitops.yaml:3: stacks[0]: missing required key 'path'",
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("workspace: bad name", "stacks[0].workspace: expected a workspace name of letters, "
                                "digits, '_', '.', '/' and '-', got 'bad name'"),
        ("env: {PORT: 8080}", "stacks[0].env.PORT: expected a string (quote numbers and "
                              "booleans), got 8080"),
        ("env: {1BAD: x}", "stacks[0].env.1BAD: invalid name '1BAD': expected an environment "
                           "variable name of letters, digits and '_', not starting with a digit"),
        ("depends_on: b", "stacks[0].depends_on: expected a list of stack names, got 'b'"),
        ("variables: {v: {from_env: X, from_stack: b}}",
         "stacks[0].variables.v.from_stack: unknown key 'from_stack' "
         "(expected one of: from_env, sensitive)"),
        ("variables: {v: {from_stack: b}}",
         "stacks[0].variables.v: missing required key 'output'"),
        ("variables: {v: {from_env: X, sensitive: maybe}}",
         "stacks[0].variables.v.sensitive: expected true or false, got 'maybe'"),
        ("backend: {key: [a]}", "stacks[0].backend.key: expected a string, number or boolean, "
                                "got a list"),
        ("policy: {self_heal: 1}", "stacks[0].policy.self_heal: expected true or false, got 1"),
        ("binary: ''", "stacks[0].binary: expected the path or name of an executable, got ''"),
    ],
)
def test_bad_values_say_what_was_expected(tmp_path: Path, line: str, expected: str) -> None:
    make_repo(tmp_path, f"""
        version: 1
        stacks:
          - name: a
            path: a
            {line}
          - name: b
            path: b
    """, ("a", "b"))

    assert problems(tmp_path) == [f"gitops.yaml:5: {expected}"]


def test_bad_stack_name(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - name: Bad_Name
            path: a
    """, ("a",))

    assert problems(tmp_path) == [
        "gitops.yaml:3: stacks[0].name: expected a stack name of lowercase letters, digits, "
        "'-' and '_', starting with a letter or digit, got 'Bad_Name'"
    ]


def test_errors_in_merged_anchors_point_at_the_anchor(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - &base
            name: a
            path: a
            engine: terrafom
          - <<: *base
            name: b
    """, ("a",))

    assert problems(tmp_path) == [
        "gitops.yaml:6: stacks[0].engine: unknown engine 'terrafom' (did you mean 'terraform'?)",
        "gitops.yaml:6: stacks[1].engine: unknown engine 'terrafom' (did you mean 'terraform'?)",
    ]


def test_discover_rules_take_stack_settings_but_no_name(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        discover:
          - glob: "stacks/*"
            name: all
    """)

    assert problems(tmp_path) == [
        "gitops.yaml:4: discover[0].name: unknown key 'name' (expected one of: glob, engine, "
        "workspace, binary, variables, sensitive_variables, env, depends_on, backend, policy)"
    ]


def test_path_with_a_nul_byte(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - {name: a, path: "a\\0"}
    """)

    assert problems(tmp_path) == [
        "gitops.yaml:3: stacks[0].path: path 'a\\x00' contains a NUL character"
    ]


@pytest.mark.parametrize("value", ["10 minutes", "0", "0s", "1m1h", "h", "-5", "1.5", "true"])
def test_bad_durations(tmp_path: Path, value: str) -> None:
    make_repo(tmp_path, f"""
        version: 1
        stacks:
          - name: a
            path: a
            policy:
              drift_interval: {value}
    """, ("a",))

    [problem] = validate_manifest(tmp_path)

    assert (problem.line, problem.key_path) == (6, "stacks[0].policy.drift_interval")
    assert problem.message.startswith(
        "expected a duration: whole seconds (600) or a string like 30s, 10m, 1h30m, got "
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(1, 1), (600, 600), ("30s", 30), ("10m", 600), ("1h", 3600), ("1h30m", 5400),
     ("2h0m5s", 7205), ("90m", 5400)],
)
def test_durations(tmp_path: Path, value: int | str, seconds: int) -> None:
    make_repo(tmp_path, f"""
        version: 1
        stacks:
          - name: a
            path: a
            policy: {{drift_interval: {value!r}}}
    """.replace("'", "" if isinstance(value, int) else "'"), ("a",))

    assert load_manifest(tmp_path).stack("a").policy.drift_interval == seconds
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "0s", "5 m", "1d", True, 0, -1])
def test_parse_duration_rejects(value: int | str) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (45, 600, 5400, 3605)] == ["45s", "10m", "1h30m", "1h5s"]


# --------------------------------------------------------------------------- semantics


def test_duplicate_stack_names(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - name: app
            path: a
          - name: app
            path: b
    """, ("a", "b"))

    assert problems(tmp_path) == [
        "gitops.yaml:5: stacks[1].name: duplicate stack name 'app' (also stacks[0] at line 3)"
    ]


def test_stack_paths_must_be_directories_inside_the_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, """
        version: 1
        stacks:
          - {name: missing, path: stacks/nope}
          - {name: file, path: README.md}
          - {name: up, path: ../elsewhere}
          - {name: sneaky, path: stacks/link}
          - {name: absolute, path: /etc}
          - {name: fine, path: stacks/../stacks/ok}
    """, ("stacks/ok",))
    (repo / "README.md").write_text("hi\n")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", repo / "stacks" / "link")

    assert problems(repo) == [
        f"gitops.yaml:3: stacks[0].path: path 'stacks/nope' does not exist: expected a "
        f"directory relative to the repository root {repo}",
        "gitops.yaml:4: stacks[1].path: path 'README.md' is not a directory",
        f"gitops.yaml:5: stacks[2].path: path '../elsewhere' is outside the repository "
        f"(paths are relative to {repo})",
        f"gitops.yaml:6: stacks[3].path: path 'stacks/link' is outside the repository "
        f"(paths are relative to {repo})",
        "gitops.yaml:7: stacks[4].path: expected a path relative to the repository root, "
        "not an absolute path, got '/etc'",
    ]


def test_paths_are_normalized(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - {name: a, path: ./stacks//a/}
          - {name: b, path: stacks/x/../b}
          - {name: root, path: .}
    """, ("stacks/a", "stacks/b"))

    assert [s.path for s in load_manifest(tmp_path).stacks] == ["stacks/a", "stacks/b", "."]


def test_dependency_cycle_is_named(tmp_path: Path) -> None:
    make_repo(tmp_path, """
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
    """, ("a", "b", "c"))

    assert problems(tmp_path) == [
        "gitops.yaml:5: stacks[0].depends_on[0]: dependency cycle: a -> b -> c -> a"
    ]


def test_self_dependency_is_a_cycle(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - name: a
            path: a
            depends_on:
              - a
    """, ("a",))

    assert problems(tmp_path) == [
        "gitops.yaml:6: stacks[0].depends_on[0]: dependency cycle: a -> a"
    ]


def test_unknown_stack_references(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - name: network
            path: a
          - name: app
            path: b
            depends_on: [netwrk]
            variables:
              vpc: {from_stack: zzz, output: id}
    """, ("a", "b"))

    assert problems(tmp_path) == [
        "gitops.yaml:7: stacks[1].depends_on[0]: unknown stack 'netwrk' "
        "(did you mean 'network'?); known stacks: network, app",
        "gitops.yaml:9: stacks[1].variables.vpc.from_stack: unknown stack 'zzz'; "
        "known stacks: network, app",
    ]


def test_unknown_engine_with_did_you_mean(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        defaults:
          engine: docker
        stacks:
          - name: a
            path: a
            engine: terrafrom
    """, ("a",))

    assert problems(tmp_path) == [
        "gitops.yaml:3: defaults.engine: unknown engine 'docker' "
        "(expected one of: terraform, tofu, pulumi)",
        "gitops.yaml:7: stacks[0].engine: unknown engine 'terrafrom' (did you mean 'terraform'?)",
    ]


def test_sensitive_variables_must_name_variables(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - name: a
            path: a
            variables: {api_token: s3cr3t}
            sensitive_variables: [api_tokn]
    """, ("a",))

    assert problems(tmp_path) == [
        "gitops.yaml:6: stacks[0].sensitive_variables[0]: 'api_tokn' is not a variable of "
        "stack 'a' (did you mean 'api_token'?)"
    ]


def test_all_problems_are_reported_at_once_in_file_order(tmp_path: Path) -> None:
    example = MANIFESTS / "invalid-many"

    with pytest.raises(ConfigError) as caught:
        load_manifest(example)

    expected = (example / "expected.txt").read_text().format(root=example.absolute())
    assert str(caught.value) == expected.rstrip("\n")
    assert [p.line for p in caught.value.problems] == [3, 7, 10, 12, 13, 14]


# --------------------------------------------------------------------------- discovery


def test_discovery_by_glob(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        defaults:
          policy: {drift_interval: 1m}
        stacks:
          - name: declared
            path: stacks/one
            engine: tofu
        discover:
          - glob: "stacks/*"
            policy: {auto_apply: true}
          - glob: "programs/*"
            engine: pulumi
            env: {PULUMI_CONFIG_PASSPHRASE: ""}
    """, ("stacks/one", "stacks/Web.App", "stacks/.hidden"))
    (tmp_path / "stacks" / "no-tf-files").mkdir()
    (tmp_path / "stacks" / "a-file.tf").write_text("")
    (tmp_path / "programs" / "dns").mkdir(parents=True)
    (tmp_path / "programs" / "dns" / "Pulumi.yaml").write_text("name: dns\n")
    (tmp_path / "programs" / "tf-only").mkdir()
    (tmp_path / "programs" / "tf-only" / "main.tf").write_text("")

    stacks = load_manifest(tmp_path).stacks

    assert stacks == (
        Stack(name="declared", path="stacks/one", engine="tofu", policy=Policy(60)),
        Stack(name="web-app", path="stacks/Web.App", policy=Policy(60, auto_apply=True)),
        Stack(name="dns", path="programs/dns", engine="pulumi", policy=Policy(60),
              env={"PULUMI_CONFIG_PASSPHRASE": ""}),
    )


def test_discovered_name_clashing_with_a_declared_one(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - name: app
            path: legacy/app
        discover:
          - glob: "stacks/*"
    """, ("legacy/app", "stacks/app"))

    assert problems(tmp_path) == [
        "gitops.yaml:6: discover[0].glob: discovered stack 'app' at stacks/app clashes with "
        "stack 'app' declared at stacks[0] (line 3) for legacy/app; declare one of them "
        "under 'stacks' with another name"
    ]


def test_discovered_names_clashing_with_each_other(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        discover:
          - glob: "*/app"
    """, ("one/app", "two/app"))

    assert problems(tmp_path) == [
        "gitops.yaml:3: discover[0].glob: discovered stack 'app' at two/app clashes with "
        "stack 'app' discovered at discover[0] (line 3) for one/app; declare one of them "
        "under 'stacks' with another name"
    ]


def test_discovered_stacks_can_be_referenced(tmp_path: Path) -> None:
    make_repo(tmp_path, """
        version: 1
        stacks:
          - name: app
            path: app
            depends_on: [network]
        discover:
          - glob: "infra/*"
    """, ("app", "infra/network"))

    manifest = load_manifest(tmp_path)

    assert manifest.names == ("app", "network")
    assert manifest.stack("app").depends_on == ("network",)


def test_discover_glob_outside_the_repo(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", """
        version: 1
        discover:
          - glob: "../*"
    """)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "main.tf").write_text("")

    assert problems(repo) == [
        "gitops.yaml:3: discover[0].glob: glob matches directories outside the repository: "
        "../other"
    ]


# --------------------------------------------------------------------------- helpers


def test_problem_rendering() -> None:
    assert str(Problem("gitops.yaml", 12, "stacks[1].polcy", "unknown key 'polcy'")) == (
        "gitops.yaml:12: stacks[1].polcy: unknown key 'polcy'"
    )
    assert str(Problem("gitops.yaml", None, "", "manifest not found")) == (
        "gitops.yaml: manifest not found"
    )


def test_render_key_path() -> None:
    assert render_key_path(("stacks", 1, "policy", "drift_interval")) == (
        "stacks[1].policy.drift_interval"
    )
    assert render_key_path(("stacks", 0, "backend", "a.b c")) == 'stacks[0].backend["a.b c"]'
    assert render_key_path(()) == ""
