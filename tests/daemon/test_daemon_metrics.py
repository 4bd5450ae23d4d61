"""PrometheusMetrics: what a scrape of /metrics shows after the core reports."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from infra_gitops.daemon.contracts import Metrics, SyncStatus
from infra_gitops.daemon.metrics import NullMetrics, PrometheusMetrics

# Checked by mypy: both implement the core's Metrics protocol.
_IMPLEMENTATIONS: tuple[type[Metrics], ...] = (PrometheusMetrics, NullMetrics)


def scrape(metrics: PrometheusMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} as a Prometheus server would read it."""
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_runs_are_counted_by_kind_and_status() -> None:
    metrics = PrometheusMetrics()
    metrics.run_finished(stack="a", kind="apply", status="applied", duration_s=3.0)
    metrics.run_finished(stack="b", kind="apply", status="applied", duration_s=5.0)
    metrics.run_finished(stack="a", kind="drift", status="failed", duration_s=1.0)
    samples = scrape(metrics)
    assert samples[("infra_gitops_runs_total", (("kind", "apply"), ("status", "applied")))] == 2
    assert samples[("infra_gitops_runs_total", (("kind", "drift"), ("status", "failed")))] == 1
    assert samples[("infra_gitops_run_duration_seconds_sum", (("kind", "apply"),))] == 8.0


def test_status_is_one_hot_and_drift_is_counted() -> None:
    metrics = PrometheusMetrics()
    metrics.stack_status(stack="a", status=SyncStatus.DRIFTED)
    metrics.stack_status(stack="b", status=SyncStatus.DRIFTED)
    metrics.stack_status(stack="b", status=SyncStatus.SYNCED)
    samples = scrape(metrics)
    a = {
        status: samples[("infra_gitops_stack_status", (("stack", "a"), ("status", status)))]
        for status in SyncStatus
    }
    assert a[SyncStatus.DRIFTED] == 1
    assert sum(a.values()) == 1
    assert samples[("infra_gitops_stack_status", (("stack", "b"), ("status", "Synced")))] == 1
    assert samples[("infra_gitops_stack_status", (("stack", "b"), ("status", "Drifted")))] == 0
    assert samples[("infra_gitops_stacks_drifted", ())] == 1


def test_forget_stack_drops_its_series() -> None:
    metrics = PrometheusMetrics()
    metrics.stack_status(stack="gone", status=SyncStatus.DRIFTED)
    metrics.reconciled(stack="gone", timestamp=1.0)
    metrics.forget_stack("gone")
    metrics.forget_stack("never-seen")
    samples = scrape(metrics)
    assert not [key for key in samples if ("stack", "gone") in key[1]]
    assert samples[("infra_gitops_stacks_drifted", ())] == 0


def test_reconcile_time_steps_fetches_and_declared() -> None:
    metrics = PrometheusMetrics()
    metrics.reconciled(stack="a", timestamp=1_700_000_000.0)
    metrics.engine_step(engine="terraform", step="plan", duration_s=0.8)
    metrics.engine_step(engine="terraform", step="plan", duration_s=1.2)
    metrics.fetch(ok=True, timestamp=1_700_000_100.0)
    metrics.fetch(ok=False, timestamp=1_700_000_200.0)
    metrics.stacks_declared(7)
    samples = scrape(metrics)
    last = "infra_gitops_stack_last_reconcile_timestamp_seconds"
    assert samples[(last, (("stack", "a"),))] == 1_700_000_000.0
    step = (("engine", "terraform"), ("step", "plan"))
    assert samples[("infra_gitops_engine_step_duration_seconds_count", step)] == 2
    assert samples[("infra_gitops_engine_step_duration_seconds_sum", step)] == 2.0
    assert samples[("infra_gitops_fetch_failures_total", ())] == 1
    assert samples[("infra_gitops_fetches_total", ())] == 2
    # A failed fetch does not move the last success.
    fetched = "infra_gitops_last_successful_fetch_timestamp_seconds"
    assert samples[(fetched, ())] == 1_700_000_100.0
    assert samples[("infra_gitops_stacks_declared", ())] == 7


def test_two_instances_in_one_process_do_not_collide() -> None:
    first, second = PrometheusMetrics(), PrometheusMetrics()
    first.stacks_declared(1)
    second.stacks_declared(2)
    assert scrape(first)[("infra_gitops_stacks_declared", ())] == 1
    assert scrape(second)[("infra_gitops_stacks_declared", ())] == 2


def test_process_memory_is_exposed() -> None:
    samples = scrape(PrometheusMetrics())
    assert samples[("process_resident_memory_bytes", ())] > 1_000_000


def test_unmanaged_resources_by_type_and_failed_scans() -> None:
    metrics = PrometheusMetrics()
    metrics.unmanaged_resources({"aws_s3_bucket": 2, "aws_sqs_queue": 0})
    metrics.unmanaged_resources({"aws_s3_bucket": 1})  # queues no longer scanned
    metrics.unmanaged_scan_failed()
    samples = scrape(metrics)
    unmanaged = {k[1]: v for k, v in samples.items() if k[0] == "infra_gitops_unmanaged_resources"}
    assert unmanaged == {(("type", "aws_s3_bucket"),): 1}
    assert samples[("infra_gitops_unmanaged_scan_failures_total", ())] == 1
