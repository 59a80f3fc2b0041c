# shellcheck shell=sh
# dindbundler entrypoint, volume part: sourced by dindbundler-entrypoint.sh (installed next to
# it as dindbundler-volume.sh), whose helpers (log, err) it uses.

# claim_volume holds an exclusive lock on a file of /var/lib/docker for the container's life, so
# a second bundle started on a volume a running one uses is refused at once, naming that one
# (two dockerds on one data directory fail late and obscurely). The kernel drops the lock when
# the holder dies, however it dies: a hard-killed bundle leaves no stale lock. flock(1) is
# util-linux's on the Debian base, busybox's on docker:dind; without it the check is skipped.
claim_volume() {
	lock=/var/lib/docker/dindbundler.lock
	if ! command -v flock >/dev/null 2>&1; then
		log "no flock(1) in this image: not checking that /var/lib/docker is this container's alone"
		return 0
	fi
	mkdir -p /var/lib/docker
	exec 9>>"$lock"
	if ! flock -n 9; then
		err "/var/lib/docker is in use by another running bundle ($(cat "$lock" 2>/dev/null || echo unknown)): give each bundle container its own volume (-v NAME:/var/lib/docker), or stop the other one first"
		exit 1
	fi
	printf 'container %s, started %s\n' "$(hostname 2>/dev/null || cat /etc/hostname)" "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" >"$lock"
}
