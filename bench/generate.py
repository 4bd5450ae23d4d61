"""Generated infra repos: N small Terraform stacks (one SQS queue or SSM parameter each)
declared in gitops.yaml, committed to a fresh Git repo; a stand-in engine that does
nothing (for the cost of a drift check outside Terraform); and, for the replicas bench,
several repos of stand-in stacks with a stand-in engine that keeps state and logs its
applies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra_gitops import process

_HEADER = """terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
  backend "s3" {}
}

provider "aws" {
  region = "us-east-1"
}
"""

_QUEUE = """
resource "aws_sqs_queue" "this" {
  name                       = "bench-@NAME@"
  visibility_timeout_seconds = 30
  tags                       = { stack = "@NAME@" }
}
"""

_PARAMETER = """
resource "aws_ssm_parameter" "this" {
  name  = "/bench/@NAME@"
  type  = "String"
  value = "value of @NAME@"
  tags  = { stack = "@NAME@" }
}
"""


def stack_names(count: int) -> list[str]:
    return [f"s{i:04d}" for i in range(count)]


def write_repo(root: Path, count: int, *, drift_interval: str = "1h") -> list[str]:
    """A Git repo at root declaring `count` stacks; returns their names.

    Policies: no auto-apply, no self-heal, so a pass plans every stack and changes
    nothing (the naive loop plans too: the same work on both sides).
    """
    names = stack_names(count)
    policy = f"{{drift_interval: {drift_interval}, auto_apply: false, self_heal: false}}"
    _write_stacks(root, names, policy, lambda _: None)
    return names


def write_drift_repo(root: Path, *, real: int, declared: int, noop_engine: Path) -> list[str]:
    """A Git repo declaring `declared` stacks, all auto-applied: the first `real` are
    sandbox stacks (as write_repo's), the others run `noop_engine` (binary:), so a pass
    over them costs almost nothing in Terraform. Returns the real stacks' names."""
    names = stack_names(declared)
    policy = "{drift_interval: 1h, auto_apply: true, self_heal: false}"
    _write_stacks(root, names, policy, lambda i: noop_engine if i >= real else None)
    return names[:real]


def _write_stacks(
    root: Path, names: list[str], policy: str, binary_of: Callable[[int], Path | None]
) -> None:
    """One small stack per name (an SQS queue or an SSM parameter, alternately), declared
    in gitops.yaml with the policy given; binary_of(i) is the i-th stack's `binary:`."""
    lines = ["version: 1", "defaults:", "  engine: terraform", f"  policy: {policy}", "stacks:"]
    for i, name in enumerate(names):
        stack_dir = root / "stacks" / name
        stack_dir.mkdir(parents=True)
        body = (_QUEUE if i % 2 == 0 else _PARAMETER).replace("@NAME@", name)
        (stack_dir / "main.tf").write_text(_HEADER + body)
        lines += [f"  - name: {name}", f"    path: stacks/{name}"]
        binary = binary_of(i)
        if binary is not None:
            lines.append(f"    binary: {binary}")
    (root / "gitops.yaml").write_text("\n".join(lines) + "\n")
    _commit(root)


_NOOP_ENGINE = """#!/bin/sh
# A stand-in `terraform` that does nothing and answers as Terraform does for a stack
# with no changes. Each call appends its command to @LOG@ (so calls can be counted).
echo "$1" >> '@LOG@'
case "$1" in
  plan)
    for arg in "$@"; do
      case "$arg" in -out=*) : > "${arg#-out=}" ;; esac
    done ;;
  show) echo '{"format_version":"1.2","terraform_version":"1.15.5","resource_changes":[]}' ;;
  output) echo '{}' ;;
  version) echo '{"terraform_version":"1.15.5"}' ;;
esac
exit 0
"""


def write_noop_engine(path: Path, calls_log: Path) -> Path:
    """An executable stand-in engine at path, logging its calls to calls_log."""
    path.write_text(_NOOP_ENGINE.replace("@LOG@", str(calls_log)))
    path.chmod(0o755)
    return path


_GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "PATH": "/usr/bin:/bin:/usr/local/bin",
}


def _commit(root: Path) -> None:
    env = _GIT_ENV
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "generated stacks"],
    ):
        done = process.run(argv, cwd=root, env=env, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


# ------------------------------------------------ several repos for the replicas bench

_STAND_IN_STACK = """# stand-in stack @ID@ @KEY@ version @VERSION@
# Run by the stand-in engine of bench/generate.py (binary:), never by Terraform.
terraform {}
"""

# A stand-in `terraform` with state: what it "applied" is a file per stack in @STATE@,
# shared by every replica (as a state bucket is), so a stack planned by any replica shows a
# change until some replica applied its version. Its apply may sleep (apply_seconds: long
# enough to be killed mid-apply in the chaos run) and logs `apply-start` and `apply-end`
# lines to @LOG@: the engine's own account of what was applied, next to the run records.
_STAND_IN_ENGINE = r"""#!/bin/sh
# Shell builtins where it can (read, case, echo): a fork costs as much as the rest.
read -r _ _ _ id key _ version < main.tf 2>/dev/null
state='@STATE@'/$key
case "$1" in
  plan)
    out=; refresh=
    for arg in "$@"; do
      case "$arg" in -out=*) out=${arg#-out=} ;; -refresh-only) refresh=1 ;; esac
    done
    applied=; [ -f "$state" ] && read -r applied < "$state"
    if [ -z "$refresh" ] && [ "$applied" != "$version" ]; then
      echo "$id $version" > "$out"; exit 2
    fi
    : > "$out"; exit 0 ;;
  show)
    for last; do :; done
    if [ -s "$last" ]; then
      printf '%s' '{"format_version":"1.2","terraform_version":"1.15.5","resource_changes":['
      printf '%s' '{"address":"terraform_data.this","mode":"managed","type":"terraform_data",'
      printf '%s' '"name":"this","change":{"actions":["update"],"before":{"input":"old"},'
      printf '%s' '"after":{"input":"'"$version"'"},"after_unknown":{},'
      printf '%s\n' '"before_sensitive":{},"after_sensitive":{}}}]}'
    else
      echo '{"format_version":"1.2","terraform_version":"1.15.5","resource_changes":[]}'
    fi ;;
  apply)
    for last; do :; done
    read -r planned_id planned_version < "$last"
    echo "apply-start $planned_id $planned_version $$ $(date +%s.%N)" >> '@LOG@'
@SLEEP@    echo "$planned_version" > "$state"
    echo "apply-end $planned_id $planned_version $$ $(date +%s.%N)" >> '@LOG@' ;;
  output) echo '{}' ;;
  version) echo '{"terraform_version":"1.15.5"}' ;;
esac
exit 0
"""


@dataclass(frozen=True)
class BenchRepo:
    """One generated infra repo: a bare remote the replicas follow and a clone to push from."""

    name: str
    remote: Path
    work: Path
    stacks: tuple[str, ...]


def write_stand_in_engine(
    path: Path, *, state_dir: Path, log: Path, apply_seconds: float = 0.0
) -> Path:
    """The stateful stand-in engine of the replicas bench at path (see _STAND_IN_ENGINE)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    text = (
        _STAND_IN_ENGINE.replace("@STATE@", str(state_dir))
        .replace("@LOG@", str(log))
        .replace("@SLEEP@", f"    sleep {apply_seconds:g}\n" if apply_seconds > 0 else "")
    )
    path.write_text(text)
    path.chmod(0o755)
    return path


def write_stand_in_repos(
    root: Path,
    *,
    repos: int,
    stacks_per_repo: int,
    engine: Path,
    drift_stacks: int = 0,
    drift_interval: str = "1m",
) -> list[BenchRepo]:
    """`repos` bare remotes under root, each declaring `stacks_per_repo` auto-applied
    stand-in stacks at version 1, pushed to main. The first `drift_stacks` of each repo
    are checked for drift every `drift_interval`, the others daily (so the drift load is
    chosen, not a burst of every stack at once). Stack names repeat across repos (s0000
    in each), as separate teams' repos would; the stand-in tells them apart by repo."""
    made = []
    for r in range(repos):
        name = f"r{r}"
        remote, work = root / f"{name}.git", root / f"{name}-work"
        names = stack_names(stacks_per_repo)
        work.mkdir(parents=True)
        policy = "{drift_interval: 24h, auto_apply: true, self_heal: false}"
        lines = ["version: 1", "defaults:", "  engine: terraform", f"  policy: {policy}", "stacks:"]
        for i, stack in enumerate(names):
            lines += [f"  - name: {stack}", f"    path: stacks/{stack}", f"    binary: {engine}"]
            if i < drift_stacks:
                lines.append(f"    policy: {{drift_interval: {drift_interval}}}")
        (work / "gitops.yaml").write_text("\n".join(lines) + "\n")
        repo = BenchRepo(name, remote, work, tuple(names))
        _write_versions(repo, 1)
        _commit(work)
        _git(root, "init", "-q", "--bare", "-b", "main", str(remote))
        _git(work, "remote", "add", "origin", str(remote))
        _git(work, "push", "-q", "origin", "main")
        made.append(repo)
    return made


def push_version(repo: BenchRepo, version: int, stacks: int | None = None) -> str:
    """Commit `version` into the first `stacks` stacks (all by default) and push; returns
    the new commit's SHA."""
    _write_versions(repo, version, stacks)
    _git(repo.work, "add", "-A")
    _git(repo.work, "commit", "-q", "-m", f"stand-in stacks at version {version}")
    _git(repo.work, "push", "-q", "origin", "main")
    return _git(repo.work, "rev-parse", "HEAD").strip()


def head_of(repo: BenchRepo) -> str:
    """The SHA of the repo's main branch on its remote."""
    return _git(repo.remote, "rev-parse", "main").strip()


def _write_versions(repo: BenchRepo, version: int, stacks: int | None = None) -> None:
    for stack in repo.stacks[:stacks]:
        stack_dir = repo.work / "stacks" / stack
        stack_dir.mkdir(parents=True, exist_ok=True)
        text = _STAND_IN_STACK.replace("@ID@", f"{repo.name}/{stack}").replace(
            "@KEY@", f"{repo.name}_{stack}"
        )
        (stack_dir / "main.tf").write_text(text.replace("@VERSION@", str(version)))


def _git(cwd: Path, *args: str) -> str:
    done = process.run(["git", *args], cwd=cwd, env=_GIT_ENV, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} in {cwd} failed: {done.stderr.strip()}")
    return done.stdout
