#!/bin/sh
# build.sh keeps the seed's command line working:
#   build.sh <template> [tag]
#   build.sh -t a.yaml -t b.yaml [tag]
#   build.sh -a DIR [-a DIR ...] [tag]   (artifact directories, or artifact.yml files)
# It maps the arguments to TEMPLATE (or ARTIFACT) and BUNDLE_TAG and runs the Bundle target for the project in
# the current directory. Every other setting is read from the environment as usual.
set -eu

usage() {
	echo "usage: build.sh <template> [tag]" >&2
	echo "       build.sh -t a.yaml [-t b.yaml ...] [tag]" >&2
	echo "       build.sh -a DIR [-a DIR ...] [tag]" >&2
	exit 2
}

templates=""
add_template() {
	case "$1" in
	*,*) echo "build.sh: template path $1 contains a comma, which TEMPLATE cannot hold" >&2; exit 2 ;;
	esac
	if [ -n "$templates" ]; then templates="$templates,$1"; else templates=$1; fi
}

artifacts=""
add_artifact() {
	case "$1" in
	*,*) echo "build.sh: artifact path $1 contains a comma, which ARTIFACT cannot hold" >&2; exit 2 ;;
	esac
	if [ -n "$artifacts" ]; then artifacts="$artifacts,$1"; else artifacts=$1; fi
}

first="" second=""
while [ $# -gt 0 ]; do
	case "$1" in
	-t | --template)
		[ $# -ge 2 ] || usage
		add_template "$2"
		shift 2
		;;
	-a | --artifact)
		[ $# -ge 2 ] || usage
		add_artifact "$2"
		shift 2
		;;
	-h | --help) usage ;;
	-*) echo "build.sh: unknown option $1" >&2; usage ;;
	*)
		if [ -z "$first" ]; then first=$1; elif [ -z "$second" ]; then second=$1; else
			echo "build.sh: too many arguments" >&2
			usage
		fi
		shift
		;;
	esac
done

if [ -n "$artifacts" ]; then
	# build.sh -a DIR [-a DIR ...] [tag]: no template
	if [ -n "$templates" ] || [ -n "$second" ]; then
		echo "build.sh: -a takes the place of templates: give artifacts or templates, and at most a tag" >&2
		usage
	fi
	tag=$first
elif [ -z "$templates" ]; then
	# build.sh <template> [tag]
	[ -n "$first" ] || usage
	add_template "$first"
	tag=$second
else
	# build.sh -t a.yaml -t b.yaml [tag]
	[ -z "$second" ] || usage
	tag=$first
fi

project_dir=$(pwd)
repo_dir=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)

if [ -n "$artifacts" ]; then
	ARTIFACT=$artifacts
	export ARTIFACT
else
	TEMPLATE=$templates
	export TEMPLATE
fi
if [ -n "$tag" ]; then
	BUNDLE_TAG=$tag
	export BUNDLE_TAG
fi
cd "$repo_dir"
exec go run magefile.go -w "$project_dir" bundle
