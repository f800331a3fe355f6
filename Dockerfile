# syntax=docker/dockerfile:1
# logmarketd as a container: the sidecar next to an application (see docs/deploy.md).
#
#   docker build -t logmarketd .
#   podman build --format docker -t logmarketd .   (OCI format, podman's default, drops HEALTHCHECK)
#   docker run --rm -v logmarket-run:/run/logmarketd -v logmarket-state:/var/lib/logmarketd logmarketd
#
# Stage 1 builds wheels (with a compiler, for any dependency without a wheel for this
# platform); stage 2 installs only those wheels: no compiler, no build tools, no sources.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY daemon ./daemon
# The project and every dependency of the daemon, the file tailer and the LLM clients.
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[all]'

FROM ${PYTHON_IMAGE}
# A fixed numeric uid/gid, so Kubernetes can check runAsNonRoot and pods can share the
# socket through fsGroup / supplementalGroups: 10001.
RUN groupadd --system --gid 10001 logmarket \
    && useradd --system --uid 10001 --gid logmarket --no-create-home \
       --home-dir /var/lib/logmarketd --shell /usr/sbin/nologin logmarketd \
    && install -d -o logmarketd -g logmarket -m 0755 /run/logmarketd \
    && install -d -o logmarketd -g logmarket -m 0700 /var/lib/logmarketd
# Install from the wheels of stage 1, mounted for this step only (not copied into a layer).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels 'logmarket[all]'

# The socket directory is shared with the application's container; the state holds the
# SQLite store and the admin token. HTTP stays on loopback unless LOGMARKET_HTTP says
# otherwise: the containers of a pod share one network namespace, so a sidecar's
# 127.0.0.1 is reachable from the app next to it and from nowhere else.
ENV PYTHONUNBUFFERED=1 \
    LOGMARKET_STATE_DIR=/var/lib/logmarketd \
    LOGMARKET_SOCKET=/run/logmarketd/logmarketd.sock \
    LOGMARKET_HTTP=127.0.0.1:8765 \
    LOGMARKET_LOG_FORMAT=json
VOLUME ["/run/logmarketd", "/var/lib/logmarketd"]
EXPOSE 8765
WORKDIR /var/lib/logmarketd
USER 10001:10001

# slim has no curl: the standard library asks /healthz on the configured address.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://' + os.environ.get('LOGMARKET_HTTP', '127.0.0.1:8765') + '/healthz', timeout=4)"]

# SIGTERM (docker stop, pod deletion) drains connections before exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["logmarketd"]
CMD []
