#!/bin/sh
# t/bench/accept.sh — vr-accept through a real xinetd on loopback, measured
# with wrk beside the floor of this design (xinetd exec'ing t/bench/floor.c,
# a fixed 200): POST /api/v2/renders (valid, answered PENDING: no
# vr-validate, validate_wait = 0, so vr-accept alone is measured) and GET
# /api/v2/renders/ID, on new connections (Connection: close) and kept alive.
# Prints requests/s, p50/p99 latency, the ratios to the floor, vr-accept's
# maximum RSS and its exec-to-exit time on a canned GET (hyperfine).
# A second floor, floor.c linked with libjq (loaded, not called), shows what
# the JSON library alone costs every exec: Debian ships libjq (and
# libonig, which it needs) as shared objects only, so vr-accept pays their
# loading on each connection too.
# BENCH_SECONDS (default 5) per run. Reports only; never fails on time.
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
seconds=${BENCH_SECONDS:-5}
dir=$(mktemp -d)
out=t/bench/out
mkdir -p "$out"
xpid=
cleanup() {
	set +e
	if [ -n "$xpid" ]; then
		kill "$xpid" 2>/dev/null
		wait "$xpid" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
cc -O2 -Wall -Wextra -Werror -Wno-unused-result -o "$out/floor" t/bench/floor.c
cc -O2 -Wall -Wextra -Werror -Wno-unused-result -o "$out/floor-jq" t/bench/floor.c \
	-Wl,--no-as-needed $(PKG_CONFIG_PATH=lib/pkgconfig pkg-config --libs libjq)

mkdir -p "$dir/etc" "$dir/spool"
ln -s "$root/etc/templates" "$dir/etc/templates"
cat > "$dir/etc/vr.conf" <<CONF
spool = ../spool
validate_wait = 0
max_keepalive_requests = 1000000
request_timeout = 1h
CONF
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/etc/secret"
: > "$dir/etc/keys"
export VR_CONF="$dir/etc/vr.conf"
key=$(bin/vr-keygen -q 1000000 bench)

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
vr_port=$(port)
floor_port=$(port)
floorjq_port=$(port)
service() { # NAME PORT SERVER
	cat <<CONF
service $1
{
	type = UNLISTED
	socket_type = stream
	protocol = tcp
	wait = no
	port = $2
	bind = 127.0.0.1
	user = $(id -un)
	server = $3
	env = VR_CONF=$VR_CONF
	instances = UNLIMITED
	cps = 100000 1
	per_source = UNLIMITED
	log_on_success =
	log_on_failure =
}
CONF
}
{
	printf 'defaults\n{\n\tinstances = UNLIMITED\n\tcps = 100000 1\n}\n'
	service vr-bench "$vr_port" "$root/bin/vr-accept"
	service vr-floor "$floor_port" "$root/$out/floor"
	service vr-floor-jq "$floorjq_port" "$root/$out/floor-jq"
} > "$dir/xinetd.conf"
xinetd -dontfork -f "$dir/xinetd.conf" -pidfile "$dir/xinetd.pid" > "$dir/xinetd.log" 2>&1 &
xpid=$!
for i in $(seq 100); do
	curl -sf -o /dev/null "http://127.0.0.1:$floor_port/" && break
	sleep 0.05
done

body='{"projectId":"demo","templateId":"social","parameters":{"heading":"Bench","image":"https://example.com/a.png"}}'
id=$(curl -sf -u "$key:" -d "$body" "http://127.0.0.1:$vr_port/api/v2/renders" | jq -r .id)
cat > "$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA

# run NAME URL [wrk args]: requests/s, p50 and p99 (ms) on one line
run() {
	name=$1 url=$2; shift 2
	wrk -t 2 -c 8 -d "${seconds}s" --latency "$@" "$url" > "$dir/wrk.out" 2>&1 || true
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$dir/wrk.out")
	p50=$(awk '$1 == "50%" { print $2 }' "$dir/wrk.out")
	p99=$(awk '$1 == "99%" { print $2 }' "$dir/wrk.out")
	bad=$(awk '/Non-2xx/ { print $5 } /Socket errors/ { print "errors:" $0 }' "$dir/wrk.out" | tr '\n' ' ')
	printf '%-34s %10s req/s   p50 %8s   p99 %8s %s\n' "$name" "${rps:-?}" "${p50:-?}" "${p99:-?}" "$bad"
	echo "${rps:-0}" > "$dir/$name.rps"
}
ratio() { # A B: A/B
	python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print('%.2f' % (a / b if b else 0))" "$(cat "$dir/$1.rps")" "$(cat "$dir/$2.rps")"
}

vr=http://127.0.0.1:$vr_port
floor=http://127.0.0.1:$floor_port
floorjq=http://127.0.0.1:$floorjq_port
auth="Authorization: Basic $(printf '%s:' "$key" | base64 -w0)"
echo "wrk -t 2 -c 8 -d ${seconds}s, xinetd on loopback, $(nproc) cores"
run floor-new "$floor/" -H 'Connection: close'
run floor-jq-new "$floorjq/" -H 'Connection: close'
run create-new "$vr/api/v2/renders" -H "$auth" -H 'Connection: close' -s "$dir/post.lua"
run get-new "$vr/api/v2/renders/$id" -H "$auth" -H 'Connection: close'
run floor-keepalive "$floor/"
run create-keepalive "$vr/api/v2/renders" -H "$auth" -s "$dir/post.lua"
run get-keepalive "$vr/api/v2/renders/$id" -H "$auth"
echo "ratios to the floor: new connections: create $(ratio create-new floor-new) (target 0.6), get $(ratio get-new floor-new) (target 0.8);"
echo "                     the floor with libjq loaded: $(ratio floor-jq-new floor-new) of the floor; create $(ratio create-new floor-jq-new), get $(ratio get-new floor-jq-new) of it;"
echo "                     keep-alive:      create $(ratio create-keepalive floor-keepalive), get $(ratio get-keepalive floor-keepalive)"
echo "jobs written to pending/ during the run: $(ls "$dir/spool/pending" | wc -l)"

printf 'GET /api/v2/renders/%s HTTP/1.1\r\nHost: b\r\n%s\r\nConnection: close\r\n\r\n' "$id" "$auth" > "$dir/get.req"
printf 'POST /api/v2/renders HTTP/1.1\r\nHost: b\r\n%s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "$auth" "${#body}" "$body" > "$dir/post.req"
rss_get=$(/usr/bin/time -f %M bin/vr-accept < "$dir/get.req" 2>&1 >/dev/null | tail -n 1)
rss_post=$(/usr/bin/time -f %M bin/vr-accept < "$dir/post.req" 2>&1 >/dev/null | tail -n 1)
echo "vr-accept max RSS: GET ${rss_get} KB, POST ${rss_post} KB (target under 8 MB)"

# exec to exit on a canned GET; hyperfine 1.15 cannot feed stdin, so both
# run under sh -c 'exec … < file' and the floor's time is shown beside.
cc -O2 -x c -o "$out/empty" - <<'C'
int main(void) { return 0; }
C
hyperfine -N -w 50 -r "${BENCH_RUNS:-500}" --export-json "$dir/hf.json" \
	"sh -c 'exec bin/vr-accept < $dir/get.req > /dev/null'" \
	"sh -c 'exec $out/empty < $dir/get.req > /dev/null'" > "$dir/hf.log" 2>&1 ||
	{ echo "hyperfine failed:"; tail -n 3 "$dir/hf.log"; exit 0; }
python3 - "$dir/hf.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
a, e = r[0], r[1]
ms = lambda x: x * 1000
print("exec-to-exit, canned GET under sh -c: vr-accept mean %.2f ms (min %.2f, user+sys %.2f), empty main mean %.2f ms (min %.2f, user+sys %.2f)"
      % (ms(a["mean"]), ms(a["min"]), ms(a["user"] + a["system"]), ms(e["mean"]), ms(e["min"]), ms(e["user"] + e["system"])))
print("vr-accept's own share (vr-accept minus empty main): mean %.2f ms, min %.2f ms, CPU %.2f ms (budget: 1.5 ms exec-to-exit)"
      % (ms(a["mean"] - e["mean"]), ms(a["min"] - e["min"]), ms(a["user"] + a["system"] - e["user"] - e["system"])))
PY
