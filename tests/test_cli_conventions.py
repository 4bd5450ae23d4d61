"""The CLI conventions a Terraform user expects, checked on the real `infra-gitops`
process: usage errors exit 1 in every subcommand the parser knows (a new one is covered
without editing this file), global flags before or after the subcommand and from
$INFRA_GITOPS_* variables, help with a description, examples and defaults, completion
scripts that load, colour on a terminal only, and a quiet end on a closed pipe."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from infra_gitops import cli
from infra_gitops.models import Commit, RunKind, RunStatus
from infra_gitops.runs import PLAN_ARTIFACT, RunStore

SCRIPT = Path(sys.executable).parent / "infra-gitops"
COMMIT = Commit("b2" * 20, "Ada", "ada@example.com", "2026-12-01T17:00:00+00:00", "Add bucket")
ESCAPE = "\x1b["

COMMANDS = [path for path, _, _ in cli._leaf_parsers(cli.build_parser())]
"""Every subcommand that runs something ("ci plan" included), read from the parser."""

_CLEAN = {k: v for k, v in os.environ.items() if not k.startswith("INFRA_GITOPS_")}
_CLEAN.pop("NO_COLOR", None)


def run(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The infra-gitops script in a process of its own (this checkout's code through
    PYTHONPATH), with no INFRA_GITOPS_* variable but those given."""
    return subprocess.run(
        [str(SCRIPT), *args],
        env={**_CLEAN, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def record_runs(state: Path, count: int = 1) -> list[str]:
    """count runs in the SQLite store of state (a drifted one first, then applied ones)."""
    ids = []
    with RunStore.open(state) as store:
        for index in range(count):
            started = store.start("network", RunKind.APPLY, "cli", COMMIT, "terraform")
            store.attach(started.id, PLAN_ARTIFACT, b'{"format_version": "1.2"}\n' * 5000)
            store.finish(started.id, RunStatus.DRIFTED if index == 0 else RunStatus.APPLIED)
            ids.append(started.id)
        store.update_stack_state("network", desired_commit=COMMIT.sha)
    return ids


def history_ids(done: subprocess.CompletedProcess[str]) -> list[str]:
    import json

    assert done.returncode == 0, done.stderr
    return [r["id"] for r in json.loads(done.stdout)["result"]["runs"]]


# ------------------------------------------------------------------ usage errors


@pytest.mark.parametrize("command", COMMANDS)
def test_a_usage_error_exits_1_with_the_subcommands_usage(command: str, tmp_path: Path) -> None:
    done = run(*command.split(), "--no-such-flag", "--state-dir", str(tmp_path / "state"))

    assert done.returncode == 1, done.stderr
    assert f"usage: infra-gitops {command} " in done.stderr
    # The complaint: the unknown flag, or first a required argument left out.
    assert re.search(
        rf"infra-gitops {command}: error: (unrecognized arguments: --no-such-flag|"
        "the following arguments are required)",
        done.stderr,
    ), done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "state").exists()  # refused before anything ran


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["ci"],
        ["no-such-command"],
        ["history", "--limit", "zero"],
        ["prune", "gone", "--confirm", "--timeout", "-5"],
        ["prune", "gone", "--confirm", "--lock-wait", "nan"],
    ],
    ids=repr,
)
def test_missing_or_unknown_commands_and_bad_values_exit_1(argv: list[str]) -> None:
    done = run(*argv)

    assert done.returncode == 1, done.stderr
    assert "usage: infra-gitops" in done.stderr and "error: " in done.stderr


# ------------------------------------------------------------------ global flags


def test_global_flags_go_before_or_after_the_subcommand(tmp_path: Path) -> None:
    state, other = tmp_path / "state", tmp_path / "other"
    ids = record_runs(state)

    after = run("history", "--state-dir", str(state), "--json")
    before = run("--state-dir", str(state), "--json", "history")
    mixed = run("--json", "history", "--state-dir", str(state))
    assert history_ids(after) == history_ids(before) == history_ids(mixed) == ids
    # Given twice: the subcommand's value wins.
    assert (
        history_ids(run("--state-dir", str(other), "history", "--state-dir", str(state), "--json"))
        == ids
    )
    assert (
        history_ids(run("--state-dir", str(state), "history", "--state-dir", str(other), "--json"))
        == []
    )


def test_every_global_flag_comes_from_its_variable_and_a_flag_wins(tmp_path: Path) -> None:
    state, other = tmp_path / "state", tmp_path / "other"
    ids = record_runs(state)

    by_variables = run(
        "history", env={"INFRA_GITOPS_STATE_DIR": str(state), "INFRA_GITOPS_JSON": "1"}
    )
    assert history_ids(by_variables) == ids
    by_home = run("history", "--json", env={"INFRA_GITOPS_HOME": str(state)})  # still works
    assert history_ids(by_home) == ids
    flag_wins = run(
        "history", "--json", "--state-dir", str(state), env={"INFRA_GITOPS_STATE_DIR": str(other)}
    )
    assert history_ids(flag_wins) == ids
    assert not run(
        "history", env={"INFRA_GITOPS_STATE_DIR": str(state), "INFRA_GITOPS_JSON": "0"}
    ).stdout.startswith("{")

    repo = tmp_path / "infra"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "main.tf").write_text("")
    (repo / "gitops.yaml").write_text("version: 1\nstacks:\n  - {name: app, path: app}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    repo_env = {"INFRA_GITOPS_REPO": str(repo), "INFRA_GITOPS_STATE_DIR": str(state)}
    assert run("validate", env=repo_env, cwd=elsewhere).returncode == 0
    assert run("validate", "--repo", str(elsewhere), env=repo_env).returncode == 1  # flag wins


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("INFRA_GITOPS_JSON", "maybe"),
        ("INFRA_GITOPS_QUIET", "2"),
        ("INFRA_GITOPS_ARTIFACT_STORE", "ftp://x"),
        ("INFRA_GITOPS_DATABASE_URL", "mysql://app:hunter2pw@db/x"),
    ],
)
def test_a_bad_value_in_a_variable_is_a_usage_error_naming_it(
    tmp_path: Path, variable: str, value: str
) -> None:
    done = run("history", "--state-dir", str(tmp_path / "state"), env={variable: value})

    assert done.returncode == 1
    assert f"error: ${variable}: " in done.stderr
    assert "hunter2pw" not in done.stderr
    assert not (tmp_path / "state").exists()


def test_a_required_global_flag_may_come_before_the_subcommand_or_from_its_variable() -> None:
    missing = run("daemon", "--poll-interval", "0")  # refused before the daemon starts
    assert missing.returncode == 1
    assert "--poll-interval" in missing.stderr
    nothing = run("daemon")
    assert nothing.returncode == 1
    assert "required: --repo (or $INFRA_GITOPS_REPO)" in nothing.stderr
    # Given before the subcommand, the remote satisfies the daemon: it then fails on the
    # next check (a bad interval), not on --repo.
    before = run("--repo", "/nowhere", "daemon", "--poll-interval", "0")
    assert before.returncode == 1 and "--repo" not in before.stderr.splitlines()[-1]


# ------------------------------------------------------------------ help


def _option_blocks(help_text: str) -> dict[str, str]:
    """Each option's help block (first option string -> text), whitespace normalized."""
    blocks: dict[str, str] = {}
    current = None
    for line in help_text.splitlines():
        match = re.match(r"^  (-{1,2}[\w-]+)", line)
        if match:
            current = match.group(1)
            blocks[current] = line
        elif current and line.startswith("    "):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return {flag: " ".join(text.split()) for flag, text in blocks.items()}


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_a_description_examples_and_the_defaults(command: str) -> None:
    done = run(*command.split(), "--help")

    assert done.returncode == 0, done.stderr
    parser = dict((path, p) for path, _, p in cli._leaf_parsers(cli.build_parser()))[command]
    assert parser.description and parser.description.split()[0] in done.stdout
    assert re.search(rf"^examples:\n  infra-gitops {command}\b", done.stdout, re.MULTILINE), (
        done.stdout
    )
    blocks = _option_blocks(done.stdout)
    for action in parser._actions:
        if cli._shows_default(action) and action.option_strings:
            flag = action.option_strings[0]
            assert "default" in blocks[flag], f"{command} {flag}: {blocks[flag]}"
    for flag in ("--state-dir", "--json"):
        if flag in blocks:
            assert "[env: $INFRA_GITOPS_" in blocks[flag]


# ------------------------------------------------------------------ completion


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_printed_for_each_shell(shell: str) -> None:
    done = run("completion", shell)

    assert done.returncode == 0, done.stderr
    assert "infra-gitops" in done.stdout and "_ARGCOMPLETE" in done.stdout


def test_the_bash_completion_loads_and_completes_subcommands_and_flags(tmp_path: Path) -> None:
    env = {**_CLEAN, "PATH": f"{SCRIPT.parent}{os.pathsep}{os.environ['PATH']}"}
    loaded = subprocess.run(
        ["bash", "-c", "source <(infra-gitops completion bash) && complete -p infra-gitops"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip().endswith("infra-gitops")

    # What the loaded function asks: the CLI answers from its own parser.
    answers = tmp_path / "answers"
    for line, expected in (("infra-gitops sta", "status"), ("infra-gitops --state", "--state-dir")):
        asked = {
            **env,
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_IFS": "\n",
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            "_ARGCOMPLETE_STDOUT_FILENAME": str(answers),
        }
        done = subprocess.run(
            [str(SCRIPT)], env=asked, capture_output=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        assert expected in answers.read_text().split(), answers.read_text()


# ------------------------------------------------------------------ colour


def _on_a_terminal(*args: str, env: Mapping[str, str] | None = None) -> str:
    """args run with stdout on a pseudo-terminal; what it showed."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [str(SCRIPT), *args],
            env={**_CLEAN, **(env or {})},
            stdout=follower,
            stderr=subprocess.PIPE,
        )
    finally:
        os.close(follower)
    shown = b""
    try:
        while chunk := os.read(leader, 65536):
            shown += chunk
    except OSError:  # EIO: the terminal's other side closed
        pass
    finally:
        os.close(leader)
    assert proc.wait(timeout=60) == 0
    return shown.decode()


def test_colour_on_a_terminal_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    record_runs(state, count=2)
    flags = ("--state-dir", str(state))

    for command in ("status", "history"):
        coloured = _on_a_terminal(command, *flags)
        assert ESCAPE in coloured, coloured
        assert ESCAPE not in _on_a_terminal(command, *flags, env={"NO_COLOR": ""})
        assert ESCAPE not in _on_a_terminal(command, "--no-color", *flags)
        assert ESCAPE not in _on_a_terminal(command, *flags, env={"INFRA_GITOPS_NO_COLOR": "1"})
        piped = run(command, *flags)
        assert piped.returncode == 0 and ESCAPE not in piped.stdout
        # Colour takes no width: the table lines up the same with and without it.
        plain = re.sub(r"\x1b\[[0-9;]*m", "", coloured).replace("\r\n", "\n")
        assert plain == piped.stdout


# ------------------------------------------------------------------ closed pipe


def test_history_into_head_ends_quietly_with_0(tmp_path: Path) -> None:
    state = tmp_path / "state"
    record_runs(state, count=3)
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; '{SCRIPT}' history --state-dir '{state}' | head -1"],
        env=_CLEAN,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["RUN", "STACK"]
    assert done.stderr == ""


@pytest.mark.parametrize("kind", ["history", "artifact"])
def test_a_pipe_closed_before_any_output_ends_quietly_with_0(tmp_path: Path, kind: str) -> None:
    state = tmp_path / "state"
    (run_id,) = record_runs(state)
    argv = ["history"] if kind == "history" else ["show", run_id, "--artifact", "plan.json"]
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the first write: EPIPE for certain
    try:
        done = subprocess.run(
            [str(SCRIPT), *argv, "--state-dir", str(state)],
            env=_CLEAN,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_plan_summaries_colour_their_statuses_only_when_colour_is_on() -> None:
    from infra_gitops import report
    from infra_gitops.models import StackOutcome

    outcomes = [
        StackOutcome("network", RunKind.PLAN, RunStatus.NO_CHANGES),
        StackOutcome("app", RunKind.PLAN, RunStatus.FAILED, error="boom"),
    ]
    plain = report.render_outcomes(outcomes)
    try:
        report.set_colour(True)
        coloured = report.render_outcomes(outcomes)
    finally:
        report.set_colour(False)

    assert ESCAPE not in plain
    assert "app: \x1b[31mFAILED\x1b[0m" in coloured  # red
    assert "\x1b[32m1 no changes\x1b[0m" in coloured  # green, in the summary
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_version() -> None:
    from infra_gitops import __version__

    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"infra-gitops {__version__}"


def test_quiet_from_its_variable_or_before_the_subcommand_silences_progress(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "infra"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "main.tf").write_text("")
    (repo / "gitops.yaml").write_text("version: 1\nstacks:\n  - {name: app, path: app}\n")
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(
            ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.com", *argv],
            cwd=repo,
            check=True,
            timeout=60,
        )
    # apply --from-plan says which commit it works on, then finds no stored plan (exit 1).
    argv = ["apply", "--from-plan", "--store", str(tmp_path / "plans")]
    env = {"INFRA_GITOPS_STATE_DIR": str(tmp_path / "state")}

    def progress_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
        assert done.returncode == 1 and "no stored plan" in done.stderr, done.stderr
        return [line for line in done.stderr.splitlines() if line.startswith("[")]

    assert progress_lines(run(*argv, env=env, cwd=repo))  # the check can see progress
    assert progress_lines(run(*argv, env={**env, "INFRA_GITOPS_QUIET": "1"}, cwd=repo)) == []
    assert progress_lines(run("-q", *argv, env=env, cwd=repo)) == []
