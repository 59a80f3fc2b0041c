# shellcheck shell=sh disable=SC2154 # images_txt: the entrypoint's
# dindbundler entrypoint, verification part: sourced by dindbundler-entrypoint.sh (installed
# next to it as dindbundler-verify.sh), whose helper err it uses. It checks the inner engine's
# images against images.txt, whatever image store the engine uses.

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
