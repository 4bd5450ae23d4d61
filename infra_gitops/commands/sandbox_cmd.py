"""`infra-gitops sandbox up | down | status`: the offline local cloud."""

from __future__ import annotations

import argparse
from typing import TextIO

from infra_gitops import report, sandbox
from infra_gitops.options import Options
from infra_gitops.progress import Progress


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    if args.action == "up":
        progress.say("starting the local cloud (moto server) and installing the sandbox provider")
        return _print(sandbox.up(options.state_dir), "up", args.json, out)
    if args.action == "down":
        sandbox.down(options.state_dir)
        return _print(None, "down", args.json, out)
    running = sandbox.status(options.state_dir)
    dead_endpoint = sandbox.recorded_endpoint(options.state_dir) if running is None else None
    if dead_endpoint:
        print(f"sandbox: not answering at {dead_endpoint}; run `infra-gitops sandbox up`", file=out)
        return 1
    return _print(running, "status", args.json, out)


def _print(info: sandbox.SandboxInfo | None, action: str, json_out: bool, out: TextIO) -> int:
    if json_out:
        body = {"running": info is not None, "endpoint": info.endpoint if info else None}
        print(report.envelope(f"sandbox {action}", 0, body), file=out)
    elif info is None:
        print("sandbox: not running", file=out)
    else:
        print(f"sandbox: running at {info.endpoint}", file=out)
    return 0
