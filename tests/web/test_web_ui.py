"""The web UI in a real browser (Debian's chromium, driven by Playwright's Python API)
against a real daemon with authentication on the local cloud: log in, see the stacks,
sync, see hand-made drift after Refresh and its before -> after, Heal it (boto3 sees the
tags back), read a run's log; a read-only user sees no action buttons and the API
refuses them; a page without a session goes to the login. Every run takes screenshots
of the pages; with INFRA_GITOPS_SCREENSHOTS=docs/ui they replace the README's (otherwise
they stay in the test's temp dir, so a test run leaves the working tree as it was).

chromium comes from Debian (scripts/test-deps.sh installs it); `playwright install` is
never run. When chromium cannot start, the test fails.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import MANIFEST, World, wait_for
from edge_helpers import FakeDaemonApi, a_view
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from web_helpers import PASSWORD, a_run

from infra_gitops.auth.rbac import parse_grants
from infra_gitops.auth.store import AuthStore
from infra_gitops.daemon.metrics import PrometheusMetrics
from infra_gitops.models import RunKind, RunStatus
from infra_gitops.web.auth import WebAuth
from infra_gitops.web.server import serve

pytestmark = pytest.mark.e2e

BUCKET = "demo-dev-artifacts"
SHOTS = Path(os.environ.get("INFRA_GITOPS_SCREENSHOTS") or tempfile.mkdtemp(prefix="ui-shots-"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Nothing happens by itself: no auto-apply, no self-heal, no scheduled drift check.
HANDS_OFF = MANIFEST.replace(
    "policy: {drift_interval: 5m, self_heal: true, auto_apply: true}",
    "policy: {drift_interval: 1h, self_heal: false, auto_apply: false}",
)
RUN_S = 120_000
"""How long (ms) the page may take to show what a run did (a Terraform apply)."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed: run scripts/test-deps.sh"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def new_context(browser: Browser) -> BrowserContext:
    return browser.new_context(viewport={"width": 1280, "height": 860})


def log_in(page: Page, url: str, name: str, then: str) -> None:
    """Open `then` without a session: the login page comes, then `then` again."""
    page.goto(url + then)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(url + then)


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert (SHOTS / f"{name}.png").stat().st_size > 10_000  # a page, not a blank


def test_log_in_sync_see_drift_heal_it_read_a_log_and_read_only_sees_no_buttons(
    world: World, browser: Browser
) -> None:
    assert HANDS_OFF != MANIFEST
    (world.work / "gitops.yaml").write_text(HANDS_OFF)
    head = world.commit_and_push("Declare the stacks, hands off")
    with AuthStore.open(world.state_dir) as store:
        for name, role in (("ada", "admin"), ("rita", "readonly")):
            store.accounts.add(name, PASSWORD, parse_grants([role]))
    url = world.start_daemon("--auth").url
    wait_for("the daemon to read the branch", lambda: world.views().get("storage"))

    admin = new_context(browser)
    page = admin.new_page()
    page.on("console", lambda message: print("console:", message.text))
    # A wrong password is said so on the login page.
    page.goto(url + "/")
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("wrong name or password")
    page.context.clear_cookies()

    log_in(page, url, "ada", "/")
    rows = page.locator("#stacks tbody tr")
    expect(rows).to_have_count(2, timeout=RUN_S)  # once the daemon has read the branch
    expect(page.locator("tr[data-stack=storage] .badge")).to_have_text("OutOfSync")
    expect(page.locator("tr[data-stack=app] .badge")).to_have_text("OutOfSync")
    expect(page.locator("tr[data-stack=app]")).to_contain_text(head[:10])  # desired
    expect(page.locator("#graph .node")).to_have_count(2)
    expect(page.locator("#graph line.edge")).to_have_count(1)  # app depends on storage

    page.click("tr[data-stack=storage] a")
    expect(page).to_have_url(url + "/stacks/storage")
    buttons = page.locator("#actions button")
    expect(buttons).to_have_text(["Sync", "Refresh", "Heal", "Pause", "Resume"])
    page.click("button[data-action=sync]")
    expect(page.locator("#notice")).to_contain_text(f"sync accepted at {head[:10]}")
    expect(page.locator("#status")).to_have_text("Synced", timeout=RUN_S)
    assert world.bucket_tags()["environment"] == "dev"
    expect(page.locator("#history [data-rollback]")).to_have_count(1)  # the one apply

    s3 = world.aws("s3")
    by_hand = {"TagSet": [{"Key": "environment", "Value": "by-hand"}]}
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging=by_hand)
    page.click("button[data-action=refresh]")
    expect(page.locator("#notice")).to_contain_text(f"refresh accepted at {head[:10]}")
    expect(page.locator("#status")).to_have_text("Drifted", timeout=RUN_S)
    drift = page.locator("#drift .change")
    expect(drift).to_have_count(1)
    expect(drift.locator(".address")).to_contain_text("aws_s3_bucket")
    tag = drift.locator("tr", has_text="tags.environment")
    expect(tag.locator(".before")).to_have_text('"dev"')
    expect(tag.locator(".after")).to_have_text('"by-hand"')
    assert world.bucket_tags() == {"environment": "by-hand"}  # a refresh heals nothing
    expect(page.locator("#history tbody tr").first).to_contain_text("api:refresh")
    shot(page, "stack")

    page.click("button[data-action=heal]")
    expect(page.locator("#status")).to_have_text("Synced", timeout=RUN_S)
    expect(page.locator("#drift")).to_contain_text("No drift found.")
    wait_for("the tags back", lambda: world.bucket_tags().get("environment") == "dev")
    heal = page.locator("#history tbody tr", has_text="api:heal").first
    expect(heal).to_contain_text("ada")
    expect(heal).to_contain_text(head[:10])
    expect(heal).to_contain_text("Declare the stacks, hands off")

    heal.locator("a").first.click()
    expect(page).to_have_url(re.compile(r"/runs/"))
    expect(page.locator("#log-state")).to_have_text("ended: applied", timeout=30_000)
    expect(page.locator("#log")).to_contain_text("aws_s3_bucket")
    expect(page.locator("#status")).to_have_text("applied")
    expect(page.locator("#facts")).to_contain_text("heal (api:heal, by ada)")
    shot(page, "run")

    page.goto(url + "/")
    expect(page.locator("tr[data-stack=storage] .badge")).to_have_text("Synced")
    page.select_option("#status-filter", "Drifted")
    expect(rows).to_have_count(0)
    page.select_option("#status-filter", "Synced")
    expect(rows).to_have_text([re.compile("^storage")])
    page.select_option("#status-filter", "")
    page.fill("#search", "ap")
    expect(rows).to_have_text([re.compile("^app")])
    page.fill("#search", "")
    expect(rows).to_have_count(2)
    shot(page, "overview")
    admin.close()

    # A login link made elsewhere may not send the browser off this origin.
    elsewhere = new_context(browser)
    page = elsewhere.new_page()
    page.goto(url + "/login?next=/%5Cevil.example/x")
    page.fill("input[name=name]", "rita")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(url + "/")  # "/\\host" is another origin to a browser
    elsewhere.close()

    reader = new_context(browser)
    page = reader.new_page()
    log_in(page, url, "rita", "/stacks/storage")
    expect(page.locator("#status")).to_have_text("Synced")
    expect(page.locator("#history tbody tr").first).to_be_visible()
    expect(page.locator("#actions button")).to_have_count(0)
    expect(page.locator("[data-rollback]")).to_have_count(0)
    csrf = reader.request.get(url + "/api/session").json()["csrf_token"]
    refused = reader.request.post(
        url + "/api/stacks/storage/heal", headers={"X-CSRF-Token": csrf}, data="{}"
    )
    assert refused.status == 403, refused.text()
    reader.close()


def test_a_running_run_s_log_grows_on_its_page_and_redacted_values_show_as_such(
    browser: Browser,
) -> None:
    """Against a stand-in core (FakeDaemonApi) with authentication off: the run's log is
    written while the page is open."""
    running = a_run("r-live", "app", RunStatus.RUNNING)
    api = FakeDaemonApi(views=[a_view("app")], runs=[running], logs={"r-live": b"init\n"})
    registry = PrometheusMetrics().registry
    with serve("127.0.0.1:0", api, registry, webhook_secret=None, auth=WebAuth(None)) as server:
        context = new_context(browser)
        page = context.new_page()
        page.goto(server.url + "/runs/r-live")
        log = page.locator("#log")
        expect(log).to_have_text("init\n")
        expect(page.locator("#log-state")).to_have_text("live")
        api.logs["r-live"] += b"aws_s3_bucket.artifacts: refreshing...\n"
        expect(log).to_have_text("init\naws_s3_bucket.artifacts: refreshing...\n")
        api.runs[0] = dataclasses.replace(running, status=RunStatus.DRIFTED)
        expect(page.locator("#log-state")).to_have_text("ended: drifted")
        expect(page.locator("#status")).to_have_text("drifted")
        values = page.locator("#drift .values tr")
        expect(values).to_have_text(
            [
                re.compile(r"tags.environment\s*\"dev\"\s*.\s*\"by-hand\""),
                re.compile(r"password\s*\(sensitive\)\s*.\s*\(sensitive\)"),
                re.compile(r"arn\s*\"a\"\s*.\s*\(known after apply\)"),
            ]
        )
        context.close()


def test_the_buttons_pause_and_roll_back_to_a_history_row_s_commit(browser: Browser) -> None:
    """Against a stand-in core (FakeDaemonApi) with authentication off (an admin)."""
    applied = a_run("r-apply", "app", RunStatus.APPLIED)
    applied = dataclasses.replace(applied, kind=RunKind.APPLY, drift=(), trigger="daemon:commit")
    api = FakeDaemonApi(views=[a_view("app")], runs=[applied])
    registry = PrometheusMetrics().registry
    with serve("127.0.0.1:0", api, registry, webhook_secret=None, auth=WebAuth(None)) as server:
        context = new_context(browser)
        page = context.new_page()
        page.goto(server.url + "/stacks/app")
        page.click("button[data-action=pause]")
        expect(page.locator("#notice")).to_contain_text("pause accepted")
        page.on("dialog", lambda dialog: dialog.accept())
        page.click(f"[data-rollback='{applied.commit.sha}']")
        sha = applied.commit.sha[:10]
        expect(page.locator("#notice")).to_contain_text(f"rollback accepted at {sha}")
        assert api.actions == [("app", "pause", "anonymous"), ("app", "rollback", "anonymous")]
        context.close()
