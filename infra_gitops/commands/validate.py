"""`infra-gitops validate`: check the manifest. Exit 0 valid, 1 not."""

from __future__ import annotations

import argparse
from typing import TextIO

from infra_gitops import config, report
from infra_gitops.options import Options
from infra_gitops.progress import Progress


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    problems = config.validate_manifest(options.repo)
    code = 1 if problems else 0
    if args.json:
        result = {"valid": not problems, "problems": [_problem_dict(p) for p in problems]}
        print(report.envelope("validate", code, result), file=out)
    elif problems:
        print("\n".join(str(p) for p in problems), file=out)
        print(f"{len(problems)} problem(s) found.", file=out)
    else:
        manifest = config.load_manifest(options.repo)
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


def _problem_dict(problem: config.Problem) -> dict[str, object]:
    return {
        "file": str(problem.file),
        "line": problem.line,
        "key": problem.key_path,
        "message": problem.message,
    }
