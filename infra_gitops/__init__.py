"""infra-gitops: a GitOps controller for cloud infrastructure."""

from __future__ import annotations

__version__ = "0.1.0"
