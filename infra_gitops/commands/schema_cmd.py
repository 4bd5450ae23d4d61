"""`infra-gitops schema`: print the manifest's JSON Schema, for editors and CI checks."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from infra_gitops import config
from infra_gitops.options import Options
from infra_gitops.progress import Progress


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    print(json.dumps(config.load_schema(), indent=2), file=out)
    return 0
