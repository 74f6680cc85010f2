#!/usr/bin/env bats
# The watcher (lib/watch.c): files present before it starts, files arriving
# after, and an event-queue overflow, all seen, each once.

load helper

setup_file() {
	vr_setup
	QUEUE_LIMIT_FILE=/proc/sys/fs/inotify/max_queued_events
	cat "$QUEUE_LIMIT_FILE" > "$VR_DIR/max_queued_events.saved"
}

teardown_file() {
	cat "$VR_DIR/max_queued_events.saved" > /proc/sys/fs/inotify/max_queued_events
	vr_teardown
}

put_files() { # DIR N PREFIX: N files renamed into DIR, as the spool does
	local i
	for ((i = 0; i < $2; i++)); do
		echo '{}' > "$VR_SPOOL/tmp/$3-$i.json"
		mv "$VR_SPOOL/tmp/$3-$i.json" "$VR_SPOOL/$1/$3-$i.json"
	done
}

@test "the watcher sees files present before it started and files arriving after" {
	cd "$VR_ROOT"
	put_files queued 5 before
	start_bg watch1 t/spoolctl watch queued 10 30
	wait_until 10 eval "[ \$(wc -l < '$VR_DIR/watch1.log') -ge 5 ]"
	put_files queued 5 after
	wait_until 10 eval "[ \$(wc -l < '$VR_DIR/watch1.log') -ge 10 ]"
	[ "$(sort "$VR_DIR/watch1.log" | uniq -d | wc -l)" -eq 0 ]
	[ "$(grep -c '^before-' "$VR_DIR/watch1.log")" -eq 5 ]
	[ "$(grep -c '^after-' "$VR_DIR/watch1.log")" -eq 5 ]
	rm -f "$VR_SPOOL"/queued/*.json
}

@test "a name rewritten in place is not offered twice, one moved back is offered again" {
	cd "$VR_ROOT"
	put_files pending 1 again
	start_bg watch2 t/spoolctl watch pending 3 30
	wait_until 10 grep -q again-0 "$VR_DIR/watch2.log"
	echo '{"x":1}' > "$VR_SPOOL/tmp/x" && mv "$VR_SPOOL/tmp/x" "$VR_SPOOL/pending/again-0.json"
	mv "$VR_SPOOL/pending/again-0.json" "$VR_SPOOL/failed/again-0.json"
	mv "$VR_SPOOL/failed/again-0.json" "$VR_SPOOL/pending/again-0.json"
	put_files pending 1 marker
	wait_until 10 grep -q marker-0 "$VR_DIR/watch2.log"
	run cat "$VR_DIR/watch2.log"
	[ "$output" = "$(printf 'again-0.json\nagain-0.json\nmarker-0.json')" ]
	rm -f "$VR_SPOOL"/pending/*.json
}

@test "an event-queue overflow loses no file: 1,000 files over a queue of 64" {
	cd "$VR_ROOT"
	echo 64 > /proc/sys/fs/inotify/max_queued_events
	start_bg watch3 t/spoolctl watch done 1000 60
	watcher=$(cat "$VR_DIR/watch3.pid")
	wait_until 10 eval "ls -l /proc/$watcher/fd 2>/dev/null | grep -q inotify"
	kill -STOP "$watcher"
	put_files done 1000 flood
	kill -CONT "$watcher"
	wait_until 30 eval "[ \$(wc -l < '$VR_DIR/watch3.log') -ge 1000 ]"
	[ "$(sort -u "$VR_DIR/watch3.log" | wc -l)" -eq 1000 ]
	[ "$(wc -l < "$VR_DIR/watch3.log")" -eq 1000 ]
}

@test "a job made by spool_create (O_TMPFILE, then a link) is offered at once, not at a rescan" {
	cd "$VR_ROOT"
	start_bg watch4 t/spoolctl watch invalid 1 30
	watcher=$(cat "$VR_DIR/watch4.pid")
	wait_until 10 eval "ls -l /proc/$watcher/fd 2>/dev/null | grep -q inotify"
	id=$(t/spoolctl new-id)
	printf '{"id":"%s"}' "$id" | t/spoolctl create invalid "$id"
	wait_until 5 grep -q "^$id.json\$" "$VR_DIR/watch4.log"
}
