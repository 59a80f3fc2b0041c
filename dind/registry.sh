# shellcheck shell=sh disable=SC2154 # app_dir, images_dir, images_txt: the entrypoint's
# dindbundler entrypoint, registry part: sourced by dindbundler-entrypoint.sh (installed next to
# it as dindbundler-registry.sh), whose helpers (log, err, fail, now, nap, alive, engine_major,
# run_interruptible) and verify_images (dindbundler-verify.sh) it uses.
#
# The bundle's read-only registry serves the images named under CONTAINER_REGISTRY (function
# images) straight from /images, on that address inside the bundle, where the stack's runtime
# pulls them before each container. /app/bundle/served.txt lists them ("<name> boot|pull");
# those marked pull are not loaded at boot, and FUNCTIONS_PRELOAD says when they are pulled:
#   background (default) after the stack is up, a few at a time; the stack never waits for them
#   boot        before the stack, as part of the boot (a failure stops the bundle)
#   none        never: the runtime pulls each on its first use
# Settings (environment): FUNCTIONS_PRELOAD, REGISTRY_START_TIMEOUT (s, 10), REGISTRY_LOG
# (/var/log/dindbundler-registry.log).

: "${FUNCTIONS_PRELOAD:=background}"
: "${REGISTRY_START_TIMEOUT:=10}"
: "${REGISTRY_LOG:=/var/log/dindbundler-registry.log}"

registry_index=$app_dir/bundle/registry.json
served_txt=$app_dir/bundle/served.txt
# What this boot loads and what it pulls, as images.txt lines (written by split_images).
boot_txt=/run/dindbundler/images-boot.txt
pulled_txt=/run/dindbundler/images-pulled.txt
# Pulls at a time: the engine already pulls 3 layers of each image in parallel.
preload_parallel=3

registry_pid=
preload_pid=

# check_preload refuses an unknown FUNCTIONS_PRELOAD before anything starts.
check_preload() {
	case $FUNCTIONS_PRELOAD in
	background | boot | none) ;;
	*)
		err "FUNCTIONS_PRELOAD=$FUNCTIONS_PRELOAD: unknown; use background (pull the function images after the stack is up), boot (before it) or none (the runtime pulls them on first use)"
		exit 1
		;;
	esac
}

# uptime_cs: a clock in hundredths of a second, for sub-second durations (date has no %N
# everywhere).
uptime_cs() { awk '{ printf "%d\n", $1 * 100 }' /proc/uptime; }

# since_cs START: seconds since START (uptime_cs), one decimal.
since_cs() { awk -v a="$1" -v b="$(uptime_cs)" 'BEGIN { printf "%.1f\n", (b - a) / 100 }'; }

# split_images writes boot_txt (the images.txt lines the boot loads: all but those served.txt
# marks pull) and pulled_txt (those), and points images_txt at boot_txt unless FUNCTIONS_PRELOAD
# is boot (everything is then verified once pulled). A bundle without served.txt loads all.
split_images() {
	all_images_txt=$images_txt
	# /run is the container's own: a restart finds the last boot's lists.
	rm -f "$boot_txt" "$pulled_txt"
	[ -s "$served_txt" ] || return 0
	mkdir -p "$(dirname "$boot_txt")"
	awk 'NR == FNR { if ($2 == "pull") pull[$1] = 1; next } !($2 in pull)' "$served_txt" "$images_txt" >"$boot_txt"
	awk 'NR == FNR { if ($2 == "pull") pull[$1] = 1; next } ($2 in pull)' "$served_txt" "$images_txt" >"$pulled_txt"
	images_txt=$boot_txt
}

# boot_loads_nothing: the boot list is empty (every image is served and compose runs none).
boot_loads_nothing() { ! grep -q . "$images_txt"; }

registry_address() {
	tr -d '\n' <"$registry_index" | sed -n 's/^{[[:space:]]*"address":[[:space:]]*"\([^"]*\)".*/\1/p'
}

# start_registry starts the registry in the background once dockerd is ready, when the bundle
# has an index that serves at least one image, and waits until it answers.
start_registry() {
	[ -f "$registry_index" ] && [ -s "$served_txt" ] || return 0
	n=$(grep -c . "$served_txt")
	addr=$(registry_address)
	[ -n "$addr" ] || fail "$registry_index names no address: rebuild the bundle"
	command -v dindbundler-registry >/dev/null 2>&1 ||
		fail "dindbundler-registry is missing from the image: rebuild the bundle"
	mode=
	# Engines before 23 cannot unpack zstd layers: the registry serves them decompressed.
	if grep -q '"compression":[[:space:]]*"zstd"' "$registry_index" && [ "$(engine_major)" -lt 23 ]; then
		mode=--uncompressed
	fi
	started=$(uptime_cs)
	mkdir -p "$(dirname "$REGISTRY_LOG")"
	# shellcheck disable=SC2086 # mode is one flag or nothing
	dindbundler-registry serve --index "$registry_index" --images "$images_dir" --addr "$addr" $mode >>"$REGISTRY_LOG" 2>&1 &
	registry_pid=$!
	deadline=$(($(now) + REGISTRY_START_TIMEOUT))
	until dindbundler-registry ping "$addr" >/dev/null 2>&1; do
		if ! alive "$registry_pid" || [ "$(now)" -ge "$deadline" ]; then
			err "the registry did not answer on $addr within ${REGISTRY_START_TIMEOUT}s (REGISTRY_START_TIMEOUT)"
			err "last 50 lines of the registry log ($REGISTRY_LOG):"
			tail -n 50 "$REGISTRY_LOG" >&2 || :
			fail "the bundle's registry failed to start"
		fi
		nap
	done
	log "registry ready on $addr in $(since_cs "$started")s ($n images${mode:+, layers served uncompressed})"
}

# stop_registry: after the stack, which may still pull from it while stopping.
stop_registry() {
	[ -n "$registry_pid" ] || return 0
	kill -TERM "$registry_pid" 2>/dev/null || :
	wait "$registry_pid" 2>/dev/null || :
	registry_pid=
}

# missing_pulled prints the names of pulled_txt whose image the engine lacks.
missing_pulled() {
	[ -s "$pulled_txt" ] || return 0
	names=$(awk '{ print $2 }' "$pulled_txt")
	# One inspect for all: the usual answer, on a restart, is that every image is there.
	# shellcheck disable=SC2086 # image names never contain blanks
	docker image inspect $names >/dev/null 2>&1 </dev/null && return 0
	for name in $names; do
		docker image inspect "$name" >/dev/null 2>&1 </dev/null || printf '%s\n' "$name"
	done
}

# pull_one NAME: one line when pulled, the engine's complaint when not.
pull_one() {
	started=$(uptime_cs)
	if out=$(docker pull -q "$1" 2>&1 </dev/null); then
		log "pulled $1 in $(since_cs "$started")s"
	else
		err "pull $1 failed: $(printf '%s' "$out" | tail -n 1)"
		return 1
	fi
}

# pull_images NAME…: pull with at most preload_parallel pulls at a time; prints a summary and
# fails when any pull failed.
pull_images() {
	total=$#
	failed=0
	started=$(uptime_cs)
	running=
	for name in "$@"; do
		pull_one "$name" &
		running="$running $!"
		# shellcheck disable=SC2086 # pids
		set -- $running
		if [ "$#" -ge "$preload_parallel" ]; then
			wait "$1" || failed=$((failed + 1))
			shift
			running=$*
		fi
	done
	for pid in $running; do
		wait "$pid" || failed=$((failed + 1))
	done
	summary="pulled $((total - failed)) of $total function images in $(since_cs "$started")s"
	if [ "$failed" = 0 ]; then
		log "$summary"
		return 0
	fi
	err "$summary ($failed failed)"
	return 1
}

# preload_boot (FUNCTIONS_PRELOAD=boot): every served image before the stack, verified.
preload_boot() {
	[ "$FUNCTIONS_PRELOAD" = boot ] && [ -s "$pulled_txt" ] || return 0
	# shellcheck disable=SC2046 # image names never contain blanks
	set -- $(missing_pulled)
	if [ "$#" -gt 0 ]; then
		log "pulling $# function images before the stack (FUNCTIONS_PRELOAD=boot)"
		run_interruptible pull_images "$@" || fail "pulling the function images failed (see above)"
	fi
	verify_images "$pulled_txt" || fail "the pulled images do not match $all_images_txt (see above); rebuild the bundle"
}

# preload_background (FUNCTIONS_PRELOAD=background): pull what is missing while the stack runs.
preload_background() {
	[ "$FUNCTIONS_PRELOAD" = background ] && [ -s "$pulled_txt" ] || return 0
	# shellcheck disable=SC2046 # image names never contain blanks
	set -- $(missing_pulled)
	[ "$#" -gt 0 ] || return 0
	log "pulling $# function images in the background (FUNCTIONS_PRELOAD=background)"
	(pull_images "$@" || :) &
	preload_pid=$!
}

# stop_preload: a shutdown does not wait for background pulls.
stop_preload() {
	[ -n "$preload_pid" ] || return 0
	kill -TERM "$preload_pid" 2>/dev/null || :
	wait "$preload_pid" 2>/dev/null || :
	preload_pid=
}
