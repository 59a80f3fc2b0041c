#!/bin/sh
# dindbundler bundle entrypoint: start the inner dockerd, load the bundled images (once per
# /var/lib/docker volume), check them against /app/bundle/images.txt, run the compose stack,
# and on SIGTERM/SIGINT stop the stack, then dockerd, and exit 0.
#
# Works on the dindbundler Debian base and on the official docker:<ver>-dind (Alpine) image (or
# any image with its dockerd-entrypoint.sh).
# The defaults (STACK_STOP_TIMEOUT 5 s + DOCKERD_STOP_TIMEOUT 4 s) fit Docker's default stop
# timeout of 10 s. A stack whose services need longer to stop: raise both and run with a stop
# timeout covering their sum, e.g. `docker run --stop-timeout 60 -e STACK_STOP_TIMEOUT=30 …`.
#
# `entrypoint.sh health` is the image's HEALTHCHECK; any other arguments are run instead of
# the bundle (for debugging: `docker run --rm -it IMAGE sh`).
#
# Settings (environment): DOCKERD_START_TIMEOUT (s, 60), STACK_STOP_TIMEOUT (s, 5),
# DOCKERD_STOP_TIMEOUT (s, 4), DOCKERD_ARGS (extra dockerd flags), DOCKERD_LOG
# (/var/log/dockerd.log), DOCKER_IPTABLES_LEGACY (1: legacy iptables, empty: nft; unset: detect),
# DOCKERD_IMAGE_STORE (containerd or classic: the inner engine's image store; unset: the engine's
# default, classic before Engine 29). The store is set through a daemon configuration file the
# entrypoint writes under /run (dockerd 26 has no --feature flag); a mounted
# /etc/docker/daemon.json is dockerd's whole configuration, so with one, put
# "features": {"containerd-snapshotter": true|false} there instead (the entrypoint accepts the
# variable only when that file already says the same). The boot log names the store in use.
# FUNCTIONS_PRELOAD and the bundle's registry: see dindbundler-registry.sh (dind/registry.sh).
#
# This file is the boot sequence: settings, logging, starting and stopping dockerd, the boot
# order, signals and main. Each step with a purpose of its own is a part installed next to it as
# dindbundler-<part>.sh and sourced below (dind/<part>.sh; package dind's RuntimeFiles): volume
# (claim_volume), imagestore (image_store_config), verify (verify_images), loadimages
# (load_images), provision (provision_once), health (list_services, health), registry.
set -eu

: "${DOCKERD_START_TIMEOUT:=60}"
: "${STACK_STOP_TIMEOUT:=5}"
: "${DOCKERD_STOP_TIMEOUT:=4}"
: "${DOCKERD_ARGS:=}"
: "${DOCKERD_LOG:=/var/log/dockerd.log}"
: "${BUNDLE_PROJECT:=}"
: "${DOCKERD_IMAGE_STORE:=}"

# The bundle's own paths (package dind's paths.go spells them for the Go side). The parts read
# most of them.
app_dir=/app
compose_file=$app_dir/compose.yml
env_file=$app_dir/.env
# shellcheck disable=SC2034
images_txt=$app_dir/bundle/images.txt
# shellcheck disable=SC2034
manifest=$app_dir/bundle/manifest.json
# shellcheck disable=SC2034
images_dir=/images
docker_sock=/var/run/docker.sock
legacy_dir=/usr/local/sbin/.iptables-legacy

# Talk to the inner engine whatever the caller's environment says.
DOCKER_HOST=unix://$docker_sock
export DOCKER_HOST
unset DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT

dockerd_pid=
engine_version=
store_args=
child_pid=
stack_started=
stopping=

log() { printf 'dindbundler: %s\n' "$*"; }
err() { printf 'dindbundler: error: %s\n' "$*" >&2; }

now() { date +%s; }

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

nap() { sleep 0.2 2>/dev/null || sleep 1; }

compose() {
	docker compose -p "$BUNDLE_PROJECT" -f "$compose_file" --env-file "$env_file" "$@"
}

# run_interruptible CMD…: run CMD in the background and wait for it, so a SIGTERM arriving
# during a long step (loading a large archive) is handled at once instead of after the step.
run_interruptible() {
	"$@" &
	child_pid=$!
	rc=0
	wait "$child_pid" || rc=$?
	child_pid=
	return "$rc"
}

dockerd_log_tail() {
	if [ -f "$DOCKERD_LOG" ]; then
		# dockerd 28 follows a bad flag with a 200-line usage text, which would push its own
		# complaint, the first line, out of the tail.
		if [ "$(wc -l <"$DOCKERD_LOG")" -gt 200 ]; then
			err "first 5 lines of the dockerd log ($DOCKERD_LOG):"
			head -n 5 "$DOCKERD_LOG" >&2 || :
		fi
		err "last 200 lines of the dockerd log ($DOCKERD_LOG):"
		tail -n 200 "$DOCKERD_LOG" >&2 || :
	fi
}

# stop_dockerd: SIGTERM and wait, so the engine flushes its state; the kernel would SIGKILL it
# mid-write if we exited first.
stop_dockerd() {
	[ -n "$dockerd_pid" ] || return 0
	if alive "$dockerd_pid"; then
		kill -TERM "$dockerd_pid" 2>/dev/null || :
		deadline=$(($(now) + DOCKERD_STOP_TIMEOUT))
		while alive "$dockerd_pid"; do
			if [ "$(now)" -ge "$deadline" ]; then
				err "dockerd did not stop within ${DOCKERD_STOP_TIMEOUT}s"
				return 1
			fi
			nap
		done
	fi
	wait "$dockerd_pid" 2>/dev/null || :
	dockerd_pid=
	log "dockerd stopped"
}

stop_stack() {
	[ -n "$stack_started" ] || return 0
	log "stopping the stack (timeout ${STACK_STOP_TIMEOUT}s)"
	if compose stop --timeout "$STACK_STOP_TIMEOUT"; then
		log "stack stopped"
	else
		err "docker compose stop failed; dockerd stops the remaining containers"
	fi
	stack_started=
}

# shutdown STATUS: the one way out once dockerd may be running.
shutdown() {
	status=$1
	stopping=1
	if [ -n "$child_pid" ]; then
		kill -TERM "$child_pid" 2>/dev/null || :
		wait "$child_pid" 2>/dev/null || :
		child_pid=
	fi
	stop_preload
	stop_stack
	stop_registry
	stop_dockerd || status=1
	exit "$status"
}

# shellcheck disable=SC2317 # called from the signal traps
on_signal() {
	[ -z "$stopping" ] || return 0
	log "received SIG$1; shutting down"
	shutdown 0
}

fail() {
	err "$*"
	shutdown 1
}

# --- starting dockerd ---------------------------------------------------------------------

# Debian base only: what the official image's dind helper does for a nested engine.
prepare_nested() {
	# AppArmor detection reads securityfs; --privileged does not mount it.
	if [ -d /sys/kernel/security ] && ! grep -q ' /sys/kernel/security ' /proc/self/mountinfo; then
		mount -t securityfs none /sys/kernel/security ||
			err "could not mount /sys/kernel/security; AppArmor detection may fail"
	fi
	# cgroup v2: the root cgroup of the container namespace may not hold processes once
	# controllers are delegated to children, so move everything into /init first, then enable
	# every available controller for the engine's containers.
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		mkdir -p /sys/fs/cgroup/init
		# One write per PID; a PID that is already gone (xargs, cat) is ignored.
		xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || :
		sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers \
			>/sys/fs/cgroup/cgroup.subtree_control ||
			err "could not enable cgroup v2 controllers; inner containers may fail to start"
	fi
	# Same choice as docker:dind: legacy iptables when the host already uses it or nf_tables
	# does not work here; DOCKER_IPTABLES_LEGACY decides when set.
	legacy=
	if [ -n "${DOCKER_IPTABLES_LEGACY+x}" ]; then
		legacy=$DOCKER_IPTABLES_LEGACY
	elif [ -n "$(cat /proc/net/ip_tables_names /proc/net/ip6_tables_names 2>/dev/null)" ]; then
		# /proc files report size 0, so test the content, not -s.
		legacy=1
	elif ! iptables -nL >/dev/null 2>&1 && [ -x "$legacy_dir/iptables" ] &&
		"$legacy_dir/iptables" -nL >/dev/null 2>&1; then
		legacy=1
	fi
	if [ -n "$legacy" ] && [ -d "$legacy_dir" ]; then
		PATH=$legacy_dir:$PATH
		export PATH
		log "using legacy iptables"
	fi
	# AppArmor's parser and some tools check this to know they run in a container.
	container=docker
	export container
}

# Asked once dockerd answers: its version (for engine_major) and which image store it uses.
info_format='{{.ServerVersion}} {{.Driver}} {{.DriverStatus}}'

start_dockerd() {
	# A container killed earlier leaves PID files whose numbers may now belong to other
	# processes, and dockerd would refuse to start.
	find /run /var/run -iname 'docker*.pid' -delete 2>/dev/null || :
	rm -f /var/run/docker/containerd/containerd.pid
	mkdir -p "$(dirname "$DOCKERD_LOG")"
	# DOCKERD_ARGS is split into words on purpose.
	# shellcheck disable=SC2086
	if command -v dockerd-entrypoint.sh >/dev/null 2>&1; then
		# docker:dind (Engine >= 23 branch of its entrypoint): given "dockerd" first, it removes
		# stale PID files, picks legacy or nft iptables (DOCKER_IPTABLES_LEGACY) and runs dockerd
		# through its dind helper (securityfs, cgroup v2 nesting), skipping the TLS certificate
		# generation and the TCP listener, which the bundle does not use. Tini comes from our
		# own re-exec under docker-init below, as PID 1.
		log "starting dockerd (docker:dind entrypoint)"
		# TINI_SUBREAPER: older releases of that entrypoint put their own docker-init in front
		# of dockerd; not PID 1 here, it registers as a subreaper to still reap orphaned shims.
		TINI_SUBREAPER=1 dockerd-entrypoint.sh dockerd --host="$DOCKER_HOST" $store_args $DOCKERD_ARGS >"$DOCKERD_LOG" 2>&1 &
	else
		prepare_nested
		log "starting dockerd"
		dockerd --host="$DOCKER_HOST" $store_args $DOCKERD_ARGS >"$DOCKERD_LOG" 2>&1 &
	fi
	dockerd_pid=$!
	started=$(now)
	deadline=$((started + DOCKERD_START_TIMEOUT))
	# Some CLIs (26.1) exit 0 with an empty server part when the daemon does not answer yet:
	# ready means a server version.
	until info=$(docker info --format "$info_format" 2>/dev/null) && [ -n "${info%% *}" ]; do
		if ! alive "$dockerd_pid"; then
			rc=0
			wait "$dockerd_pid" || rc=$?
			dockerd_pid=
			err "dockerd exited during start (status $rc)"
			dockerd_log_tail
			shutdown 1
		fi
		if [ "$(now)" -ge "$deadline" ]; then
			err "dockerd did not answer within ${DOCKERD_START_TIMEOUT}s (DOCKERD_START_TIMEOUT)"
			dockerd_log_tail
			shutdown 1
		fi
		nap
	done
	engine_version=${info%% *}
	driver=${info#* }
	driver=${driver%% *}
	case $info in
	*io.containerd.snapshotter*) store=containerd ;;
	*) store=classic ;;
	esac
	log "dockerd ready in $(($(now) - started))s (Engine $engine_version, $store image store, storage driver $driver)"
	if [ -n "$DOCKERD_IMAGE_STORE" ] && [ "$store" != "$DOCKERD_IMAGE_STORE" ]; then
		fail "DOCKERD_IMAGE_STORE=$DOCKERD_IMAGE_STORE, but Engine $engine_version uses the $store image store (the containerd image store needs Engine 24 or later); unset DOCKERD_IMAGE_STORE or use another base image"
	fi
}

# shellcheck disable=SC2317 # called through run_interruptible
engine_major() {
	v=$engine_version
	[ -n "$v" ] || v=$(docker version --format '{{.Server.Version}}' 2>/dev/null) || v=0
	echo "${v%%.*}"
}

# --- stack ------------------------------------------------------------------------------

start_stack() {
	log "starting stack $BUNDLE_PROJECT"
	stack_started=1
	# --pull never: an image missing here is a broken bundle, never a download.
	if ! run_interruptible compose up -d --no-build --pull never; then
		docker compose version >/dev/null 2>&1 ||
			fail "the docker compose v2 plugin is missing from the base image; use docker:<ver>-dind or the dindbundler base"
		fail "docker compose up failed for project $BUNDLE_PROJECT"
	fi
	log "stack $BUNDLE_PROJECT is up"
}

# --- parts ------------------------------------------------------------------------------

# Installed next to this file; each is linted on its own (dind/<part>.sh). Sourced before main:
# the health probe needs its part too.
bin_dir=$(dirname "$0")
# shellcheck source=/dev/null
. "$bin_dir/dindbundler-volume.sh"
# shellcheck source=/dev/null
. "$bin_dir/dindbundler-imagestore.sh"
# shellcheck source=/dev/null
. "$bin_dir/dindbundler-verify.sh"
# shellcheck source=/dev/null
. "$bin_dir/dindbundler-loadimages.sh"
# shellcheck source=/dev/null
. "$bin_dir/dindbundler-provision.sh"
# shellcheck source=/dev/null
. "$bin_dir/dindbundler-health.sh"
# shellcheck source=/dev/null
. "$bin_dir/dindbundler-registry.sh"

# --- main -------------------------------------------------------------------------------

if [ "$#" -gt 0 ]; then
	if [ "$1" = health ]; then
		[ -n "$BUNDLE_PROJECT" ] || {
			echo "BUNDLE_PROJECT is not set"
			exit 1
		}
		health
		exit
	fi
	exec "$@"
fi

# As PID 1, re-run under tini (docker-init) so the zombies of the engine's shims get reaped;
# our own handlers still get SIGTERM, which tini forwards.
if [ "$$" = 1 ] && command -v docker-init >/dev/null 2>&1 && [ -z "${DINDBUNDLER_UNDER_INIT:-}" ]; then
	DINDBUNDLER_UNDER_INIT=1
	export DINDBUNDLER_UNDER_INIT
	exec docker-init -- "$0"
fi

[ -n "$BUNDLE_PROJECT" ] || {
	err "BUNDLE_PROJECT is not set: build the image with --build-arg BUNDLE_PROJECT=<compose project>"
	exit 1
}
[ -f "$compose_file" ] || {
	err "$compose_file is missing: the image was not built from a bundle context"
	exit 1
}

trap 'on_signal TERM' TERM
trap 'on_signal INT' INT

claim_volume
image_store_config
check_preload
split_images
list_services &
start_dockerd
start_registry
load_images
preload_boot
provision_once
start_stack
preload_background

# Stay in the foreground for as long as dockerd runs; a signal interrupts the wait.
rc=0
wait "$dockerd_pid" || rc=$?
dockerd_pid=
err "dockerd exited unexpectedly (status $rc)"
dockerd_log_tail
stack_started=
shutdown 1
