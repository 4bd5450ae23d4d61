"""Where a Pulumi stack keeps its state and how its secrets are encrypted.

Default: a local file backend in the stack's work dir (persists across runs, like the
Terraform engine's local state). A stack's `backend_config` may name another:

    backend_config:
      url: s3://my-state-bucket/infra?region=eu-west-1   # or https://api.pulumi.com
      secrets_provider: awskms://alias/pulumi             # default: passphrase

or the environment may (PULUMI_BACKEND_URL), as for the pulumi CLI itself. The sandbox's
S3 settings are Terraform backend settings and are not used for Pulumi stacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml

from infra_gitops.engines.base import StackWorkspace
from infra_gitops.errors import EngineError

SETTINGS = ("url", "secrets_provider")
PASSPHRASE_VARIABLES = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
SECRET_VARIABLES = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN")
"""Environment values that are credentials: scrubbed from everything kept."""


@dataclass(frozen=True)
class Backend:
    url: str
    secrets_provider: str | None = None

    @property
    def is_cloud(self) -> bool:
        """Pulumi Cloud (or a self-hosted service) encrypts secrets itself."""
        return urlparse(self.url).scheme in ("https", "http")


def backend_for(ws: StackWorkspace) -> Backend:
    """The stack's backend; raises EngineError for settings Pulumi does not have."""
    settings = ws.stack.backend_config
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise EngineError(
            f"stack {ws.stack.name!r}: backend_config has {', '.join(map(repr, unknown))}, "
            f"which Pulumi stacks do not use (known: {', '.join(SETTINGS)})"
        )
    url = settings.get("url") or ws.env.get("PULUMI_BACKEND_URL")
    if not url:
        state = ws.work_dir / "pulumi-state"
        state.mkdir(parents=True, exist_ok=True)
        url = state.as_uri()
    provider = settings.get("secrets_provider")
    return Backend(url=str(url), secrets_provider=str(provider) if provider else None)


def pulumi_env(ws: StackWorkspace, backend: Backend) -> dict[str, str]:
    """The environment of every pulumi command for this stack."""
    env = dict(ws.env)
    env["PULUMI_BACKEND_URL"] = backend.url
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    # Interactive prompts and colour codes have no reader here.
    env["PULUMI_NON_INTERACTIVE"] = "true"
    env.setdefault("NO_COLOR", "1")
    return env


def check_secrets_setup(ws: StackWorkspace, backend: Backend, env: Mapping[str, str]) -> None:
    """Fail early, and say how to fix it, when Pulumi would stop at the first secret."""
    uses_passphrase = backend.secrets_provider in (None, "passphrase")
    if backend.is_cloud or not uses_passphrase:
        return
    if not any(name in env for name in PASSPHRASE_VARIABLES):
        raise EngineError(
            f"stack {ws.stack.name!r}: Pulumi needs the passphrase that encrypts this stack's "
            f"secrets and config (state backend {backend.url}): set PULUMI_CONFIG_PASSPHRASE "
            "(or PULUMI_CONFIG_PASSPHRASE_FILE) in the controller's environment or the stack's "
            "`env:`, or set backend_config.secrets_provider to a KMS / Vault provider"
        )


def credential_values(env: Mapping[str, str]) -> set[str]:
    return {env[name] for name in SECRET_VARIABLES if env.get(name)}


# --- the stack's secrets settings -------------------------------------------------------

SECRETS_SETTINGS_KEYS = ("secretsprovider", "encryptedkey", "encryptionsalt")
SAVED_SETTINGS = "pulumi-secrets-settings.yaml"


def stack_settings_file(ws: StackWorkspace) -> Path:
    """Pulumi.<stack>.yaml in the program directory (the stack name's last segment:
    org/project/dev -> Pulumi.dev.yaml)."""
    return ws.source_dir / f"Pulumi.{ws.stack.workspace.split('/')[-1]}.yaml"


def save_secrets_settings(ws: StackWorkspace) -> None:
    """Keep how the stack's secrets are encrypted (`stack init` writes it into
    Pulumi.<stack>.yaml, which here is in a snapshot deleted after the run): without it
    the next run could not decrypt the secrets it set."""
    settings = _read_yaml(stack_settings_file(ws))
    kept = {k: settings[k] for k in SECRETS_SETTINGS_KEYS if k in settings}
    if kept:
        saved = ws.work_dir / SAVED_SETTINGS
        saved.write_text(yaml.safe_dump(kept, sort_keys=True), encoding="utf-8")
        saved.chmod(0o600)


def restore_secrets_settings(ws: StackWorkspace) -> None:
    """Put the saved secrets settings back into Pulumi.<stack>.yaml, unless the repo's
    own file already says how (a committed stack file wins)."""
    saved = _read_yaml(ws.work_dir / SAVED_SETTINGS)
    target = stack_settings_file(ws)
    current = _read_yaml(target)
    if not saved or any(k in current for k in SECRETS_SETTINGS_KEYS):
        return
    target.write_text(yaml.safe_dump({**current, **saved}, sort_keys=True), encoding="utf-8")


def _read_yaml(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}
