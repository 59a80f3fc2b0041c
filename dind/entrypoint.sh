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
set -eu

: "${DOCKERD_START_TIMEOUT:=60}"
: "${STACK_STOP_TIMEOUT:=5}"
: "${DOCKERD_STOP_TIMEOUT:=4}"
: "${DOCKERD_ARGS:=}"
: "${DOCKERD_LOG:=/var/log/dockerd.log}"
: "${BUNDLE_PROJECT:=}"
: "${DOCKERD_IMAGE_STORE:=}"

app_dir=/app
compose_file=$app_dir/compose.yml
env_file=$app_dir/.env
images_txt=$app_dir/bundle/images.txt
manifest=$app_dir/bundle/manifest.json
images_dir=/images
# The record lives on the /var/lib/docker volume, next to the images it describes: a new
# volume means no record and a fresh load, a restart with the same volume skips the load.
loaded_record=/var/lib/docker/dindbundler-loaded
docker_sock=/var/run/docker.sock
legacy_dir=/usr/local/sbin/.iptables-legacy
daemon_json=/etc/docker/daemon.json
store_json=/run/dindbundler/daemon.json

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

# image_store_config checks DOCKERD_IMAGE_STORE and, when it is set and no daemon.json is
# mounted, writes the daemon configuration selecting that store and sets store_args to the
# flag that reads it. Runs before dockerd starts: a wrong value stops the container at once.
image_store_config() {
	case $DOCKERD_IMAGE_STORE in
	'') return 0 ;;
	containerd) snapshotter=true ;;
	classic) snapshotter=false ;;
	*)
		err "DOCKERD_IMAGE_STORE=$DOCKERD_IMAGE_STORE: unknown image store; use containerd or classic, or leave it unset for the engine's default"
		exit 1
		;;
	esac
	case " $DOCKERD_ARGS " in
	*' --config-file'*)
		err "DOCKERD_IMAGE_STORE=$DOCKERD_IMAGE_STORE and DOCKERD_ARGS names a --config-file: put \"features\": {\"containerd-snapshotter\": $snapshotter} into that file and unset DOCKERD_IMAGE_STORE"
		exit 1
		;;
	esac
	if [ -f "$daemon_json" ]; then
		# dockerd reads one configuration file; a mounted one is respected as it is. It may
		# already select the same store (white space removed, the value compared as written).
		if tr -d ' \t\r\n' <"$daemon_json" | grep -q "\"containerd-snapshotter\":${snapshotter}[,}]"; then
			return 0
		fi
		err "DOCKERD_IMAGE_STORE=$DOCKERD_IMAGE_STORE, but $daemon_json exists and dockerd reads only that file: put \"features\": {\"containerd-snapshotter\": $snapshotter} into it and unset DOCKERD_IMAGE_STORE"
		exit 1
	fi
	mkdir -p "$(dirname "$store_json")"
	printf '{"features": {"containerd-snapshotter": %s}}\n' "$snapshotter" >"$store_json.tmp"
	mv "$store_json.tmp" "$store_json"
	store_args=--config-file=$store_json
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

# --- images -----------------------------------------------------------------------------

# The inner engine's containerd content store (Engine >= 23 with the containerd image store
# keeps image manifests there) and its socket, for config_of.
content_dir=/var/lib/docker/containerd/daemon/io.containerd.content.v1.content/blobs/sha256
containerd_sock=/var/run/docker/containerd/containerd.sock

# config_of ID: the config digest of image manifest ID. The containerd image store reports an
# image's manifest digest as its ID; the manifest names the config. Read from the content store,
# else through ctr; prints nothing when neither has it.
config_of() {
	if [ -r "$content_dir/${1#sha256:}" ]; then
		m=$(cat "$content_dir/${1#sha256:}")
	elif command -v ctr >/dev/null 2>&1; then
		m=$(ctr --address "$containerd_sock" -n moby content get "$1" 2>/dev/null </dev/null) || m=
	else
		m=
	fi
	printf '%s' "$m" | tr -d ' \t\n' |
		sed -n 's/.*"config":{[^}]*"digest":"\(sha256:[0-9a-f]\{64\}\)".*/\1/p'
}

inspect_format='{{.Id}} {{range .RootFS.Layers}}{{.}},{{end}}'

# verify_images [LIST]: every "<config digest> <name> <diffID>,…" line of LIST (images.txt, or the
# part of it this boot loads) must name a present
# image with that config and those layers, whatever image store the inner engine uses: the
# classic store's image ID is the config digest, the containerd store's is the manifest digest,
# whose config config_of reads. Prints one line per problem and fails if there was any.
verify_images() {
	list=${1:-$images_txt}
	bad=0
	# One inspect of every image instead of one per image: on a restart this check is most of
	# the time between "dockerd ready" and "stack up". Its lines follow the names; when an image
	# is missing it fails, and each image is inspected alone to name it.
	names=$(awk 'NF == 3 && $1 !~ /^#/ { print $2 }' "$list")
	# Image names never contain blanks.
	# shellcheck disable=SC2086
	listing=$(docker image inspect --format "$inspect_format" $names 2>/dev/null </dev/null) || listing=
	i=0
	while read -r want name layers rest || [ -n "${want:-}" ]; do
		case $want in '' | '#'*) continue ;; esac
		if [ -z "${layers:-}" ] || [ -n "${rest:-}" ]; then
			err "images.txt: malformed line: $want ${name:-} ${layers:-} ${rest:-}"
			bad=1
			continue
		fi
		i=$((i + 1))
		if [ -n "$listing" ]; then
			got=$(printf '%s\n' "$listing" | sed -n "${i}p")
		elif ! got=$(docker image inspect --format "$inspect_format" "$name" 2>/dev/null </dev/null); then
			err "image $name: missing (expected config $want)"
			bad=1
			continue
		fi
		id=${got%% *}
		got_layers=${got#* }
		got_layers=${got_layers%,}
		if [ "$layers" != - ] && [ "$got_layers" != "$layers" ]; then
			err "image $name: other layers than the bundle's (ID $id; layers $got_layers, expected $layers)"
			bad=1
		elif [ "$id" != "$want" ] && [ "$(config_of "$id")" != "$want" ]; then
			err "image $name: ID $id, expected config $want"
			bad=1
		fi
	done <"$list"
	return "$bad"
}

# shellcheck disable=SC2317 # called through run_interruptible
engine_major() {
	v=$engine_version
	[ -n "$v" ] || v=$(docker version --format '{{.Server.Version}}' 2>/dev/null) || v=0
	echo "${v%%.*}"
}

# load_dir: `docker load` the docker-save directory /images, only the files files.txt lists
# (layers of earlier builds may linger in the image's lower layers). gzip and plain layer files
# load as they are; engines before 23.0 cannot read zstd, so those layers are decompressed into
# the archive as it streams (stream_archive), or, for a bundle without stream.txt, into a staging
# directory on the /var/lib/docker volume first.
# shellcheck disable=SC2317 # called through run_interruptible
load_dir() {
	list=$images_dir/files.txt
	if ! grep -q '\.zst$' "$list" || [ "$(engine_major)" -ge 23 ]; then
		# Names are hex digests plus an extension: no splitting surprises.
		# shellcheck disable=SC2046
		(cd "$images_dir" && tar -cf - $(cat "$list")) | docker load
		return
	fi
	command -v zstd >/dev/null 2>&1 || {
		err "this engine cannot load zstd layers and there is no zstd binary; bundle with BUNDLE_COMPRESSION=gzip or none"
		return 1
	}
	if [ -f "$images_dir/stream.txt" ]; then
		stream_archive | docker load
		return
	fi
	log "decompressing the layers into the volume first (a bundle without stream.txt: slower)"
	stage=/var/lib/docker/dindbundler-load
	rm -rf "$stage"
	mkdir -p "$stage"
	while read -r f; do
		case $f in
		*.zst) zstd -dcq -- "$images_dir/$f" >"$stage/$f" || return 1 ;;
		*) ln -s "$images_dir/$f" "$stage/$f" ;;
		esac
	done <"$list"
	rc=0
	# shellcheck disable=SC2046
	(cd "$stage" && tar -chf - $(cat "$list")) | docker load || rc=$?
	rm -rf "$stage"
	return "$rc"
}

# stream_archive writes the `docker load` archive stream.txt describes: each line's piece (tar
# headers, padding, small files) as it is, then its zstd layer decompressed. A failure truncates
# the archive, which docker load refuses.
# shellcheck disable=SC2317 # called through run_interruptible
stream_archive() {
	while read -r piece layer; do
		cat "$images_dir/$piece" || return 1
		[ "$layer" = - ] || zstd -dcq -- "$images_dir/$layer" || return 1
	done <"$images_dir/stream.txt"
}

# damaged_layers names, after a failed load, every layer file of the bundle that does not
# decompress to its diffID (its file name) and the images that use it: a damaged bundle says
# which images it breaks and what to do, instead of a decoder's error number. It returns 1 when
# it found one.
damaged_layers() {
	found=0
	while read -r f; do
		case $f in
		*.tar.zst) decompress="zstd -dcq --" ;;
		*.tar.gz) decompress="gzip -dc --" ;;
		*.tar) decompress="cat --" ;;
		*) continue ;;
		esac
		hex=${f%%.*}
		# shellcheck disable=SC2086 # the command and its flags are separate words
		got=$($decompress "$images_dir/$f" 2>/dev/null | sha256sum | cut -d' ' -f1)
		[ "$got" = "$hex" ] && continue
		names=$(awk -v d="sha256:$hex" 'index($3, d) { printf "%s%s", sep, $2; sep = ", " }' "$images_txt")
		err "layer $f of image(s) ${names:-(none listed)} does not decompress to its digest: the bundle is damaged; rebuild the bundle"
		found=1
	done <"$images_dir/files.txt"
	[ "$found" = 0 ]
}

load_images() {
	[ -f "$images_txt" ] || fail "$images_txt is missing: the image was not built from a bundle context"
	[ -f "$manifest" ] || fail "$manifest is missing: the image was not built from a bundle context"
	if boot_loads_nothing; then
		log "no images to load at boot (the registry serves them all)"
		return 0
	fi
	sum=$(sha256sum "$manifest" | cut -d' ' -f1)
	if [ -f "$loaded_record" ] && [ "$(cat "$loaded_record")" = "$sum" ]; then
		if verify_images "$images_txt" 2>/dev/null; then
			log "images already loaded; skipping load"
			return 0
		fi
		log "images recorded as loaded are missing or changed; loading them again"
	fi
	if [ ! -f "$images_dir/manifest.json" ] || [ ! -f "$images_dir/files.txt" ]; then
		fail "no images in $images_dir (manifest.json, files.txt) and the images are not loaded"
	fi
	log "loading images from $images_dir"
	started=$(now)
	if ! run_interruptible load_dir; then
		log "checking the bundled layers"
		damaged_layers || fail "the bundle's layers are damaged (see above); rebuild the bundle"
		fail "loading the images from $images_dir failed"
	fi
	log "loaded the images in $(($(now) - started))s"
	verify_images "$images_txt" || fail "the loaded images do not match $images_txt (see above); rebuild the bundle"
	# The files stay: they live in read-only image layers, so deleting them would free no
	# space, and keeping them lets a container whose volume lost the images load them again.
	printf '%s\n' "$sum" >"$loaded_record.tmp"
	mv "$loaded_record.tmp" "$loaded_record"
	log "images verified"
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

# First boot: the compose file's one-shot `provisioner` service (profile deploy) creates what
# the stack's resources.yml lists, once, after the images load and before the stack starts.
# Success is recorded on the /var/lib/docker volume beside the images, so a restart skips it;
# AUTO_PROVISION_ON_BOOT=0 skips it always. A failure stops the boot with its last lines.
provision_once() {
	record=/var/lib/docker/dindbundler-provisioned
	# A text check first: stacks without a provisioner (and restarts) pay no compose call.
	grep -q '^[[:space:]]*provisioner:' "$compose_file" || return 0
	if [ "${AUTO_PROVISION_ON_BOOT:-1}" = 0 ]; then
		log "provisioning skipped: AUTO_PROVISION_ON_BOOT=0"
		return 0
	fi
	if [ -f "$record" ]; then
		log "provisioner already ran on this volume; skipping it"
		return 0
	fi
	compose --profile deploy config --services 2>/dev/null </dev/null | grep -qx provisioner || return 0
	log "running the provisioner service (first boot)"
	out=/run/dindbundler-provisioner.log
	if ! run_interruptible compose --profile deploy run --rm -T provisioner >"$out" 2>&1 </dev/null; then
		err "the provisioner service failed; its last lines:"
		tail -n 20 "$out" >&2
		fail "provisioning failed on first boot: fix the provisioner service, or set AUTO_PROVISION_ON_BOOT=0 to boot without it"
	fi
	date -u +%Y-%m-%dT%H:%M:%SZ >"$record.tmp" && mv "$record.tmp" "$record"
	log "provisioner service done"
}

# The stack's services, listed once per container start (in the background while the images
# load) so the health probe need not run compose: `compose config` alone takes longer than the
# whole probe otherwise.
services_file=/run/dindbundler-services

list_services() {
	mkdir -p "$(dirname "$services_file")"
	compose config --services >"$services_file.tmp" 2>/dev/null </dev/null &&
		mv "$services_file.tmp" "$services_file"
}

# health: healthy only when every service of the stack has its containers running, and healthy
# where the service defines a healthcheck. One `docker ps` of the project's containers.
health() {
	# stderr stays out of the captured lists (compose warns there, e.g. about an obsolete
	# `version:`); on failure the command runs again to show why (Docker keeps both streams
	# of a probe).
	if ! services=$(cat "$services_file" 2>/dev/null); then
		services=$(compose config --services 2>/dev/null) || {
			echo "compose config failed:"
			compose config --services >/dev/null
			return 1
		}
	fi
	format='{{.Label "com.docker.compose.service"}} {{.State}} {{.Status}}'
	states=$(docker ps -a --filter "label=com.docker.compose.project=$BUNDLE_PROJECT" \
		--filter label=com.docker.compose.oneoff=False --format "$format" 2>/dev/null) || {
		echo "docker ps failed:"
		docker ps -a >/dev/null
		return 1
	}
	bad=0
	for s in $services; do
		lines=$(printf '%s\n' "$states" | awk -v s="$s" '$1 == s')
		if [ -z "$lines" ]; then
			echo "$s: no container"
			bad=1
			continue
		fi
		while read -r _ state status; do
			case $status in
			*'(healthy)'*) hc=healthy ;;
			*'(unhealthy)'*) hc=unhealthy ;;
			*'(health: starting)'*) hc=starting ;;
			*) hc= ;;
			esac
			if [ "$state" != running ]; then
				echo "$s: $state"
				bad=1
			elif [ -n "$hc" ] && [ "$hc" != healthy ]; then
				echo "$s: $hc"
				bad=1
			fi
		done <<EOF
$lines
EOF
	done
	[ "$bad" = 0 ] && echo "all services running"
	return "$bad"
}

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

# The registry and preload part, installed next to this file.
# shellcheck source=/dev/null # linted on its own (dind/registry.sh)
. "$(dirname "$0")/dindbundler-registry.sh"

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
