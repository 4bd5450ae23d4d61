"""`infra-gitops validate`: check the manifest. Exit 0 valid, 1 not."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TextIO

from infra_gitops import config, report
from infra_gitops.models import Stack
from infra_gitops.options import Options
from infra_gitops.progress import Progress


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    problems = config.validate_manifest(options.repo)
    code = 1 if problems else 0
    manifest = None if problems else config.load_manifest(options.repo)
    if args.json:
        result: dict[str, object] = {
            "valid": not problems,
            "problems": [_problem_dict(p) for p in problems],
        }
        if args.expand and manifest is not None:
            result["stacks"] = [_stack_dict(s) for s in manifest.stacks]
        print(report.envelope("validate", code, result), file=out)
    elif manifest is None:
        print("\n".join(str(p) for p in problems), file=out)
        print(f"{len(problems)} problem(s) found.", file=out)
    else:
        if args.expand:
            print(_expanded(manifest.stacks), file=out)
        print(f"{manifest.path}: valid, {len(manifest.stacks)} stack(s)", file=out)
        for stack in manifest.stacks:
            for variable in stack.mock_outputs:
                other, output = stack.variables_from_stack[variable]
                print(
                    f"  {stack.name}: variable {variable!r} has a mock for output {output!r} "
                    f"of {other} (used by plan and ci plan until {other} has it)",
                    file=out,
                )
    return code


def _stack_dict(stack: Stack) -> dict[str, object]:
    return {
        "name": stack.name,
        "definition": stack.definition,
        "environment": stack.environment,
        "revision": stack.revision,
        "path": stack.path,
        "engine": stack.engine,
        "workspace": stack.workspace,
        "depends_on": list(stack.depends_on),
        "tags": list(stack.tags),
    }


def _expanded(stacks: Sequence[Stack]) -> str:
    header = ("STACK", "ENVIRONMENT", "REVISION", "PATH", "ENGINE", "DEPENDS ON")
    rows = [
        (
            s.name,
            s.environment or "-",
            s.revision[:10] if s.revision else "branch",
            s.path,
            s.engine,
            ", ".join(s.depends_on) or "-",
        )
        for s in stacks
    ]
    return report.table(header, rows)


def _problem_dict(problem: config.Problem) -> dict[str, object]:
    return {
        "file": str(problem.file),
        "line": problem.line,
        "key": problem.key_path,
        "message": problem.message,
    }
