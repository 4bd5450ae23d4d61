"""Entry point the Pulumi CLI runs: read the stack's config, declare the resources."""

from __future__ import annotations

import os

import pulumi
from queue_program import build, settings_from_config

outputs = build(settings_from_config(pulumi.Config(), os.environ))
for name, value in outputs.items():
    pulumi.export(name, value)
