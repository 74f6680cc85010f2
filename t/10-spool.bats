#!/usr/bin/env bats
# The spool and job files: atomic writes, one copy at any instant, claims by
# rename, listing and lookup, and refusal of bad input (lib/spool.c, job.c).

load helper

setup_file() {
	vr_setup
}

teardown_file() {
	vr_teardown
}

copies() { # ID -> number of state directories holding it
	ls "$VR_SPOOL"/{pending,invalid,throttled,queued,in-progress,uploading,done,failed,cancelled}/"$1.json" 2>/dev/null | wc -l
}

@test "job ids are UUIDv7 and sort by creation time" {
	cd "$VR_ROOT"
	a=$(t/spoolctl new-id); b=$(t/spoolctl new-id)
	[[ $a =~ ^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]
	[[ $a < $b ]]
}

@test "a job is written whole, mode 0600, and nothing is left in tmp/" {
	cd "$VR_ROOT"
	id=$(new_job pending)
	[ "$(stat -c %a "$VR_SPOOL/pending/$id.json")" = 600 ]
	jq -e --arg id "$id" '.id == $id' "$VR_SPOOL/pending/$id.json"
	[ -z "$(ls "$VR_SPOOL/tmp")" ]
}

@test "a move rewrites state, lastModified and history, then renames" {
	cd "$VR_ROOT"
	id=$(new_job pending)
	t/spoolctl move "$id" pending queued
	[ "$(copies "$id")" = 1 ]
	run jq -r '[.state, (.history | length), .history[0].state, .history[0].by, (.lastModified | test("Z$"))] | @tsv' "$VR_SPOOL/queued/$id.json"
	[ "$output" = "$(printf 'QUEUED\t1\tQUEUED\tspoolctl\ttrue')" ]
}

@test "a job that another process took is not moved and no copy is made" {
	cd "$VR_ROOT"
	id=$(new_job pending)
	mv "$VR_SPOOL/pending/$id.json" "$VR_SPOOL/cancelled/$id.json"
	run t/spoolctl move "$id" pending queued
	[ "$status" -eq 66 ]
	[[ $output == *"no such job"* ]]
	[ "$(copies "$id")" = 1 ]
	[ -f "$VR_SPOOL/cancelled/$id.json" ]
}

@test "a reader looping over the directory never sees a half-written job" {
	cd "$VR_ROOT"
	id=$(new_job queued)
	python3 - "$VR_SPOOL/queued/$id.json" > "$VR_DIR/reader.out" <<'PY' &
import json, sys, os, time
path = sys.argv[1]; reads = bad = 0
deadline = time.time() + 30
while time.time() < deadline and not os.path.exists(path + ".stop"):
    try:
        with open(path) as f: json.loads(f.read()); reads += 1
    except FileNotFoundError: pass
    except ValueError: bad += 1
print(reads, bad)
PY
	reader=$!
	t/spoolctl save-loop queued "$id" 500
	touch "$VR_SPOOL/queued/$id.json.stop"
	wait "$reader"
	read -r reads bad < "$VR_DIR/reader.out"
	rm -f "$VR_SPOOL/queued/$id.json.stop"
	[ "$reads" -gt 0 ]
	[ "$bad" -eq 0 ]
}

@test "SIGKILL at 200 random points of saves and moves leaves exactly one complete copy" {
	cd "$VR_ROOT"
	id=$(new_job queued)
	run python3 - "$VR_SPOOL" "$id" <<'PY'
import json, os, random, signal, subprocess, sys, time
spool, jid = sys.argv[1], sys.argv[2]
states = "pending invalid throttled queued in-progress uploading done failed cancelled".split()
for i in range(200):
    where = [s for s in states if os.path.exists(f"{spool}/{s}/{jid}.json")]
    assert len(where) == 1, f"round {i}: copies in {where}"
    here = where[0]
    there = "in-progress" if here == "queued" else "queued"
    cmd = ["t/spoolctl", "move-loop", jid, here, there, "100000"] if i % 2 else \
          ["t/spoolctl", "save-loop", here, jid, "100000"]
    p = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    time.sleep(random.uniform(0.002, 0.03))   # the random point of the kill
    p.send_signal(signal.SIGKILL); p.wait()
    where = [s for s in states if os.path.exists(f"{spool}/{s}/{jid}.json")]
    assert len(where) == 1, f"round {i}: after kill, copies in {where}"
    with open(f"{spool}/{where[0]}/{jid}.json") as f:
        job = json.load(f)
    assert job["id"] == jid, f"round {i}: wrong content"
print("ok 200")
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "ok 200" ]
}

@test "two claimers racing for 1,000 queued jobs claim each exactly once" {
	cd "$VR_ROOT"
	rm -f "$VR_SPOOL"/queued/*.json "$VR_SPOOL"/in-progress/*.json
	python3 - "$VR_SPOOL/queued" <<'PY'
import os, sys, time, uuid
d = sys.argv[1]
for i in range(1000):
    ms = int(time.time() * 1000)
    r = os.urandom(10).hex()
    u = f"{ms:012x}"[:8] + "-" + f"{ms:012x}"[8:] + "-7" + r[:3] + "-" + "8" + r[3:6] + "-" + r[6:18]
    with open(f"{d}/{u}.json", "w") as f: f.write('{"id":"%s"}' % u)
PY
	[ "$(t/spoolctl list queued | wc -l)" -eq 1000 ]
	t/spoolctl claim-all queued in-progress > "$VR_DIR/claim1" &
	a=$!
	t/spoolctl claim-all queued in-progress > "$VR_DIR/claim2" &
	b=$!
	wait "$a"; wait "$b"
	[ "$(ls "$VR_SPOOL/queued" | wc -l)" -eq 0 ]
	total=$(cat "$VR_DIR/claim1" "$VR_DIR/claim2" | wc -l)
	unique=$(cat "$VR_DIR/claim1" "$VR_DIR/claim2" | sort -u | wc -l)
	echo "claimed $total, unique $unique, by each: $(wc -l < "$VR_DIR/claim1") $(wc -l < "$VR_DIR/claim2")"
	[ "$total" -eq 1000 ]
	[ "$unique" -eq 1000 ]
	[ "$(ls "$VR_SPOOL/in-progress" | wc -l)" -eq 1000 ]
	rm -f "$VR_SPOOL"/in-progress/*.json
}

@test "a job is found in whichever state it is, and lists are newest first" {
	cd "$VR_ROOT"
	a=$(new_job failed); b=$(new_job failed)
	run t/spoolctl find "$a"
	[ "$output" = failed ]
	run t/spoolctl list failed
	[ "${lines[0]}" = "$b" ]
	[ "${lines[1]}" = "$a" ]
}

@test "the state a job reports is its directory's" {
	cd "$VR_ROOT"
	id=$(new_job done)
	run t/spoolctl get done "$id"
	[ "$(jq -r .state <<< "$output")" = DONE ]
}

@test "a malformed job file gets a one-line error and is left as it is" {
	cd "$VR_ROOT"
	id=$(t/spoolctl new-id)
	printf '{"id": "%s", broken' "$id" > "$VR_SPOOL/queued/$id.json"
	before=$(md5sum < "$VR_SPOOL/queued/$id.json")
	run t/spoolctl get queued "$id"
	[ "$status" -eq 65 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == "spoolctl: $id.json: not JSON: "* ]]
	[ "$(md5sum < "$VR_SPOOL/queued/$id.json")" = "$before" ]
	rm "$VR_SPOOL/queued/$id.json"
}

@test "an oversized job file is refused before it is parsed" {
	cd "$VR_ROOT"
	id=$(t/spoolctl new-id)
	python3 -c 'import sys; print("{\"pad\":\"" + "x" * 1100000 + "\"}")' > "$VR_SPOOL/queued/$id.json"
	run t/spoolctl get queued "$id"
	[ "$status" -eq 65 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == *"over the limit of 1048576"* ]]
	rm "$VR_SPOOL/queued/$id.json"
}

@test "an id with ../ never reaches a path" {
	cd "$VR_ROOT"
	run t/spoolctl put pending "../../etc/passwd" <<< '{}'
	[ "$status" -eq 65 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == *"not a job id"* ]]
	run t/spoolctl find "../done/x"
	[ "$status" -ne 0 ]
}

@test "an unknown configuration key is a one-line error naming file and line" {
	cd "$VR_ROOT"
	printf 'spool = %s\nmax_attempts = 3\nfrobnicate = 1\n' "$VR_SPOOL" > "$VR_DIR/bad.conf"
	run env VR_CONF="$VR_DIR/bad.conf" t/spoolctl list pending
	[ "$status" -eq 78 ]
	[ "$output" = "spoolctl: $VR_DIR/bad.conf:3: unknown key 'frobnicate'" ]
}

@test "a bad configuration value says what it needs" {
	cd "$VR_ROOT"
	printf 'retention = soon\n' > "$VR_DIR/bad.conf"
	run env VR_CONF="$VR_DIR/bad.conf" t/spoolctl list pending
	[ "$status" -eq 78 ]
	[ "$output" = "spoolctl: $VR_DIR/bad.conf:1: retention needs a duration such as 500ms, 30s, 15m, 1h or 7d, not 'soon'" ]
}

@test "configuration values take units and relative paths" {
	cd "$VR_ROOT"
	printf 'spool = ../s\nretention = 2h\njob_max_size = 64K\nfetch_allow = 127.0.0.1, ::1\n' > "$VR_DIR/etc/units.conf"
	run env VR_CONF="$VR_DIR/etc/units.conf" t/spoolctl conf spool
	[ "$output" = "$VR_DIR/etc/../s" ]
	run env VR_CONF="$VR_DIR/etc/units.conf" t/spoolctl conf retention
	[ "$output" = 7200000 ]
	run env VR_CONF="$VR_DIR/etc/units.conf" t/spoolctl conf job_max_size
	[ "$output" = 65536 ]
	run env VR_CONF="$VR_DIR/etc/units.conf" t/spoolctl conf fetch_allow
	[ "$output" = "$(printf '127.0.0.1\n::1')" ]
}

@test "a created job appears whole, mode 0600, without a tmp/ file, and never replaces one" {
	cd "$VR_ROOT"
	id=$(t/spoolctl new-id)
	printf '{"id":"%s","org":"acme","n":1}' "$id" | t/spoolctl create pending "$id"
	[ "$(stat -c %a "$VR_SPOOL/pending/$id.json")" = 600 ]
	jq -e '.n == 1' "$VR_SPOOL/pending/$id.json"
	[ -z "$(ls "$VR_SPOOL/tmp" | grep "$id")" ]
	run t/spoolctl create pending "$id" <<< "{\"id\":\"$id\",\"n\":2}"
	[ "$status" -eq 73 ]
	[[ $output == *"File exists"* ]]
	jq -e '.n == 1' "$VR_SPOOL/pending/$id.json"
}

@test "a reader listing a directory while jobs are created never sees one half-written" {
	cd "$VR_ROOT"
	dir=$VR_SPOOL/done
	python3 - "$dir" > "$VR_DIR/lister.out" <<'PY' &
import json, sys, os, time
d = sys.argv[1]; reads = bad = 0
deadline = time.time() + 30
while time.time() < deadline and not os.path.exists(os.path.join(d, ".stop")):
    for name in os.listdir(d):
        if not name.endswith(".json"): continue
        try:
            with open(os.path.join(d, name)) as f: json.loads(f.read()); reads += 1
        except FileNotFoundError: pass
        except ValueError: bad += 1
print(reads, bad)
PY
	lister=$!
	t/spoolctl create-loop done 300
	touch "$dir/.stop"
	wait "$lister"
	rm -f "$dir/.stop"
	read -r reads bad < "$VR_DIR/lister.out"
	[ "$reads" -gt 0 ]
	[ "$bad" -eq 0 ]
	[ "$(ls "$dir" | grep -c '\.json$')" -ge 300 ]
}
