#!/bin/sh
# load.sh: load a bundle file made by `mage export` on the target machine.
#
#   sh load.sh FILE        (FILE.sha256 next to it; FILE is BUNDLE.tar, .tar.gz or .tar.zst)
#
# Checks FILE against FILE.sha256, refuses a differential file (EXPORT_AGAINST) when this
# engine lacks the bundle it was made against, loads it (zstd through the zstd binary on engines
# older than 23.0), checks the loaded image ID and prints the `docker run` line. POSIX sh.
set -eu

die() {
    echo "load.sh: $*" >&2
    exit 1
}

[ $# -eq 1 ] || { echo "usage: sh load.sh BUNDLE_FILE   (BUNDLE_FILE.sha256 next to it)" >&2; exit 2; }
file=$1
sum=$file.sha256
[ -f "$file" ] || die "$file not found"
[ -f "$sum" ] || die "$sum not found: copy it together with $file (mage export writes both)"
command -v docker >/dev/null 2>&1 || die "the docker command is not installed here"

case $file in
*.zst) command -v zstd >/dev/null 2>&1 || die "$file is zstd-compressed and this machine has no zstd: install it (apt-get install zstd), or export with EXPORT_COMPRESSION=gzip" ;;
esac

decompress() {
    case $file in
    *.gz) gzip -dc -- "$file" ;;
    *.zst) zstd -dc -- "$file" ;;
    *) cat -- "$file" ;;
    esac
}

# sha256 prints the hex sha256 of its input.
sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum | cut -d' ' -f1
    else
        shasum -a 256 | cut -d' ' -f1
    fi
}

# 1. The checksum, before anything else reads the file.
want=$(sed -n '1s/^\([0-9a-f]\{64\}\) .*/\1/p' "$sum")
[ -n "$want" ] || die "$sum holds no sha256 checksum"
echo "load.sh: checking $file against $sum" >&2
got=$(sha256 <"$file")
[ "$got" = "$want" ] || die "$file is damaged or incomplete: its sha256 is $got, $sum says $want; copy it again"

# 2. The description: the first entry of the archive, 1024 bytes of key=value lines right after
# its 512-byte tar header.
header=$(decompress 2>/dev/null | dd bs=1 skip=512 count=1024 2>/dev/null) || true
get() { printf '%s\n' "$header" | sed -n "s/^$1=//p" | head -n 1; }
[ "$(get format)" = "dindbundler-export/1" ] || die "$file is not a file made by mage export (no dindbundler-export/1 description at its start)"
bundle=$(get bundle)
image=$(get image)
requires=$(get requires)

# 3. A differential file holds only the layers its previous bundle lacks: it needs that bundle,
# and an engine that takes a partial archive (the classic image store; containerd's wants every
# layer in the archive).
if [ -n "$requires" ]; then
    if docker info --format '{{range .DriverStatus}}{{index . 1}} {{end}}' 2>/dev/null | grep -q containerd; then
        die "$file is a differential export, and this engine uses the containerd image store, which loads only whole archives: bring the full export of $bundle (mage export without EXPORT_AGAINST)"
    fi
    if ! docker image inspect "$requires" >/dev/null 2>&1; then
        die "$file is a differential export: it holds only the layers that bundle $(get requires_bundle) ($requires) lacks, and this engine does not have that image. Load that bundle first (its full export, with load.sh), then this file; or bring the full export of $bundle (mage export without EXPORT_AGAINST)."
    fi
    echo "load.sh: differential export against $(get requires_bundle) ($requires), which this engine has" >&2
fi

# 4. Load. Engines before 23.0 cannot read zstd archives.
major=$(docker version --format '{{.Server.Version}}' 2>/dev/null | cut -d. -f1) || major=
case $file in
*.zst)
    case $major in
    '' | *[!0-9]*) old=1 ;;
    *) if [ "$major" -lt 23 ]; then old=1; else old=0; fi ;;
    esac
    ;;
*) old=0 ;;
esac
echo "load.sh: loading $bundle from $file" >&2
if [ "$old" = 1 ]; then
    decompress | docker load
else
    docker load -i "$file"
fi

# 5. The loaded image must be the exported one: the same layers (its ID is the same only on an
# engine with the same kind of image store).
loaded=$(docker image inspect --format '{{.Id}}' "$bundle" 2>/dev/null) || die "the load ended but $bundle is not in the engine: see the docker load output above"
layers=$(docker image inspect --format '{{range .RootFS.Layers}}{{println .}}{{end}}' "$bundle" | grep . | sha256)
[ "$layers" = "$(get layers)" ] || die "$bundle ($loaded) does not have the layers of the exported $image after the load"
echo "load.sh: $bundle loaded ($loaded)" >&2
run=$(get run)
if [ -z "$run" ]; then
    run="docker run -d --privileged -v bundle-docker:/var/lib/docker -p PORT:PORT $bundle"
fi
echo "run it with:"
echo "  $run"
