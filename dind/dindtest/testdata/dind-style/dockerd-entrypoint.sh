#!/bin/sh
# dockerd-entrypoint.sh of the test kit's docker:dind stand-in (Engine >= 23 branch of the
# official image's entrypoint; it no longer puts docker-init in front of dockerd):
#   no arguments, or a first argument starting with "-": dockerd on the unix socket and on
#     TCP, 2376 with TLS certificates generated under DOCKER_TLS_CERTDIR when that is set,
#     else 2375 without TLS; the arguments are added to dockerd's;
#   first argument "dockerd": stale PID files removed, legacy or nft iptables chosen
#     (DOCKER_IPTABLES_LEGACY decides when set), then run through /usr/local/bin/dind;
#   anything else: run as it is.
set -eu

say() { echo >&2 "dockerd-entrypoint.sh: $*"; }

# san: the subjectAltName list of the server certificate: this container's names and addresses.
san() {
	{
		for a in $(hostname -i 2>/dev/null) 127.0.0.1; do echo "IP:$a"; done
		for n in "$(hostname)" docker localhost; do echo "DNS:$n"; done
		[ -z "${DOCKER_TLS_SAN:-}" ] || echo "$DOCKER_TLS_SAN"
	} | sort -u | paste -sd, -
}

# certs DIR: a CA (kept when DIR/ca has one), a server and a client certificate signed by it.
# The leaf certificates are issued anew at every start: addresses change between runs.
certs() {
	dir=$1
	days=825
	if [ -s "$dir/ca/key.pem" ] || [ ! -s "$dir/ca/cert.pem" ]; then
		mkdir -p "$dir/ca"
		[ -s "$dir/ca/key.pem" ] || openssl genrsa -out "$dir/ca/key.pem" 4096
		openssl req -new -x509 -key "$dir/ca/key.pem" -out "$dir/ca/cert.pem" \
			-subj '/CN=docker:dind CA' -days "$days"
	fi
	[ -s "$dir/ca/key.pem" ] || return 0 # someone else's CA: leaf certificates are theirs too
	for side in server client; do
		mkdir -p "$dir/$side"
		[ -s "$dir/$side/key.pem" ] || openssl genrsa -out "$dir/$side/key.pem" 4096
		openssl req -new -key "$dir/$side/key.pem" -out "$dir/$side/csr.pem" -subj "/CN=docker:dind $side"
		if [ "$side" = server ]; then
			printf '[ext]\nsubjectAltName = %s\n' "$(san)" >"$dir/$side/openssl.cnf"
		else
			printf '[ext]\nextendedKeyUsage = clientAuth\n' >"$dir/$side/openssl.cnf"
		fi
		openssl x509 -req -in "$dir/$side/csr.pem" -CA "$dir/ca/cert.pem" -CAkey "$dir/ca/key.pem" \
			-CAcreateserial -out "$dir/$side/cert.pem" -days "$days" \
			-extfile "$dir/$side/openssl.cnf" -extensions ext
		cp "$dir/ca/cert.pem" "$dir/$side/ca.pem"
	done
	# Clients in other containers read the client key through a shared volume.
	chmod 0644 "$dir/client/key.pem"
}

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	socket=unix:///var/run/docker.sock
	case ${DOCKER_HOST:-} in unix://*) socket=$DOCKER_HOST ;; esac
	if [ -n "${DOCKER_TLS_CERTDIR:-}" ]; then
		certs "$DOCKER_TLS_CERTDIR"
		set -- dockerd --host="$socket" --host=tcp://0.0.0.0:2376 --tlsverify \
			--tlscacert "$DOCKER_TLS_CERTDIR/server/ca.pem" \
			--tlscert "$DOCKER_TLS_CERTDIR/server/cert.pem" \
			--tlskey "$DOCKER_TLS_CERTDIR/server/key.pem" "$@"
	else
		say "DOCKER_TLS_CERTDIR is empty: serving TCP 2375 without TLS"
		set -- dockerd --host="$socket" --host=tcp://0.0.0.0:2375 --tls=false "$@"
	fi
fi

if [ "$1" = dockerd ]; then
	# A container stopped uncleanly leaves PID files that would make dockerd refuse to start.
	find /run /var/run -iname 'docker*.pid' -delete 2>/dev/null || :

	# Legacy iptables when asked to, when the kernel already holds legacy rules, or when nft
	# does not work here and legacy does.
	legacy=
	if [ -n "${DOCKER_IPTABLES_LEGACY+x}" ]; then
		legacy=$DOCKER_IPTABLES_LEGACY
	elif [ -n "$(cat /proc/net/ip_tables_names /proc/net/ip6_tables_names /proc/net/arp_tables_names 2>/dev/null)" ]; then
		legacy=1
	elif ! iptables -nL >/dev/null 2>&1 &&
		/usr/local/sbin/.iptables-legacy/iptables -nL >/dev/null 2>&1; then
		legacy=1
	fi
	if [ -n "$legacy" ]; then
		PATH=/usr/local/sbin/.iptables-legacy:$PATH
		export PATH
	fi
	iptables --version >&2 # says which one

	if [ -x /usr/local/bin/dind ]; then
		set -- /usr/local/bin/dind "$@"
	fi
fi

exec "$@"
