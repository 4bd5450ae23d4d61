"""`infra-gitops promote STACK --from ENV --to ENV`: pin the target environment to the
revision the source environment has applied, as a commit (see promotion/promote.py).

Exit 0 promoted (or the target runs that revision already), 1 refused or an error.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from infra_gitops import report
from infra_gitops.commands.history import open_store
from infra_gitops.options import Options
from infra_gitops.progress import Progress


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("definition", metavar="STACK", help="the stack's own name (app, not app@prod)")
    p.add_argument("--from", dest="source", required=True, metavar="ENV", help="promote from")
    p.add_argument("--to", dest="target", required=True, metavar="ENV", help="promote to")
    p.add_argument(
        "--push",
        action="store_true",
        help="push the promotion commit to the branch on origin (default: commit only)",
    )


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    from infra_gitops.promotion.promote import Request, promote

    request = Request(args.definition, args.source, args.target, push=args.push)
    with open_store(options) as store:
        done = promote(options.repo, store, request)
    result = {
        "source": done.source,
        "target": done.target,
        "revision": done.revision,
        "commit": done.commit,
        "pushed_to": done.pushed_to,
    }
    if args.json:
        print(report.envelope("promote", 0, result), file=out)
    elif done.commit is None:
        print(f"{done.target} runs {done.revision[:10]} already: nothing to promote", file=out)
    else:
        pushed = f", pushed to {done.pushed_to}" if done.pushed_to else " (not pushed: --push)"
        print(
            f"promoted {done.source} to {done.target}: pinned to {done.revision[:10]} by commit "
            f"{done.commit[:10]}{pushed}",
            file=out,
        )
    return 0
