"""`infra-gitops sandbox up | down | status`: the offline local cloud."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from infra_gitops import report, sandbox
from infra_gitops.errors import ConfigError
from infra_gitops.options import Options
from infra_gitops.progress import Progress

PROVIDER_MIRROR_ENV = "INFRA_GITOPS_PROVIDER_MIRROR"


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    if args.action == "up":
        provider_mirror = _provider_mirror(args.provider_mirror, os.environ)
        which = (
            f"the real hashicorp/aws from {provider_mirror}"
            if provider_mirror
            else "the sandbox provider"
        )
        progress.say(f"starting the local cloud (moto server) with {which}")
        return _print(sandbox.up(options.state_dir, provider_mirror), "up", args.json, out)
    if args.provider_mirror is not None:
        raise ConfigError(f"--provider-mirror: only with `sandbox up`, not `{args.action}`")
    if args.action == "down":
        sandbox.down(options.state_dir)
        return _print(None, "down", args.json, out)
    running = sandbox.status(options.state_dir)
    dead_endpoint = sandbox.recorded_endpoint(options.state_dir) if running is None else None
    if dead_endpoint:
        print(f"sandbox: not answering at {dead_endpoint}; run `infra-gitops sandbox up`", file=out)
        return 1
    return _print(running, "status", args.json, out)


def _provider_mirror(given: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The flag, else the variable (empty: unset)."""
    if given is not None:
        return given
    from_env = environ.get(PROVIDER_MIRROR_ENV, "").strip()
    return Path(from_env) if from_env else None


def _print(info: sandbox.SandboxInfo | None, action: str, json_out: bool, out: TextIO) -> int:
    if json_out:
        body = {
            "running": info is not None,
            "endpoint": info.endpoint if info else None,
            "provider": _provider_body(info),
        }
        print(report.envelope(f"sandbox {action}", 0, body), file=out)
    elif info is None:
        print("sandbox: not running", file=out)
    else:
        print(f"sandbox: running at {info.endpoint}", file=out)
        print(f"provider: {info.describe_provider()}", file=out)
    return 0


def _provider_body(info: sandbox.SandboxInfo | None) -> dict[str, object] | None:
    if info is None:
        return None
    real = info.real_provider
    if real is None:
        return {
            "kind": "sandbox",
            "source": sandbox.PROVIDER_SOURCE,
            "versions": [sandbox.PROVIDER_VERSION],
            "mirror": None,
        }
    return {
        "kind": "real",
        "source": "hashicorp/aws",
        "versions": list(real.versions),
        "mirror": str(real.mirror_dir),
    }
