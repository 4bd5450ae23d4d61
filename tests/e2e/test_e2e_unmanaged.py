"""`unmanaged` end to end: resources made with boto3 outside any stack are found, the
ignored and our own are not, and --adopt-into + apply imports a bucket without making it
again (its creation date unchanged)."""

from __future__ import annotations

import json
import re

from e2e_helpers import Env

HAND_BUCKET = "e2e-unmanaged-hand-bucket"
HAND_QUEUE = "e2e-unmanaged-hand-queue"
IGNORED_BUCKET = "cdk-e2e-unmanaged-assets"

IGNORE_SECTION = """
unmanaged:
  ignore:
    - {type: aws_s3_bucket, name: "cdk-*"}
"""


def _make_hand_resources(env: Env) -> str:
    s3 = env.aws("s3")
    for bucket in (HAND_BUCKET, IGNORED_BUCKET):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(
        Bucket=HAND_BUCKET, Tagging={"TagSet": [{"Key": "owner", "Value": "alice"}]}
    )
    url: str = env.aws("sqs").create_queue(QueueName=HAND_QUEUE)["QueueUrl"]
    return url


def _creation_date(env: Env, bucket: str) -> object:
    listed = env.aws("s3").list_buckets()["Buckets"]
    return next(b["CreationDate"] for b in listed if b["Name"] == bucket)


def _findings(env: Env, *args: str) -> tuple[int, dict[str, object]]:
    result = env.cli("unmanaged", "--json", *args)
    assert result.code in (0, 2), result.output
    return result.code, json.loads(result.stdout)["result"]


def test_finds_adopts_and_then_no_longer_lists_a_hand_made_bucket(applied: Env) -> None:
    with (applied.repo / "gitops.yaml").open("a") as manifest:
        manifest.write(IGNORE_SECTION)
    applied.commit("Ignore CDK leftovers")
    queue_url = _make_hand_resources(applied)
    created = _creation_date(applied, HAND_BUCKET)

    code, result = _findings(applied, "--show-ignored")
    assert code == 2
    found = {(f["type"], f["identifier"]) for f in result["findings"]}  # type: ignore[union-attr,index]
    assert found == {("aws_s3_bucket", HAND_BUCKET), ("aws_sqs_queue", queue_url)}
    ignored = result["ignored"]
    assert [(f["identifier"], f["ignored_by"]) for f in ignored] == [  # type: ignore[union-attr,index]
        (IGNORED_BUCKET, "unmanaged.ignore[0] (type=aws_s3_bucket, name=cdk-*)")
    ]
    bucket = next(f for f in result["findings"] if f["type"] == "aws_s3_bucket")  # type: ignore[union-attr,index]
    assert bucket["tags"] == {"owner": "alice"}
    assert bucket["created"] is not None
    assert set(result["scanned_types"]) == {  # type: ignore[arg-type]
        "aws_s3_bucket",
        "aws_sqs_queue",
        "aws_ssm_parameter",
    }

    table = applied.cli("unmanaged")
    assert table.code == 2, table.output
    assert HAND_BUCKET in table.stdout and queue_url in table.stdout
    assert IGNORED_BUCKET not in table.stdout

    adopted = applied.cli(
        "unmanaged", "--adopt-into", "storage", "--only", f"aws_s3_bucket:{HAND_BUCKET}"
    )
    assert adopted.code == 0, adopted.output
    stack_dir = applied.repo / "stacks" / "storage"
    imports = (stack_dir / "imports_unmanaged.tf").read_text()
    assert "to = aws_s3_bucket.e2e_unmanaged_hand_bucket" in imports
    assert f'id = "{HAND_BUCKET}"' in imports
    generated = (stack_dir / "generated_unmanaged.tf").read_text()
    assert 'resource "aws_s3_bucket" "e2e_unmanaged_hand_bucket"' in generated
    assert re.search(rf'bucket\s+= "{HAND_BUCKET}"', generated), generated
    assert "git commit" not in adopted.stdout and "pull request" in adopted.stdout

    again = applied.cli("unmanaged", "--adopt-into", "storage")
    assert again.code == 1
    assert "refusing to write" in again.stderr
    assert (stack_dir / "imports_unmanaged.tf").read_text() == imports

    applied.commit("Adopt the hand-made bucket")
    apply = applied.cli("apply", "--auto-approve", "--stack", "storage", "--json")
    assert apply.code == 0, apply.output
    plan = json.loads(apply.stdout)["result"]["stacks"][0]["plan"]
    assert plan["counts"]["create"] == 0, plan
    assert plan["counts"]["import"] == 1, plan
    imported = [c for c in plan["changes"] if c["address"].endswith("e2e_unmanaged_hand_bucket")]
    assert [c.get("importing") for c in imported] == [HAND_BUCKET], plan["changes"]
    assert _creation_date(applied, HAND_BUCKET) == created

    code, result = _findings(applied)
    assert code == 2
    assert {f["identifier"] for f in result["findings"]} == {queue_url}  # type: ignore[union-attr,index]


def test_no_unmanaged_resources_exits_0(applied: Env) -> None:
    result = applied.cli("unmanaged")
    assert result.code == 0, result.output
    assert "no unmanaged resources" in result.stdout


def test_a_stack_whose_state_cannot_be_read_fails_the_scan(e2e: Env) -> None:
    broken = e2e.repo / "stacks" / "broken"
    broken.mkdir()
    (broken / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket = \n')
    with (e2e.repo / "gitops.yaml").open("a") as manifest:
        manifest.write("  - name: broken\n    path: stacks/broken\n")
    e2e.commit("A stack that does not parse")
    _make_hand_resources(e2e)

    result = e2e.cli("unmanaged", "storage", "--json")

    assert result.code == 1, result.output
    assert "stack 'broken'" in result.stderr
    assert "Nothing is reported" in result.stderr
    assert HAND_BUCKET not in result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is False


def test_never_applied_stacks_hold_nothing_and_globs_choose_the_types(e2e: Env) -> None:
    """Nothing applied: the types come from the configuration; `app` manages parameters
    only, so a hand-made bucket is not its business, but a parameter is."""
    queue_url = _make_hand_resources(e2e)
    e2e.aws("ssm").put_parameter(Name="/e2e-unmanaged/hand", Value="x", Type="String")
    # Our own buckets: app's state in a bucket of its own, and the plan store.
    for bucket in ("e2e-unmanaged-app-state", "e2e-unmanaged-plans"):
        e2e.aws("s3").create_bucket(Bucket=bucket)
    manifest = e2e.repo / "gitops.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "    path: stacks/app\n",
            "    path: stacks/app\n    backend: {bucket: e2e-unmanaged-app-state}\n",
        )
    )
    with (e2e.repo / "stacks" / "app" / "main.tf").open("a") as config:
        config.write('\nresource "terraform_data" "marker" {}\n')
    e2e.commit("app keeps its state apart, and manages a type no lister knows")
    e2e.env["INFRA_GITOPS_PLAN_STORE"] = "s3://e2e-unmanaged-plans/infra"

    code, result = _findings(e2e)
    assert code == 2
    identifiers = {f["identifier"] for f in result["findings"]}  # type: ignore[union-attr,index]
    assert identifiers == {HAND_BUCKET, IGNORED_BUCKET, queue_url, "/e2e-unmanaged/hand"}

    code, result = _findings(e2e, "ap*")
    assert result["scanned_types"] == ["aws_ssm_parameter"]
    assert [f["identifier"] for f in result["findings"]] == ["/e2e-unmanaged/hand"]  # type: ignore[union-attr,index]

    table = e2e.cli("unmanaged", "app")
    assert table.code == 2, table.output
    assert "not scanned: no lister for terraform_data (app)" in table.stdout
    assert result["notices"] == ["not scanned: no lister for terraform_data (app)"]

    unknown = e2e.cli("unmanaged", "nosuch-*")
    assert unknown.code == 1
    assert "unknown stack 'nosuch-*'" in unknown.stderr


def test_adopting_is_refused_into_pulumi_over_a_changed_file_and_with_nothing_found(
    e2e: Env,
) -> None:
    assert (e2e.repo / "stacks" / "pulumi-queue" / "Pulumi.yaml").exists()
    with (e2e.repo / "gitops.yaml").open("a") as manifest:
        manifest.write("  - name: queue\n    path: stacks/pulumi-queue\n    engine: pulumi\n")
    e2e.commit("A Pulumi stack")
    pulumi = e2e.cli("unmanaged", "--adopt-into", "queue")
    assert pulumi.code == 1
    assert "Terraform/OpenTofu stacks only" in pulumi.stderr

    stack_dir = e2e.repo / "stacks" / "storage"
    (stack_dir / "imports_unmanaged.tf").write_text("# mine\n")
    taken = e2e.cli("unmanaged", "--adopt-into", "storage")
    assert taken.code == 1
    assert "refusing to write" in taken.stderr and "imports_unmanaged.tf" in taken.stderr
    assert (stack_dir / "imports_unmanaged.tf").read_text() == "# mine\n"
    assert not (stack_dir / "generated_unmanaged.tf").exists()

    only = e2e.cli("unmanaged", "--only", "aws_s3_bucket:x")
    assert only.code == 1 and "--adopt-into" in only.stderr


def test_a_parameter_and_a_queue_adopted_into_stacks_with_variables(applied: Env) -> None:
    """app takes variables from storage's outputs and from the environment: the plan that
    generates its configuration needs them, as any plan does."""
    applied.aws("ssm").put_parameter(Name="/e2e-unmanaged/param", Value="v", Type="String")
    url = applied.aws("sqs").create_queue(QueueName="e2e-unmanaged-adopted-queue")["QueueUrl"]

    into_app = applied.cli(
        "unmanaged", "--adopt-into", "app", "--only", "aws_ssm_parameter:/e2e-unmanaged/param"
    )
    assert into_app.code == 0, into_app.output
    generated_file = applied.repo / "stacks" / "app" / "generated_unmanaged.tf"
    generated = generated_file.read_text()
    assert 'resource "aws_ssm_parameter" "e2e_unmanaged_param"' in generated
    assert "fill in aws_ssm_parameter.e2e_unmanaged_param.value" in into_app.stdout
    # What a person does before committing: the value Terraform cannot write.
    generated_file.write_text(generated.replace("null # sensitive", '"v"'))
    into_storage = applied.cli(
        "unmanaged", "--adopt-into", "storage", "--only", f"aws_sqs_queue:{url}"
    )
    assert into_storage.code == 0, into_storage.output
    applied.commit("Adopt a parameter and a queue")

    apply = applied.cli("apply", "--auto-approve", "--json")
    assert apply.code == 0, apply.output
    for stack in json.loads(apply.stdout)["result"]["stacks"]:
        counts = stack["plan"]["counts"]
        assert (counts["create"], counts["import"]) == (0, 1), stack["plan"]
    code, _ = _findings(applied)
    assert code == 0


def test_environments_each_hold_their_own_and_are_not_adopted_into(e2e: Env) -> None:
    """storage@dev applied, storage@prod not: dev's bucket is managed, and adopting into
    one environment of a shared directory is refused."""
    manifest = e2e.repo / "gitops.yaml"
    manifest.write_text(
        manifest.read_text()
        .replace(
            "      environment: dev\n",
            "    environments:\n"
            "      - {name: dev, variables: {environment: dev}}\n"
            "      - {name: prod, variables: {environment: prod}}\n",
            1,
        )
        .replace("{from_stack: storage,", "{from_stack: storage@dev,")
    )
    e2e.commit("storage in two environments")
    applied = e2e.cli("apply", "--auto-approve", "--stack", "storage@dev")
    assert applied.code == 0, applied.output
    _make_hand_resources(e2e)

    code, result = _findings(e2e, "storage")  # both instances' types
    assert code == 2
    identifiers = {f["identifier"] for f in result["findings"]}  # type: ignore[union-attr,index]
    assert HAND_BUCKET in identifiers
    assert "demo-dev-artifacts" not in identifiers  # storage@dev's

    refused = e2e.cli("unmanaged", "--adopt-into", "storage@prod")
    assert refused.code == 1
    assert "every environment shares" in refused.stderr
