"""Where run artifacts (plan JSON, logs) are kept: files in the state dir, the database,
or an S3 bucket every replica can read.

The artifacts table of the records keeps, per run and name, a *reference*:
    RUN/NAME                      a file under <state_dir>/artifacts (the default alone)
    db:RUN/NAME                   the bytes are in the table's `content` column
    s3://BUCKET/PREFIX/RUN/NAME   an object (endpoint and credentials: the standard AWS
                                  environment)
An artifact is read by its reference, whatever the store is set to now: records written
with another setting stay readable.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from infra_gitops.errors import RunStoreError

FILES = "files"
DATABASE = "database"
S3_SCHEME = "s3://"
DB_PREFIX = "db:"
CHOICES_HELP = "files, database or s3://BUCKET/PREFIX"


@dataclass(frozen=True)
class StoredArtifact:
    """What attach() records: the reference, and the bytes when they go in the database."""

    reference: str
    content: bytes | None = None


def parse_artifact_store(text: str) -> str:
    """The --artifact-store value, checked; ValueError naming the choices otherwise."""
    value = text.strip()
    if value in (FILES, DATABASE):
        return value
    if value.startswith(S3_SCHEME):
        bucket, _ = _split_s3(value)
        if bucket:
            return value.rstrip("/")
    raise ValueError(f"artifact store {text!r}: expected {CHOICES_HELP}")


class Artifacts:
    """Writes artifacts to one place (chosen at open) and reads them from any."""

    def __init__(self, where: str, artifacts_dir: Path) -> None:
        self.where = where
        self.artifacts_dir = artifacts_dir

    def put(self, run_id: str, name: str, data: bytes) -> StoredArtifact:
        if self.where == FILES:
            run_dir = self.artifacts_dir / run_id
            run_dir.mkdir(parents=True, exist_ok=True)
            write_atomically(run_dir / name, data)
            return StoredArtifact(f"{run_id}/{name}")
        if self.where == DATABASE:
            return StoredArtifact(f"{DB_PREFIX}{run_id}/{name}", data)
        bucket, prefix = _split_s3(self.where)
        key = "/".join(p for p in (prefix, run_id, name) if p)
        _s3_objects(bucket)._put(key, data)
        return StoredArtifact(f"{S3_SCHEME}{bucket}/{key}")

    def shown(self, reference: str) -> str | Path:
        """What a run shows for the artifact: its path for a file, else its reference."""
        if reference.startswith((DB_PREFIX, S3_SCHEME)):
            return reference
        return self.artifacts_dir / reference

    def read(self, reference: str, content: bytes | None) -> bytes:
        if reference.startswith(DB_PREFIX):
            return bytes(content or b"")
        if reference.startswith(S3_SCHEME):
            bucket, key = _split_s3(reference)
            return bytes(_s3_objects(bucket)._read(key))
        path = self.artifacts_dir / reference
        try:
            return path.read_bytes()
        except OSError as exc:
            raise RunStoreError(f"cannot read the artifact {path}: {exc.strerror}") from None


def write_atomically(target: Path, data: bytes) -> None:
    """Readers see the previous version or the whole new one, never part of it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())  # the rename must not land before the data
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _split_s3(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.netloc, parts.path.strip("/")


def _s3_objects(bucket: str) -> Any:
    # The plan store's S3 access (errors naming bucket and key), for artifacts; imported
    # here so that commands reading files or a database never load the AWS SDK.
    import boto3

    from infra_gitops.ci.store import S3PlanStore

    return S3PlanStore(boto3.client("s3"), bucket, "", noun="artifact store")
