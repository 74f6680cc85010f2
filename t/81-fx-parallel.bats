#!/usr/bin/env bats
# The FX API's render placement, end to end through xinetd, vr-validate and
# vr-render: parallel: N (segments rendered at once, joined without
# re-encoding) against a single render, routing keys served only by the
# workers started with them, and play's pacing.

load helper

setup_file() {
	start_fx_pipeline
}

teardown_file() {
	vr_teardown
}

# token BODY: POST it to /v2/render/fxtest; prints the token.
token() {
	curl -sf -u "$KEY:" -d "$1" "$VR_URL/v2/render/fxtest" | jq -er .token
}

motion() { # PARALLEL: the motion movie's request
	echo '{"movie":"motion","parallel":'"$1"',"params":{"image":"'"$ASSET_URL"'/pic.png","music":"'"$ASSET_URL"'/tone.wav"}}'
}

count() { # FILE STREAM: frames (packets) and duration of a stream
	ffprobe -v error -select_streams "$2" -count_packets \
		-show_entries stream=nb_read_packets,duration -of csv=p=0 "$1"
}

@test "parallel: 3 gives the video of parallel: 1: same duration and frames, joins on keyframes, frames alike at the joins, audio unbroken" {
	t1=$(token "$(motion 1)")
	t3=$(token "$(motion 3)")
	curl -sf -o "$VR_DIR/p1.mp4" "$VR_URL/v2/render/$t1.mp4"
	curl -sf -o "$VR_DIR/p3.mp4" "$VR_URL/v2/render/$t3.mp4"
	id=$(readlink "$VR_SPOOL/fx/$t3.mp4")
	jq -e '.parallel == 3' "$VR_SPOOL/done/$id.json"
	[ "$(count "$VR_DIR/p1.mp4" v:0)" = "$(count "$VR_DIR/p3.mp4" v:0)" ]
	[ "$(count "$VR_DIR/p3.mp4" v:0)" = "8.000000,200" ]
	[ "$(count "$VR_DIR/p1.mp4" a:0 | cut -d, -f2)" = "$(count "$VR_DIR/p3.mp4" a:0 | cut -d, -f2)" ]
	# the segments begin at frames 66 and 133, each on a keyframe
	ffprobe -v error -select_streams v:0 -show_entries packet=flags -of csv=p=0 \
		"$VR_DIR/p3.mp4" > "$VR_DIR/flags"
	[ "$(sed -n 67p "$VR_DIR/flags")" = K_ ]
	[ "$(sed -n 134p "$VR_DIR/flags")" = K_ ]
	# every frame, the joins included, matches the single render
	ffmpeg -nostdin -v error -i "$VR_DIR/p1.mp4" -i "$VR_DIR/p3.mp4" \
		-lavfi "[0:v]setpts=PTS-STARTPTS[a];[1:v]setpts=PTS-STARTPTS[b];[a][b]ssim=stats_file=$VR_DIR/ssim.log" -f null -
	[ "$(wc -l < "$VR_DIR/ssim.log")" = 200 ]
	awk '{ split($5, a, ":"); if (a[2] < 0.98) { print "frame " $1 ": " $5; bad = 1 } }
		END { exit bad }' "$VR_DIR/ssim.log"
	sed -n '64,69p;131,136p' "$VR_DIR/ssim.log" | awk '{ split($5, a, ":"); if (a[2] < 0.98) exit 1 }'
	# audio rendered in one piece: the same samples as the single render
	a1=$(ffmpeg -nostdin -v error -i "$VR_DIR/p1.mp4" -map 0:a -f s16le - | md5sum)
	a3=$(ffmpeg -nostdin -v error -i "$VR_DIR/p3.mp4" -map 0:a -f s16le - | md5sum)
	[ "$a1" = "$a3" ]
	ffmpeg -nostdin -v error -xerror -i "$VR_DIR/p3.mp4" -f null - 2> "$VR_DIR/decode.err"
	[ ! -s "$VR_DIR/decode.err" ]
}

@test "parallel: 2 streams with GET /v2/get once its segments are joined" {
	t=$(token "$(motion 2)")
	curl -sf -o "$VR_DIR/s2.mp4" "$VR_URL/v2/get/$t.mp4"
	[ "$(count "$VR_DIR/s2.mp4" v:0)" = "8.000000,200" ]
	run curl -s "$VR_URL/v2/progress/$t"
	jq -e '.done == 200 and .total == 200' <<< "$output"
}

@test "a render with routing key gold waits in queued/ while only default workers run, and a gold worker renders it" {
	t=$(token '{"movie":"wide","routingkey":"gold"}')
	curl -sf -o "$VR_DIR/gold.mp4" "$VR_URL/v2/render/$t.mp4" &
	fetch=$!
	wait_until 20 test -L "$VR_SPOOL/fx/$t.mp4"
	id=$(readlink "$VR_SPOOL/fx/$t.mp4")
	wait_until 20 test -f "$VR_SPOOL/queued/$id.json"
	# a default render queued after it is rendered while it waits
	d=$(token '{"movie":"wide","params":{"title":"After"}}')
	curl -sf -o /dev/null "$VR_URL/v2/render/$d.mp4"
	[ -f "$VR_SPOOL/queued/$id.json" ]
	kill -0 "$fetch"
	start_bg gold vr-render -j 1 -k gold
	wait_until 60 test -f "$VR_SPOOL/done/$id.json"
	wait "$fetch"
	jq -e '.routingkey == "gold" and .worker.pid > 0' "$VR_SPOOL/done/$id.json"
	grep -q "$id" "$VR_DIR/gold.log"
	! grep -q "$id" "$VR_DIR/render.log"
	[ "$(count "$VR_DIR/gold.mp4" v:0)" = "2.000000,50" ]
	stop_bg gold
}

@test "play paces the stream at playback speed; get sends what is there at once" {
	t=$(token '{"movie":"wide","params":{"title":"Paced"}}')
	curl -sf -o "$VR_DIR/whole.mp4" "$VR_URL/v2/render/$t.mp4"
	start=$(date +%s%N)
	curl -sf -o "$VR_DIR/fast.mp4" "$VR_URL/v2/get/$t.mp4"
	fast=$(( ($(date +%s%N) - start) / 1000000 ))
	start=$(date +%s%N)
	curl -sf -o "$VR_DIR/paced.mp4" "$VR_URL/v2/play/$t.mp4"
	paced=$(( ($(date +%s%N) - start) / 1000000 ))
	echo "get ${fast} ms, play ${paced} ms"
	cmp "$VR_DIR/whole.mp4" "$VR_DIR/paced.mp4"
	cmp "$VR_DIR/whole.mp4" "$VR_DIR/fast.mp4"
	# 2 s of video less the one second a player buffers first
	[ "$paced" -ge 900 ]
	[ "$fast" -lt 500 ]
}

@test "cancelling a parallel render stops its segments: CANCELLED, no segment process or file left" {
	t=$(token '{"movie":"long-1080","parallel":2,"params":{"image":"'"$ASSET_URL"'/pic.png"}}')
	curl -s -o /dev/null --max-time 1 "$VR_URL/v2/render/$t.mp4" || true
	wait_until 20 test -L "$VR_SPOOL/fx/$t.mp4"
	id=$(readlink "$VR_SPOOL/fx/$t.mp4")
	wait_until 30 eval "ls -A '$VR_SPOOL/out/$id/' 2>/dev/null | grep -q seg"
	pid=$(jq -r .worker.pid "$VR_SPOOL/in-progress/$id.json")
	[ "$(pgrep -P "$pid" | wc -l)" = 2 ]
	run curl -s -X POST -u "$KEY:" "$VR_URL/api/v2/renders/$id/cancel"
	wait_until 30 test -f "$VR_SPOOL/cancelled/$id.json"
	wait_until 10 eval "! kill -0 $pid 2>/dev/null"
	[ -z "$(ls -A "$VR_SPOOL/out/$id/" 2>/dev/null)" ]
	run curl -s "$VR_URL/v2/render/$t.mp4"
	jq -e '.status == 500 and (.error | test("cancelled"))' <<< "$output"
}
