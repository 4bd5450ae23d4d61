"""Argon2id hashing through argon2-cffi: verify, rehash of old parameters, the rules for
a new password, and an unknown account's refusal costing a real verify."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher

from infra_gitops.auth import passwords


def test_a_hash_verifies_its_password_only() -> None:
    stored = passwords.hash_password("correct horse battery")

    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert passwords.verify(stored, "correct horse battery")
    assert not passwords.verify(stored, "correct horse batterY")
    assert not passwords.verify("not a hash", "correct horse battery")


def test_a_hash_of_older_parameters_needs_a_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("pw-12345678")

    assert passwords.verify(weak, "pw-12345678")  # still accepted ...
    assert passwords.needs_rehash(weak)  # ... and re-made at the next login
    assert not passwords.needs_rehash(passwords.hash_password("pw-12345678"))


@pytest.mark.parametrize(
    ("password", "complaint"),
    [("short", "at least 8"), ("x" * 1025, "at most 1024"), (" padded-password", "white space")],
)
def test_a_new_password_must_meet_the_rules(password: str, complaint: str) -> None:
    with pytest.raises(passwords.PasswordRejected) as caught:
        passwords.check_new(password)

    assert complaint in str(caught.value)
    assert password.strip() not in str(caught.value)


def test_an_unknown_account_costs_as_much_as_a_wrong_password() -> None:
    stored = passwords.hash_password("correct horse battery")
    passwords.verify_unknown("warm-up")  # the dummy hash is made once, at first use

    def cost(check: Callable[[], bool]) -> float:
        """The median of 3 timings: one slow run on a busy machine does not decide."""
        times = []
        for _ in range(3):
            start = time.perf_counter()
            check()
            times.append(time.perf_counter() - start)
        return sorted(times)[1]

    wrong = cost(lambda: passwords.verify(stored, "wrong password"))
    unknown = cost(lambda: passwords.verify_unknown("wrong password"))

    assert passwords.verify_unknown("correct horse battery") is False
    assert 0.4 < unknown / wrong < 2.5, (unknown, wrong)
