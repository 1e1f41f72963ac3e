# tests/lab/crowdsec.sh — a private CrowdSec Local API (Debian's crowdsec
# package) for the lab: its own namespace, SQLite database and TLS
# certificate, no Central API (no online_client key, -no-capi), no agent
# (-no-cs).  Source it from bash (as root).
#
#   cs_setup DIR NS [LISTEN]  write DIR/config.yaml (LISTEN default
#                             127.0.0.1:8080; "[::]:8080" for veths), a
#                             self-signed certificate for 127.0.0.1 and
#                             CS_SANS (IP:... entries), make namespace NS
#                             (lo up), and a cscli machine for DIR's own
#                             local_api_credentials.yaml
#   cs_start / cs_stop        the LAPI (CS_LAPI_SECRET set, so tokens survive
#                             a restart); cs_start waits until it answers
#   cs_cli ARGS...            cscli inside NS (decisions and alerts go over
#                             HTTPS to 127.0.0.1)
#   cs_machine NAME FILE      a machine with a random password, written by
#                             cscli -f to FILE (mode 0600)
#   cs_bouncer NAME FILE      a bouncer with a random key, the key in FILE
#                             (mode 0600)
#   cs_down                   stop it and delete NS (safe to call twice)
# Everything is bounded in time; the LAPI logs to DIR/log/.

CS_DIR=
CS_NS=
CS_PID=
CS_SANS=${CS_SANS:-}

cs_cli() {
	timeout -k 2 60 ip netns exec "$CS_NS" cscli -c "$CS_DIR/config.yaml" \
	    "$@"
}

cs_setup() {
	local listen=${3:-127.0.0.1:8080} sans="IP:127.0.0.1" s
	CS_DIR=$1
	CS_NS=$2
	mkdir -p "$CS_DIR/data" "$CS_DIR/log" "$CS_DIR/hub" \
	    "$CS_DIR/notifications" || return 1
	echo '{}' >"$CS_DIR/hub/.index.json"
	cp /etc/crowdsec/simulation.yaml "$CS_DIR/simulation.yaml" &&
	cp /etc/crowdsec/profiles.yaml "$CS_DIR/profiles.yaml" || return 1
	for s in $CS_SANS; do
		sans="$sans,$s"
	done
	timeout 30 openssl req -x509 -newkey ec -pkeyopt \
	    ec_paramgen_curve:prime256v1 -nodes -days 2 \
	    -subj /CN=lapi -addext "subjectAltName=$sans" \
	    -keyout "$CS_DIR/key.pem" -out "$CS_DIR/cert.pem" \
	    >/dev/null 2>&1 || return 1
	cat >"$CS_DIR/config.yaml" <<EOF
common: {daemonize: false, log_media: file, log_level: info, log_dir: $CS_DIR/log/}
config_paths:
  config_dir: $CS_DIR/
  data_dir: $CS_DIR/data/
  simulation_path: $CS_DIR/simulation.yaml
  hub_dir: $CS_DIR/hub/
  index_path: $CS_DIR/hub/.index.json
  notification_dir: $CS_DIR/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
db_config:
  type: sqlite
  db_path: $CS_DIR/data/crowdsec.db
  use_wal: true
  flush: {max_items: 500000, max_age: 7d}
api:
  client: {credentials_path: $CS_DIR/local_api_credentials.yaml}
  server:
    listen_uri: "$listen"
    profiles_path: $CS_DIR/profiles.yaml
    console_path: $CS_DIR/console.yaml
    trusted_ips: ['127.0.0.1', '::1']
    tls: {cert_file: $CS_DIR/cert.pem, key_file: $CS_DIR/key.pem}
prometheus: {enabled: false}
EOF
	mkdir -p "/etc/netns/$CS_NS" &&
	echo 'nameserver 127.0.0.1' >"/etc/netns/$CS_NS/resolv.conf" &&
	ip netns add "$CS_NS" && ip -n "$CS_NS" link set lo up || return 1
	cs_machine cscli-local "$CS_DIR/local_api_credentials.yaml" || return 1
	# The cscli machine's own file: the LAPI's address and certificate.
	sed -i 's|^url:.*|url: https://127.0.0.1:8080|' \
	    "$CS_DIR/local_api_credentials.yaml" &&
	echo "ca_cert_path: $CS_DIR/cert.pem" \
	    >>"$CS_DIR/local_api_credentials.yaml"
}

# The secret: at least 64 characters, the same for every start.
cs_start() {
	local i
	CS_LAPI_SECRET=$(head -c 40 /dev/urandom | od -An -tx1 | tr -d ' \n')
	export CS_LAPI_SECRET
	[ -n "${CS_SECRET_KEPT:-}" ] && CS_LAPI_SECRET=$CS_SECRET_KEPT
	CS_SECRET_KEPT=$CS_LAPI_SECRET
	ip netns exec "$CS_NS" setsid crowdsec -c "$CS_DIR/config.yaml" \
	    -no-cs -no-capi >>"$CS_DIR/log/stdout.log" 2>&1 </dev/null &
	CS_PID=$!
	for ((i = 0; i < 300; i++)); do
		timeout 2 ip netns exec "$CS_NS" curl -s -o /dev/null \
		    --cacert "$CS_DIR/cert.pem" https://127.0.0.1:8080/health \
		    2>/dev/null && return 0
		kill -0 "$CS_PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

cs_stop() {
	local i
	[ -n "$CS_PID" ] || return 0
	kill -TERM "$CS_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$CS_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$CS_PID" 2>/dev/null
	wait "$CS_PID" 2>/dev/null
	CS_PID=
}

cs_machine() {
	local pw
	pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
	(umask 077 && timeout 30 cscli -c "$CS_DIR/config.yaml" machines add \
	    "$1" --password "$pw" -f "$2" --force >/dev/null 2>&1) &&
	chmod 600 "$2"
}

cs_bouncer() {
	local key
	key=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	timeout 30 cscli -c "$CS_DIR/config.yaml" bouncers add "$1" -k "$key" \
	    -o raw >/dev/null 2>&1 || return 1
	(umask 077 && echo "$key" >"$2") && chmod 600 "$2"
}

cs_down() {
	cs_stop
	if [ -n "$CS_NS" ]; then
		ip netns del "$CS_NS" 2>/dev/null
		rm -f "/etc/netns/$CS_NS/resolv.conf"
		rmdir "/etc/netns/$CS_NS" 2>/dev/null
	fi
}
