# shellcheck shell=sh
# dindbundler entrypoint, health part: sourced by dindbundler-entrypoint.sh (installed next to
# it as dindbundler-health.sh), whose helper compose it uses. `dindbundler-entrypoint.sh health`
# is the image's HEALTHCHECK.

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
