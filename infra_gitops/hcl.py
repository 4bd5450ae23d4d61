"""Writing HCL: the few literal forms the project writes into Terraform files (backend
config files, CLI config, override files)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any


def string(text: str) -> str:
    """A quoted HCL string literal: JSON escapes are valid HCL; template sequences are
    doubled so they stay literal."""
    return json.dumps(text).replace("${", "$${").replace("%{", "%%{")


def attributes(config: Mapping[str, Any]) -> str:
    """`key = value` lines (sorted by key), e.g. a .tfbackend file; maps become objects."""
    return "".join(f"{_key(k)} = {value(v)}\n" for k, v in sorted(config.items()))


def value(item: Any) -> str:
    if item is None:
        return "null"
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int | float):
        return json.dumps(item)
    if isinstance(item, str):
        return string(item)
    if isinstance(item, Mapping):
        body = ", ".join(f"{_key(str(k))} = {value(v)}" for k, v in item.items())
        return "{ " + body + " }" if body else "{}"
    if isinstance(item, list | tuple):
        return "[" + ", ".join(value(v) for v in item) + "]"
    raise TypeError(f"cannot write {type(item).__name__} as an HCL value")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key) else string(key)
