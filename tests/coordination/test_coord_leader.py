"""The leader lock on a real PostgreSQL: one leader at a time, fail-over within seconds
of the leader's SIGKILL, leadership reported lost when the database goes away."""

from __future__ import annotations

import time

from coord_helpers import Helpers
from postgres_server import PostgresServer

from infra_gitops.coordination.leader import LeaderLock
from infra_gitops.postgres import DatabaseUrl

SCOPE = "repo-a"

LEADER = """
import sys, time
from infra_gitops.coordination.leader import LeaderLock
from infra_gitops.postgres import DatabaseUrl
lock = LeaderLock(DatabaseUrl.parse(sys.argv[1]), sys.argv[2], owner_token="helper")
assert lock.try_acquire()
print("leading", flush=True)
time.sleep(600)
"""


def test_one_of_two_contenders_leads_until_it_releases(url: DatabaseUrl) -> None:
    first, second = LeaderLock(url, SCOPE), LeaderLock(url, SCOPE)
    assert first.try_acquire() and first.is_leader
    assert not second.try_acquire() and not second.is_leader
    assert first.try_acquire()  # already held: still ours
    with LeaderLock(url, "repo-b") as elsewhere:
        assert elsewhere.try_acquire()  # another scope has its own leader
    first.release()
    assert not first.is_leader
    with second:
        assert second.try_acquire() and second.is_leader
        assert not first.try_acquire()
    assert first.try_acquire()  # released on leaving the block
    first.release()


def test_the_other_replica_leads_within_seconds_of_the_leaders_sigkill(
    url: DatabaseUrl, helpers: Helpers
) -> None:
    leader, _ = helpers.start(LEADER, url.dsn, SCOPE)
    contender = LeaderLock(url, SCOPE)
    assert not contender.try_acquire()
    helpers.sigkill(leader)
    killed = time.monotonic()
    while not contender.try_acquire():
        assert time.monotonic() - killed < 5, "the leader lock outlived its killed holder"
        time.sleep(0.1)
    assert contender.is_leader and not contender.lost.is_set()
    contender.release()


def test_leadership_is_lost_when_the_database_restarts(
    url: DatabaseUrl, restarted: PostgresServer
) -> None:
    leader = LeaderLock(url, SCOPE)
    assert leader.try_acquire()
    restarted.stop()
    assert leader.lost.wait(10), "lost was not set after the database stopped"
    assert not leader.is_leader
    restarted.start()
    assert leader.try_acquire()  # leads again on a new connection
    assert leader.is_leader and not leader.lost.is_set()
    leader.release()
