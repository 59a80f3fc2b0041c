# shellcheck shell=sh disable=SC2154 # compose_file: the entrypoint's
# dindbundler entrypoint, provisioning part: sourced by dindbundler-entrypoint.sh (installed
# next to it as dindbundler-provision.sh), whose helpers (log, err, fail, compose,
# run_interruptible) it uses.

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
