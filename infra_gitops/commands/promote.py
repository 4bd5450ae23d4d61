"""`infra-gitops promote STACK --from ENV --to ENV`: pin the target environment to the
revision the source environment has applied, as a commit (see promotion/promote.py).

Exit 0 promoted (or the target runs that revision already), 1 refused or an error.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TextIO

from infra_gitops import report
from infra_gitops.commands.history import open_store
from infra_gitops.options import Options
from infra_gitops.progress import Progress


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("definition", metavar="STACK", help="the stack's own name (app, not app@prod)")
    p.add_argument("--from", dest="source", required=True, metavar="ENV", help="promote from")
    p.add_argument("--to", dest="target", required=True, metavar="ENV", help="promote to")
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--push",
        action="store_true",
        help="push the promotion commit to the branch on origin (default: commit only)",
    )
    how.add_argument(
        "--pull-request",
        metavar="HOST:PROJECT",
        help="commit on a new branch, push it to origin and open a pull request for it "
        "on github:OWNER/REPO (token in $GITHUB_TOKEN) or gitlab:GROUP/PROJECT ($GITLAB_TOKEN)",
    )
    p.add_argument(
        "--api-url",
        metavar="URL",
        help="the GitHub or GitLab API (default: $GITHUB_API_URL or $CI_API_V4_URL, else "
        "api.github.com or gitlab.com)",
    )


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    import os
    from contextlib import nullcontext

    from infra_gitops.ci.hosting import open_change_requests
    from infra_gitops.promotion.promote import Request, promote

    request = Request(args.definition, args.source, args.target, push=args.push)
    hosting = (
        open_change_requests(args.pull_request, os.environ, args.api_url)
        if args.pull_request
        else nullcontext(None)
    )
    with hosting as changes, open_store(options) as store:
        done = promote(options.repo, store, request, changes)
    if args.json:
        print(report.envelope("promote", 0, dataclasses.asdict(done)), file=out)
    elif done.commit is None:
        print(f"{done.target} runs {done.revision[:10]} already: nothing to promote", file=out)
    else:
        where = " (not pushed: --push, --pull-request)"
        if done.pull_request:
            where = f" on branch {done.pushed_to}; pull request: {done.pull_request}"
        elif done.pushed_to:
            where = f", pushed to {done.pushed_to}"
        print(
            f"promoted {done.source} to {done.target}: pinned to {done.revision[:10]} by commit "
            f"{done.commit[:10]}{where}",
            file=out,
        )
    return 0
