"""The infra repo through GitPython: open, resolve commits, copy trees out, diff paths,
and remotes that need credentials.

Engines never see the user's checkout: they get a copy (snapshot_worktree) or one
commit's tree (export_commit), so their working files never land in the repo.

Both copies are where a commit's files first touch the disk, so both refuse what would
reach outside the copy (BadSourceError, naming the file): a tree entry named `..`,
`x/../..`, `/abs` or `.git` (Git refuses to check these out, yet `git hash-object
--literally` writes them), and a symlink whose target lies outside the repository (an
engine would read that file as part of the stack). Symlinks that stay inside are kept.

A remote's credentials never reach a git config file or a command line (both readable
by others: `ps`, a copy of the state dir): `Remote` keeps the URL without them, and
`Remote.env()` hands them to each git process through its environment, answered by a
credential helper defined in that environment too (GIT_CONFIG_*).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import git
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError
from git.objects import Blob, Submodule, Tree

from infra_gitops.errors import BadSourceError, GitError
from infra_gitops.models import Commit
from infra_gitops.secretfile import read_secret

TOKEN_ENV = "INFRA_GITOPS_GIT_TOKEN"
"""The environment variable a remote's token may come from."""
DEFAULT_TOKEN_USERNAME = "x-access-token"
"""Sent with a token when the URL names no user (GitHub's convention; GitLab and
Bitbucket accept any user name with an access token)."""
_USERNAME_ENV = "INFRA_GITOPS_GIT_USERNAME"
_PASSWORD_ENV = "INFRA_GITOPS_GIT_PASSWORD"
# Answers git's `get` from the two variables above; ignores `store` and `erase`. Holds
# no secret itself: only the git process's environment does.
_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || exit 0; '
    f'printf "username=%s\\npassword=%s\\n" "${_USERNAME_ENV}" "${_PASSWORD_ENV}"; }}; f'
)

GitRepo = git.Repo
"""An open repository, as the functions here take and return it."""

_SYMLINK_MODE = 0o120000
_EXECUTABLE_BIT = 0o100


def open_repo(path: Path | str, *, search_parents: bool = False) -> git.Repo:
    """The repository at path (or, with search_parents, the one containing it).

    Raises GitError when there is no repository there or it has no commit yet.
    """
    where = Path(path).resolve()
    try:
        repo = git.Repo(where, search_parent_directories=search_parents)
    except NoSuchPathError:
        raise GitError(f"{where} does not exist") from None
    except InvalidGitRepositoryError:
        raise GitError(f"{where} is not a git repository (no .git found)") from None
    if not repo.head.is_valid():
        raise GitError(f"the git repository at {_where(repo)} has no commits yet")
    return repo


def resolve_commit(repo: git.Repo, ref: str) -> Commit:
    """The commit a ref (SHA, unique SHA prefix, branch, tag, HEAD~2 ...) points to."""
    # git itself, not GitPython's rev_parse: it knows every revision syntax (@{u}, :/text).
    # --end-of-options keeps a ref such as "--all" from being read as an option.
    # Peeled in a second step: appending ^{commit} to ":/text" would change its regex.
    try:
        target = repo.git.rev_parse("--verify", "--quiet", "--end-of-options", ref)
        sha = repo.git.rev_parse("--verify", "--quiet", f"{target}^{{commit}}")
    except GitCommandError:
        raise GitError(f"commit '{ref}' does not exist in {_where(repo)}") from None
    return to_commit(repo.commit(sha))


def is_ancestor(repo: git.Repo, ancestor: str, descendant: str) -> bool:
    """Whether commit ancestor is in the history of descendant (or is it)."""
    try:
        repo.git.merge_base("--is-ancestor", ancestor, descendant)
    except GitCommandError as exc:
        if exc.status == 1:
            return False
        raise GitError(f"cannot compare commits {ancestor[:10]} and {descendant[:10]}") from None
    return True


def head_commit(repo: git.Repo) -> Commit:
    """HEAD's commit; dirty when tracked files changed or untracked (not ignored) files exist."""
    commit = to_commit(repo.head.commit)
    if repo.bare:
        return commit
    dirty = repo.is_dirty(index=True, working_tree=True, untracked_files=True)
    return Commit(
        sha=commit.sha,
        author=commit.author,
        email=commit.email,
        date=commit.date,
        message=commit.message,
        dirty=dirty,
    )


def tree_sha(repo: git.Repo, sha: str) -> str:
    """The SHA of the file tree of commit sha: equal for two commits with the same files."""
    return str(repo.commit(sha).tree.hexsha)


def to_commit(commit: git.Commit) -> Commit:
    # The author date, not the committer date: records answer "who wrote it, when".
    return Commit(
        sha=commit.hexsha,
        author=str(commit.author.name or ""),
        email=str(commit.author.email or ""),
        date=commit.authored_datetime.isoformat(),
        message=_text(commit.message).rstrip("\n"),
    )


def snapshot_worktree(repo: git.Repo, dest: Path) -> Path:
    """Copy the working tree as it is (tracked + untracked-not-ignored files) into dest.

    Uncommitted edits are included; ignored files (.terraform/, *.tfstate ...) and
    tracked files deleted from the working tree are not. dest must be absent or empty.
    """
    root = _worktree_root(repo)
    dest = _empty_dir(dest)
    listing = repo.git.ls_files("-z", "--cached", "--others", "--exclude-standard")
    parents_inside: dict[Path, bool] = {}
    for rel in sorted(set(filter(None, listing.split("\0")))):
        if rel.endswith("/"):
            continue  # an untracked nested repository: not part of this one
        _check_entry_path(rel, "the working tree")
        src = root / rel
        if src.parent not in parents_inside:
            parents_inside[src.parent] = _inside(root, src.parent)
        if not parents_inside[src.parent]:
            # A directory of the checkout replaced by a symlink: git still lists the
            # files under it, which would be read from wherever the link points.
            raise BadSourceError(
                f"{rel}: a directory above it is a symlink leading outside the repository: refused"
            )
        try:
            _copy_entry(src, dest / rel)
        except shutil.SpecialFileError as exc:
            # A tracked file replaced by a named pipe: reading it would block forever.
            raise BadSourceError(f"{rel}: cannot be copied: {exc}") from None
    _refuse_escaping_symlinks(dest)
    return dest


def export_commit(repo: git.Repo, sha: str, dest: Path) -> Path:
    """Write exactly the tree of commit `sha` into dest (absent or empty).

    Walks the tree objects instead of `git archive` (which drops export-ignore paths and
    rewrites export-subst files) or a worktree (which adds entries to the user's .git
    that a crash would leave behind). Blobs are written as stored: no eol conversion
    and no smudge filters (a Git LFS file stays a pointer).
    """
    commit = repo.commit(resolve_commit(repo, sha).sha)
    dest = _empty_dir(dest)
    where = f"commit {commit.hexsha[:10]}"
    for rel, item in _tree_entries(commit.tree, where):
        try:
            if isinstance(item, Blob):
                _write_blob(item, dest / rel)
            elif isinstance(item, Tree | Submodule):
                # Also the empty directories a submodule leaves, as `git archive` does.
                # Never exist_ok: a tree listing one name twice must not merge two entries.
                (dest / rel).mkdir()
        except (OSError, ValueError) as exc:
            # A name listed twice, a file where a directory was, a name the filesystem
            # refuses, a symlink target holding a NUL byte: the commit cannot be exported
            # as it is, now or ever.
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise BadSourceError(f"{where}: {rel}: cannot be exported: {reason}") from None
    _refuse_escaping_symlinks(dest)
    return dest


def changed_paths(repo: git.Repo, base: str | None, head: str) -> list[str]:
    """Repo-relative POSIX paths that differ between two commits, sorted.

    A rename counts as both paths (the stack it left changed too). base None means
    "nothing applied yet": every path in head.
    """
    head_sha = resolve_commit(repo, head).sha
    if base is None:
        listing = repo.git.ls_tree("-r", "-z", "--name-only", head_sha)
    else:
        base_sha = resolve_commit(repo, base).sha
        listing = repo.git.diff("--name-only", "--no-renames", "-z", base_sha, head_sha)
    return sorted(set(filter(None, listing.split("\0"))))


def merge_base(repo: git.Repo, base: str, head: str) -> str:
    """The best common ancestor of two commits: what a pull request's diff starts from.

    Comparing head with the base branch's tip would count the base's own later commits
    as part of the pull request.
    """
    base_sha = resolve_commit(repo, base).sha
    head_sha = resolve_commit(repo, head).sha
    try:
        return str(repo.git.merge_base(base_sha, head_sha)).strip()
    except GitCommandError:
        raise GitError(
            f"commits {base} and {head} have no common ancestor in {_where(repo)} "
            "(is the clone shallow? fetch with fetch-depth: 0)"
        ) from None


def _tree_entries(tree: Tree, where: str) -> Iterator[tuple[str, Blob | Tree | Submodule]]:
    """Every entry under tree, parents first, as (repo-relative path, object).

    Walks tree by tree (not Tree.traverse) so that an entry that cannot be read is
    reported with the directory that holds it, and every name is checked before use.
    """
    pending: list[tuple[str, Tree]] = [("", tree)]
    while pending:
        prefix, current = pending.pop()
        try:
            # GitPython parses a tree's entries when first asked, and raises ValueError
            # on unsafe names itself: both are a property of the commit.
            items = list(current)
        except ValueError as exc:
            # GitPython's words do not say which entry: git lists the tree as stored.
            listing = current.repo.git.ls_tree("-z", current.hexsha).split("\0")
            for line in filter(None, listing):
                _check_entry_path(f"{prefix}{line.partition(chr(9))[2]}", where)
            holder = prefix or "the top directory"
            raise BadSourceError(f"{where}: {holder}: an entry cannot be exported: {exc}") from None
        for item in items:
            rel = f"{prefix}{item.name}"
            _check_entry_path(rel, where)
            yield rel, item
            if isinstance(item, Tree):
                pending.append((f"{rel}/", item))


def _check_entry_path(rel: str, where: str) -> None:
    """Refuse a path that would leave the copy or write Git metadata (as git checkout does)."""
    parts = rel.split("/")
    unsafe = (
        rel.startswith("/")
        or "\0" in rel
        or any(part in ("", ".", "..") or part.lower() == ".git" for part in parts)
    )
    if unsafe:
        raise BadSourceError(f"{where}: unsafe path {rel!r} in the tree: refused")


def _refuse_escaping_symlinks(dest: Path) -> None:
    """Every symlink in the copy must resolve inside it (as it would inside the repo)."""
    for directory, dirs, files in os.walk(dest):
        for name in (*dirs, *files):
            path = Path(directory, name)
            if path.is_symlink() and not _inside(dest, path):
                rel = PurePosixPath(path.relative_to(dest)).as_posix()
                raise BadSourceError(
                    f"{rel}: symlink to {os.readlink(path)!r} points outside the repository: "
                    "refused"
                )


def _inside(root: Path, path: Path) -> bool:
    """Whether path, with every symlink on the way resolved, is root or under it."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def checkout_root(path: Path) -> Path:
    """The root of the working tree of the repository at path (a person's checkout).
    Raises GitError for a bare repository or none."""
    with open_repo(path) as repo:
        return _worktree_root(repo)


def changed_in_worktree(root: Path, paths: list[str]) -> list[str]:
    """Those of paths (relative to the checkout root) that differ from HEAD in any way:
    modified, deleted, staged or untracked."""
    with open_repo(root) as repo:
        listing = repo.git.status("--porcelain=v1", "-z", "--untracked-files=all", "--", *paths)
    return [entry[3:] for entry in listing.split("\0") if len(entry) > 3]


def _where(repo: git.Repo) -> str:
    return str(repo.working_tree_dir or repo.git_dir)


def _worktree_root(repo: git.Repo) -> Path:
    if repo.bare or repo.working_tree_dir is None:
        raise GitError(f"{repo.git_dir} is a bare repository: it has no working tree to copy")
    return Path(repo.working_tree_dir)


def _empty_dir(dest: Path) -> Path:
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise GitError(f"cannot copy the repository into {dest}: the directory is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def _copy_entry(src: Path, dst: Path) -> None:
    if not src.is_symlink() and not src.exists():
        return  # tracked but deleted in the working tree: the snapshot has it deleted too
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir() and not src.is_symlink():
        # A submodule's checkout: copy its files, not its .git.
        shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    else:
        shutil.copy2(src, dst, follow_symlinks=False)


def _write_blob(blob: Blob, target: Path) -> None:
    # Parents were made by mkdir from checked names, which fails on any existing entry
    # (a link of the same name included), so only the last component needs guarding.
    if blob.mode & 0o170000 == _SYMLINK_MODE:
        os.symlink(_text(blob.data_stream.read()), target)
        return
    # O_EXCL: a name listed twice fails instead of overwriting; O_NOFOLLOW: never
    # write through a symlink.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    mode = 0o777 if blob.mode & _EXECUTABLE_BIT else 0o666  # less the umask, as open() does
    with os.fdopen(os.open(target, flags, mode), "wb") as out:
        shutil.copyfileobj(blob.data_stream, out)
    if blob.mode & _EXECUTABLE_BIT:
        target.chmod(0o755)  # whatever the umask


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


# ---------------------------------------------------------------- remotes and credentials


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Remote:
    """A remote to clone, fetch or push: its URL without credentials, and them apart."""

    url: str
    """Safe to store and to show (no password, no token); a local path is absolute."""
    credentials: Credentials | None = None

    def env(self) -> dict[str, str]:
        """What to add to our environment for a git command talking to this remote
        (GitPython's `env=` adds to os.environ)."""
        env = {"GIT_TERMINAL_PROMPT": "0"}  # fail, never wait for a person to type
        if self.credentials is None:
            return env
        # An empty helper first: the user's own helpers (such as `store`, which writes
        # what it is given to ~/.git-credentials) are neither asked nor told.
        count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
        for offset, value in enumerate(("", _CREDENTIAL_HELPER)):
            env[f"GIT_CONFIG_KEY_{count + offset}"] = "credential.helper"
            env[f"GIT_CONFIG_VALUE_{count + offset}"] = value
        env["GIT_CONFIG_COUNT"] = str(count + 2)
        env[_USERNAME_ENV] = self.credentials.username
        env[_PASSWORD_ENV] = self.credentials.password
        return env

    def scrub(self, text: str) -> str:
        """text without the password (e.g. a git error message)."""
        if self.credentials is None or not self.credentials.password:
            return text
        return text.replace(self.credentials.password, "***")


def remote_for(
    url_or_path: str,
    *,
    token_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Remote:
    """The remote of a URL or path; its credentials from the URL, token_file or TOKEN_ENV.

    A password or token written in the URL (https://user:TOKEN@host/repo.git, or
    https://TOKEN@host/repo.git with no other token given) is taken out of it: accepted,
    so existing settings keep working, but only to be moved where git cannot leak it.
    """
    env = os.environ if environ is None else environ
    if "://" not in url_or_path:
        if url_or_path.startswith("git@") or ":" in url_or_path.split("/", 1)[0]:
            return Remote(url_or_path)  # scp-like ssh: keys, not tokens
        return Remote(str(Path(url_or_path).expanduser().resolve()))
    scheme, _, rest = url_or_path.partition("://")
    if scheme.lower() not in ("http", "https"):
        return Remote(url_or_path)  # ssh://git@host: a user name, authenticated by keys
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    token = _read_token(token_file) if token_file is not None else env.get(TOKEN_ENV) or None
    if colon:
        token = unquote(password)
    elif at and token is None:
        # https://TOKEN@host: the user name is the secret; sent as the password, which
        # GitHub, GitLab and Bitbucket accept with any user name.
        token, user = unquote(user), ""
    kept_user = f"{user}@" if user else ""
    url = f"{scheme}://{kept_user}{host}{slash}{path}"
    if token is None:
        return Remote(url)
    return Remote(url, Credentials(unquote(user) or DEFAULT_TOKEN_USERNAME, token))


def token_in_url(url_or_path: str, remote: Remote) -> bool:
    """Whether the remote's token was written in the URL it was made from."""
    password = remote.credentials.password if remote.credentials else ""
    return bool(password) and password in unquote(url_or_path)


def _read_token(path: Path) -> str:
    return read_secret(path, "--repo-token-file", GitError)


def clone(remote: Remote, dest: Path, *, branch: str, timeout: float = 300) -> None:
    """Clone one branch of remote into dest (absent or empty)."""
    try:
        git.Repo.clone_from(
            remote.url, dest, branch=branch, env=remote.env(), kill_after_timeout=timeout
        ).close()
    except GitCommandError as exc:
        detail = remote.scrub(str(exc.stderr or exc).strip())
        raise GitError(
            f"cannot clone branch {branch} of {display_url(remote.url)}: {detail}"
        ) from None


def display_url(url: str) -> str:
    """The url without its user part (https://user:token@host/...): safe for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


# ---------------------------------------------------------------- the daemon's mirror


def open_mirror(path: Path, url: str, branch: str) -> git.Repo:
    """The bare mirror at path, created empty on first use; origin set to url (without
    credentials) and HEAD to branch. The caller closes the repo."""
    if not (path / "HEAD").exists():
        path.mkdir(parents=True, exist_ok=True)
        git.Repo.init(path, bare=True)
    repo = git.Repo(path)
    reader = repo.config_reader()
    if not reader.has_section('remote "origin"') or (
        reader.get_value('remote "origin"', "url", "") != url
    ):
        # Written once (or when --repo changed), not at every poll.
        with repo.config_writer() as cfg:
            cfg.set_value('remote "origin"', "url", url)
            cfg.set_value("core", "logAllRefUpdates", "false")
    head_ref = f"ref: refs/heads/{branch}"
    if (path / "HEAD").read_text(encoding="utf-8").strip() != head_ref:
        repo.git.symbolic_ref("HEAD", f"refs/heads/{branch}")
    return repo


def fetch_branch(repo: git.Repo, remote: Remote, branch: str, *, timeout: float) -> str:
    """Fetch branch from origin (remote's credentials in the environment); its tip."""
    refspec = f"+refs/heads/{branch}:refs/heads/{branch}"
    try:
        repo.git.fetch(
            "--quiet", "--no-tags", "origin", refspec, kill_after_timeout=timeout, env=remote.env()
        )
        sha = repo.git.rev_parse("--verify", f"refs/heads/{branch}^{{commit}}")
    except GitCommandError as exc:
        detail = remote.scrub((exc.stderr or str(exc)).strip().replace("\n", " "))
        shown = display_url(remote.url)
        raise GitError(
            f"cannot fetch branch {branch} from {shown}: {detail.replace(remote.url, shown)}"
        ) from None
    return str(sha).strip()


def origin_url(repo_path: Path) -> str | None:
    """The URL of the repo's origin; None when there is no such repo or remote."""
    try:
        with git.Repo(repo_path) as repo:
            return str(repo.remote("origin").url)
    except (git.exc.GitError, ValueError, OSError):
        return None


# ---------------------------------------------------------------- notes


def append_note(
    repo_path: Path, notes_ref: str, sha: str, line: str, identity: Mapping[str, str]
) -> None:
    """Append line to the note of commit sha under notes_ref; GitError when it cannot."""
    with git.Repo(repo_path) as repo, repo.git.custom_environment(**identity):
        _run(lambda: repo.git.notes(f"--ref={notes_ref}", "append", "-m", line, sha))


def read_note(repo_path: Path, notes_ref: str, sha: str) -> str:
    """The note of commit sha under notes_ref ("" when none)."""
    with git.Repo(repo_path) as repo:
        try:
            return str(repo.git.notes(f"--ref={notes_ref}", "show", sha))
        except GitCommandError:
            return ""


def push_ref(repo_path: Path, ref: str, env: Mapping[str, str]) -> None:
    """Push ref to the same ref of origin (env: the remote's credentials)."""
    with git.Repo(repo_path) as repo:
        _run(lambda: repo.git.push("--quiet", "origin", f"{ref}:{ref}", env=dict(env)))


def merge_remote_notes(
    repo_path: Path,
    notes_ref: str,
    remote_copy: str,
    env: Mapping[str, str],
    identity: Mapping[str, str],
) -> None:
    """Fetch origin's notes_ref into remote_copy and merge it in, keeping both sides'
    lines (cat_sort_uniq)."""
    with git.Repo(repo_path) as repo:
        _run(
            lambda: repo.git.fetch(
                "--quiet", "origin", f"+{notes_ref}:{remote_copy}", env=dict(env)
            )
        )
        with repo.git.custom_environment(**identity):
            _run(
                lambda: repo.git.notes(
                    f"--ref={notes_ref}", "merge", "-s", "cat_sort_uniq", remote_copy
                )
            )


# ---------------------------------------------------------------- commits in a clone


def has_commit(repo: git.Repo, sha: str) -> bool:
    """Whether the repo holds commit sha (a full SHA)."""
    try:
        repo.git.cat_file("-e", f"{sha}^{{commit}}")
    except GitCommandError:
        return False
    return True


def exists_at(repo: git.Repo, sha: str, path: str) -> bool:
    """Whether commit sha has path (a file or a directory)."""
    return bool(repo.git.ls_tree("--name-only", sha, "--", path).strip())


def restore_paths(repo: git.Repo, sha: str, paths: Iterator[str] | list[str]) -> None:
    """Make paths in the index and work tree what they were at sha (absent if absent)."""
    for path in paths:
        repo.git.rm("-r", "-q", "--ignore-unmatch", "--", path)
        if exists_at(repo, sha, path):
            repo.git.checkout(sha, "--", path)


def commit_all(repo: git.Repo, message: str, identity: Mapping[str, str]) -> str | None:
    """Commit what the index holds; its SHA, or None when nothing changed."""
    if not repo.git.status("--porcelain"):
        return None
    with repo.git.custom_environment(**identity):
        repo.git.commit("-q", "-m", message)
    return str(repo.head.commit.hexsha)


def commit_file(repo: git.Repo, path: str, message: str, identity: Mapping[str, str]) -> str:
    """Commit path as it is in the work tree, and nothing else the index holds; its SHA."""
    with repo.git.custom_environment(**identity):
        repo.git.add("--", path)
        repo.git.commit("-q", "-m", message, "--", path)
    return str(repo.head.commit.hexsha)


def last_change(repo: git.Repo, sha: str, paths: Iterable[str]) -> str | None:
    """The newest commit, sha or before it, that changed any of paths; None if none."""
    try:
        found = repo.git.log("-1", "--format=%H", sha, "--", *sorted(paths)).strip()
    except GitCommandError:
        raise GitError(f"cannot read the history of {sha[:10]} in {_where(repo)}") from None
    return found or None


def switch(repo: git.Repo, branch: str, *, create: bool = False) -> None:
    """Check out branch (a new one from HEAD with create); the work tree follows."""
    _run(lambda: repo.git.switch("-q", *(["-c"] if create else []), branch))


def current_branch(repo: git.Repo) -> str | None:
    """The branch HEAD is on; None when detached."""
    return None if repo.head.is_detached else str(repo.active_branch.name)


def has_identity(repo: git.Repo) -> bool:
    """Whether the repo's config names an author (user.name and user.email)."""
    reader = repo.config_reader()
    return reader.has_option("user", "name") and reader.has_option("user", "email")


def identity_or(repo: git.Repo, name: str) -> dict[str, str]:
    """Who commits: the repo's configured author ({}), else `name` at infra-gitops@localhost
    (a clone or a CI checkout often names nobody)."""
    if has_identity(repo):
        return {}
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": "infra-gitops@localhost",
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": "infra-gitops@localhost",
    }


def push_head(repo: git.Repo, branch: str, remote: Remote) -> None:
    """Push HEAD to branch of origin, with remote's credentials."""
    try:
        repo.git.push("--quiet", "origin", f"HEAD:refs/heads/{branch}", env=remote.env())
    except GitCommandError as exc:
        raise GitError(remote.scrub(" ".join(str(exc.stderr).split()))) from None


def _run(command: Callable[[], object]) -> None:
    try:
        command()
    except GitCommandError as exc:
        raise GitError(str(exc.stderr or exc).strip().replace("\n", " ")) from None
