"""What both CI runners' stand-ins share: the infra repo and its "remote", the job's
machine (home, checkout, Python, shell) and the infra-gitops repository the pipelines
install from.

Real: git (a bare repo is the remote; checkouts are clones at the job's commit), bash
with `-eo pipefail` (as both runners run scripts), pip installing infra-gitops from a Git
URL, the `infra-gitops` command, the sandbox's moto server as the cloud.
Stand-ins, named: github.com (git's `insteadOf` points the pipelines' URL at a local bare
repo holding this checkout's HEAD under the pinned tag); the runner image's Python (a
venv that sees the test venv's packages, so pip installs only infra-gitops: no network).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from infra_gitops import sandbox

PROJECT = Path(__file__).resolve().parents[2]
UPSTREAM = "https://github.com/infra-gitops/infra-gitops"
"""The repository the pipelines install from."""


@dataclass(frozen=True)
class Cloud:
    """The "real cloud" both jobs reach: the sandbox's moto server, up in state_dir."""

    info: sandbox.SandboxInfo
    reattach: str
    """TF_REATTACH_PROVIDERS of one long-lived provider process: only speed."""

    def link_into(self, state_dir: Path) -> None:
        """Make a fresh state dir see the running sandbox (as `sandbox up` there would)."""
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "sandbox").symlink_to(sandbox.sandbox_dir(self.info.state_dir))


@dataclass(frozen=True)
class Machine:
    """One job's runner machine: its home (state dir inside), workspace and Python."""

    root: Path
    cloud: Cloud
    git_config: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def temp(self) -> Path:
        return self.root / "temp"

    @property
    def python_bin(self) -> Path:
        return self.root / "python" / "bin"

    def prepare(self) -> None:
        self.temp.mkdir(parents=True)
        # infra-gitops's default state dir ($XDG_STATE_HOME unset): fresh on every job,
        # as on a hosted runner; only the cloud outlives the job.
        self.cloud.link_into(self.home / ".local" / "state" / "infra-gitops")

    def setup_python(self) -> None:
        """Stand-in for the runner's Python (actions/setup-python, a python image)."""
        venv = self.python_bin.parent
        if venv.exists():
            return
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        purelib = Path(sysconfig.get_paths(vars={"base": str(venv)})["purelib"])
        # The test venv's packages (pip, setuptools, infra-gitops's dependencies): the
        # job's pip then installs infra-gitops itself and nothing else.
        (purelib / "test-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    def checkout(self, origin: Path, sha: str, depth: int) -> None:
        """Clone the remote at sha, depth commits deep (0: all), as both runners do."""
        shallow = ["--depth", str(depth), "--no-single-branch"] if depth else []
        run_git(self.root, "clone", "-q", *shallow, origin.as_uri(), str(self.workspace))
        run_git(self.workspace, "checkout", "-q", "--detach", sha)

    def env(self) -> dict[str, str]:
        """The runner's own environment, before the pipeline's variables."""
        return {
            "PATH": f"{self.python_bin}:{os.environ['PATH']}",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GIT_CONFIG_GLOBAL": str(self.git_config),
            "GIT_CONFIG_NOSYSTEM": "1",
            # The image's pip: no index (offline), dependencies from the test venv, the
            # build backend from it too.
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_NO_DEPS": "1",
            "PIP_NO_BUILD_ISOLATION": "0",
            "TF_REATTACH_PROVIDERS": self.cloud.reattach,
        }


@dataclass(frozen=True)
class ScriptResult:
    code: int
    output: str


def run_bash(script: str, env: dict[str, str], cwd: Path, name: str) -> ScriptResult:
    """A step's script as both runners run it: bash, errexit and pipefail."""
    path = Path(env["HOME"]).parent / "temp" / f"{name}.sh"
    path.write_text(script)
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    return ScriptResult(done.returncode, done.stdout + done.stderr)


def _working_tree_commit(index: Path) -> str:
    """A commit (on no branch) of the checkout's files as they are, through a scratch
    index: the checkout's own index, branches and stash are left as they were."""
    who = {
        f"GIT_{role}_{part}": value
        for role in ("AUTHOR", "COMMITTER")
        for part, value in (("NAME", "CI"), ("EMAIL", "ci@example.com"))
    }
    env = {**os.environ, **who, "GIT_INDEX_FILE": str(index)}

    def git_(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=PROJECT, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
        return done.stdout.strip()

    git_("read-tree", "HEAD")
    git_("add", "-A")
    tree = git_("write-tree")
    return git_("commit-tree", tree, "-p", "HEAD", "-m", "the checkout under test")


def run_git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def upstream_mirror(where: Path, tag: str) -> Path:
    """A git config pointing UPSTREAM at a bare repo whose tag holds this checkout as it
    is (uncommitted edits included: the pipelines must test the code under test)."""
    bare = where / "infra-gitops.git"
    run_git(where, "init", "-q", "--bare", "--initial-branch=main", str(bare))
    sha = _working_tree_commit(where / "index")
    run_git(PROJECT, "push", "-q", str(bare), f"{sha}:refs/heads/main", f"{sha}:refs/tags/{tag}")
    config = where / "gitconfig"
    config.write_text(
        f'[url "{bare.as_uri()}"]\n\tinsteadOf = {UPSTREAM}\n'
        "[user]\n\tname = CI\n\temail = ci@example.com\n"
        "[advice]\n\tdetachedHead = false\n"
    )
    return config
