"""The daemon scans for unmanaged resources on `unmanaged.interval` (a real daemon
process on the sandbox): the gauge on /metrics per type, and one notification each time
the findings change, naming the new ones."""

from __future__ import annotations

import time
import urllib.request

from daemon_helpers import MANIFEST, World, wait_for
from edge_helpers import Receiver, receiving
from prometheus_client.parser import text_string_to_metric_families

SCANNED = (
    MANIFEST
    + """\
unmanaged:
  interval: 2s
  ignore:
    - {name: "cdk-*"}
"""
)


def _gauges(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        s.labels["type"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "infra_gitops_unmanaged_resources"
    }


def _unmanaged_events(receiver: Receiver) -> list[dict[str, object]]:
    bodies = [r.json() for r in receiver.received]
    return [b for b in bodies if b.get("kind") == "unmanaged"]


def test_scans_set_the_gauge_and_notify_when_findings_change(world: World) -> None:
    (world.work / "gitops.yaml").write_text(SCANNED)
    sha = world.commit_and_push("Declare the stacks, scan for unmanaged resources")
    s3 = world.aws("s3")
    s3.create_bucket(Bucket="daemon-unmanaged-hand")
    s3.create_bucket(Bucket="cdk-daemon-unmanaged")

    with receiving(Receiver()) as receiver:
        daemon = world.start_daemon("--notify-webhook", receiver.url)
        wait_for("the stacks applied", lambda: world.synced_at(sha, "storage", "app"), 120)
        gauges = wait_for(
            "a scan finding the hand-made bucket",
            lambda: (g := _gauges(daemon.url)).get("aws_s3_bucket") == 1 and g or None,
            60,
        )
        assert gauges == {"aws_s3_bucket": 1, "aws_sqs_queue": 0, "aws_ssm_parameter": 0}
        first = wait_for("an unmanaged event", lambda: _unmanaged_events(receiver) or None, 30)
        assert "aws_s3_bucket daemon-unmanaged-hand" in str(first[0]["message"])
        assert "cdk-" not in str(first[0]["message"])

        world.aws("sqs").create_queue(QueueName="daemon-unmanaged-queue")
        wait_for(
            "a scan finding the queue",
            lambda: _gauges(daemon.url).get("aws_sqs_queue") == 1 or None,
            60,
        )
        events = wait_for(
            "a second event", lambda: (e := _unmanaged_events(receiver))[1:] and e or None, 30
        )
        assert "daemon-unmanaged-queue" in str(events[1]["message"])
        assert "daemon-unmanaged-hand" not in str(events[1]["message"])  # not new any more
        time.sleep(5)  # two more scans, nothing changed: no more events
        assert len(_unmanaged_events(receiver)) == 2


def _failed_scans(url: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "infra_gitops_unmanaged_scan_failures_total"
    )


def test_a_failed_scan_is_counted_and_stops_nothing(world: World) -> None:
    broken = world.work / "stacks" / "broken"
    broken.mkdir()
    (broken / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket = \n')
    manifest = SCANNED.replace("interval: 2s", "interval: 1s").replace(
        "unmanaged:", "  - name: broken\n    path: stacks/broken\nunmanaged:", 1
    )
    (world.work / "gitops.yaml").write_text(manifest)
    sha = world.commit_and_push("A stack whose state cannot be read")
    world.aws("s3").create_bucket(Bucket="daemon-unmanaged-unseen")

    daemon = world.start_daemon()
    wait_for("the readable stacks applied", lambda: world.synced_at(sha, "storage", "app"), 120)
    wait_for("a failed scan counted", lambda: _failed_scans(daemon.url) >= 2 or None, 60)
    assert _gauges(daemon.url) == {}  # nothing reported as unmanaged
    assert "scan for unmanaged resources failed" in daemon.log
    assert "- stack 'broken':" in daemon.log  # the scan's error names it
    assert daemon.get("/healthz")[0] == 200
