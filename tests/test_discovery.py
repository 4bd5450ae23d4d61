from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from infra_gitops.config import Manifest, load_manifest
from infra_gitops.discovery import (
    affected_stacks,
    dependency_cycle,
    dependency_order,
    local_module_dirs,
    with_dependencies,
    with_dependents,
)
from infra_gitops.engines import tfconfig
from infra_gitops.errors import ConfigError
from infra_gitops.models import Stack


def stack(name: str, *depends_on: str) -> Stack:
    return Stack(name=name, path=f"stacks/{name}", depends_on=depends_on)


def names(waves: list[list[Stack]]) -> list[list[str]]:
    return [[s.name for s in wave] for wave in waves]


# network <- storage <- app, network <- dns <- app, monitoring alone
DIAMOND = [
    stack("app", "storage", "dns"),
    stack("storage", "network"),
    stack("monitoring"),
    stack("dns", "network"),
    stack("network"),
]


# --------------------------------------------------------------------------- order


def test_dependency_waves_keep_the_given_order_within_a_wave() -> None:
    assert names(dependency_order(DIAMOND)) == [
        ["monitoring", "network"],
        ["storage", "dns"],
        ["app"],
    ]


def test_dependencies_outside_the_subset_are_ignored() -> None:
    subset = [s for s in DIAMOND if s.name in {"app", "dns"}]

    assert names(dependency_order(subset)) == [["dns"], ["app"]]


def test_dependency_order_of_nothing() -> None:
    assert dependency_order([]) == []


def test_dependency_order_names_a_cycle() -> None:
    with pytest.raises(ConfigError, match=r"^dependency cycle: a -> b -> c -> a$"):
        dependency_order([stack("x"), stack("a", "b"), stack("b", "c"), stack("c", "a")])


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
        ({"z": [], "b": ["c"], "c": ["d"], "d": ["b"]}, ["b", "c", "d", "b"]),
        ({"a": ["a"]}, ["a", "a"]),
        ({"a": ["b"], "b": []}, None),
    ],
)
def test_dependency_cycle(graph: dict[str, list[str]], cycle: list[str] | None) -> None:
    assert dependency_cycle(graph) == cycle


# --------------------------------------------------------------------------- closures


def test_with_dependents_is_transitive() -> None:
    assert with_dependents(DIAMOND, ["network"]) == {"network", "storage", "dns", "app"}
    assert with_dependents(DIAMOND, ["storage"]) == {"storage", "app"}
    assert with_dependents(DIAMOND, []) == set()


def test_with_dependencies_is_transitive() -> None:
    assert with_dependencies(DIAMOND, ["app"]) == {"app", "storage", "dns", "network"}
    assert with_dependencies(DIAMOND, ["monitoring", "dns"]) == {"monitoring", "dns", "network"}


def test_unknown_names_are_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        with_dependents(DIAMOND, ["netwrk"])

    assert str(caught.value) == (
        "unknown stack(s): netwrk (did you mean 'network'?); "
        "known stacks: app, storage, monitoring, dns, network"
    )


# --------------------------------------------------------------------------- affected stacks


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip("\n"))


MANIFEST = """
    version: 1
    stacks:
      - name: network
        path: stacks/network
      - name: storage
        path: stacks/storage
        depends_on: [network]
      - name: app
        path: stacks/app
        variables:
          bucket: {from_stack: storage, output: bucket}
      - name: app2
        path: stacks/app2
      - name: programs
        path: programs/web
        engine: pulumi
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write(
        tmp_path,
        {
            "gitops.yaml": MANIFEST,
            "stacks/network/main.tf": """
            module "vpc" {
              source = "../../modules/vpc"
              cidr   = "10.0.0.0/16"
            }
        """,
            "stacks/storage/main.tf": """
            resource "aws_s3_object" "seed" {
              source = "../../files/seed.txt"
            }
            # module "old" { source = "../../modules/old" } is a comment
        """,
            "stacks/storage/buckets.tf": """
            module "buckets" {
              count  = 1
              tags   = { team = "x" }
              source = "./buckets"
            }
        """,
            "stacks/storage/buckets/main.tf": """
            module "naming" {
              source = "../../../modules/naming"
            }
        """,
            "stacks/app/main.tf": (
                'module "remote" {\n  source = "terraform-aws-modules/vpc/aws"\n}\n'
            ),
            "stacks/app2/main.tf": "",
            "programs/web/Pulumi.yaml": "name: web\n",
            "programs/web/__main__.py": "",
            "modules/vpc/main.tf": 'module "subnets" {\n  source = "../subnets/"\n}\n',
            "modules/subnets/main.tf": "",
            "modules/naming/main.tf": "",
            "modules/old/main.tf": "",
            "modules/outside/main.tf": 'module "x" {\n  source = "../../../../elsewhere"\n}\n',
            "files/seed.txt": "",
        },
    )
    return tmp_path


def test_local_module_dirs_are_found_transitively(repo: Path) -> None:
    assert local_module_dirs(repo, "stacks/network") == {"modules/vpc", "modules/subnets"}
    assert local_module_dirs(repo, "stacks/storage") == {"stacks/storage/buckets", "modules/naming"}
    assert local_module_dirs(repo, "stacks/app") == set()
    assert local_module_dirs(repo, "modules/outside") == set()


@pytest.mark.parametrize(
    ("changed", "affected"),
    [
        (["stacks/app/main.tf"], {"app"}),
        (["stacks/app2/variables.tf"], {"app2"}),
        (["stacks/storage/main.tf"], {"storage", "app"}),
        (["modules/subnets/main.tf"], {"network", "storage", "app"}),
        (["modules/naming/outputs.tf"], {"storage", "app"}),
        (["./stacks/storage/buckets/main.tf"], {"storage", "app"}),
        (["modules/old/main.tf"], set()),
        (["files/seed.txt"], set()),
        (["programs/web/__main__.py"], {"programs"}),
        (["README.md", "docs/x.md"], set()),
        ([], set()),
    ],
)
def test_affected_stacks_by_changed_files(
    repo: Path, changed: list[str], affected: set[str]
) -> None:
    assert affected_stacks(load_manifest(repo), changed) == affected


def old_manifest_of(tmp_path: Path, manifest: str) -> Manifest:
    """The manifest as it was at an earlier commit, checked out elsewhere."""
    old = tmp_path / "old"
    for directory in (
        "stacks/network",
        "stacks/storage",
        "stacks/app",
        "stacks/app2",
        "programs/web",
    ):
        (old / directory).mkdir(parents=True)
    write(old, {"gitops.yaml": manifest})
    return load_manifest(old)


def test_affected_stacks_by_manifest_entry(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    changed = MANIFEST.replace("path: stacks/app2", "path: stacks/app2\n        workspace: prod")
    old = old_manifest_of(tmp_path_factory.mktemp("x"), changed)

    assert affected_stacks(load_manifest(repo), ["gitops.yaml"], old) == {"app2"}


def test_a_changed_dependency_drags_its_dependents(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    changed = MANIFEST.replace("depends_on: [network]", "depends_on: []")
    old = old_manifest_of(tmp_path_factory.mktemp("x"), changed)

    assert affected_stacks(load_manifest(repo), ["gitops.yaml"], old) == {"storage", "app"}


def test_new_stacks_are_affected(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    without_app2 = MANIFEST.replace("      - name: app2\n        path: stacks/app2\n", "")
    old = old_manifest_of(tmp_path_factory.mktemp("x"), without_app2)

    assert "app2" not in old.names
    assert affected_stacks(load_manifest(repo), ["gitops.yaml"], old) == {"app2"}


def test_same_manifest_affects_nothing(repo: Path) -> None:
    manifest = load_manifest(repo)

    assert affected_stacks(manifest, ["gitops.yaml"], manifest) == set()


def test_changed_manifest_without_old_one_affects_everything(repo: Path) -> None:
    assert affected_stacks(load_manifest(repo), ["gitops.yaml"]) == {
        "network",
        "storage",
        "app",
        "app2",
        "programs",
    }


def test_stack_at_the_repo_root_sees_every_change(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "gitops.yaml": "version: 1\nstacks:\n  - {name: root, path: .}\n",
            "main.tf": "",
        },
    )

    assert affected_stacks(load_manifest(tmp_path), ["anything/at/all.txt"]) == {"root"}


def test_affected_stacks_scale_with_stacks_and_changed_paths(tmp_path: Path) -> None:
    # 10,000 stacks and a commit changing every one of them (a mass rename, a formatter
    # run): each changed path is looked up, never compared with every stack's directory.
    count = 10_000
    stacks = []
    for i in range(count):
        (tmp_path / "stacks" / f"s{i}").mkdir(parents=True)
        stacks.append(Stack(name=f"s{i}", path=f"stacks/s{i}"))
    manifest = Manifest(path=tmp_path / "gitops.yaml", stacks=tuple(stacks))
    changed = [f"stacks/s{i}/main.tf" for i in range(count)] + ["README.md"]

    started = time.perf_counter()
    affected = affected_stacks(manifest, changed)
    elapsed = time.perf_counter() - started

    assert affected == set(manifest.names)
    # A guard against a return of the quadratic scan (28.6 s here), not a timing target:
    # the figure belongs to bench/.
    assert elapsed < 10, f"{elapsed:.1f} s"


@pytest.mark.parametrize(
    "changed",
    [
        ["stacks/app/main.tf", "modules/subnets/x.tf", "README.md"],
        ["stacks/storage/buckets/deeper/file.tf", "programs/web/sub/a.py"],
        ["stacks/app2", "stacks/app22/main.tf", "stacks/ap/main.tf", "modules/vp/x"],
        ["modules", "stacks", "files/seed.txt"],
    ],
)
def test_affected_stacks_match_a_scan_of_every_directory(repo: Path, changed: list[str]) -> None:
    # The plain definition: a stack is touched when a changed path is in one of its
    # directories (its own and its local modules').
    manifest = load_manifest(repo)
    scanned = {
        stack.name
        for stack in manifest.stacks
        for directory in {stack.path} | local_module_dirs(repo, stack.path)
        for path in changed
        if path == directory or path.startswith(directory + "/")
    }

    assert affected_stacks(manifest, changed) == with_dependents(manifest.stacks, scanned)


# --------------------------------------------------------------------------- parsed, not matched

PARSED_MANIFEST = """
    version: 1
    stacks:
      - {name: oneline, path: stacks/oneline}
      - {name: spaced, path: stacks/spaced}
      - {name: heredoc, path: stacks/heredoc}
      - {name: jsonsyntax, path: stacks/jsonsyntax}
      - {name: nested, path: live/prod/nested}
      - {name: remote, path: stacks/remote}
"""


@pytest.fixture
def parsed_repo(tmp_path: Path) -> Path:
    write(
        tmp_path,
        {
            "gitops.yaml": PARSED_MANIFEST,
            # The old regexes needed `source` on its own line, first in the block.
            "stacks/oneline/main.tf": 'module "x" { source = "../../modules/one" }\n',
            "stacks/spaced/main.tf": """
            module  "x"  {
              for_each = toset(["a"]) # comment
              name     = each.key
              /* c */ source   =   "../../modules/two" // c
            }
        """,
            # Text that looks like a module call inside a heredoc is not one.
            "stacks/heredoc/main.tf": """
            resource "local_file" "doc" {
              content = <<-EOT
                module "y" {
                  source = "../../modules/three"
                }
              EOT
            }
        """,
            "stacks/jsonsyntax/main.tf.json": json.dumps(
                {"module": {"x": {"source": "../../modules/four"}}}
            ),
            # ../.. from a deeper stack, then a module calling a module through ./
            "live/prod/nested/main.tf": 'module "a" {\n  source = "../../../modules/outer"\n}\n',
            "modules/outer/main.tf": 'module "b" {\n  source = "./inner"\n}\n',
            "modules/outer/inner/main.tf": 'module "c" {\n  source = "../../deepest"\n}\n',
            "stacks/remote/main.tf": (
                'module "vpc" {\n  source = "terraform-aws-modules/vpc/aws"\n}\n'
                'module "git" {\n  source = "git::https://example.com/m.git//one"\n}\n'
            ),
            **{
                f"modules/{name}/main.tf": "" for name in ("one", "two", "three", "four", "deepest")
            },
        },
    )
    return tmp_path


@pytest.mark.parametrize(
    ("changed", "affected"),
    [
        (["modules/one/main.tf"], {"oneline"}),
        (["modules/two/variables.tf"], {"spaced"}),
        (["modules/three/main.tf"], set()),
        (["modules/four/main.tf"], {"jsonsyntax"}),
        (["modules/outer/inner/x.tf"], {"nested"}),
        (["modules/deepest/main.tf"], {"nested"}),
        (["modules/vpc/main.tf", "one/main.tf"], set()),
    ],
    ids=["one-line", "odd-spacing", "heredoc", "json", "nested", "nested-up-two", "remote"],
)
def test_affected_stacks_come_from_parsed_module_calls(
    parsed_repo: Path, changed: list[str], affected: set[str]
) -> None:
    assert affected_stacks(load_manifest(parsed_repo), changed) == affected


def test_local_module_dirs_of_a_nested_stack(parsed_repo: Path) -> None:
    assert local_module_dirs(parsed_repo, "live/prod/nested") == {
        "modules/outer",
        "modules/outer/inner",
        "modules/deepest",
    }


def test_an_unparseable_file_makes_its_stack_affected_and_says_which(
    parsed_repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A syntax error in a module the stack calls: what else it calls is unknown.
    (parsed_repo / "modules" / "outer" / "broken.tf").write_text(
        'module "d" {\n  source = "../elsewhere"\n'
    )
    manifest = load_manifest(parsed_repo)

    with caplog.at_level("WARNING", logger="infra_gitops.discovery"):
        affected = affected_stacks(manifest, ["modules/elsewhere/main.tf"])

    assert affected == {"nested"}
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith("modules/outer/broken.tf: cannot be parsed (line ")
    assert warning.endswith("): stack nested counts as affected")
    # No change at all affects nothing, broken file or not.
    assert affected_stacks(manifest, []) == set()


def test_a_hostile_file_makes_its_stack_affected_quickly(parsed_repo: Path) -> None:
    call = 'module "m" {\n  source = "../../modules/one"\n}\n'
    deep = call + "locals {\n  a = " + "[" * 20_000 + "]" * 20_000 + "\n}\n"
    (parsed_repo / "stacks" / "remote" / "deep.tf").write_text(deep)
    huge = call + 'resource "terraform_data" "r" {\n  input = "x"\n}\n' * 20_000
    (parsed_repo / "stacks" / "oneline" / "huge.tf").write_text(huge)
    # Huge, but without the word `module`: it cannot call one, and is not parsed.
    (parsed_repo / "stacks" / "spaced" / "huge.tf").write_text(huge.replace(call, ""))
    manifest = load_manifest(parsed_repo)

    started = time.monotonic()
    affected = affected_stacks(manifest, ["README.md"])
    elapsed = time.monotonic() - started

    assert affected == {"remote", "oneline"}
    assert elapsed < 10, f"{elapsed:.1f} s"  # ~1 s measured on 2 busy cores


def test_a_second_pass_reads_no_file_twice_through_the_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = 300
    stacks = []
    for i in range(count):
        write(
            tmp_path,
            {
                f"stacks/s{i}/main.tf": f'module "m" {{\n  source = "../../modules/m{i % 7}"\n}}\n'
                f'resource "terraform_data" "r{i}" {{\n  input = "{i}"\n}}\n',
                f"stacks/s{i}/variables.tf": f'variable "v{i}" {{\n  type = string\n}}\n',
            },
        )
        stacks.append(Stack(name=f"s{i}", path=f"stacks/s{i}"))
    manifest = Manifest(path=tmp_path / "gitops.yaml", stacks=tuple(stacks))
    first = affected_stacks(manifest, ["modules/m3/main.tf"])

    def no_parse(*args: object) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(tfconfig, "_declarations", no_parse)
    assert affected_stacks(manifest, ["modules/m3/main.tf"]) == first
    assert first == {f"s{i}" for i in range(count) if i % 7 == 3}
