from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import git as gitpython
import pytest

from infra_gitops import git
from infra_gitops.errors import BadSourceError, GitError


def commit_all(repo: gitpython.Repo, message: str) -> str:
    repo.git.add("--all")
    repo.git.commit("-m", message)
    return repo.head.commit.hexsha


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[gitpython.Repo]:
    root = tmp_path / "infra"
    repo = gitpython.Repo.init(root)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Ada Lovelace")
        config.set_value("user", "email", "ada@example.com")
        config.set_value("commit", "gpgsign", "false")
    (root / ".gitignore").write_text(".terraform/\n*.tfstate\n")
    (root / "stacks" / "net").mkdir(parents=True)
    (root / "stacks" / "net" / "main.tf").write_text('resource "x" "a" {}\n')
    (root / "gitops.yaml").write_text("stacks: []\n")
    commit_all(repo, "Add the network stack\n\nWith a body.")
    yield repo
    repo.close()  # stops GitPython's persistent `git cat-file` processes


def root_of(repo: gitpython.Repo) -> Path:
    assert repo.working_tree_dir is not None
    return Path(repo.working_tree_dir)


def tree_files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


# ---------------------------------------------------------------- open_repo


def test_open_repo_outside_a_repository_names_the_path(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError, match=rf"{plain} is not a git repository"):
        git.open_repo(plain)


def test_open_repo_of_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(GitError, match=rf"{tmp_path / 'nope'} does not exist"):
        git.open_repo(tmp_path / "nope")


def test_open_repo_without_commits(tmp_path: Path) -> None:
    gitpython.Repo.init(tmp_path / "empty")
    with pytest.raises(GitError, match="has no commits yet"):
        git.open_repo(tmp_path / "empty")


def test_open_repo_from_a_subdirectory_when_asked(repo: gitpython.Repo) -> None:
    sub = root_of(repo) / "stacks" / "net"
    with pytest.raises(GitError):
        git.open_repo(sub)
    with git.open_repo(sub, search_parents=True) as found:
        assert found.working_tree_dir == str(root_of(repo))


# ---------------------------------------------------------------- commits


def test_resolve_commit_gives_author_date_and_message(repo: gitpython.Repo) -> None:
    first = repo.head.commit.hexsha
    (root_of(repo) / "gitops.yaml").write_text("stacks: [net]\n")
    commit_all(repo, "List the stack")
    repo.create_tag("v1", ref=first)

    with git.open_repo(root_of(repo)) as opened:
        commit = git.resolve_commit(opened, "v1")
    assert commit.sha == first
    assert commit.author == "Ada Lovelace"
    assert commit.email == "ada@example.com"
    assert commit.message == "Add the network stack\n\nWith a body."
    assert commit.subject == "Add the network stack"
    assert datetime.fromisoformat(commit.date).utcoffset() is not None
    assert commit.dirty is False
    assert git.resolve_commit(repo, first[:8]).sha == first
    assert git.resolve_commit(repo, "HEAD~1").sha == first


def test_unknown_commit_is_a_clear_error(repo: gitpython.Repo) -> None:
    for ref in ("deadbeef", "no-such-branch", "HEAD~9", "--all"):
        with pytest.raises(GitError) as caught:
            git.resolve_commit(repo, ref)
        assert str(caught.value) == f"commit '{ref}' does not exist in {root_of(repo)}"


def test_head_commit_is_dirty_with_edits_or_new_files_but_not_ignored_ones(
    repo: gitpython.Repo,
) -> None:
    root = root_of(repo)
    assert git.head_commit(repo).dirty is False

    (root / ".terraform").mkdir()
    (root / ".terraform" / "plugin").write_text("ignored")
    (root / "terraform.tfstate").write_text("{}")
    assert git.head_commit(repo).dirty is False

    (root / "stacks" / "net" / "new.tf").write_text("# new\n")
    assert git.head_commit(repo).dirty is True
    (root / "stacks" / "net" / "new.tf").unlink()

    (root / "gitops.yaml").write_text("stacks: [changed]\n")
    head = git.head_commit(repo)
    assert head.dirty is True
    assert head.sha == repo.head.commit.hexsha


# ---------------------------------------------------------------- copies


def test_snapshot_has_uncommitted_edits_and_new_files_but_no_ignored_files(
    repo: gitpython.Repo, tmp_path: Path
) -> None:
    root = root_of(repo)
    (root / "stacks" / "net" / "main.tf").write_text('resource "x" "edited" {}\n')
    (root / "stacks" / "net" / "extra.tf").write_text("# untracked\n")
    (root / "stacks" / "net" / ".terraform").mkdir()
    (root / "stacks" / "net" / ".terraform" / "provider").write_text("big binary")
    (root / "stacks" / "net" / "terraform.tfstate").write_text('{"secret": 1}')
    (root / "gitops.yaml").unlink()  # deleted in the working tree, still in the index

    dest = git.snapshot_worktree(repo, tmp_path / "snap")

    assert tree_files(dest) == {
        ".gitignore": ".terraform/\n*.tfstate\n",
        "stacks/net/extra.tf": "# untracked\n",
        "stacks/net/main.tf": 'resource "x" "edited" {}\n',
    }
    assert not (dest / ".git").exists()


def test_snapshot_keeps_the_executable_bit_and_symlinks(
    repo: gitpython.Repo, tmp_path: Path
) -> None:
    root = root_of(repo)
    script = root / "hook.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    (root / "link.tf").symlink_to("stacks/net/main.tf")

    dest = git.snapshot_worktree(repo, tmp_path / "snap")

    assert os.access(dest / "hook.sh", os.X_OK)
    assert os.readlink(dest / "link.tf") == "stacks/net/main.tf"


def test_snapshot_refuses_a_non_empty_destination(repo: gitpython.Repo, tmp_path: Path) -> None:
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "other").write_text("x")
    with pytest.raises(GitError, match="not empty"):
        git.snapshot_worktree(repo, dest)


def test_export_of_an_older_commit_has_its_content_only(
    repo: gitpython.Repo, tmp_path: Path
) -> None:
    root = root_of(repo)
    old = repo.head.commit.hexsha
    (root / "stacks" / "net" / "main.tf").write_text('resource "x" "b" {}\n')
    (root / "stacks" / "app").mkdir()
    (root / "stacks" / "app" / "main.tf").write_text("# app\n")
    script = root / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    (root / "link.tf").symlink_to("stacks/net/main.tf")
    new = commit_all(repo, "Change net, add app")
    (root / "gitops.yaml").write_text("uncommitted\n")

    old_tree = git.export_commit(repo, old, tmp_path / "old")
    assert tree_files(old_tree) == {
        ".gitignore": ".terraform/\n*.tfstate\n",
        "gitops.yaml": "stacks: []\n",
        "stacks/net/main.tf": 'resource "x" "a" {}\n',
    }

    new_tree = git.export_commit(repo, new[:12], tmp_path / "new")
    assert (new_tree / "stacks" / "app" / "main.tf").read_text() == "# app\n"
    assert (new_tree / "gitops.yaml").read_text() == "stacks: []\n"  # not the working tree
    assert os.access(new_tree / "run.sh", os.X_OK)
    assert not os.access(new_tree / "gitops.yaml", os.X_OK)
    assert os.readlink(new_tree / "link.tf") == "stacks/net/main.tf"


def test_export_includes_files_marked_export_ignore(repo: gitpython.Repo, tmp_path: Path) -> None:
    # `git archive` would drop these; a stack needs exactly the committed tree.
    root = root_of(repo)
    (root / ".gitattributes").write_text("stacks/** export-ignore\n")
    sha = commit_all(repo, "Mark stacks export-ignore")
    dest = git.export_commit(repo, sha, tmp_path / "out")
    assert (dest / "stacks" / "net" / "main.tf").exists()


def test_export_of_an_unknown_commit(repo: gitpython.Repo, tmp_path: Path) -> None:
    with pytest.raises(GitError, match="commit 'deadbeef' does not exist"):
        git.export_commit(repo, "deadbeef", tmp_path / "out")


# ---------------------------------------------------------------- unsafe sources


def crafted_tree(repo: gitpython.Repo, entries: list[tuple[str, bytes, str]]) -> str:
    """A tree listing exactly entries (mode, name, object sha), written as `git
    hash-object --literally` allows: Git's own checks would refuse these names."""
    data = b"".join(
        mode.encode() + b" " + name + b"\0" + bytes.fromhex(sha) for mode, name, sha in entries
    )
    return (
        subprocess.run(
            ["git", "hash-object", "-t", "tree", "-w", "--literally", "--stdin"],
            cwd=root_of(repo),
            input=data,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )


def crafted_commit(repo: gitpython.Repo, entries: list[tuple[str, bytes, str]]) -> str:
    return str(repo.git.commit_tree(crafted_tree(repo, entries), "-m", "crafted"))


def blob(repo: gitpython.Repo, content: str) -> str:
    path = root_of(repo).parent / "blob.txt"
    path.write_text(content)
    return str(repo.git.hash_object("-w", str(path)))


@pytest.mark.parametrize(
    "name",
    [b"..", b"x/../..", b"/tmp", b".git", b".GIT", b"."],
)
def test_export_refuses_a_tree_entry_that_leaves_the_tree(
    repo: gitpython.Repo, tmp_path: Path, name: bytes
) -> None:
    # The entry is a directory holding `escaped.tf`: written as named, it would land
    # outside the export (or in a .git directory).
    inner = crafted_tree(repo, [("100644", b"escaped.tf", blob(repo, "# escaped\n"))])
    manifest = ("100644", b"gitops.yaml", blob(repo, "stacks: []\n"))
    sha = crafted_commit(repo, [("40000", name, inner), manifest])
    dest = tmp_path / "deep" / "er" / "out"

    with pytest.raises(BadSourceError) as refused:
        git.export_commit(repo, sha, dest)

    assert f"commit {sha[:10]}: unsafe path {name.decode()!r} in the tree: refused" in str(
        refused.value
    )
    assert sorted(p.name for p in tmp_path.rglob("escaped.tf")) == []


def test_export_refuses_a_tree_listing_one_name_twice(repo: gitpython.Repo, tmp_path: Path) -> None:
    # A symlink `net` to / and a directory `net`: merged, main.tf would be written in /.
    link = blob(repo, "/")
    inner = crafted_tree(repo, [("100644", b"main.tf", blob(repo, "# x\n"))])
    sha = crafted_commit(repo, [("120000", b"net", link), ("40000", b"net", inner)])

    with pytest.raises(BadSourceError, match=r"net: cannot be exported: File exists"):
        git.export_commit(repo, sha, tmp_path / "out")


def test_export_refuses_a_symlink_whose_target_holds_a_nul_byte(
    repo: gitpython.Repo, tmp_path: Path
) -> None:
    sha = crafted_commit(repo, [("120000", b"link.tf", blob(repo, "main.tf\0/etc/passwd"))])

    with pytest.raises(BadSourceError, match=r"link.tf: cannot be exported: .*null byte"):
        git.export_commit(repo, sha, tmp_path / "out")


@pytest.mark.parametrize("target", ["../../../outside.tf", "/etc/hostname", "../../.."])
def test_export_refuses_a_symlink_pointing_outside_the_repository(
    repo: gitpython.Repo, tmp_path: Path, target: str
) -> None:
    root = root_of(repo)
    (root / "stacks" / "net" / "secrets.tf").symlink_to(target)
    sha = commit_all(repo, "Link a file from outside")

    with pytest.raises(BadSourceError) as refused:
        git.export_commit(repo, sha, tmp_path / "out")

    assert str(refused.value) == (
        f"stacks/net/secrets.tf: symlink to {target!r} points outside the repository: refused"
    )


def test_snapshot_refuses_a_symlink_pointing_outside_the_repository(
    repo: gitpython.Repo, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.tf"
    outside.write_text('resource "x" "stolen" {}\n')
    (root_of(repo) / "stacks" / "net" / "secrets.tf").symlink_to(outside)

    with pytest.raises(BadSourceError, match=r"^stacks/net/secrets.tf: symlink to .* refused$"):
        git.snapshot_worktree(repo, tmp_path / "snap")


def test_snapshot_refuses_files_read_through_a_directory_symlinked_outside(
    repo: gitpython.Repo, tmp_path: Path
) -> None:
    # stacks/net is tracked with main.tf; replaced by a link, git still lists main.tf.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "main.tf").write_text('resource "x" "stolen" {}\n')
    net = root_of(repo) / "stacks" / "net"
    shutil.rmtree(net)
    net.symlink_to(outside)

    with pytest.raises(BadSourceError, match=r"^stacks/net/main.tf: a directory above it"):
        git.snapshot_worktree(repo, tmp_path / "snap")


def test_snapshot_refuses_a_tracked_file_replaced_by_a_named_pipe(
    repo: gitpython.Repo, tmp_path: Path
) -> None:
    main_tf = root_of(repo) / "stacks" / "net" / "main.tf"
    main_tf.unlink()
    os.mkfifo(main_tf)

    with pytest.raises(BadSourceError, match=r"^stacks/net/main.tf: cannot be copied: .*pipe"):
        git.snapshot_worktree(repo, tmp_path / "snap")


def test_symlinks_that_stay_inside_the_repository_are_kept(
    repo: gitpython.Repo, tmp_path: Path
) -> None:
    root = root_of(repo)
    (root / "modules" / "bucket").mkdir(parents=True)
    (root / "modules" / "bucket" / "main.tf").write_text("# module\n")
    (root / "stacks" / "net" / "bucket").symlink_to("../../modules/bucket")
    (root / "stacks" / "net" / "shared.tf").symlink_to("bucket/main.tf")
    (root / "stacks" / "net" / "dangling.tf").symlink_to("missing.tf")
    sha = commit_all(repo, "Share a module through links")

    for dest in (
        git.export_commit(repo, sha, tmp_path / "out"),
        git.snapshot_worktree(repo, tmp_path / "snap"),
    ):
        assert (dest / "stacks" / "net" / "shared.tf").read_text() == "# module\n"
        assert os.readlink(dest / "stacks" / "net" / "bucket") == "../../modules/bucket"


# ---------------------------------------------------------------- changed paths


def test_changed_paths_between_commits(repo: gitpython.Repo) -> None:
    root = root_of(repo)
    base = repo.head.commit.hexsha
    (root / "stacks" / "net" / "main.tf").write_text('resource "x" "b" {}\n')
    (root / "stacks" / "app").mkdir()
    (root / "stacks" / "app" / "main.tf").write_text("# app\n")
    commit_all(repo, "Change net, add app")
    repo.git.mv("gitops.yaml", "stacks/app/gitops.yaml")
    head = commit_all(repo, "Move the manifest")

    assert git.changed_paths(repo, base, head) == [
        "gitops.yaml",
        "stacks/app/gitops.yaml",
        "stacks/app/main.tf",
        "stacks/net/main.tf",
    ]
    assert git.changed_paths(repo, "HEAD", "HEAD") == []
    assert git.changed_paths(repo, None, base) == [
        ".gitignore",
        "gitops.yaml",
        "stacks/net/main.tf",
    ]
    with pytest.raises(GitError, match="commit 'nope' does not exist"):
        git.changed_paths(repo, "nope", head)


# ---------------------------------------------------------------- remotes and credentials


@pytest.mark.parametrize(
    ("given", "url", "username", "password"),
    [
        (
            "https://bot:s3cret@git.example/infra.git",
            "https://bot@git.example/infra.git",
            "bot",
            "s3cret",
        ),
        (
            "https://s3cret@git.example/infra.git",
            "https://git.example/infra.git",
            "x-access-token",
            "s3cret",
        ),
        (
            "https://bot:p%40ss@git.example:8443/infra",
            "https://bot@git.example:8443/infra",
            "bot",
            "p@ss",
        ),
        ("https://git.example/infra.git", "https://git.example/infra.git", None, None),
        ("ssh://git@git.example/infra.git", "ssh://git@git.example/infra.git", None, None),
        ("git@git.example:infra.git", "git@git.example:infra.git", None, None),
    ],
)
def test_remote_for_moves_credentials_out_of_the_url(
    given: str, url: str, username: str | None, password: str | None
) -> None:
    remote = git.remote_for(given, environ={})
    assert remote.url == url
    creds = remote.credentials
    assert (creds.username if creds else None, creds.password if creds else None) == (
        username,
        password,
    )
    if password:
        assert password not in repr(remote)
        assert git.token_in_url(given, remote)


def test_remote_for_takes_the_token_from_a_file_then_the_environment(tmp_path: Path) -> None:
    env = {git.TOKEN_ENV: "from-env"}
    assert git.remote_for("https://h/r.git", environ=env).credentials == git.Credentials(
        "x-access-token", "from-env"
    )
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    remote = git.remote_for("https://oauth2@h/r.git", token_file=token_file, environ=env)
    assert remote.credentials == git.Credentials("oauth2", "from-file")
    assert not git.token_in_url("https://oauth2@h/r.git", remote)
    # The remote's env carries it to git: nothing on a command line.
    assert "from-file" in remote.env().values()
    with pytest.raises(GitError, match="--repo-token-file .*missing"):
        git.remote_for("https://h/r.git", token_file=tmp_path / "missing", environ={})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(GitError, match="empty"):
        git.remote_for("https://h/r.git", token_file=tmp_path / "empty", environ={})
