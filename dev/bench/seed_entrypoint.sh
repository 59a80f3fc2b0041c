#!/bin/sh
# The seed tool's bundle entrypoint, as the benchmark's "seed way": start dockerd, wait for it,
# docker load /images.tar and delete it (a restarted container finds the images in its volume),
# then bring the stack up. `health` is the probe the harness times boots with: every container
# of the project running, and healthy where it has a healthcheck.
set -eu
DOCKER_HOST=unix:///var/run/docker.sock
export DOCKER_HOST
compose() { docker compose -p "$BUNDLE_PROJECT" -f /app/compose.yml --env-file /app/.env "$@"; }

if [ "${1:-}" = health ]; then
	states=$(docker ps -a --filter "label=com.docker.compose.project=$BUNDLE_PROJECT" --format '{{.Status}}')
	[ -n "$states" ] || exit 1
	printf '%s\n' "$states" | grep -qv '^Up' && exit 1
	printf '%s\n' "$states" | grep -Eq 'health: starting|unhealthy' && exit 1
	exit 0
fi

# The "dindbundler: …" lines are the markers dind/entrypoint.sh logs too: the harness splits
# both bundles' boots into the same phases by them (dev/bench/phases.go).
find /run /var/run -iname 'docker*.pid' -delete 2>/dev/null || :
echo "dindbundler: starting dockerd"
dockerd >/var/log/dockerd.log 2>&1 &
dockerd_pid=$!
trap 'compose stop >/dev/null 2>&1 || :; kill "$dockerd_pid"; wait "$dockerd_pid" || :; exit 0' TERM INT
i=0
until docker info >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -lt 300 ] || { tail -n 50 /var/log/dockerd.log >&2; exit 1; }
	sleep 0.2
done
echo "dindbundler: dockerd ready"
if [ -f /images.tar ]; then
	docker load -i /images.tar
	rm -f /images.tar
fi
echo "dindbundler: starting stack $BUNDLE_PROJECT"
compose up -d --no-build
echo "dindbundler: stack $BUNDLE_PROJECT is up"  # the harness waits for this line
wait "$dockerd_pid"
