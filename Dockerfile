# syntax=docker/dockerfile:1
# texter-worker: the service (`run`), its CLI (`dlq`, `rules`, `config`, ...) and the fake Texter
# (`simulator`), in one image. Build: docker build -t texter-worker .   See docs/deploy.md.
#
# Dependencies come from requirements.lock with hash checking, as `python3 dev.py` installs
# them; the image takes the lock's runtime part only (deploy/docker/lock_subset.py copies those
# entries verbatim, hashes included), so pytest, ruff and mypy stay out of it.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# 1. The locked dependencies: their own layer, rebuilt only when the lock or pyproject changes.
COPY requirements.lock pyproject.toml README.md ./
COPY deploy/docker/lock_subset.py deploy/docker/lock_subset.py
RUN python deploy/docker/lock_subset.py runtime requirements.lock pyproject.toml > /tmp/runtime.lock \
 && python deploy/docker/lock_subset.py build requirements.lock pyproject.toml > /tmp/build.lock \
 && python -m venv /opt/venv \
 && /opt/venv/bin/python -m pip install --require-hashes -r /tmp/runtime.lock \
 && python -m pip install --require-hashes --target /opt/build-backend -r /tmp/build.lock

# 2. The project, as dev.py installs it (--no-deps --no-build-isolation: the lock is the truth),
#    but as a regular install instead of an editable one: the image carries no source tree.
#    The build backend (hatchling, from the same lock) is on PYTHONPATH for this step only.
COPY worker/ worker/
COPY producers/ producers/
COPY consumers/ consumers/
COPY simulator/ simulator/
RUN PYTHONPATH=/opt/build-backend /opt/venv/bin/python -m pip install --no-deps --no-build-isolation . \
 && /opt/venv/bin/python -m pip check \
 && /opt/venv/bin/texter-worker --version

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HTTP_PORT=8080 \
    STATE_DIR=/var/lib/texter-worker \
    RULES_FILE=/etc/texter-worker/rules.yaml

# A system user without a shell or a password; STATE_DIR belongs to it (a named volume mounted
# there starts with this ownership; on Kubernetes set fsGroup to the same id).
RUN groupadd --system --gid 10001 texter \
 && useradd --system --uid 10001 --gid texter --no-create-home \
      --home-dir /var/lib/texter-worker --shell /usr/sbin/nologin texter \
 && install -d -o texter -g texter -m 0750 /var/lib/texter-worker \
 && install -d -m 0755 /etc/texter-worker

COPY --from=builder /opt/venv /opt/venv
# For reference (`texter-worker rules check /etc/texter-worker/rules.example.yaml`); mount your
# own rules file at RULES_FILE.
COPY rules.example.yaml /etc/texter-worker/rules.example.yaml

USER 10001:10001
WORKDIR /var/lib/texter-worker
VOLUME ["/var/lib/texter-worker"]
EXPOSE 8080

# Liveness of the HTTP server (every role serves /healthz). The image has no curl: Python asks.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % (os.environ.get('HTTP_PORT') or '8080'), timeout=4)"]

# SIGTERM (docker stop, Kubernetes) reaches texter-worker directly: it is PID 1 here.
ENTRYPOINT ["texter-worker"]
CMD ["run"]
