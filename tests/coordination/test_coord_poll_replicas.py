"""Poll requests from any replica wake the leader; the live replicas and their leader
as status shows them."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from coord_helpers import Helpers

from infra_gitops import postgres
from infra_gitops.coordination import poll as poll_module
from infra_gitops.coordination import replicas as replicas_module
from infra_gitops.coordination import scope_for
from infra_gitops.coordination.leader import LeaderLock
from infra_gitops.coordination.poll import PollRequests
from infra_gitops.coordination.replicas import Replicas
from infra_gitops.postgres import DatabaseUrl

SCOPE = "repo-a"
Lease = Callable[[str], psycopg.Connection[Any]]

REPLICA = """
import os, socket, sys, time
from infra_gitops import postgres
from infra_gitops.coordination.replicas import Replicas
url, token = postgres.DatabaseUrl.parse(sys.argv[1]), sys.argv[2]
conn = postgres.connect(url, autocommit=True)
assert postgres.take_owner_lease(conn, token)
Replicas(url, sys.argv[3]).register(token, socket.gethostname(), os.getpid())
print("registered", flush=True)
time.sleep(600)
"""


def test_a_poll_request_from_one_replica_wakes_the_leader_on_another(
    url: DatabaseUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poll_module, "_POLL_S", 30.0)  # only the NOTIFY can wake it in time
    leader, webhook_replica = PollRequests(url, SCOPE), PollRequests(url, SCOPE)
    assert leader.take() is None
    assert not leader.wait(0.2)
    woke: list[float] = []
    waiter = threading.Thread(
        target=lambda: woke.append(time.monotonic()) if leader.wait(20) else None
    )
    waiter.start()
    time.sleep(0.5)  # the leader is waiting
    requested = time.monotonic()
    webhook_replica.request("push webhook: main at abc123")
    webhook_replica.request("push webhook: main at def456")  # coalesced into one poll
    waiter.join(timeout=30)
    assert woke and woke[0] - requested < 2
    assert leader.take() == "push webhook: main at def456"
    assert leader.take() is None
    assert PollRequests(url, "repo-b").take() is None  # another repository's leader


def test_alive_lists_the_replicas_whose_lease_is_held_and_the_leader(
    url: DatabaseUrl, lease: Lease, helpers: Helpers, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease("me")
    replicas = Replicas(url, SCOPE)
    replicas.register("me", socket.gethostname(), os.getpid())
    proc, _ = helpers.start(REPLICA, url.dsn, "other", SCOPE)
    with LeaderLock(url, SCOPE, owner_token="me") as leader:
        assert leader.try_acquire()
        alive = {r.owner_token: r for r in replicas.alive()}
        assert set(alive) == {"me", "other"}
        assert alive["me"].leader and not alive["other"].leader
        assert alive["other"].pid == proc.pid and alive["other"].host == socket.gethostname()
        before = alive["me"].last_seen
        time.sleep(0.05)
        replicas.heartbeat()
        assert {r.owner_token: r for r in replicas.alive()}["me"].last_seen > before

        helpers.sigkill(proc)
        deadline = time.monotonic() + 10
        while [r.owner_token for r in replicas.alive()] != ["me"]:
            assert time.monotonic() < deadline, "a killed replica is still listed alive"
            time.sleep(0.1)
    with postgres.connection(url) as conn:  # its row is kept a while (interrupt messages)
        assert conn.execute("SELECT count(*) AS n FROM replicas").fetchone() == {"n": 2}
    monkeypatch.setattr(replicas_module, "FORGET_AFTER_S", 0.0)
    assert [r.owner_token for r in replicas.alive()] == ["me"]
    with postgres.connection(url) as conn:  # then forgotten
        assert conn.execute("SELECT count(*) AS n FROM replicas").fetchone() == {"n": 1}
    replicas.deregister()
    assert replicas.alive() == []


def test_scopes_are_short_stable_and_distinct() -> None:
    a = scope_for("https://git.example.com/infra.git", "main")
    assert a == scope_for("https://git.example.com/infra.git", "main")
    assert len(a) == 16
    assert a != scope_for("https://git.example.com/infra.git", "prod")
    assert a != scope_for("https://git.example.com/other.git", "main")
