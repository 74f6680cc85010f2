# t/helper.bash — what every test file shares: a private vr.conf and spool,
# real parts started on loopback (xinetd running vr-accept, the daemons, an
# HTTP asset server, a webhook receiver), stopped by pid, and waits that are
# conditions with deadlines. Load it with `load helper`.
#
#   vr_setup [CONF-LINES]   in setup_file: VR_DIR, VR_CONF, VR_SPOOL, conf
#   vr_teardown             in teardown_file: stop all started parts
#   start_bg NAME CMD...    run CMD in the background, log in $VR_DIR/NAME.log
#   stop_bg NAME [SIGNAL]   stop it (by pid) and wait for it
#   wait_until SECS CMD...  retry CMD until it succeeds or SECS pass (fails)
#   free_port               print a free loopback TCP port
#   start_xinetd            vr-accept under a real xinetd; sets VR_URL
#   start_asset_server DIR  python's http.server on DIR; sets ASSET_URL
#   start_receiver          t/receiver.py; sets RECEIVER_URL, RECEIVER_LOG
#   make_key ORG [ARGS]     vr-keygen; prints the key
#   start_fx_pipeline CONF-LINES...  vr_setup, FX media on an asset server,
#                           xinetd, a key (KEY), vr-validate, vr-render -j 1

VR_ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
PATH=$VR_ROOT/bin:$PATH

vr_setup() {
	VR_DIR=${BATS_FILE_TMPDIR:?}/vr
	mkdir -p "$VR_DIR/spool" "$VR_DIR/etc/credentials"
	VR_SPOOL=$VR_DIR/spool
	VR_CONF=$VR_DIR/etc/vr.conf
	ln -sfn "$VR_ROOT/etc/templates" "$VR_DIR/etc/templates"
	cat > "$VR_CONF" <<CONF
spool = $VR_SPOOL
templates = templates
keys = keys
credentials = credentials
secret = secret
validate_wait = 20s
render_workers = 1
CONF
	[ $# -eq 0 ] || printf '%s\n' "$@" >> "$VR_CONF"
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$VR_DIR/etc/secret"
	: > "$VR_DIR/etc/keys"
	chmod 600 "$VR_DIR/etc/keys" "$VR_DIR/etc/secret"
	for d in tmp pending invalid throttled queued in-progress uploading done \
		failed cancelled outbox sent out assets lease; do
		mkdir -p "$VR_SPOOL/$d"
	done
	export VR_DIR VR_SPOOL VR_CONF VR_ROOT PATH
}

# new_job DIR: a minimal job of acme put in DIR with t/spoolctl; prints its id.
new_job() {
	local id
	id=$(t/spoolctl new-id)
	printf '{"id":"%s","org":"acme","state":"X","projectId":"demo"}' "$id" |
		t/spoolctl put "$1" "$id"
	echo "$id"
}

# conf_set KEY VALUE: add or replace a line of the test's vr.conf.
conf_set() {
	sed -i "/^$1[[:space:]]*=/d" "$VR_CONF"
	printf '%s = %s\n' "$1" "$2" >> "$VR_CONF"
}

start_bg() {
	local name=$1; shift
	setsid "$@" >> "$VR_DIR/$name.log" 2>&1 < /dev/null &
	echo "$!" > "$VR_DIR/$name.pid"
}

stop_bg() {
	local name=$1 sig=${2:-TERM} pid
	[ -f "$VR_DIR/$name.pid" ] || return 0
	pid=$(cat "$VR_DIR/$name.pid")
	kill -"$sig" -- -"$pid" 2>/dev/null || kill -"$sig" "$pid" 2>/dev/null || true
	wait_until 20 eval "! kill -0 $pid 2>/dev/null"
	rm -f "$VR_DIR/$name.pid"
}

vr_teardown() {
	local f
	for f in "$VR_DIR"/*.pid; do
		[ -f "$f" ] || continue
		stop_bg "$(basename "$f" .pid)"
	done
}

wait_until() {
	local secs=$1; shift
	local deadline=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
	until "$@"; do
		if [ $(( $(date +%s%N) / 1000000 )) -ge "$deadline" ]; then
			echo "wait_until: gave up after ${secs}s: $*" >&2
			return 1
		fi
		sleep 0.02
	done
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_xinetd() {
	VR_PORT=$(free_port)
	cat > "$VR_DIR/xinetd.conf" <<CONF
defaults
{
	instances = UNLIMITED
	cps = 100000 1
	per_source = UNLIMITED
}
service vr-test
{
	type = UNLISTED
	socket_type = stream
	protocol = tcp
	wait = no
	port = $VR_PORT
	bind = 127.0.0.1
	user = $(id -un)
	server = $VR_ROOT/bin/vr-accept
	env = VR_CONF=$VR_CONF
	passenv = ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
	instances = UNLIMITED
	cps = 100000 1
	per_source = UNLIMITED
	log_on_failure =
}
CONF
	start_bg xinetd xinetd -dontfork -f "$VR_DIR/xinetd.conf" -pidfile "$VR_DIR/xinetd.pidfile"
	wait_until 10 port_open "$VR_PORT"
	VR_URL=http://127.0.0.1:$VR_PORT
	sed -i '/^public_url/d' "$VR_CONF"
	echo "public_url = $VR_URL" >> "$VR_CONF"
	export VR_PORT VR_URL
}

start_asset_server() {
	ASSET_PORT=$(free_port)
	start_bg assets python3 -m http.server --bind 127.0.0.1 --directory "$1" "$ASSET_PORT"
	wait_until 10 port_open "$ASSET_PORT"
	ASSET_URL=http://127.0.0.1:$ASSET_PORT
	export ASSET_PORT ASSET_URL
}

start_receiver() {
	RECEIVER_PORT=$(free_port)
	RECEIVER_LOG=$VR_DIR/receiver.jsonl
	: > "$RECEIVER_LOG"
	start_bg receiver python3 "$VR_ROOT/t/receiver.py" "$RECEIVER_PORT" "$RECEIVER_LOG"
	wait_until 10 port_open "$RECEIVER_PORT"
	RECEIVER_URL=http://127.0.0.1:$RECEIVER_PORT
	export RECEIVER_PORT RECEIVER_URL RECEIVER_LOG
}

make_key() {
	vr-keygen "$@"
}

# job_state ID: the state directory holding job ID, or nothing.
job_state() {
	local d
	for d in pending invalid throttled queued in-progress uploading done failed cancelled; do
		[ -f "$VR_SPOOL/$d/$1.json" ] && { echo "$d"; return 0; }
	done
	return 1
}

# job_in ID DIR: is job ID in state directory DIR?
job_in() {
	[ -f "$VR_SPOOL/$2/$1.json" ]
}

# start_fx_pipeline CONF-LINES...: what the FX suites share (t/80, t/81).
start_fx_pipeline() {
	vr_setup "fetch_allow = 127.0.0.1" "validate_wait = 20s" \
		"routing_keys = default, gold" "parallel_max = 4" "$@"
	mkdir -p "$VR_DIR/media"
	local m=$VR_DIR/media ff="ffmpeg -nostdin -loglevel error -y"
	$ff -f lavfi -i testsrc=s=320x240 -frames:v 1 "$m/pic.png"
	$ff -f lavfi -i sine=f=440:d=10:sample_rate=48000 -ac 2 "$m/tone.wav"
	start_asset_server "$m"
	start_xinetd
	KEY=$(make_key acme)
	export KEY
	start_bg validate vr-validate
	start_bg render vr-render -j 1
}
