# One image for every medic process: worker, gateway, migrations (`medic db upgrade`), doctor.
#
#   docker build -t medic:0.1.0 .
#   docker run --rm --read-only -e DATABASE_URL=... medic:0.1.0 db upgrade
#
# It runs as an unprivileged user on a read-only root filesystem: the only writable places are
# the declared volumes (medic's home, the GitOps clone, HOME and /tmp).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The whole context, less what .dockerignore leaves out: pip installs the packages pyproject.toml
# names, and only the installed environment goes on to the final stage.
COPY . .
RUN python -m venv /opt/medic \
    && /opt/medic/bin/pip install --no-cache-dir . \
    && /opt/medic/bin/python -m compileall -q /opt/medic

FROM python:3.11-slim
# git: the GitOps path clones, commits and pushes with it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 medic \
    && useradd --uid 10001 --gid 10001 --home-dir /home/medic --create-home --shell /usr/sbin/nologin medic \
    && install -d -o medic -g medic -m 0750 /var/lib/medic /var/cache/medic
COPY --from=build /opt/medic /opt/medic
COPY deploy/docker/healthcheck.py /opt/medic/healthcheck.py
ENV PATH=/opt/medic/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/medic \
    MEDIC_HOME=/var/lib/medic \
    MEDIC_GITOPS_WORKDIR=/var/cache/medic/gitops
# Writable on a read-only root filesystem (`docker run --read-only`, readOnlyRootFilesystem).
VOLUME ["/var/lib/medic", "/var/cache/medic", "/home/medic", "/tmp"]
WORKDIR /var/lib/medic
USER 10001:10001
EXPOSE 8000 8081 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/opt/medic/healthcheck.py"]
ENTRYPOINT ["medic"]
CMD ["--help"]
