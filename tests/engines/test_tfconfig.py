"""What a configuration file declares, read by the real parsers (python-hcl2, json):
the cases a regular expression got or could get wrong, unreadable and hostile files,
and what init depends on."""

from __future__ import annotations

import json
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from infra_gitops.engines import tfconfig
from infra_gitops.engines.tfconfig import ModuleCall, read_file, read_module_tree


def config(tmp_path: Path, text: str, name: str = "main.tf") -> tfconfig.FileConfig:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return read_file(path)


def local_sources(found: tfconfig.FileConfig) -> list[str]:
    assert found.problem is None, found.problem
    return [call.local_source for call in found.modules if call.local_source]


@pytest.mark.parametrize(
    ("text", "sources"),
    [
        ('module "x" { source = "../m" }\n', ["../m"]),
        (
            """
            module   "x"   {
              count = 1 # a comment
              tags  = { team = "a", source = "./not-this" }
              /* before */ source    =     "./after-others" // after
            }
            """,
            ["./after-others"],
        ),
        ('module "x" {\n  source = "../../modules/up-two"\n}\n', ["../../modules/up-two"]),
        (
            """
            resource "aws_iam_policy" "p" {
              policy = <<-EOT
                module "y" {
                  source = "../not-a-module"
                }
              EOT
            }
            """,
            [],
        ),
        (
            """
            # module "old" { source = "../commented-out" }
            locals {
              text = "module \\"z\\" { source = \\"../in-a-string\\" }"
            }
            """,
            [],
        ),
        (
            """
            module "registry" {
              source  = "terraform-aws-modules/vpc/aws"
              version = "5.0.0"
            }
            module "git" {
              source = "git::https://example.com/modules.git//vpc?ref=v1"
            }
            module "parent_dir_lookalike" {
              source = "..weird"
            }
            """,
            [],
        ),
    ],
    ids=[
        "one-line",
        "source-after-other-attributes-odd-spacing-comments",
        "up-two-levels",
        "heredoc-text-is-not-a-module",
        "comment-and-string-are-not-modules",
        "registry-and-git-are-not-local",
    ],
)
def test_local_module_sources_of_native_syntax(
    tmp_path: Path, text: str, sources: list[str]
) -> None:
    assert local_sources(config(tmp_path, text)) == sources


def test_non_local_calls_are_still_calls(tmp_path: Path) -> None:
    found = config(tmp_path, 'module "vpc" {\n  source = "terraform-aws-modules/vpc/aws"\n}\n')
    assert found.modules == (ModuleCall("vpc", "terraform-aws-modules/vpc/aws"),)


@pytest.mark.parametrize(
    "document",
    [
        {"module": {"net": {"source": "../modules/net"}}},
        {"module": [{"net": {"source": "../modules/net"}}]},
        {"module": {"net": [{"source": "../modules/net", "//": "a comment"}]}},
    ],
    ids=["object", "list-of-objects", "list-of-bodies"],
)
def test_local_module_sources_of_json_syntax(tmp_path: Path, document: dict) -> None:
    found = config(tmp_path, json.dumps(document), name="main.tf.json")
    assert local_sources(found) == ["../modules/net"]


@pytest.mark.parametrize(
    ("name", "text", "backend", "cloud"),
    [
        ("main.tf", 'terraform {\n  backend "s3" {\n    bucket = "x"\n  }\n}\n', "s3", False),
        ("main.tf", 'terraform {\n  cloud {\n    organization = "o"\n  }\n}\n', None, True),
        ("main.tf", '# terraform { backend "gcs" {} }\nlocals {}\n', None, False),
        ("main.tf.json", '{"terraform": {"backend": {"gcs": {"bucket": "b"}}}}', "gcs", False),
        ("main.tofu", 'terraform {\n  backend "local" {}\n}\n', "local", False),
    ],
)
def test_backend_type_and_cloud(
    tmp_path: Path, name: str, text: str, backend: str | None, cloud: bool
) -> None:
    found = config(tmp_path, text, name=name)
    assert (found.problem, found.backend, found.cloud) == (None, backend, cloud)


BASE = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.0" }
  }
}
module "m" {
  source = "./m"
  name   = "a"
}
resource "aws_s3_bucket" "b" {
  bucket = "one"
}
"""


@pytest.mark.parametrize(
    ("edit", "reinit"),
    [
        (lambda t: t.replace('bucket = "one"', 'bucket = "two"'), False),
        (lambda t: t.replace('name   = "a"', 'name   = "b"'), False),
        (lambda t: "# a comment\n" + t.replace("  bucket", "      bucket"), False),
        (lambda t: t.replace(">= 5.0", ">= 5.1"), True),
        (lambda t: t.replace('source = "./m"', 'source = "./n"'), True),
        (lambda t: t + 'resource "random_id" "r" {\n  byte_length = 2\n}\n', True),
        (lambda t: t + 'data "aws_region" "here" {\n  provider = aws.west\n}\n', False),
        (lambda t: t + 'resource "aws_s3_bucket" "c" {\n  provider = other.x\n}\n', True),
        (lambda t: t + 'check "c" {\n  data "http" "h" {\n    url = "x"\n  }\n}\n', True),
        (lambda t: t + 'provider "google" {}\n', True),
    ],
    ids=[
        "resource-argument",
        "module-input",
        "comments-and-spacing",
        "provider-version",
        "module-source",
        "new-provider-by-resource-type",
        "known-provider-by-alias",
        "new-provider-by-argument",
        "new-provider-in-a-check-block",
        "provider-block",
    ],
)
def test_init_digest_changes_only_with_what_init_depends_on(
    tmp_path: Path, edit, reinit: bool
) -> None:
    before = config(tmp_path, BASE)
    after = config(tmp_path, edit(BASE))
    assert before.problem is None and after.problem is None, after.problem
    assert (before.init_digest != after.init_digest) is reinit


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("main.tf", 'resource "x" "y" {\n  input =\n}\n', "line 2"),
        ("main.tf", 'module "x" {\n  source = "../m"\n', "line"),
        ("main.tf.json", '{"module": ', "Expecting value"),
        ("main.tf.json", '["not", "an", "object"]', "not an object"),
        ("main.tf", b'locals {\n  a = "\xff"\n}\n', "utf-8"),
    ],
    ids=["syntax-error", "unclosed-block", "bad-json", "json-not-an-object", "not-utf8"],
)
def test_unreadable_files_say_why_and_nothing_else(
    tmp_path: Path, name: str, text: str | bytes, problem: str
) -> None:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    found = read_file(path)
    assert found.problem is not None and problem in found.problem
    assert found.modules == () and found.backend is None
    assert found.init_digest  # the whole content counts for init


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 10_000 + "]" * 10_000 + "\n",
        "a = " + "{b = " * 10_000 + "1" + "}" * 10_000 + "\n",
        "b {\n" * 10_000 + "}\n" * 10_000,
        "a = " + "(" * 10_000 + "1" + ")" * 10_000 + "\n",
    ],
    ids=["lists", "objects", "blocks", "parentheses"],
)
def test_a_deeply_nested_file_is_unreadable_quickly_and_never_crashes(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "deep.tf"
    path.write_text(text)
    started = time.monotonic()
    found = read_file(path)
    elapsed = time.monotonic() - started
    assert found.problem is not None
    assert elapsed < 10, f"{elapsed:.1f} s"  # 0.3-0.6 s measured on 2 busy cores


def test_deep_json_is_unreadable_too(tmp_path: Path) -> None:
    path = tmp_path / "deep.tf.json"
    path.write_text('{"locals": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    assert "nested too deeply" in (read_file(path).problem or "")


def test_a_file_past_the_size_limit_is_not_parsed(tmp_path: Path) -> None:
    path = tmp_path / "huge.tf"
    block = 'resource "terraform_data" "r" {\n  input = "x"\n}\n'
    path.write_text(block * (tfconfig.MAX_NATIVE_BYTES // len(block) + 1))
    started = time.monotonic()
    found = read_file(path)
    assert time.monotonic() - started < 1
    assert found.problem == "larger than 256 KiB: not parsed"


def test_the_same_content_is_parsed_once(tmp_path: Path) -> None:
    text = 'module "a" {\n  source = "./cached-once"\n}\n'
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "main.tf").write_text(text)
    (tmp_path / "two" / "other.tf").write_text(text)
    first = read_file(tmp_path / "one" / "main.tf")
    # Another path (another commit's exported tree), same content: the same result.
    assert read_file(tmp_path / "two" / "other.tf") is first
    (tmp_path / "two" / "other.tf").write_text(text.replace("cached-once", "changed"))
    assert local_sources(read_file(tmp_path / "two" / "other.tf")) == ["./changed"]


def test_module_tree_follows_local_calls_transitively_once(tmp_path: Path) -> None:
    files = {
        "stacks/app/main.tf": 'module "a" {\n  source = "../../modules/a"\n}\n',
        "stacks/app/more.tf.json": json.dumps({"module": {"b": {"source": "./b"}}}),
        "stacks/app/b/main.tf": 'module "back" {\n  source = "../"\n}\n',
        "modules/a/main.tf": 'module "c" {\n  source = "../c"\n}\nmodule "gone" {\n'
        '  source = "../gone"\n}\nmodule "out" {\n  source = "../../../outside"\n}\n',
        "modules/c/main.tf": 'module "a_again" {\n  source = "../a"\n}\n',
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    tree = read_module_tree(tmp_path, "stacks/app", within_base=True)
    assert [m.path for m in tree] == [
        "stacks/app",
        "modules/a",
        "stacks/app/b",
        "modules/c",
        "modules/gone",
    ]
    assert tree[-1].files is None  # called but missing
    unbounded = read_module_tree(tmp_path / "stacks" / "app", within_base=False)
    assert "../../../outside" in [m.path for m in unbounded]


def test_for_module_calls_only_a_file_without_the_word_module_is_not_parsed(
    tmp_path: Path,
) -> None:
    # HCL spells a block type only literally: no `module`, no module block, whatever
    # else the file holds (even a syntax error, which Terraform reports at plan).
    path = tmp_path / "main.tf"
    path.write_text('resource "x" "y" {\n  input =\n}\n')
    assert read_file(path, calls_only=True) == tfconfig.FileConfig()
    assert read_file(path).problem is not None
    path.write_text('module "x" {\n  source =\n}\n')
    assert read_file(path, calls_only=True).problem is not None
    # JSON can spell a key with escapes: always parsed.
    path = tmp_path / "main.tf.json"
    path.write_text('{"\\u006dodule": {"x": {"source": "./escaped"}}}')
    assert local_sources(read_file(path, calls_only=True)) == ["./escaped"]


def test_a_syntax_error_says_where_but_never_quotes_the_file(tmp_path: Path) -> None:
    found = config(tmp_path, 'resource "x" "y" {\n  token = "s3cr3t-literal" "more"\n}\n')
    assert found.problem == "line 2, column 28: unexpected token"


def test_files_read_from_many_threads_at_once_read_as_alone(tmp_path: Path) -> None:
    # The daemon's passes and drift checks read configuration in parallel threads.
    paths = []
    for n in range(24):
        path = tmp_path / f"f{n}.tf"
        path.write_text(
            f'module "m{n}" {{\n  source = "./m{n}"\n}}\n'
            + f'resource "terraform_data" "r" {{\n  input = "{n}"\n}}\n' * (n % 5 + 1)
        )
        paths.append(path)
    with ThreadPoolExecutor(max_workers=6) as pool:
        found = list(pool.map(read_file, paths))
    assert [local_sources(f) for f in found] == [[f"./m{n}"] for n in range(24)]
