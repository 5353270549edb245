# agentbridge in a container (README "Running in a container"). Agent CLIs are installed from
# npm; they log in with API keys from .env or a login kept in their named volumes.
# Linted in CI: test/unit/docker.test.ts (syntax and the rules it lists; see .ci/run).
FROM node:22-bookworm-slim AS build
WORKDIR /app
# Debian's current versions of the build tools (better-sqlite3's native build), not pinned.
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
# Build with the dev tools (server, the local page's client code and its static files, all into
# dist/), then keep only what runs (better-sqlite3 is compiled for this image).
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
# The user agentbridge and the agents run as: never root. Give it your own ids so that files in a
# bind-mounted ./workspaces stay yours on the host: `AGENTBRIDGE_UID=$(id -u)
# AGENTBRIDGE_GID=$(id -g) docker compose build` (or set both in .env). The ids may exist in the
# image already (e.g. macOS's group 20): they are then shared, which is harmless here.
ARG AGENTBRIDGE_UID=1000
ARG AGENTBRIDGE_GID=1000
WORKDIR /app
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates curl && rm -rf /var/lib/apt/lists/* \
 && npm install -g @anthropic-ai/claude-code@2.1.197 @openai/codex@0.169.0 @google/gemini-cli@0.61.0 \
 && npm cache clean --force
RUN if [ "$AGENTBRIDGE_UID" = 0 ] || [ "$AGENTBRIDGE_GID" = 0 ]; then echo "AGENTBRIDGE_UID/AGENTBRIDGE_GID must not be 0 (root)" >&2; exit 1; fi \
 && userdel --remove node \
 && groupadd --non-unique --gid "$AGENTBRIDGE_GID" agentbridge \
 && useradd --non-unique --uid "$AGENTBRIDGE_UID" --gid "$AGENTBRIDGE_GID" --create-home --home-dir /home/agentbridge --shell /bin/sh agentbridge \
 && mkdir -p /data /workspaces/default /home/agentbridge/.claude /home/agentbridge/.codex /home/agentbridge/.gemini \
 && chown -R agentbridge:agentbridge /data /workspaces /home/agentbridge \
 && chmod 0700 /data /home/agentbridge/.claude /home/agentbridge/.codex /home/agentbridge/.gemini
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
COPY docker/entrypoint.sh /usr/local/bin/agentbridge-entrypoint
# `agentbridge …` on PATH, as after a global install: `docker compose exec agentbridge agentbridge users add NAME --admin`.
RUN chmod 0755 /usr/local/bin/agentbridge-entrypoint /app/dist/cli.js && ln -s /app/dist/cli.js /usr/local/bin/agentbridge
# /agent restart exits (code 75) and the container's restart policy starts it again: a process
# spawned inside the container would die with it. `/agent workdir` stays inside /workspaces.
# 0.0.0.0 so that a published port reaches it: agentbridge then requires a login for the local
# chat and refuses to start until a user exists (`agentbridge users add NAME --admin`).
# CLAUDE_CONFIG_DIR: Claude Code keeps its settings file (.claude.json) in its volume too.
ENV AGENTBRIDGE_DATA_DIR=/data AGENTBRIDGE_WORKDIR=/workspaces/default AGENTBRIDGE_WORKSPACES_ROOT=/workspaces \
    AGENTBRIDGE_HTTP_HOST=0.0.0.0 AGENTBRIDGE_HTTP_PORT=8080 AGENTBRIDGE_RESTART_MODE=exit \
    CLAUDE_CONFIG_DIR=/home/agentbridge/.claude DISABLE_AUTOUPDATER=1
# Sessions, logins and transcripts survive a re-created container in these volumes.
VOLUME ["/data", "/workspaces", "/home/agentbridge/.claude", "/home/agentbridge/.codex", "/home/agentbridge/.gemini"]
USER agentbridge
EXPOSE 8080
# /healthz is 503 while starting and while draining for a shutdown.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
# SIGTERM starts the graceful shutdown: give it AGENTBRIDGE_SHUTDOWN_GRACE_S (60) plus a margin,
# e.g. `docker stop -t 90` (compose: stop_grace_period). Run it with an init as pid 1 (compose:
# `init: true`; `docker run --init`): it forwards signals and reaps the agents' stray children.
STOPSIGNAL SIGTERM
ENTRYPOINT ["agentbridge-entrypoint"]
CMD ["agentbridge", "start"]
