"""A STAND-IN for the `pulumi` CLI, for tests on machines without it. NOT the real engine.

It answers the commands the Automation API sends, with the arguments it sends them, and
replays recorded-shape event streams (this directory's *.jsonl) into `--event-log`. It
deploys nothing. What it was asked is appended to $STANDIN_DIR/calls.jsonl so tests can
check how the engine drove the CLI.

Scenario (environment): STANDIN_DIR (its state), STANDIN_PREVIEW / STANDIN_REFRESH /
STANDIN_UP / STANDIN_DESTROY (event files to replay), STANDIN_FAIL (a command name that
fails after replaying its events).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent
STATE = Path(os.environ["STANDIN_DIR"])
# At or below 3.205 the SDK reads events from a file rather than over gRPC.
VERSION = "v3.205.0"


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def replay(args: list[str], scenario: str | None) -> None:
    target = option(args, "--event-log")
    if target is None:
        return
    with open(target, "a", encoding="utf-8") as out:
        if scenario:
            out.write((DATA / scenario).read_text(encoding="utf-8"))
        else:
            out.write(json.dumps({"sequence": 1, "timestamp": 1, "summaryEvent": {}}) + "\n")
        out.write(json.dumps({"sequence": 10**6, "timestamp": 1, "cancelEvent": {}}) + "\n")


def fail_if_asked(command: str) -> None:
    if os.environ.get("STANDIN_FAIL") == command:
        print("error: update failed", file=sys.stderr)
        sys.exit(255)


def config() -> dict[str, dict[str, object]]:
    path = STATE / "config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save_config(values: dict[str, dict[str, object]]) -> None:
    (STATE / "config.json").write_text(json.dumps(values))


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--non-interactive"]
    stdin = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    STATE.mkdir(parents=True, exist_ok=True)
    with (STATE / "calls.jsonl").open("a", encoding="utf-8") as log:
        call = {"args": args, "stdin": bool(stdin), "backend": os.environ.get("PULUMI_BACKEND_URL")}
        log.write(json.dumps(call) + "\n")
    words = [a for a in args if not a.startswith("-")]
    stack = option(args, "--stack")
    if words[:1] == ["version"]:
        print(VERSION)
    elif words[:2] == ["stack", "select"]:
        if not (STATE / f"stack-{stack}").exists():
            print(f"error: no stack named '{stack}' found", file=sys.stderr)
            return 255
    elif words[:2] == ["stack", "init"]:
        (STATE / f"stack-{words[2]}").write_text("")
    elif words[:2] == ["config", "set-all"]:
        values = config()
        for i, arg in enumerate(args):
            if arg in ("--plaintext", "--secret"):
                key, _, value = args[i + 1].partition("=")
                values[key] = {"value": value, "secret": arg == "--secret"}
        save_config(values)
    elif words[:2] == ["config", "set"]:
        values = config()
        values[words[2]] = {"value": stdin or "", "secret": "--secret" in args}
        save_config(values)
    elif words[:1] == ["preview"]:
        replay(args, os.environ.get("STANDIN_PREVIEW"))
        fail_if_asked("preview")
        plan = option(args, "--save-plan")
        if plan:
            Path(plan).write_text('{"resourcePlans": {}}')
        if "--json" in args:
            doc = json.loads((DATA / "preview_json_update.json").read_text(encoding="utf-8"))
            print(json.dumps(doc, indent=4))
    elif words[:1] == ["refresh"]:
        replay(args, os.environ.get("STANDIN_REFRESH"))
        fail_if_asked("refresh")
    elif words[:1] == ["up"]:
        plan = option(args, "--plan")
        if plan is None or not Path(plan).exists():
            print("error: no update plan", file=sys.stderr)
            return 255
        replay(args, os.environ.get("STANDIN_UP"))
        fail_if_asked("up")
        (STATE / "applied").write_text(Path(plan).read_text())
    elif words[:1] == ["destroy"]:
        replay(args, os.environ.get("STANDIN_DESTROY"))
        fail_if_asked("destroy")
    elif words[:2] == ["stack", "output"]:
        token = "tok-0123456789" if "--show-secrets" in args else "[secret]"
        print(json.dumps({"queue_url": "http://127.0.0.1:4566/000000000000/jobs", "token": token}))
    elif words[:2] == ["stack", "export"]:
        print((DATA / "stack_export.json").read_text(encoding="utf-8"))
    elif words[:2] == ["stack", "history"]:
        entry = {
            "kind": "update",
            "startTime": "2026-11-01T10:00:00.000000Z",
            "endTime": "2026-11-01T10:00:05.000000Z",
            "message": "",
            "environment": {},
            "config": {},
            "result": "succeeded",
            "version": 1,
        }
        print(json.dumps([entry]))
    else:
        print(f"stand-in pulumi: unsupported command {args}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
