# shellcheck shell=sh disable=SC2154 # images_dir, images_txt, manifest: the entrypoint's
# dindbundler entrypoint, loading part: sourced by dindbundler-entrypoint.sh (installed next to
# it as dindbundler-loadimages.sh), whose helpers (log, err, fail, now, engine_major,
# run_interruptible), verify_images (dindbundler-verify.sh) and boot_loads_nothing
# (dindbundler-registry.sh) it uses. It loads the bundle's images once per /var/lib/docker
# volume, streaming zstd layers to engines that cannot read them, and names damaged layers.

# The record lives on the /var/lib/docker volume, next to the images it describes: a new
# volume means no record and a fresh load, a restart with the same volume skips the load.
loaded_record=/var/lib/docker/dindbundler-loaded

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
