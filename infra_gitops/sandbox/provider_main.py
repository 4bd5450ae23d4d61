"""Run the sandbox provider: `python -m infra_gitops.sandbox.provider_main [--dev]`.

Terraform starts it through the launcher in the filesystem mirror; `--dev` serves it in
debug mode (started once, Terraform attaches through TF_REATTACH_PROVIDERS).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType


def main(argv: list[str] | None = None) -> int:
    from tf.runner import run_provider

    from infra_gitops.process import die_with_parent
    from infra_gitops.sandbox.provider import SandboxAwsProvider

    # SIGTERM (how a reattached provider is stopped) unwinds normally, so the temporary
    # directory holding the provider's unix socket is removed.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    # The reattached provider runs in its own session, outside Terraform's process
    # group: without this, a SIGKILL of infra-gitops would leave it serving forever.
    die_with_parent()

    run_provider(SandboxAwsProvider(), list(sys.argv if argv is None else argv))
    return 0


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    sys.exit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
