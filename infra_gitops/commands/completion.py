"""`infra-gitops completion bash|zsh|fish`: print the shell's completion script.

The script is argcomplete's: the shell calls infra-gitops back with $_ARGCOMPLETE set and
cli.main answers from the parser itself, so completions never go stale as flags change.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TextIO

from infra_gitops.errors import GitOpsError
from infra_gitops.options import Options
from infra_gitops.progress import Progress

PROG = "infra-gitops"
SHELLS = ("bash", "zsh", "fish")


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    import argcomplete  # only here: every other command starts without it

    shell = args.shell or _login_shell()
    print(argcomplete.shellcode([PROG], shell=shell), file=out)
    return 0


def _login_shell() -> str:
    name = Path(os.environ.get("SHELL", "")).name
    if name not in SHELLS:
        raise GitOpsError(
            f"completion: $SHELL is {name or 'not set'!r}; name the shell: "
            f"infra-gitops completion {'|'.join(SHELLS)}"
        )
    return name
