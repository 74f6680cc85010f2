#!/usr/bin/env bats
# The whole pipeline, as a client sees it: xinetd running vr-accept, and
# vr-validate, vr-render, vr-notify on one spool; a real asset server and a
# real webhook receiver. A render goes from POST to a signed webhook and a
# playable file. Then `make run`'s launcher, whose printed curl line renders.

load helper

setup_file() {
	vr_setup "fetch_allow = 127.0.0.1" "webhook_retry_initial = 200ms" \
		"webhook_retry_max = 1s"
	mkdir -p "$VR_DIR/media"
	ffmpeg -nostdin -loglevel error -f lavfi -i testsrc2=s=320x240 \
		-frames:v 1 "$VR_DIR/media/picture.png"
	start_asset_server "$VR_DIR/media"
	start_receiver
	start_xinetd
	KEY=$(make_key -c 2 -q 20 pipeline)
	start_bg validate vr-validate
	start_bg render vr-render
	start_bg notify vr-notify
	export KEY
}

teardown_file() {
	vr_teardown
}

api() { # METHOD PATH [BODY]
	curl -sS -u "$KEY:" -X "$1" -H 'Content-Type: application/json' \
		${3:+-d "$3"} "$VR_URL$2"
}

state_is() { # ID STATE
	[ "$(api GET "/api/v2/renders/$1" | jq -r .state)" = "$2" ]
}

@test "a render goes from POST to DONE, with a webhook and a playable output" {
	run api POST /api/v2/renders "$(jq -nc --arg img "$ASSET_URL/picture.png" \
		--arg hook "$RECEIVER_URL/hook" '{projectId: "demo", templateId: "social",
		parameters: {heading: "End to end", cta: "go", image: $img},
		webhook: {url: $hook, passthrough: "{{heading}}"}}')"
	echo "$output"
	[[ $(jq -r .state <<< "$output") =~ ^(QUEUED|IN_PROGRESS)$ ]]
	id=$(jq -r .id <<< "$output")
	echo "$id" > "$VR_DIR/render.id"
	wait_until 120 state_is "$id" DONE
	render=$(api GET "/api/v2/renders/$id")
	output=$(jq -r .output <<< "$render")
	[[ $output == "$VR_URL/files/$id/"* ]]
	curl -sSf -o "$VR_DIR/out.mp4" "$output"
	run ffprobe -v error -select_streams v:0 -count_frames \
		-show_entries stream=width,height,nb_read_frames -of csv=p=0 "$VR_DIR/out.mp4"
	[ "$output" = "720,720,150" ]
	wait_until 30 grep -q "\"/hook\"" "$RECEIVER_LOG"
	hook=$(grep '"/hook"' "$RECEIVER_LOG" | head -n 1)
	body=$(jq -r .body <<< "$hook")
	[ "$(jq -r '[.renderId, .state, .success, .passthrough] | @tsv' <<< "$body")" = \
		"$(printf '%s\tDONE\ttrue\tEnd to end' "$id")" ]
}

@test "the webhook's signature verifies with openssl and the organisation's secret" {
	hook=$(grep '"/hook"' "$RECEIVER_LOG" | head -n 1)
	msg_id=$(jq -r '.headers["webhook-id"]' <<< "$hook")
	stamp=$(jq -r '.headers["webhook-timestamp"]' <<< "$hook")
	sig=$(jq -r '.headers["webhook-signature"]' <<< "$hook")
	secret=$(awk -F: '$1 == "pipeline" { print $5; exit }' "$VR_DIR/etc/keys")
	hexkey=$(printf '%s' "${secret#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n')
	expect=$( { printf '%s.%s.' "$msg_id" "$stamp"; jq -j .body <<< "$hook"; } |
		openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary | base64)
	[ "$sig" = "v1,$expect" ]
}

@test "the output serves byte ranges, as video players seek" {
	id=$(cat "$VR_DIR/render.id")
	output=$(api GET "/api/v2/renders/$id" | jq -r .output)
	run curl -sS -o /dev/null -w '%{http_code} %{size_download}' -r 100-199 "$output"
	[ "$output" = "206 100" ]
}

@test "the render's history tells its way through the spool" {
	id=$(cat "$VR_DIR/render.id")
	run jq -r '[.history[].state] | join(" ")' "$VR_SPOOL/done/$id.json"
	[ "$output" = "PENDING QUEUED IN_PROGRESS DONE" ] || [ "$output" = "QUEUED IN_PROGRESS DONE" ]
}

@test "make run's launcher starts the pipeline and its printed curl line renders a video" {
	port=$(free_port)
	while port_open $((port + 1)); do port=$(free_port); done
	mkdir -p "$VR_DIR/run-spool"
	# As from a terminal: SIGINT not ignored (bats' background jobs ignore
	# it, and a shell cannot trap what it was started ignoring).
	VR_PORT=$port VR_SPOOL=$VR_DIR/run-spool start_bg vr-run python3 -c \
		'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
		"$VR_ROOT/bin/vr-run"
	wait_until 60 grep -q '^  curl ' "$VR_DIR/vr-run.log" ||
		{ cat "$VR_DIR/vr-run.log"; false; }
	wait_until 10 port_open "$port"
	[ -s "$VR_ROOT/etc/demo.key" ]
	grep -q "API key: $(cat "$VR_ROOT/etc/demo.key")" "$VR_DIR/vr-run.log"
	line=$(grep '^  curl ' "$VR_DIR/vr-run.log" | sed 's/ | jq \.$//')
	run eval "$line"
	echo "$output"
	[[ $(jq -r .state <<< "$output") =~ ^(QUEUED|IN_PROGRESS)$ ]]
	id=$(jq -r .id <<< "$output")
	wait_until 120 test -f "$VR_DIR/run-spool/done/$id.json"
	[ -s "$VR_DIR/run-spool/out/$id/$(jq -r .outputFile "$VR_DIR/run-spool/done/$id.json")" ]
	stop_bg vr-run INT
	grep -q '^vr-run: stopped' "$VR_DIR/vr-run.log"
	! port_open "$port"
	! port_open $((port + 1))
}
