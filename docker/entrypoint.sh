#!/bin/sh
# agentbridge's container entrypoint (Dockerfile ENTRYPOINT). Checks that every directory
# agentbridge and the agents write is writable by the user the container runs as — a bind mount
# that Docker created as root, or a volume made by an image built with other ids, would otherwise
# fail later and less clearly — then runs the command (default: `agentbridge start`).
# Exit code 2 (like an invalid configuration) with what to do when a directory is not writable.
set -eu

uid=$(id -u)
gid=$(id -g)
if [ "$uid" = 0 ]; then
  echo "agentbridge-entrypoint: WARNING: running as root: files the agents create in /workspaces belong to root on the host" \
    "(unless this is rootless Docker or Podman). The image's own user is agentbridge; drop the \`user: 0\` / \`--user 0\` override." >&2
fi

home=${HOME:-/home/agentbridge}
bad=''
for dir in "${AGENTBRIDGE_DATA_DIR:-/data}" "${AGENTBRIDGE_WORKSPACES_ROOT:-/workspaces}" "${AGENTBRIDGE_WORKDIR:-/workspaces/default}" \
  "${CLAUDE_CONFIG_DIR:-$home/.claude}" "${CODEX_HOME:-$home/.codex}" "$home/.gemini"; do
  if [ -d "$dir" ] && [ ! -w "$dir" ]; then
    echo "agentbridge-entrypoint: $dir belongs to $(stat -c %u:%g "$dir") and is not writable by this container's user $uid:$gid." >&2
    bad="$bad $dir"
  fi
done
if [ -n "$bad" ]; then
  cat >&2 <<EOF
agentbridge-entrypoint: not starting. Either:
  - a bind mount (e.g. ./workspaces): on the host, create it before the first start and give it to
    $uid:$gid (sudo chown -R $uid:$gid ./workspaces), or rebuild the image with the owner's ids:
    AGENTBRIDGE_UID=\$(id -u) AGENTBRIDGE_GID=\$(id -g) docker compose build;
  - a named volume made by an image built with other ids: hand it over once with
    docker compose run --rm --user 0 --entrypoint chown agentbridge -R $uid:$gid$bad
EOF
  exit 2
fi
exec "$@"
