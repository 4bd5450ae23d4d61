"""Stored plans on local disk and in S3 (a real moto server): keyed by SHA, stack and plan
hash; a re-run replaces the older plan; the plan file is owner-only / encrypted at rest."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra_gitops.ci.store import PlanStore, StoredPlan, open_store
from infra_gitops.errors import GitOpsError

SHA = "c" * 40


def _meta(plan_hash: str, created: str, stack: str = "storage") -> StoredPlan:
    return StoredPlan(stack, SHA, plan_hash, "f" * 64, created, True, plan={"changes": []})


@pytest.fixture(scope="module")
def s3(moto_url: str) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket="plans")
    return client


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PlanStore:
    if request.param == "local":
        return open_store(str(tmp_path / "plans"), s3_client=lambda: None)
    client = request.getfixturevalue("s3")
    return open_store(f"s3://plans/{tmp_path.name}", s3_client=lambda: client)


def test_put_get_replace_fetch_discard(store: PlanStore, tmp_path: Path) -> None:
    plan_file = tmp_path / "p.tfplan"
    plan_file.write_bytes(b"PK saved plan")
    plan_json = tmp_path / "p.json"
    plan_json.write_text("{}")
    store.put(_meta("1" * 64, "2026-01-01T00:00:00"), plan_file, plan_json)
    store.put(_meta("2" * 64, "2026-01-01T00:01:00"), plan_file, plan_json)
    store.put(_meta("3" * 64, "2026-01-01T00:00:00", stack="app"), None, plan_json)
    assert store.stacks(SHA) == ["app", "storage"]
    assert store.stacks("d" * 40) == []
    latest = store.get(SHA, "storage")
    assert latest is not None and latest.plan_hash == "2" * 64  # the re-run replaced it

    dest = tmp_path / "out.tfplan"
    assert store.fetch_plan_file(latest, dest)
    assert dest.read_bytes() == b"PK saved plan"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    app = store.get(SHA, "app")
    assert app is not None and not store.fetch_plan_file(app, tmp_path / "none")

    assert latest.applied is None
    store.mark_applied(latest, "run-1")
    assert not store.fetch_plan_file(latest, tmp_path / "again")
    applied = store.get(SHA, "storage")
    assert applied is not None and applied.applied is not None
    assert applied.applied["run_id"] == "run-1" and applied.applied["at"]
    # What was planned stays on record.
    assert replace(applied, applied=None) == latest


def test_a_commit_is_found_by_its_file_tree(store: PlanStore) -> None:
    assert store.commit_of_tree("e" * 40) is None
    store.index_tree("e" * 40, SHA)
    store.index_tree("e" * 40, "d" * 40)  # a later plan of the same files wins
    assert store.commit_of_tree("e" * 40) == "d" * 40
    assert store.commit_of_tree("f" * 40) is None
    with pytest.raises(GitOpsError, match="invalid tree"):
        store.index_tree("../x", SHA)


def test_local_files_are_owner_only(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "plans"), s3_client=lambda: None)
    plan_file = tmp_path / "p.tfplan"
    plan_file.write_bytes(b"secret inside")
    store.put(_meta("1" * 64, "t"), plan_file, None)
    for path in (tmp_path / "plans").rglob("*"):
        expected = 0o600 if path.is_file() else 0o700
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


def test_s3_objects_are_encrypted_at_rest(s3: Any, tmp_path: Path) -> None:
    store = open_store("s3://plans/enc", s3_client=lambda: s3)
    plan_file = tmp_path / "p.tfplan"
    plan_file.write_bytes(b"x")
    store.put(_meta("1" * 64, "t"), plan_file, None)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="plans", Prefix="enc/")["Contents"]]
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == ["meta.json", "plan.tfplan"]
    for key in keys:
        assert s3.head_object(Bucket="plans", Key=key)["ServerSideEncryption"] == "AES256"


def test_s3_errors_name_the_bucket(s3: Any) -> None:
    store = open_store("s3://no-such-bucket/x", s3_client=lambda: s3)
    with pytest.raises(GitOpsError, match="plan store s3://no-such-bucket/x/.*NoSuchBucket"):
        store.stacks(SHA)


@pytest.mark.parametrize("where", ["s3://", "gs://bucket/x"])
def test_bad_locations_are_refused(where: str) -> None:
    with pytest.raises(GitOpsError, match="plan store"):
        open_store(where, s3_client=lambda: None)


def test_keys_cannot_escape_the_store(tmp_path: Path) -> None:
    store = open_store(str(tmp_path), s3_client=lambda: None)
    with pytest.raises(GitOpsError, match="invalid stack"):
        store.get(SHA, "../etc")
