#!/usr/bin/env bats
# The queue tally (lib/tally.c): an O(1) bound of the jobs in pending/,
# throttled/ and queued/ that never falls below the truth, even when
# entries race a recount, and that is refused when it cannot be trusted.

load helper

setup_file() {
	vr_setup
}

teardown_file() {
	vr_teardown
}

waiting() { # the jobs in pending/, throttled/ and queued/ now
	ls "$VR_SPOOL"/{pending,throttled,queued} | grep -c '\.json$' || true
}

@test "the bound counts entries, not departures, and a recount makes it exact" {
	cd "$VR_ROOT"
	rm -f "$VR_SPOOL/queue.tally"
	[ "$(t/spoolctl bound)" = -1 ]
	base=$(t/spoolctl recount)
	[ "$base" = "$(waiting)" ]
	[ "$(t/spoolctl bound)" = "$base" ]
	a=$(new_job pending); b=$(new_job pending); c=$(new_job throttled)
	[ "$(t/spoolctl bound)" = $((base + 3)) ]
	t/spoolctl move "$a" pending queued      # within the queue: no entry
	[ "$(t/spoolctl bound)" = $((base + 3)) ]
	t/spoolctl move "$a" queued in-progress  # a departure: still counted
	t/spoolctl move "$b" pending invalid
	[ "$(t/spoolctl bound)" = $((base + 3)) ]
	[ "$(t/spoolctl recount)" = $((base + 1)) ]
	[ "$(waiting)" = $((base + 1)) ]
	t/spoolctl move "$a" in-progress queued  # a requeue enters again
	[ "$(t/spoolctl bound)" = $((base + 2)) ]
	[ "$(waiting)" = $((base + 2)) ]
	[ -n "$c" ]
}

@test "entries racing recounts are never lost: the bound stays at or above the truth" {
	cd "$VR_ROOT"
	t/spoolctl recount > /dev/null
	pids=()
	for w in 1 2 3; do
		( for i in $(seq 60); do new_job pending > /dev/null; done ) &
		pids+=($!)
	done
	low=0 round=0
	while kill -0 "${pids[@]}" 2> /dev/null; do
		round=$((round + 1))
		[ $((round % 3)) != 1 ] || t/spoolctl recount > /dev/null
		# the truth first: the bound, read after, may miss only the jobs
		# renamed and not yet tallied, one per writer at most
		truth=$(waiting); bound=$(t/spoolctl bound)
		if [ "$bound" -ge 0 ] && [ "$bound" -lt "$((truth - 3))" ]; then low=1; fi
	done
	wait "${pids[@]}"
	[ "$low" = 0 ]
	[ "$(t/spoolctl bound)" -ge "$(waiting)" ]
}

@test "a torn, altered or foreign tally gives no bound, and a recount replaces it" {
	cd "$VR_ROOT"
	t/spoolctl recount > /dev/null
	tally=$VR_SPOOL/queue.tally
	# the count altered by hand: the check no longer matches
	sed -i '1s/^vrq1 [0-9]*/vrq1 999999/' "$tally"
	[ "$(t/spoolctl bound)" = -1 ]
	printf 'garbage\n' > "$tally"
	[ "$(t/spoolctl bound)" = -1 ]
	: > "$tally"
	[ "$(t/spoolctl bound)" = -1 ]
	[ "$(t/spoolctl recount)" = "$(waiting)" ]
	[ "$(t/spoolctl bound)" = "$(waiting)" ]
	[ "$(stat -c %a "$tally")" = 600 ]
}
