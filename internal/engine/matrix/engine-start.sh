#!/bin/sh
# Matrix engine start: PID 1 of an outer engine container of the engine matrix (tests and
# `mage bench`). Prepares what a nested dockerd needs (securityfs, cgroup v2 nesting, legacy
# iptables where nf_tables does not work) and runs dockerd on TCP 2375 without TLS; package
# matrix publishes that port on the host's loopback only and copies /etc/docker/daemon.json
# (image store, insecure registries) in before the start.
set -eu

say() { printf 'enginetest-start: %s\n' "$*" >&2; }

# AppArmor detection reads securityfs, which a container does not get mounted.
if [ -d /sys/kernel/security ] && ! grep -q ' /sys/kernel/security ' /proc/self/mountinfo; then
	mount -t securityfs none /sys/kernel/security || say "could not mount securityfs; AppArmor detection may fail"
fi

# cgroup v2: the namespace's root cgroup may not hold processes once controllers are delegated,
# so move everything into /init first (as docker's own dind script does).
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	mkdir -p /sys/fs/cgroup/init
	xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || :
	sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers \
		>/sys/fs/cgroup/cgroup.subtree_control || say "could not enable cgroup v2 controllers"
fi

# Legacy iptables when the host already uses it or nf_tables does not work in this kernel.
legacy_dir=/usr/local/sbin/.iptables-legacy
if [ -n "$(cat /proc/net/ip_tables_names /proc/net/ip6_tables_names 2>/dev/null)" ] ||
	! iptables -nL >/dev/null 2>&1; then
	if [ -x "$legacy_dir/iptables" ]; then
		PATH=$legacy_dir:$PATH
		export PATH
		say "using legacy iptables"
	fi
fi

# Leftover PID files from a killed container would make dockerd refuse to start.
find /run /var/run -iname 'docker*.pid' -delete 2>/dev/null || :

# Without --tls=false dockerd waits ~15 s before serving an unauthenticated TCP socket.
exec docker-init -- dockerd -H tcp://0.0.0.0:2375 -H unix:///var/run/docker.sock --tls=false
