#!/usr/bin/env bats
# vr-sweep: stale tmp/ files, dead workers' jobs requeued then failed,
# expired outputs removed, stale leases; one line per thing done.

load helper

setup_file() {
	vr_setup "max_attempts = 2" "tmp_max_age = 1h"
}

teardown_file() {
	vr_teardown
}

job_in_progress() { # ATTEMPTS -> id
	local id
	id=$(t/spoolctl new-id)
	printf '{"id":"%s","org":"acme","projectId":"demo","templateId":"t","attempts":%s,"worker":{"host":"h","pid":1}}' \
		"$id" "$1" > "$VR_SPOOL/in-progress/$id.json"
	echo "$id"
}

@test "vr-sweep --help prints its usage and exits 0" {
	run vr-sweep --help
	[ "$status" -eq 0 ]
	[[ $output == "usage: vr-sweep "* ]]
}

@test "vr-sweep with a bad option exits EX_USAGE" {
	run vr-sweep --bogus
	[ "$status" -eq 64 ]
}

@test "tmp/ files older than tmp_max_age are removed, fresh ones kept" {
	echo x > "$VR_SPOOL/tmp/old.1.abc"
	touch -d '2 hours ago' "$VR_SPOOL/tmp/old.1.abc"
	echo x > "$VR_SPOOL/tmp/fresh.1.abc"
	run vr-sweep --once
	[ "$status" -eq 0 ]
	[[ $output == *"removed tmp/old.1.abc (7200 s old)"* ]]
	[ ! -e "$VR_SPOOL/tmp/old.1.abc" ]
	[ -e "$VR_SPOOL/tmp/fresh.1.abc" ]
	rm -f "$VR_SPOOL/tmp/fresh.1.abc"
}

@test "a job whose worker holds its lease is left alone" {
	cd "$VR_ROOT"
	id=$(job_in_progress 1)
	start_bg holder t/spoolctl hold-lease "$id"
	wait_until 10 grep -q holding "$VR_DIR/holder.log"
	run vr-sweep --once
	[ "$status" -eq 0 ]
	[[ $output != *"$id"* ]]
	job_in "$id" in-progress
	stop_bg holder KILL
	rm -f "$VR_SPOOL/in-progress/$id.json"
}

@test "a dead worker's job is requeued, then failed after max_attempts" {
	cd "$VR_ROOT"
	id=$(job_in_progress 1)
	run vr-sweep --once
	[ "$status" -eq 0 ]
	[[ $output == *"requeued $id: worker died (attempt 1 of 2)"* ]]
	job_in "$id" queued
	jq -e '.state == "QUEUED" and .worker == null and .history[-1].by == "vr-sweep"' "$VR_SPOOL/queued/$id.json"
	# the renderer takes it again and dies again
	jq '.attempts = 2' "$VR_SPOOL/queued/$id.json" > "$VR_SPOOL/in-progress/$id.json"
	rm "$VR_SPOOL/queued/$id.json"
	run vr-sweep --once
	[ "$status" -eq 0 ]
	[[ $output == *"failed $id: worker died 2 times"* ]]
	job_in "$id" failed
	jq -e '.state == "FAILED" and .error.code == "WORKER_TIMEOUT" and (.error.message | test("max_attempts is 2"))' "$VR_SPOOL/failed/$id.json"
}

@test "a lease left without a job in progress is removed" {
	cd "$VR_ROOT"
	id=$(t/spoolctl new-id)
	: > "$VR_SPOOL/lease/$id"
	run vr-sweep --once
	[[ $output == *"removed lease/$id (no job in progress)"* ]]
	[ ! -e "$VR_SPOOL/lease/$id" ]
}

@test "outputs past their expirationDate are deleted and the job says expired" {
	cd "$VR_ROOT"
	old=$(t/spoolctl new-id); new=$(t/spoolctl new-id)
	for id in "$old" "$new"; do
		mkdir -p "$VR_SPOOL/out/$id"
		echo video > "$VR_SPOOL/out/$id/video.mp4"
		echo thumb > "$VR_SPOOL/out/$id/thumbnail-1.jpg"
	done
	printf '{"id":"%s","state":"DONE","expirationDate":"2020-01-01T00:00:00.000Z"}' "$old" > "$VR_SPOOL/done/$old.json"
	printf '{"id":"%s","state":"DONE","expirationDate":"2999-01-01T00:00:00.000Z"}' "$new" > "$VR_SPOOL/done/$new.json"
	run vr-sweep --once
	[ "$status" -eq 0 ]
	[[ $output == *"expired $old (2 files removed)"* ]]
	[[ $output != *"$new"* ]]
	[ ! -e "$VR_SPOOL/out/$old" ]
	[ -f "$VR_SPOOL/out/$new/video.mp4" ]
	jq -e '.expired == true' "$VR_SPOOL/done/$old.json"
	run vr-sweep --once
	[[ $output != *"$old"* ]]
}

@test "vr-sweep with an unknown configuration key exits EX_CONFIG and touches nothing" {
	printf 'spool = %s\nsweep_everything = yes\n' "$VR_SPOOL" > "$VR_DIR/bad.conf"
	echo x > "$VR_SPOOL/tmp/old.2.abc"
	touch -d '2 hours ago' "$VR_SPOOL/tmp/old.2.abc"
	run vr-sweep -f "$VR_DIR/bad.conf" --once
	[ "$status" -eq 78 ]
	[ "$output" = "vr-sweep: $VR_DIR/bad.conf:2: unknown key 'sweep_everything'" ]
	[ -e "$VR_SPOOL/tmp/old.2.abc" ]
	rm "$VR_SPOOL/tmp/old.2.abc"
}
