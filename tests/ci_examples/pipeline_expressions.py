"""The few expression forms the example pipelines use, evaluated as GitHub Actions and
GitLab CI evaluate them. Anything else raises UnknownExpression, which fails the test:
a pipeline cannot drift into syntax this harness does not understand.

GitHub: `${{ CONTEXT.path }}` (contexts: github, inputs, env, secrets, vars, steps,
runner; a missing property is '' as on GitHub) and `A == B` of paths and 'strings'.
GitLab: `$[[ inputs.NAME ]]` interpolation, `$VAR` / `${VAR}` expansion in variables,
and `rules: if:` made of `$VAR == "string"`, `$A == $B` and `&&`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

GITHUB_CONTEXTS = frozenset({"github", "inputs", "env", "secrets", "vars", "steps", "runner"})

_GH_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_GH_PATH = re.compile(r"^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$")
_GH_STRING = re.compile(r"^'((?:[^']|'')*)'$")
_GL_INPUT = re.compile(r"\$\[\[\s*(.*?)\s*\]\]")
_GL_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


class UnknownExpression(AssertionError):
    """An expression outside the forms above: the harness would have to guess."""


def github_value(expression: str, contexts: Mapping[str, Any]) -> Any:
    """The value of one expression (without `${{ }}`)."""
    left, op, right = expression.partition("==")
    if op:
        return _github_operand(left.strip(), contexts) == _github_operand(right.strip(), contexts)
    return _github_operand(expression.strip(), contexts)


def _github_operand(text: str, contexts: Mapping[str, Any]) -> Any:
    literal = _GH_STRING.match(text)
    if literal:
        return literal.group(1).replace("''", "'")
    if not _GH_PATH.match(text) or text.split(".")[0] not in GITHUB_CONTEXTS:
        raise UnknownExpression(f"GitHub expression the harness does not know: {text!r}")
    value: Any = contexts.get(text.split(".")[0], {})
    for part in text.split(".")[1:]:
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else value


def github_text(text: str, contexts: Mapping[str, Any]) -> str:
    """text with every `${{ ... }}` replaced by its value, as the runner does."""
    return _GH_EXPRESSION.sub(lambda m: _as_text(github_value(m.group(1), contexts)), text)


def github_known(text: str, contexts: Mapping[str, Any]) -> None:
    """Every `${{ }}` in a file is of a form the harness knows, even where it does not
    evaluate it (concurrency groups, steps of the other job): else UnknownExpression."""
    for match in _GH_EXPRESSION.finditer(text):
        github_value(match.group(1), contexts)


def github_condition(condition: str | bool | None, contexts: Mapping[str, Any]) -> bool:
    """A job's or step's `if:` (with or without `${{ }}`); absent is true."""
    if condition is None:
        return True
    if isinstance(condition, bool):
        return condition
    inner = _GH_EXPRESSION.fullmatch(condition.strip())
    return bool(github_value(inner.group(1) if inner else condition, contexts))


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def gitlab_inputs(text: str, inputs: Mapping[str, str]) -> str:
    """text with every `$[[ inputs.NAME ]]` replaced; an unknown one raises."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if not name.startswith("inputs.") or name[len("inputs.") :] not in inputs:
            raise UnknownExpression(f"GitLab interpolation the harness does not know: {name!r}")
        return inputs[name[len("inputs.") :]]

    return _GL_INPUT.sub(value, text)


def gitlab_expand(value: str, variables: Mapping[str, str]) -> str:
    """`$VAR` and `${VAR}` in a variable's value expanded (unset: empty), as GitLab does."""
    return _GL_VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), value)


def gitlab_rule(condition: str, variables: Mapping[str, str]) -> bool:
    """A `rules: if:` clause: comparisons joined by &&."""
    return all(_gitlab_comparison(part.strip(), variables) for part in condition.split("&&"))


def _gitlab_comparison(text: str, variables: Mapping[str, str]) -> bool:
    left, op, right = text.partition("==")
    if not op:
        raise UnknownExpression(f"GitLab rule the harness does not know: {text!r}")
    return _gitlab_operand(left.strip(), variables) == _gitlab_operand(right.strip(), variables)


def _gitlab_operand(text: str, variables: Mapping[str, str]) -> str:
    if re.fullmatch(r'"[^"]*"', text):
        return text[1:-1]
    if re.fullmatch(r"\$\w+", text):
        return variables.get(text[1:], "")
    raise UnknownExpression(f"GitLab rule operand the harness does not know: {text!r}")
