"""`infra-gitops daemon`: pull the infra repo, reconcile continuously, heal drift.

Runs until SIGTERM or SIGINT, then drains: nothing new starts and running operations
get --grace-period seconds to finish. Exit 0 after a clean drain, 1 when operations
were still running (their records are marked interrupted at the next start).

With --database-url (or $INFRA_GITOPS_DATABASE_URL) it runs as one of several identical
replicas sharing that PostgreSQL database (daemon/replicas.py): every replica runs the
same command with its own --state-dir. Give the password through the variable, libpq's
$PGPASSWORD or ~/.pgpass rather than on the command line: it is never logged.

Its HTTP edge authenticates every request but health, readiness, the signed webhook and
the login (web/auth.py), against the accounts and tokens of the run store's database
(`infra-gitops accounts`, `tokens`), or by single sign-on (OpenID Connect) when
--auth-config names a file with an `oidc:` section (auth/authconfig.py). --no-auth turns
that off, on a loopback address only.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from infra_gitops.commands.arg_types import positive_int, positive_seconds
from infra_gitops.errors import GitOpsError
from infra_gitops.options import Options
from infra_gitops.progress import Progress

if TYPE_CHECKING:  # the parser imports this module for add_arguments: it stays light
    from infra_gitops.auth.authconfig import AuthConfig
    from infra_gitops.daemon.app import Daemon
    from infra_gitops.daemon.runtime import Settings
    from infra_gitops.web.auth import WebAuth

log = logging.getLogger("infra_gitops.daemon")

WEBHOOK_SECRET_ENV = "INFRA_GITOPS_WEBHOOK_SECRET"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--branch", default="main", help="the branch to follow (default: main)")
    p.add_argument(
        "--repo-token-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="a file holding the remote's access token (default: $INFRA_GITOPS_GIT_TOKEN); "
        "given to git through its environment, never stored in the mirror nor on a "
        "command line. A token written in --repo's URL is moved there too, but stays "
        "visible in this daemon's own command line: prefer the file or the variable",
    )
    p.add_argument("--poll-interval", type=positive_seconds, default=60.0, metavar="SECONDS")
    p.add_argument(
        "--drift-interval",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="drift-check every stack this often (default: each stack's policy.drift_interval)",
    )
    p.add_argument(
        "--listen",
        default="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="webhook, health, metrics and API endpoints (default: 127.0.0.1:8080; "
        "'off' for none). The webhook secret comes from $" + WEBHOOK_SECRET_ENV,
    )
    p.add_argument(
        "--no-auth",
        action="store_true",
        help="serve the API without authentication, every caller acting as an admin; "
        "refused unless --listen is a loopback address (for a laptop)",
    )
    p.add_argument(
        "--metrics-open",
        action="store_true",
        help="serve /metrics without authentication, for a scraper on a trusted network "
        "(default: a token or session with a role on every stack)",
    )
    p.add_argument(
        "--external-url",
        type=external_url,
        default=None,
        metavar="URL",
        help="the address people and tools reach this daemon at, e.g. https://gitops.example.com "
        "behind a TLS-terminating proxy; with https, login cookies are Secure and __Host-",
    )
    p.add_argument(
        "--auth-config",
        type=Path,
        default=None,
        metavar="FILE",
        help="the auth config file (YAML): single sign-on by OpenID Connect (`oidc:` issuer, "
        "client_id, client_secret_file or $INFRA_GITOPS_OIDC_CLIENT_SECRET) and the roles "
        "of the provider's groups (`group_roles:`); needs --external-url",
    )
    p.add_argument(
        "--parallelism",
        type=positive_int,
        default=2,
        metavar="N",
        help="operations run at once (default: 2); with --database-url, this replica's "
        "worker threads (the replicas' queue spreads the work)",
    )
    p.add_argument("--timeout", type=positive_seconds, default=1800.0, metavar="SECONDS")
    p.add_argument("--grace-period", type=positive_seconds, default=300.0, metavar="SECONDS")
    p.add_argument("--stale-after", type=positive_seconds, default=None, metavar="SECONDS")
    p.add_argument("--push-notes", action="store_true", help="push git notes to the remote")
    p.add_argument("--log-format", choices=["text", "json"], default="text")
    p.add_argument("--notify-webhook", action="append", default=[], metavar="URL")
    p.add_argument("--notify-slack", action="append", default=[], metavar="URL")


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    from infra_gitops import git
    from infra_gitops.daemon.app import daemon_lock
    from infra_gitops.daemon.runtime import Settings

    if args.listen != "off":
        check_listen(args.listen, no_auth=args.no_auth)
    auth_config = _auth_config(args)
    settings = Settings(
        state_dir=options.state_dir,
        repo=str(args.repo),
        repo_token_file=args.repo_token_file,
        branch=args.branch,
        poll_interval=args.poll_interval,
        drift_interval=args.drift_interval,
        parallelism=args.parallelism,
        grace_period=args.grace_period,
        timeout=args.timeout,
        push_notes=args.push_notes,
        stale_after=args.stale_after,
        database_url=options.database_url,
        artifact_store=options.artifact_store,
    )
    stop = threading.Event()
    _on_signals(stop)
    with ExitStack() as stack:
        # The remote's token is scrubbed from every log line (a second net: git never
        # gets it on a command line or in a config file).
        remote = git.remote_for(settings.repo, token_file=settings.repo_token_file)
        token = remote.credentials.password if remote.credentials else ""
        db_password = urlsplit(settings.database_url.dsn).password if settings.database_url else ""
        sso_secret = auth_config.oidc.client_secret if auth_config and auth_config.oidc else ""
        stack.enter_context(_logging(args.log_format, token, db_password or "", sso_secret))
        stack.enter_context(daemon_lock(settings.state_dir))
        built, registry = _daemon(settings, args)
        daemon = stack.enter_context(built)
        if args.listen != "off":
            auth = stack.enter_context(_web_auth(args, options, auth_config))
            stack.enter_context(_serving(args.listen, daemon, registry, auth))
        daemon.start()
        stop.wait()
        drained = daemon.drain()
        log.info(
            "stopped" if drained else "stopped with operations still running",
            extra={"event": "stopped"},
        )
    if not drained:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)  # worker threads still in an engine command: do not wait for them
    return 0


def _daemon(settings: Settings, args: argparse.Namespace) -> tuple[Daemon, Any]:
    """The embedded daemon, or a replica when a database URL was given; and the
    registry of its metrics."""
    from infra_gitops.daemon.app import Daemon
    from infra_gitops.daemon.metrics import PrometheusMetrics, ReplicaGauges
    from infra_gitops.daemon.notify import build_notifier

    metrics = PrometheusMetrics()
    notifier = build_notifier(args.notify_webhook, args.notify_slack)
    if settings.database_url is None:
        return Daemon(settings, notifier=notifier, metrics=metrics), metrics.registry
    from infra_gitops.daemon.replicas import Replica

    gauges = ReplicaGauges(metrics.registry)
    replica = Replica(settings, notifier=notifier, metrics=metrics, gauges=gauges)
    return replica, metrics.registry


def _on_signals(stop: threading.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


# ---------------------------------------------------------------- the edges
# The HTTP server, metrics, notifications and logs are built by their own modules
# (web/server.py, daemon/metrics.py, notify.py, logs.py); this is the one place wiring them.


@contextmanager
def _serving(listen: str, daemon: Daemon, registry: Any, auth: WebAuth) -> Iterator[None]:
    from infra_gitops.web.server import serve

    secret = os.environ.get(WEBHOOK_SECRET_ENV, "")
    # serve() logs the address it bound.
    with serve(listen, daemon, registry, webhook_secret=secret.encode() or None, auth=auth):
        yield


def _auth_config(args: argparse.Namespace) -> AuthConfig | None:
    """--auth-config, read and checked before anything starts."""
    if args.auth_config is None:
        return None
    if args.no_auth:
        raise GitOpsError(
            "--auth-config with --no-auth: authentication is off, there is nothing to sign on to"
        )
    from infra_gitops.auth.authconfig import load_auth_config

    return load_auth_config(args.auth_config, args.external_url)


@contextmanager
def _web_auth(
    args: argparse.Namespace, options: Options, auth_config: AuthConfig | None
) -> Iterator[WebAuth]:
    """The edge's authentication, its store open for the daemon's life."""
    from infra_gitops.auth.oidc import OidcClient
    from infra_gitops.auth.store import AuthStore
    from infra_gitops.web.auth import WebAuth

    secure = bool(args.external_url and args.external_url.startswith("https://"))
    if args.no_auth:
        log.warning(
            "authentication is off (--no-auth): every caller of the API acts as an admin",
            extra={"event": "auth_off"},
        )
        yield WebAuth(None, secure_cookies=secure, metrics_open=True)
        return
    if not secure and not is_loopback(args.listen):
        log.warning(
            "serving on %s over plain HTTP: put a TLS-terminating proxy in front and pass "
            "--external-url https://...; passwords and tokens would cross the network in clear",
            args.listen,
            extra={"event": "plain_http"},
        )
    sso = auth_config.oidc if auth_config else None
    with AuthStore.open(options.state_dir, options.database_url) as store:
        if not store.accounts.list() and sso is None:
            log.warning(
                "no accounts yet: every API request is refused until one is made with "
                "`infra-gitops accounts add NAME --role admin`",
                extra={"event": "no_accounts"},
            )
        if sso is not None:
            log.info(
                "single sign-on by %s (client %s)",
                sso.issuer,
                sso.client_id,
                extra={"event": "sso", "issuer": sso.issuer},
            )
        yield WebAuth(
            store,
            secure_cookies=secure,
            metrics_open=args.metrics_open,
            oidc=OidcClient(sso) if sso else None,
        )


def check_listen(listen: str, *, no_auth: bool) -> None:
    """--listen is HOST:PORT, and --no-auth only on a loopback address."""
    from infra_gitops.web.server import parse_listen

    parse_listen(listen)
    if no_auth and not is_loopback(listen):
        raise GitOpsError(
            f"--no-auth with --listen {listen}: authentication may be off on a loopback "
            "address only (127.0.0.1, ::1, localhost); anything else could reach the API"
        )


def is_loopback(listen: str) -> bool:
    from infra_gitops.web.server import parse_listen

    host, _ = parse_listen(listen)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def external_url(text: str) -> str:
    """--external-url: http(s)://HOST[:PORT][/PATH], without a trailing slash."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(
            f"expected http(s)://HOST[:PORT], e.g. https://gitops.example.com, got {text!r}"
        )
    return text.rstrip("/")


@contextmanager
def _logging(fmt: str, git_token: str, db_password: str, sso_secret: str) -> Iterator[None]:
    from infra_gitops.daemon.logs import configure_logging

    given = (os.environ.get(WEBHOOK_SECRET_ENV, ""), git_token, db_password, sso_secret)
    secrets = [s for s in given if s]
    setup = configure_logging(fmt, scrub=secrets)  # type: ignore[arg-type]
    # Every job run at INFO, and "skipped: maximum number of running instances" (a
    # drift check still running when its next turn comes) are normal here.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    try:
        yield
    finally:
        setup.close()
