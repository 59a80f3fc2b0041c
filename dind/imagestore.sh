# shellcheck shell=sh disable=SC2034 # store_args: read by the entrypoint's start_dockerd
# dindbundler entrypoint, image-store part: sourced by dindbundler-entrypoint.sh (installed next
# to it as dindbundler-imagestore.sh), whose helpers (log, err) it uses. DOCKERD_IMAGE_STORE
# (containerd or classic) picks the inner engine's image store; see the entrypoint's settings.

daemon_json=/etc/docker/daemon.json
store_json=/run/dindbundler/daemon.json

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
