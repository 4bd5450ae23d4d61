"""Moving an environment's pin in the manifest's text, the way a person would edit it.

Only the line of the pin changes (or one line is added under the environment's name):
comments, layout and every other setting stay as they are, so the commit's diff is one
line a reviewer reads at a glance. An environment written in flow style ({name: prod})
is refused rather than rewritten; the edited text is parsed again and must hold exactly
the new pin there.
"""

from __future__ import annotations

import re

from infra_gitops.config.document import Document, KeyPath, render_key_path
from infra_gitops.config.yaml_source import parse_text
from infra_gitops.errors import ConfigError

_REVISION_LINE = re.compile(r"^(?P<key>\s*(?:-\s+)?revision\s*:\s*)(?P<value>\S+)(?P<rest>.*)$")
_NAME_LINE = re.compile(r"^(?P<indent>\s*)(?P<dash>-\s+)?name\s*:\s*\S")


def with_pin(text: str, doc: Document, environment: KeyPath, sha: str) -> str:
    """text with environment's `revision` set to sha (quoted)."""
    lines = text.splitlines(keepends=True)
    where = render_key_path(environment)
    revision_at = doc.lines.get((*environment, "revision"))
    if revision_at is not None:
        match = _REVISION_LINE.match(lines[revision_at - 1].rstrip("\n"))
        if match is None:
            raise _flow_style(doc, where, revision_at)
        newline = "\n" if lines[revision_at - 1].endswith("\n") else ""
        lines[revision_at - 1] = f'{match["key"]}"{sha}"{match["rest"]}{newline}'
    else:
        name_at = doc.lines.get((*environment, "name"))
        match = _NAME_LINE.match(lines[name_at - 1]) if name_at is not None else None
        if name_at is None or match is None or "{" in lines[name_at - 1]:
            raise _flow_style(doc, where, name_at)
        column = len(match["indent"]) + len(match["dash"] or "")
        lines.insert(name_at, " " * column + f'revision: "{sha}"\n')
    edited = "".join(lines)
    check, problems = parse_text(edited, doc.file)
    if problems or check is None or check.get((*environment, "revision")) != sha:
        raise ConfigError(f"{doc.file}: could not set {where}.revision safely: edit it by hand")
    return edited


def _flow_style(doc: Document, where: str, line: int | None) -> ConfigError:
    return ConfigError(
        f"{doc.file}:{line}: {where} is written in flow style ({{name: ...}}): write it as a "
        "block (one key per line) for `promote` to move its pin"
    )
