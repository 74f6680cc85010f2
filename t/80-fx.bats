#!/usr/bin/env bats
# The Impossible-FX-style API (/v2) end to end: vr-accept under a real
# xinetd, vr-validate and vr-render on a test spool, media from a real HTTP
# server on loopback. Tokens and their movies by extension, the errors,
# complete and streamed fetches (chunked, while the file grows), HLS, one
# frame, progress, one job for racing requests.

load helper

setup_file() {
	start_fx_pipeline "anonymous_projects = fxtest" "upload_attempts = 1"
	start_receiver
	start_bg upload vr-upload -f "$VR_CONF"
	start_bg notify vr-notify -f "$VR_CONF"
}

teardown_file() {
	vr_teardown
}

fx() { # METHOD PATH [curl args]: body, then the status on the last line
	local method=$1 path=$2; shift 2
	curl -s --max-time 120 -X "$method" -u "$KEY:" -w '\n%{http_code}' "$@" "$VR_URL/v2$path"
}

body() { sed '$d' <<< "$output"; }
code() { tail -n 1 <<< "$output"; }

# token BODY: POST it to /v2/render/fxtest; prints the token.
token() {
	curl -sf -u "$KEY:" -d "$1" "$VR_URL/v2/render/fxtest" | jq -er .token
}

probe() { # FILE ENTRIES: ffprobe's answer for the first video stream
	ffprobe -v error -select_streams v:0 -count_frames \
		-show_entries "$2" -of csv=p=0 "$1"
}

@test "a POST without credentials to a project not open to anyone is 401" {
	sed -i '/^anonymous_projects/d' "$VR_CONF"
	run curl -s -w '\n%{http_code}' -d '{"movie":"wide"}' "$VR_URL/v2/render/demo"
	[ "$(code)" = 401 ]
	body | jq -e '.error'
	echo "anonymous_projects = fxtest" >> "$VR_CONF"
}

@test "a project named in anonymous_projects renders without credentials" {
	run curl -s -w '\n%{http_code}' -d '{"movie":"wide"}' "$VR_URL/v2/render/fxtest"
	[ "$(code)" = 200 ]
	body | jq -e '.token | test("^[0-9a-f-]{36}$")'
	body | jq -e '.uploads == []'
}

@test "every bad input is a JSON error with the right status" {
	run fx POST /render/fxtest -d '{"movie":"wide","colour":1}'
	[ "$(code)" = 400 ]; body | jq -e '.error | test("unknown field colour")'
	run fx POST /render/fxtest -d '{"movie":"nosuch"}'
	[ "$(code)" = 404 ]; body | jq -e '.error | test("no movie nosuch")'
	run fx POST /render/nosuch -d '{"movie":"wide"}'
	[ "$(code)" = 404 ]; body | jq -e '.error | test("no project")'
	run fx POST /render/fxtest -d '{"movie":{"avi":"wide"}}'
	[ "$(code)" = 400 ]; body | jq -e '.error | test("not an extension")'
	run fx POST /render/fxtest -d '{"movie":"wide","parallel":9}'
	[ "$(code)" = 400 ]; body | jq -e '.error | test("parallel must be")'
	run fx POST /render/fxtest -d '{"movie":"wide","parallel":1.5}'
	[ "$(code)" = 400 ]
	run fx POST /render/fxtest -d '{"movie":"wide","params":[1]}'
	[ "$(code)" = 400 ]; body | jq -e '.error | test("params must be")'
	run fx POST /render/fxtest -d '{"movie":"wide"'
	[ "$(code)" = 400 ]; body | jq -e '.error'
	run fx POST /render/fxtest -d '{"movie":"wide","upload":[3]}'
	[ "$(code)" = 400 ]; body | jq -e '.error | test("upload 1")'
	run fx GET /render/not-a-token.mp4
	[ "$(code)" = 404 ]; body | jq -e '.error'
	run fx GET /render/0193d2c4-8a1b-7c3d-9e4f-0a1b2c3d4e5f.mp4
	[ "$(code)" = 404 ]; body | jq -e '.error | test("no token")'
	run fx DELETE /render/fxtest
	[ "$(code)" = 405 ]
}

@test "vr-validate checks the request: an unknown routing key or a missing mandatory parameter is 400" {
	run fx POST /render/fxtest -d '{"movie":"wide","routingkey":"platinum"}'
	[ "$(code)" = 400 ]; body | jq -e '.error | test("routing key platinum")'
	run fx POST /render/fxtest -d '{"movie":{"mp4":"wide","*":"motion"},"params":{"music":"'"$ASSET_URL"'/tone.wav"}}'
	[ "$(code)" = 400 ]; body | jq -e '.error | test("image")'
}

@test "the token is a check job that vr-validate found valid: a job like any other, in done/" {
	run fx POST /render/fxtest -d '{"movie":"wide","routingKey":"gold","parallel":2}'
	[ "$(code)" = 200 ]
	t=$(body | jq -r .token)
	jq -e '.validateOnly and .api == "fx" and .routingkey == "gold" and .parallel == 2 and .org == "acme"' "$VR_SPOOL/done/$t.json"
}

@test "the movie hash picks the template by extension: mp4 and webm differ, gif takes *, and 404 without *" {
	t=$(token '{"movie":{"mp4":"wide","webm":"small","*":"small"}}')
	curl -sf -o "$VR_DIR/m.mp4" "$VR_URL/v2/render/$t.mp4"
	curl -sf -o "$VR_DIR/m.webm" "$VR_URL/v2/render/$t.webm"
	curl -sf -o "$VR_DIR/m.gif" "$VR_URL/v2/render/$t.gif"
	[ "$(probe "$VR_DIR/m.mp4" stream=codec_name,width,height,nb_read_frames)" = "h264,320,180,50" ]
	[ "$(probe "$VR_DIR/m.webm" stream=codec_name,width,height,nb_read_frames)" = "vp9,160,120,10" ]
	[ "$(probe "$VR_DIR/m.gif" stream=codec_name,width,height)" = "gif,160,120" ]
	t=$(token '{"movie":{"mp4":"wide"}}')
	run fx GET "/render/$t.webm"
	[ "$(code)" = 404 ]
	body | jq -e '.error | test("no movie for .webm and no \\* movie")'
}

@test "each (token, extension) render is one job, named in spool/fx/, even for racing requests" {
	t=$(token '{"movie":"small"}')
	for i in 1 2 3 4; do
		curl -sf -o "$VR_DIR/race$i.webm" "$VR_URL/v2/render/$t.webm" &
	done
	wait
	for i in 2 3 4; do cmp "$VR_DIR/race1.webm" "$VR_DIR/race$i.webm"; done
	[ "$(ls "$VR_SPOOL/fx" | grep -c "^$t\.webm$")" = 1 ]
	id=$(readlink "$VR_SPOOL/fx/$t.webm")
	jq -e --arg t "$t" '.token == $t and .ext == "webm" and .templateId == "small"' "$VR_SPOOL/done/$id.json"
	# the token's check job and its one webm render
	[ "$(cat "$VR_SPOOL"/*/*.json | jq -r '.token // empty' | grep -c "^$t$")" = 2 ]
}

@test "jpg and png with ?frame=N give one frame of the movie" {
	t=$(token '{"movie":"wide","params":{"color":"#ff0000"}}')
	curl -sf -o "$VR_DIR/f.png" "$VR_URL/v2/render/$t.png?frame=10"
	[ "$(probe "$VR_DIR/f.png" stream=codec_name,width,height)" = "png,320,180" ]
	curl -sf -o "$VR_DIR/f.jpg" "$VR_URL/v2/get/$t.jpg?frame=3&q=80"
	[ "$(probe "$VR_DIR/f.jpg" stream=codec_name,width,height)" = "mjpeg,320,180" ]
	run fx GET "/render/$t.png?frame=50"
	[ "$(code)" = 400 ]; body | jq -e '.error | test("frame must be from 0 to 49")'
	run fx GET "/render/$t.png?frame=x"
	[ "$(code)" = 400 ]
}

@test "GET /v2/get streams while it renders: first bytes long before the end, the same file, playable to the end" {
	t=$(token '{"movie":"motion","params":{"image":"'"$ASSET_URL"'/pic.png","music":"'"$ASSET_URL"'/tone.wav"}}')
	python3 - "$VR_URL/v2/get/$t.mp4" "$VR_DIR/streamed.mp4" > "$VR_DIR/times" <<-'EOF'
	import sys, time, urllib.request
	start = time.monotonic()
	first = None
	with urllib.request.urlopen(sys.argv[1]) as r, open(sys.argv[2], "wb") as out:
	    assert r.headers["Transfer-Encoding"] == "chunked"
	    while True:
	        b = r.read1(65536)
	        if not b:
	            break
	        if first is None:
	            first = time.monotonic() - start
	        out.write(b)
	print(f"{first:.3f} {time.monotonic() - start:.3f}")
	EOF
	read -r first total < "$VR_DIR/times"
	echo "first byte $first s, whole $total s"
	python3 -c "import sys; sys.exit(not ($first * 3 < $total))"
	id=$(readlink "$VR_SPOOL/fx/$t.mp4")
	[ -f "$VR_SPOOL/done/$id.json" ]
	final=$VR_SPOOL/out/$id/$(jq -r .outputFile "$VR_SPOOL/done/$id.json")
	cmp "$VR_DIR/streamed.mp4" "$final"
	[ "$(probe "$VR_DIR/streamed.mp4" stream=nb_read_frames)" = 200 ]
	ffmpeg -v error -xerror -i "$VR_DIR/streamed.mp4" -f null - 2> "$VR_DIR/decode.err"
	[ ! -s "$VR_DIR/decode.err" ]
	run fx GET "/progress/$t"
	body | jq -e --arg t "$t" '. == {token: $t, done: 200, total: 200}'
}

@test "a client that leaves mid-stream leaves the render to finish normally" {
	t=$(token '{"movie":"motion","params":{"title":"Bye","image":"'"$ASSET_URL"'/pic.png","music":"'"$ASSET_URL"'/tone.wav"}}')
	curl -sN "$VR_URL/v2/get/$t.mp4" | head -c 2000 > /dev/null
	id=$(readlink "$VR_SPOOL/fx/$t.mp4")
	wait_until 60 test -f "$VR_SPOOL/done/$id.json"
	[ "$(probe "$VR_SPOOL/out/$id/video.mp4" stream=nb_read_frames)" = 200 ]
}

@test "GET /v2/progress counts frames while the render runs" {
	t=$(token '{"movie":"motion","params":{"title":"Count","image":"'"$ASSET_URL"'/pic.png","music":"'"$ASSET_URL"'/tone.wav"}}')
	run fx GET "/progress/$t"
	body | jq -e --arg t "$t" '. == {token: $t, done: 0, total: 0}'
	curl -sN "$VR_URL/v2/get/$t.mp4" | head -c 1 > /dev/null
	id=$(readlink "$VR_SPOOL/fx/$t.mp4")
	# while the job is in in-progress/, the count is under way
	wait_until 60 eval 'test -f "$VR_SPOOL/in-progress/'"$id"'.json" &&
		curl -s "$VR_URL/v2/progress/'"$t"'" | jq -e ".total == 200 and .done < 200"'
	wait_until 60 eval 'curl -s "$VR_URL/v2/progress/'"$t"'" | jq -e ".done == 200 and .total == 200"'
	# vr-render counted the frames in the job as it went
	jq -e '.framesTotal == 200' "$VR_SPOOL/done/$id.json"
}

@test "m3u8 is an HLS playlist over the fragmented MP4 that a player reads to the end" {
	t=$(token '{"movie":"wide"}')
	run fx GET "/get/$t.m3u8"
	[ "$(code)" = 200 ]
	body | grep -q '^#EXTM3U'
	body | grep -q '^#EXT-X-MAP:URI="'"$t"'.mp4",BYTERANGE='
	curl -sf -o /dev/null "$VR_URL/v2/render/$t.mp4"
	run fx GET "/get/$t.m3u8"
	body | grep -q '^#EXT-X-ENDLIST'
	[ "$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$VR_URL/v2/get/$t.m3u8" | head -n 1)" = 50 ]
}

put_task() { # PATH [MORE-TASK-JSON]: an upload task PUTting to the receiver
	jq -cn --arg url "$RECEIVER_URL$1" '{extension: "webm",
		destination: {type: "http", url: $url, method: "PUT"}}' | jq -c ". + ${2:-{\}}"
}

@test "an upload task without async: the answer comes after the upload, with its result" {
	run fx POST /render/fxtest -d '{"movie":"small","upload":'"$(put_task /put/sync.webm)"'}'
	[ "$(code)" = 200 ]
	t=$(body | jq -r .token)
	body | jq -e --arg u "$RECEIVER_URL/put/sync.webm" '.uploads == [{extension: "webm", status: "SUCCESS", url: $u}]'
	jq -r 'select(.method == "PUT" and .path == "/put/sync.webm") | .body_b64' "$RECEIVER_LOG" |
		base64 -d > "$VR_DIR/put.webm"
	curl -sf -o "$VR_DIR/got.webm" "$VR_URL/v2/render/$t.webm"
	cmp "$VR_DIR/put.webm" "$VR_DIR/got.webm"
}

@test "async upload tasks answer 201 at once and call onsuccess or onerror with ?msg= (and the outcome as JSON)" {
	ok=$(put_task /put/async.webm '{"async": true, "onsuccess": "'"$RECEIVER_URL"'/ok?job=1", "onerror": "'"$RECEIVER_URL"'/err"}')
	bad=$(jq -cn '{extension: "mp4", destination: {type: "http", url: "http://127.0.0.1:9/x"}, onsuccess: "'"$RECEIVER_URL"'/ok2", onerror: "'"$RECEIVER_URL"'/err2"}')
	run fx POST /render/fxtest -d '{"movie":"small","async":true,"upload":['"$ok,$bad"']}'
	[ "$(code)" = 201 ]
	body | jq -e '[.uploads[].status] == ["PENDING", "PENDING"]'
	wait_until 60 grep -q '"path": *"/ok?job=1&msg=' "$RECEIVER_LOG"
	jq -se --arg m "$(jq -rn --arg u "$RECEIVER_URL/put/async.webm" '$u | @uri')" \
		'[.[] | select(.path | startswith("/ok?"))] | length == 1 and (.[0] | .method == "POST"
		and .path == "/ok?job=1&msg=" + $m
		and (.body | fromjson | .status == "SUCCESS" and .extension == "webm"))' "$RECEIVER_LOG"
	wait_until 60 grep -q '"path": *"/err2?msg=' "$RECEIVER_LOG"
	jq -se '[.[] | select(.path | startswith("/err2?"))] | length == 1 and
		(.[0].body | fromjson | .status == "FAILURE" and .extension == "mp4")' "$RECEIVER_LOG"
	! grep -q '"path": *"/err?' "$RECEIVER_LOG"
	! grep -q '"path": *"/ok2' "$RECEIVER_LOG"
	# async on every task is async too
	run fx POST /render/fxtest -d '{"movie":"small","upload":'"$(put_task /put/async2.webm '{"async": true}')"'}'
	[ "$(code)" = 201 ]
}

@test "a render that fails calls its upload tasks' onerror with ?msg= the reason" {
	id=$("$VR_ROOT/t/spoolctl" new-id)
	jq -n --arg id "$id" --arg cb "$RECEIVER_URL/failed" '{id: $id, state: "QUEUED",
		org: "acme", api: "fx", token: $id, projectId: "fxtest", templateId: "gone",
		parameters: {}, ext: "mp4", uploads: [{task: {extension: "mp4",
		destination: {type: "http", url: "http://127.0.0.1:9/x"}, onerror: $cb},
		status: "PENDING"}]}' > "$VR_DIR/fail.json"
	"$VR_ROOT/t/spoolctl" put queued "$id" < "$VR_DIR/fail.json"
	run vr-render --once "$VR_SPOOL/queued/$id.json"
	[ -f "$VR_SPOOL/failed/$id.json" ]
	wait_until 30 grep -q '"path": *"/failed?msg=' "$RECEIVER_LOG"
	jq -se '[.[] | select(.path | startswith("/failed?msg="))] | length == 1 and
		(.[0] | (.path | test("gone")) and (.body | fromjson | .status == "FAILURE"
		and (.error | test("gone"))))' "$RECEIVER_LOG"
}

@test "the HLS playlist lists fragments as they are made, and ends once the render is done" {
	t=$(token '{"movie":"motion","params":{"title":"Live","image":"'"$ASSET_URL"'/pic.png","music":"'"$ASSET_URL"'/tone.wav"}}')
	# a playlist with segments but no end yet: the render is under way
	wait_until 60 eval 'curl -s "$VR_URL/v2/get/'"$t"'.m3u8" > "$VR_DIR/live.m3u8" &&
		grep -q "^#EXTINF" "$VR_DIR/live.m3u8" && ! grep -q "^#EXT-X-ENDLIST" "$VR_DIR/live.m3u8"'
	n=$(grep -c '^#EXTINF' "$VR_DIR/live.m3u8")
	id=$(readlink "$VR_SPOOL/fx/$t.mp4")
	[ ! -f "$VR_SPOOL/done/$id.json" ] || [ "$n" -lt 8 ]
	# a listed segment is there to fetch, by its byte range, while it renders
	range=$(sed -n 's/^#EXT-X-BYTERANGE:\([0-9]*\)@\([0-9]*\)$/\2-\1/p' "$VR_DIR/live.m3u8" | head -n 1)
	first=${range%-*} len=${range#*-}
	curl -sf -r "$first-$((first + len - 1))" -o "$VR_DIR/seg1" "$VR_URL/v2/get/$t.mp4"
	[ "$(stat -c %s "$VR_DIR/seg1")" = "$len" ]
	head -c 8 "$VR_DIR/seg1" | tail -c 4 | grep -q moof
	wait_until 60 test -f "$VR_SPOOL/done/$id.json"
	run curl -s "$VR_URL/v2/get/$t.m3u8"
	[ "$(grep -c '^#EXTINF' <<< "$output")" = 8 ]
	grep -q '^#EXT-X-ENDLIST' <<< "$output"
}

@test "q= sets the JPEG frame's quality" {
	t=$(token '{"movie":"motion","params":{"title":"Quality","image":"'"$ASSET_URL"'/pic.png","music":"'"$ASSET_URL"'/tone.wav"}}')
	curl -sf -o "$VR_DIR/q5.jpg" "$VR_URL/v2/render/$t.jpg?frame=100&q=5"
	curl -sf -o "$VR_DIR/q95.jpg" "$VR_URL/v2/render/$t.jpg?frame=100&q=95"
	[ "$(probe "$VR_DIR/q5.jpg" stream=codec_name,width,height)" = "mjpeg,640,360" ]
	small=$(stat -c %s "$VR_DIR/q5.jpg") big=$(stat -c %s "$VR_DIR/q95.jpg")
	echo "q=5: $small bytes, q=95: $big bytes"
	[ $((small * 2)) -lt "$big" ]
	[ -L "$VR_SPOOL/fx/$t.f100q5.jpg" ] && [ -L "$VR_SPOOL/fx/$t.f100q95.jpg" ]
}

@test "frame N is frame N of the movie's video" {
	t=$(token '{"movie":"motion","params":{"title":"Frames","image":"'"$ASSET_URL"'/pic.png","music":"'"$ASSET_URL"'/tone.wav"}}')
	curl -sf -o "$VR_DIR/f100.png" "$VR_URL/v2/render/$t.png?frame=100"
	curl -sf -o "$VR_DIR/frames.mp4" "$VR_URL/v2/render/$t.mp4"
	ssim() { # PNG FRAME: SSIM of the PNG against that frame of the video
		ffmpeg -nostdin -i "$1" -i "$VR_DIR/frames.mp4" -lavfi \
			"[1:v]select=eq(n\,$2),setpts=PTS-STARTPTS[v];[0:v][v]ssim" -f null - 2>&1 |
			sed -n 's/.*All:\([0-9.]*\).*/\1/p'
	}
	at100=$(ssim "$VR_DIR/f100.png" 100) at80=$(ssim "$VR_DIR/f100.png" 80)
	echo "SSIM against frame 100: $at100, against frame 80: $at80"
	python3 -c "import sys; sys.exit(not ($at100 >= 0.95 and $at100 > $at80))"
}
