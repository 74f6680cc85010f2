#!/usr/bin/env bats
# vr-validate: a real daemon on a test spool checks jobs against their
# templates, fetches their media from a real HTTP server on loopback into
# assets/ behind the address guard, probes them, and applies the concurrency
# quota; the test plays the renderer by moving files, the spool's interface.

load helper

setup_file() {
	vr_setup "fetch_allow = 127.0.0.1" "asset_max_size = 200K" \
		"asset_max_width = 256" "asset_max_height = 256" \
		"asset_max_duration = 5s" "routing_keys = default, fast"
	conf_set templates "$VR_DIR/tmpl"
	mkdir -p "$VR_DIR/tmpl/vt" "$VR_DIR/media"
	cat > "$VR_DIR/tmpl/vt/card.json" <<-'EOF'
	{ "name": "card", "id": "card", "duration": 2, "fps": 10,
	  "resolution": { "width": 64, "height": 48 },
	  "layers": [
	    { "layerName": "bg", "layerType": "SOLID", "color": "#000000",
	      "parametrization": { "value": "#color", "defaultValue": "#112233", "property": "color" } },
	    { "layerName": "picture", "layerType": "MEDIA", "mediaType": "image",
	      "parametrization": { "value": "#image", "mandatory": true } },
	    { "layerName": "clip", "layerType": "MEDIA", "mediaType": "video",
	      "parametrization": { "value": "#clip" } },
	    { "layerName": "music", "layerType": "MEDIA", "mediaType": "audio",
	      "parametrization": { "value": "#music" } },
	    { "layerName": "title", "layerType": "DATA", "text": "x",
	      "parametrization": { "value": "if .name then \"Hi \" + .name else null end",
	        "expression": true, "defaultValue": "Hello" } } ] }
	EOF
	cat > "$VR_DIR/tmpl/vt/words.json" <<-'EOF'
	{ "name": "words", "id": "words", "duration": 1, "fps": 10,
	  "resolution": { "width": 64, "height": 48 },
	  "layers": [ { "layerName": "title", "layerType": "DATA", "text": "x",
	    "parametrization": { "value": "#title", "defaultValue": "Hello" } } ] }
	EOF
	local m=$VR_DIR/media ff="ffmpeg -nostdin -loglevel error -y"
	$ff -f lavfi -i color=red:s=64x48 -frames:v 1 "$m/pic.png"
	cp "$m/pic.png" "$m/cached.png"
	$ff -f lavfi -i color=blue:s=320x20 -frames:v 1 "$m/wide.png"
	$ff -f lavfi -i color=gray:s=8000x8000 -frames:v 1 -pix_fmt gray "$m/huge.png"
	$ff -f lavfi -i testsrc=s=64x48:d=1:r=10 -pix_fmt yuv420p "$m/clip.mp4"
	$ff -f lavfi -i sine=d=1:sample_rate=8000 "$m/tone.wav"
	$ff -f lavfi -i sine=d=6:sample_rate=8000 "$m/long.wav"
	head -c 3000 /dev/urandom > "$m/junk.png"
	head -c 300000 /dev/urandom > "$m/big.png"
	start_asset_server "$m"
	cat > "$VR_DIR/redirect.py" <<-'EOF'
	import http.server, sys, time, urllib.parse
	class Redirect(http.server.BaseHTTPRequestHandler):
	    def do_GET(self):
	        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
	        time.sleep(float(query.get("sleep", ["0"])[0]))
	        to = query["to"][0]
	        self.send_response(302)
	        self.send_header("Location", to)
	        self.send_header("Content-Length", "0")
	        self.end_headers()
	http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Redirect).serve_forever()
	EOF
	REDIRECT_PORT=$(free_port)
	start_bg redirect python3 "$VR_DIR/redirect.py" "$REDIRECT_PORT"
	wait_until 10 port_open "$REDIRECT_PORT"
	export REDIRECT_URL=http://127.0.0.1:$REDIRECT_PORT
	printf 'busy:%064d:3:1000:whsec_test\n' 0 > "$VR_DIR/etc/keys"
	[ -x "$VR_ROOT/t/spoolctl" ] && [ -x "$VR_ROOT/bin/vr-validate" ]
	start_bg validate vr-validate
}

teardown_file() {
	vr_teardown
}

# put_job JSON: a pending job (JSON merged over a valid default); prints id.
put_job() {
	local id
	id=$("$VR_ROOT/t/spoolctl" new-id) || return 1
	jq -c --arg id "$id" '{id: $id, org: "acme", api: "plainly",
		state: "PENDING", projectId: "vt", templateId: "card",
		parameters: {}} + .' <<< "$1" | "$VR_ROOT/t/spoolctl" put pending "$id" &&
		echo "$id"
}

settled() {
	! job_in "$1" pending && [ -n "$(job_state "$1")" ]
}

# validate JSON: put a job, wait for vr-validate to move it; sets ID, STATE
# and JOB (the file's path).
validate() {
	ID=$(put_job "$1")
	wait_until 15 settled "$ID"
	STATE=$(job_state "$ID")
	JOB=$VR_SPOOL/$STATE/$ID.json
}

# error_of JSON: validate and print "STATE CODE: MESSAGE".
error_of() {
	validate "$1"
	echo "$STATE $(jq -r '"\(.error.code): \(.error.message)"' "$JOB")"
}

image() { # URL → job JSON with it as the picture
	jq -nc --arg u "$1" '{parameters: {image: $u}}'
}

# restart_validate [CONF-KEY VALUE]: stop the daemon, change vr.conf, start.
restart_validate() {
	stop_bg validate
	[ $# -eq 0 ] || conf_set "$1" "$2"
	start_bg validate vr-validate
}

count() { ls "$VR_SPOOL/$1" | wc -l; }
names() { # DIR... → the job files in them, sorted (oldest first)
	local d
	for d; do ls "$VR_SPOOL/$d"; done | sort
}

@test "vr-validate --help prints its usage and a bad option is a usage error" {
	run vr-validate --help
	[ "$status" -eq 0 ]
	[[ $output == "usage: vr-validate [-f conf] [--check]" ]]
	run vr-validate --bogus
	[ "$status" -eq 64 ]
}

@test "a second vr-validate on the same spool refuses to start" {
	run vr-validate
	[ "$status" -eq 75 ]
	[[ $output == "vr-validate: $VR_SPOOL/pending: another vr-validate holds it: "* ]]
}

@test "a valid job is queued with its assets fetched, content-addressed, and its parametrizationResults" {
	validate "$(jq -nc --arg a "$ASSET_URL" '{parameters: {image: "\($a)/pic.png",
		clip: "\($a)/clip.mp4", music: "\($a)/tone.wav", name: "Bob"}}')"
	[ "$STATE" = queued ]
	run jq -r '.state, .history[-1].by, (.assets | length),
		(.parametrizationResults[] | select(.layerName == "title") | .assets[0].value)' "$JOB"
	[ "$output" = "$(printf 'QUEUED\nvr-validate\n3\nHi Bob')" ]
	for f in pic.png clip.mp4 tone.wav; do
		name=$(jq -r --arg u "$ASSET_URL/$f" '.assets[$u]' "$JOB")
		sum=$(sha256sum < "$VR_DIR/media/$f" | cut -d' ' -f1)
		[ "$name" = "$sum.${f#*.}" ]
		cmp "$VR_SPOOL/assets/$name" "$VR_DIR/media/$f"
	done
	[ -z "$(ls "$VR_SPOOL/tmp")" ]
}

@test "a job missing a mandatory parameter is invalid, saying which layer" {
	run error_of '{"parameters": {"name": "Bob"}}'
	[[ $output == "invalid RENDER_MANDATORY_PARAMETER_NOT_RESOLVED: layer picture: "*"mandatory"* ]]
}

@test "a colour parameter that is not a colour makes the job invalid" {
	run error_of "$(jq -nc --arg a "$ASSET_URL" '{parameters: {image: "\($a)/pic.png", color: "reddish"}}')"
	[[ $output == "invalid RENDER_INPUT_SOLID_COLOR_NOT_VALID: layer bg: color: "* ]]
}

@test "an unknown template is invalid with PROJECT_TEMPLATE_DOES_NOT_EXIST, a broken one says why" {
	run error_of '{"templateId": "nosuch"}'
	[ "$output" = "invalid PROJECT_TEMPLATE_DOES_NOT_EXIST: project vt has no template nosuch" ]
	run error_of '{"projectId": "../etc", "templateId": "passwd"}'
	[[ $output == "invalid PROJECT_TEMPLATE_DOES_NOT_EXIST: "* ]]
	echo '{ "layers": [' > "$VR_DIR/tmpl/vt/broken.json"
	run error_of '{"templateId": "broken"}'
	[[ $output == "invalid RENDER_INVALID: template vt/broken cannot be used: "*"not JSON"* ]]
	grep -q "template vt/broken: " "$VR_DIR/validate.log"
}

@test "an invalid job whose webhook asks for it gets its notification dropped in outbox/" {
	validate '{"webhook": {"url": "http://example.com/hook", "onInvalid": true}}'
	[ "$STATE" = invalid ]
	[ -f "$VR_SPOOL/outbox/$ID.final.json" ]
}

@test "an FX job with an unknown routing key is invalid, a known one passes" {
	run error_of '{"api": "fx", "templateId": "words", "routingkey": "gpu"}'
	[ "$output" = "invalid RENDER_INVALID: routing key gpu is not one of this server's" ]
	validate '{"api": "fx", "templateId": "words", "routingkey": "fast"}'
	[ "$STATE" = queued ]
}

@test "an FX check job (validateOnly) is checked against every movie it names and done when valid" {
	validate "$(jq -nc --arg a "$ASSET_URL" '{api: "fx", validateOnly: true, org: "busy", templateId: null,
		routingkey: "default", movie: {mp4: "card", gif: "words"},
		parameters: {image: "\($a)/pic.png"}}')"
	[ "$STATE" = done ]
	[ "$(jq -r '.assets | length' "$JOB")" = 1 ]
	run error_of '{"api": "fx", "validateOnly": true, "templateId": null, "movie": {"mp4": "words", "gif": "card"}}'
	[[ $output == "invalid RENDER_MANDATORY_PARAMETER_NOT_RESOLVED: layer picture: "* ]]
	run error_of '{"api": "fx", "validateOnly": true, "templateId": null, "movie": "nosuch"}'
	[ "$output" = "invalid PROJECT_TEMPLATE_DOES_NOT_EXIST: project vt has no template nosuch" ]
}

@test "an upload to a destination this server cannot reach is invalid; s3 is accepted" {
	run error_of '{"templateId": "words", "uploads": [{"task": {"extension": "mp4",
		"destination": {"type": "youtube"}}, "status": "PENDING"}]}'
	[[ $output == "invalid RENDER_INVALID: upload 1: destination type not supported by this server"* ]]
	run error_of '{"templateId": "words", "uploads": [{"task": {"extension": "mp4",
		"destination": {"type": "s3", "aws_access_key_id": "a", "aws_secret_access_key": "b"}}}]}'
	[ "$output" = "invalid RENDER_INVALID: upload 1: s3 destination without bucket" ]
	validate '{"templateId": "words", "uploads": [{"task": {"extension": "mp4",
		"destination": {"type": "s3", "bucket": "out", "aws_access_key_id": "a",
		"aws_secret_access_key": "b"}}, "status": "PENDING"}]}'
	[ "$STATE" = queued ]
}

@test "the address guard refuses cloud metadata and private addresses with a clear message" {
	run error_of "$(image http://169.254.169.254/latest/meta-data)"
	[[ $output == "invalid WORKER_DOWNLOAD_ASSET_FAILED: layer picture: cannot fetch http://169.254.169.254/latest/meta-data: address 169.254.169.254 refused: cloud metadata"* ]]
	run error_of "$(image http://10.1.2.3/pic.png)"
	[[ $output == *"address 10.1.2.3 refused: private (10.0.0.0/8), not in fetch_allow" ]]
	run error_of "$(image "http://[::ffff:192.168.1.1]/pic.png")"
	[[ $output == *"address ::ffff:192.168.1.1 refused: private (192.168.0.0/16)"* ]]
	run error_of "$(image "http://127.0.0.2:$ASSET_PORT/pic.png")"
	[[ $output == *"address 127.0.0.2 refused: loopback (127.0.0.0/8), not in fetch_allow" ]]
}

@test "file:// and gopher:// media are invalid before anything is fetched" {
	run error_of "$(image file:///etc/passwd)"
	[[ $output == "invalid RENDER_PARAMETER_NOT_VALID: layer picture: src: media must be an http or https URL" ]]
	run error_of "$(image "gopher://127.0.0.1:$ASSET_PORT/pic.png")"
	[[ $output == *"media must be an http or https URL" ]]
}

@test "a redirect is followed only to an allowed address and an http(s) URL" {
	to() { image "$REDIRECT_URL/r?to=$(jq -rn --arg u "$1" '$u | @uri')"; }
	validate "$(to "$ASSET_URL/pic.png")"
	[ "$STATE" = queued ]
	run error_of "$(to "http://127.0.0.2:$ASSET_PORT/pic.png")"
	[[ $output == *"address 127.0.0.2 refused: loopback"* ]]
	run error_of "$(to http://169.254.169.254/latest/meta-data)"
	[[ $output == *"address 169.254.169.254 refused: cloud metadata"* ]]
	run error_of "$(to file:///etc/passwd)"
	[[ $output == "invalid WORKER_DOWNLOAD_ASSET_FAILED: "*"file"* ]]
}

@test "a slow asset server holds up only its own job, and fetch_timeout cuts it off" {
	slow=$(put_job "$(image "$REDIRECT_URL/r?sleep=4&to=$(jq -rn --arg u "$ASSET_URL/pic.png?slow" '$u | @uri')")")
	validate '{"templateId": "words"}'
	[ "$STATE" = queued ]
	validate "$(image "$ASSET_URL/clip.mp4?fast")"
	[ "$STATE" = invalid ]   # a video where an image belongs, found quickly
	job_in "$slow" pending
	wait_until 15 settled "$slow"
	job_in "$slow" queued
	restart_validate fetch_timeout 1s
	run error_of "$(image "$REDIRECT_URL/r?sleep=3&to=x")"
	[[ $output == "invalid WORKER_DOWNLOAD_ASSET_FAILED: layer picture: cannot fetch $REDIRECT_URL/r?sleep=3&to=x: Operation timed out"* ]]
	restart_validate fetch_timeout 60s
}

@test "an asset over asset_max_size is invalid and leaves nothing behind" {
	run error_of "$(image "$ASSET_URL/big.png")"
	[[ $output == *"big.png: larger than asset_max_size (204800 bytes)" ]]
	[ -z "$(ls "$VR_SPOOL/tmp")" ]
}

@test "media of the wrong kind, undecodable, too large or too long is invalid" {
	run error_of "$(image "$ASSET_URL/tone.wav")"
	[[ $output == "invalid WORKER_IMPORT_ASSET_FAILED: layer picture: "*"tone.wav: expected image, found audio (wav)" ]]
	run error_of "$(jq -nc --arg a "$ASSET_URL" '{parameters: {image: "\($a)/pic.png", clip: "\($a)/pic.png"}}')"
	[[ $output == *"layer clip: "*"pic.png: expected video, found image"* ]]
	run error_of "$(image "$ASSET_URL/junk.png")"
	[[ $output == "invalid WORKER_IMPORT_ASSET_FAILED: layer picture: "*"junk.png: "* ]]
	run error_of "$(image "$ASSET_URL/wide.png")"
	[[ $output == *"wide.png: 320x20 is larger than asset_max_width x asset_max_height (256x256)" ]]
	run error_of "$(image "$ASSET_URL/huge.png")"   # 86 KB announcing 8000x8000
	[[ $output == *"huge.png: unreadable png_pipe: no picture of at most asset_max_width x asset_max_height (256x256) decodes" ]]
	run error_of "$(jq -nc --arg a "$ASSET_URL" '{parameters: {image: "\($a)/pic.png", music: "\($a)/long.wav"}}')"
	[[ $output == *"long.wav: 6.0 s long, over asset_max_duration (5.0 s)" ]]
}

@test "a URL fetched recently is not fetched again" {
	validate "$(image "$ASSET_URL/cached.png")"
	[ "$STATE" = queued ]
	first=$(jq -r '.assets[]' "$JOB")
	validate "$(image "$ASSET_URL/cached.png")"
	[ "$STATE" = queued ]
	[ "$(jq -r '.assets[]' "$JOB")" = "$first" ]
	[ "$(grep -c 'GET /cached.png ' "$VR_DIR/assets.log")" -eq 1 ]
}

@test "vr-validate --check prints what is wrong as JSON, exits 65, and leaves the spool alone" {
	before=$(cd "$VR_SPOOL" && find . | sort | md5sum)
	run vr-validate --check <<< '{"projectId": "vt", "templateId": "card", "parameters": {"color": "nope"}}'
	[ "$status" -eq 65 ]
	[ "$(jq -r '.valid, .error.code' <<< "$output")" = "$(printf 'false\nRENDER_INPUT_SOLID_COLOR_NOT_VALID')" ]
	run vr-validate --check <<< "$(jq -nc --arg a "$ASSET_URL" '{projectId: "vt", templateId: "card", parameters: {image: "\($a)/clip.mp4", clip: "\($a)/clip.mp4"}}')"
	[ "$status" -eq 65 ]
	[[ $(jq -r .error.message <<< "$output") == *"expected image, found video (mov)" ]]
	run vr-validate --check <<< "$(jq -nc --arg a "$ASSET_URL" '{projectId: "vt", templateId: "card", parameters: {image: "\($a)/pic.png"}}')"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.valid, (.assets | length)' <<< "$output")" = "$(printf 'true\n1')" ]
	[ "$(cd "$VR_SPOOL" && find . | sort | md5sum)" = "$before" ]
}

# The quota: org "busy" may have 3 renders queued, in progress or uploading.
active() { echo $(( $(count queued) + $(count in-progress) + $(count uploading) )); }
# fifo_kept: every throttled id is newer than every id that left throttled/.
fifo_kept() {
	local newest_out oldest_in
	oldest_in=$(names throttled | head -n 1)
	newest_out=$(names queued in-progress done | tail -n 1)
	[ -z "$oldest_in" ] || [[ $newest_out < $oldest_in ]]
}
quota_settled() { # THROTTLED [ACTIVE]: throttled/ and active() hold that many
	[ "$(count pending)" -eq 0 ] && [ "$(count throttled)" -eq "$1" ] &&
		[ "$(active)" -eq "${2:-3}" ]
}

@test "with a limit of 3, 50 jobs give 3 queued and 47 throttled, released oldest first as renders finish" {
	rm -f "$VR_SPOOL"/{queued,in-progress,done}/*.json
	for i in $(seq 50); do
		put_job '{"org": "busy", "templateId": "words"}' > /dev/null
	done
	wait_until 30 quota_settled 47
	fifo_kept
	for left in $(seq 46 -1 0); do
		# the renderer claims the oldest queued job, then finishes one
		oldest=$(ls "$VR_SPOOL/queued" | sort | head -n 1)
		mv "$VR_SPOOL/queued/$oldest" "$VR_SPOOL/in-progress/$oldest"
		[ "$(active)" -eq 3 ]
		done_one=$(ls "$VR_SPOOL/in-progress" | head -n 1)
		mv "$VR_SPOOL/in-progress/$done_one" "$VR_SPOOL/done/$done_one"
		wait_until 10 quota_settled "$left"
		fifo_kept
	done
	[ "$(count queued)" -eq 3 ]
}

@test "a cancelled queued job frees its place for the oldest throttled one" {
	rm -f "$VR_SPOOL"/{queued,in-progress,done}/*.json
	for i in 1 2 3 4 5; do
		put_job '{"org": "busy", "templateId": "words"}' > /dev/null
	done
	wait_until 15 quota_settled 2
	victim=$(ls "$VR_SPOOL/queued" | head -n 1)
	mv "$VR_SPOOL/queued/$victim" "$VR_SPOOL/cancelled/$victim"
	wait_until 10 quota_settled 1
	fifo_kept
}

@test "while the keys file is unreadable a job waits in pending/, and is placed once it reads again" {
	rm -f "$VR_SPOOL"/{queued,in-progress,throttled,done}/*.json
	cp "$VR_DIR/etc/keys" "$VR_DIR/keys.good"
	echo 'busy:broken' >> "$VR_DIR/etc/keys"
	id=$(put_job '{"org": "busy", "templateId": "words"}')
	wait_until 10 grep -q "malformed key line" "$VR_DIR/validate.log"
	job_in "$id" pending
	cp "$VR_DIR/keys.good" "$VR_DIR/etc/keys"
	wait_until 10 job_in "$id" queued
}

@test "after a restart, pending jobs are validated and throttled ones released as capacity allows" {
	stop_bg validate
	rm -f "$VR_SPOOL"/{queued,in-progress,throttled,done}/*.json
	for i in 1 2 3 4 5; do
		put_job '{"org": "busy", "templateId": "words"}' > /dev/null
	done
	start_bg validate vr-validate
	wait_until 15 quota_settled 2
	stop_bg validate
	mv "$VR_SPOOL"/queued/*.json "$VR_SPOOL/done/"
	[ "$(active)" -eq 0 ]
	start_bg validate vr-validate
	wait_until 15 quota_settled 0 2
	fifo_kept
	grep -q 'watching' "$VR_DIR/validate.log"
}

@test "without fetch_allow, 127.0.0.1 is refused as loopback; with it the same URL is fetched" {
	restart_validate fetch_allow ""
	run error_of "$(image "$ASSET_URL/pic.png?fresh")"
	[[ $output == "invalid WORKER_DOWNLOAD_ASSET_FAILED: layer picture: cannot fetch $ASSET_URL/pic.png?fresh: address 127.0.0.1 refused: loopback (127.0.0.0/8), not in fetch_allow" ]]
	restart_validate fetch_allow 127.0.0.1
	validate "$(image "$ASSET_URL/pic.png?fresh")"
	[ "$STATE" = queued ]
}
