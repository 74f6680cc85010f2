#!/bin/sh
# t/bench/notify.sh — webhook delivery to a local receiver (t/receiver.py):
#   burst    1,000 notifications dropped at once (one vr-notify --enqueue of
#            1,000 final jobs, each written and fsync'ed) while vr-notify runs
#   backlog  1,000 waiting in outbox/ when vr-notify starts: its own pace
#   paced    200 dropped one by one, each by its own vr-notify --enqueue
# Figures: deliveries per second, and the time from the drop (createdAt:
# the job becoming final) to the request reaching the receiver, p50 and p99.
# Reference in the same run: 1,000 POSTs made by curl(1), 64 at a time.
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
dir=$(mktemp -d)
pids=
cleanup() {
	for p in $pids $notify; do kill "$p" 2>/dev/null || true; done
	for p in $pids $notify; do wait "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
for d in tmp pending invalid throttled queued in-progress uploading done \
	failed cancelled outbox sent out assets lease; do
	mkdir -p "$dir/spool/$d"
done
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/secret"
printf 'bench:%s:2:10:whsec_%s\n' "$(printf k | sha256sum | cut -d' ' -f1)" \
	"$(head -c 24 /dev/urandom | base64)" > "$dir/keys"
chmod 600 "$dir/keys" "$dir/secret"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/vr.conf" <<EOF
spool = $dir/spool
keys = keys
secret = secret
fetch_allow = 127.0.0.1
EOF
: > "$dir/received.jsonl"
python3 t/receiver.py "$port" "$dir/received.jsonl" 2> "$dir/receiver.err" &
pids="$pids $!"
bin/vr-notify -f "$dir/vr.conf" 2> "$dir/notify.log" &
notify=$!

# wait_lines N FILE SECS: until FILE has N lines (or time is up).
wait_lines() {
	i=0
	while [ "$(wc -l < "$2")" -lt "$1" ] && [ "$i" -lt $(($3 * 50)) ]; do
		sleep 0.02
		i=$((i + 1))
	done
}
i=0
until curl -s -o /dev/null "http://127.0.0.1:$port/_control" -d '{}' ||
	[ "$i" -ge 100 ]; do
	sleep 0.05
	i=$((i + 1))
done

# make_jobs N TAG: N final jobs in done/, their paths in $dir/TAG.list
make_jobs() {
	python3 - "$dir" "$port" "$1" "$2" <<'EOF'
import json, sys, uuid
d, port, n, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(f"{d}/{tag}.list", "w") as out:
    for _ in range(n):
        i = str(uuid.uuid4())
        job = {"id": i, "state": "DONE", "org": "bench", "projectId": "p",
               "templateId": "t", "parameters": {"name": "Ann"},
               "webhook": {"url": f"http://127.0.0.1:{port}/{tag}/{i}",
                           "passthrough": "{{name}}"}}
        path = f"{d}/spool/done/{i}.json"
        with open(path, "w") as f:
            json.dump(job, f)
        out.write(path + "\n")
EOF
}

report() { # TAG N WALL_START_S
	python3 - "$dir" "$1" "$2" "$3" <<'EOF'
import datetime, glob, json, sys
d, tag, n, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
arrived = {}
for line in open(f"{d}/received.jsonl"):
    r = json.loads(line)
    if r["path"].startswith(f"/{tag}/"):
        arrived.setdefault(r["path"].split("/")[2], r["t"])
lat = []
for f in glob.glob(f"{d}/spool/sent/*.json"):
    note = json.load(open(f))
    rid = note["renderId"]
    if rid in arrived:
        c = datetime.datetime.strptime(note["createdAt"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        lat.append((arrived[rid] - c) * 1000)
lat.sort()
last = max(arrived.values()) if arrived else start
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
line = (f"{tag}: {len(arrived)}/{n} delivered in {last - start:.2f} s: "
        f"{len(arrived) / max(last - start, 1e-9):.0f} deliveries/s")
if tag != "backlog":   # there the drops waited for vr-notify to start
    line += f"; drop to arrival p50 {q(0.50):.1f} ms, p99 {q(0.99):.1f} ms"
print(line)
with open(f"{d}/{tag}.rate", "w") as f:
    f.write(f"{len(arrived) / max(last - start, 1e-9)}\n")
EOF
}

now_s() { python3 -c 'import time; print(time.time())'; }

# 1. a burst of 1,000
make_jobs 1000 burst
start=$(now_s)
xargs bin/vr-notify -f "$dir/vr.conf" --enqueue < "$dir/burst.list" 2> "$dir/enqueue.err" || { cat "$dir/enqueue.err"; exit 1; }
wait_lines 1000 "$dir/received.jsonl" 120
report burst 1000 "$start"

# 2. a backlog of 1,000 waiting when vr-notify starts: its own pace
kill "$notify"
wait "$notify" || true
make_jobs 1000 backlog
xargs bin/vr-notify -f "$dir/vr.conf" --enqueue < "$dir/backlog.list" 2>/dev/null
start=$(now_s)
bin/vr-notify -f "$dir/vr.conf" 2>> "$dir/notify.log" &
notify=$!
wait_lines 2000 "$dir/received.jsonl" 120
report backlog 1000 "$start"

# 3. 200, dropped one at a time (each by its own vr-notify --enqueue)
make_jobs 200 paced
start=$(now_s)
while read -r job; do
	bin/vr-notify -f "$dir/vr.conf" --enqueue "$job" 2>/dev/null
done < "$dir/paced.list"
wait_lines 2200 "$dir/received.jsonl" 60
report paced 200 "$start"

# reference: curl(1), 64 at a time, the same 1,000 POSTs with a 400-byte body
head -c 400 /dev/zero | tr '\0' x > "$dir/body"
seq 1000 | sed "s|^|http://127.0.0.1:$port/curl/|" > "$dir/curl.list"
start=$(now_s)
xargs -P 64 -n 16 curl -s -H 'Content-Type: application/json' \
	--data-binary @"$dir/body" < "$dir/curl.list" > /dev/null
end=$(now_s)
python3 - "$start" "$end" "$dir/backlog.rate" <<'EOF'
import sys
start, end, rate = float(sys.argv[1]), float(sys.argv[2]), float(open(sys.argv[3]).read())
ref = 1000 / (end - start)
print(f"reference curl -P 64: 1000 POSTs in {end - start:.2f} s: {ref:.0f} requests/s")
print(f"ratio vr-notify backlog / curl (requests per second): {rate / ref:.2f}")
EOF
