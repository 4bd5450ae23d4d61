"""`infra-gitops unmanaged`: resources no stack manages, of the types the stacks manage;
with --adopt-into, import blocks and their configuration written into a stack.

Exit 0 none found (or, with --adopt-into, the files written), 2 some found, 1 error.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from infra_gitops import report
from infra_gitops.ci.store import default_location
from infra_gitops.commands.outcomes import EXIT_CHANGES, EXIT_OK
from infra_gitops.errors import GitOpsError
from infra_gitops.progress import Progress
from infra_gitops.session import Options, Session, open_session

if TYPE_CHECKING:
    from infra_gitops.unmanaged.scan import Finding, ScanResult


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    from infra_gitops.unmanaged.scan import ScanScope, scan, store_buckets

    if args.only and not args.adopt_into:
        raise GitOpsError("--only selects what --adopt-into adopts: give --adopt-into STACK")
    with open_session(options, progress) as session:
        # Names or globs, a stack with environments meaning all its instances (as --stack).
        selected = session.view.selected(args.stack_globs, with_dependencies=False)
        if args.adopt_into:  # refused before the scan, not after it
            from infra_gitops.unmanaged.adopt import check_target

            check_target(session.runner, session.manifest.stack(args.adopt_into), options.repo)
        progress.say(f"reading the state of {len(session.manifest.stacks)} stack(s)")
        result = scan(
            ScanScope(
                runner=session.runner,
                manifest=session.manifest,
                source_of=lambda stack: session.view.source_of(stack).root,
                target=session.target,
                selected=selected,
                infra_buckets=store_buckets(
                    default_location(options.state_dir, session.target.base_env),
                    options.artifact_store,
                ),
                parallelism=options.parallelism,
            )
        )
        if args.adopt_into:
            return _adopt(session, args, result.findings, out)
    code = EXIT_CHANGES if result.findings else EXIT_OK
    shown = [*result.findings, *(result.ignored if args.show_ignored else ())]
    if args.json:
        data: dict[str, Any] = {
            "findings": [f.to_json() for f in result.findings],
            "scanned_types": list(result.scanned_types),
            "regions": list(result.regions),
            "notices": list(result.notices),
        }
        if args.show_ignored:
            data["ignored"] = [f.to_json() for f in result.ignored]
        print(report.envelope("unmanaged", code, data), file=out)
        return code
    print(_table(shown) if shown else _none_found(result), file=out)
    for notice in result.notices:
        print(notice, file=out)
    return code


def _none_found(result: ScanResult) -> str:
    types = ", ".join(result.scanned_types) or "none"
    return f"no unmanaged resources (scanned: {types}; regions: {', '.join(result.regions)})"


def _table(findings: Sequence[Finding]) -> str:
    header: tuple[str, ...] = ("TYPE", "IDENTIFIER", "CREATED", "TAGS", "IGNORED BY")
    rows: list[tuple[str, ...]] = [
        (
            f.type,
            f.identifier,
            f.created or (f"modified {f.modified}" if f.modified else "-"),
            ",".join(f"{k}={v}" for k, v in sorted(f.tags.items())) or "-",
            f.ignored_by or "",
        )
        for f in findings
    ]
    if not any(row[-1] for row in rows):
        header, rows = header[:-1], [row[:-1] for row in rows]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def _adopt(
    session: Session, args: argparse.Namespace, findings: Sequence[Finding], out: TextIO
) -> int:
    from infra_gitops.unmanaged.adopt import adopt

    stack = session.manifest.stack(args.adopt_into)
    chosen = list(findings)
    if args.only:
        wanted = {tuple(item.split(":", 1)) for item in args.only}
        known = {(f.type, f.identifier) for f in findings}
        missing = sorted(":".join(w) for w in wanted - known)
        if missing:
            raise GitOpsError(
                f"--only {', '.join(missing)}: not among the unmanaged resources found "
                "(give TYPE:IDENTIFIER as `unmanaged` lists them)"
            )
        chosen = [f for f in findings if (f.type, f.identifier) in wanted]
    adopted = adopt(session.runner, stack, chosen, session.options.repo)
    if args.json:
        data = {
            "stack": stack.name,
            "files": [str(p) for p in adopted.files],
            "imports": [
                {"to": address, "type": f.type, "id": f.identifier}
                for address, f in adopted.addresses
            ],
            "to_fill": list(adopted.to_fill),
        }
        print(report.envelope("unmanaged", EXIT_OK, data), file=out)
        return EXIT_OK
    for address, f in adopted.addresses:
        print(f"import {f.type} {f.identifier} -> {address}", file=out)
    for path in adopted.files:
        print(f"wrote {path}", file=out)
    for attribute in adopted.to_fill:
        print(
            f"fill in {attribute}: sensitive, so Terraform wrote null (the import would "
            "set it to null)",
            file=out,
        )
    print(
        "next: review the files, commit them and open a pull request; the daemon (or "
        f"`infra-gitops apply --stack {stack.name}`) then imports the resources: nothing "
        "is created or changed",
        file=out,
    )
    return EXIT_OK
