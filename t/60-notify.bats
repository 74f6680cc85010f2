#!/usr/bin/env bats
# vr-notify and lib/notify.c: webhooks dropped into outbox/ when a render is
# final, delivered by the real daemon to a real receiver (t/receiver.py),
# signed, retried, recorded, moved to sent/, and never lost.

load helper

setup_file() {
	vr_setup "fetch_allow = 127.0.0.1" \
		"webhook_retry_initial = 300ms" \
		"webhook_retry_max = 4s" \
		"webhook_give_up = 4s"
	WHSEC=whsec_$(head -c 24 /dev/urandom | base64)
	printf 'acme:%s:2:10:%s\n' "$(printf k | sha256sum | cut -d' ' -f1)" \
		"$WHSEC" > "$VR_DIR/etc/keys"
	export WHSEC
	start_receiver
	start_xinetd
	# In a subshell, so that the SIGKILL below is no job of the test's shell.
	(start_bg notify vr-notify -f "$VR_CONF")
}

teardown_file() {
	vr_teardown
}

# put_job DIR ID WEBHOOK-JSON [MORE-JSON]: a render in state directory DIR.
put_job() {
	local state
	state=$(echo "$1" | tr a-z- A-Z_)
	jq -n --arg id "$2" --arg state "$state" --argjson hook "$3" \
		--argjson more "${4:-{\}}" '{id: $id, state: $state, org: "acme",
		api: "plainly", projectId: "demo", templateId: "card",
		parameters: {name: "Ann"}, webhook: $hook} + $more' \
		> "$VR_SPOOL/$1/$2.json"
}

new_id() { cat /proc/sys/kernel/random/uuid; }

# arrived PATH: the requests the receiver got for PATH, one JSON per line.
arrived() { jq -c --arg p "$1" 'select(.path == $p)' "$RECEIVER_LOG"; }
arrivals() { arrived "$1" | wc -l; }
has_arrived() { [ "$(arrivals "$1")" -ge "${2:-1}" ]; }
settled() { [ -f "$VR_SPOOL/sent/$1.final.json" ]; }
sent() { cat "$VR_SPOOL/sent/$1.final.json"; }
all_exist() { ls "$@" > /dev/null 2>&1; }

@test "a DONE render is notified once, with its fields and the passthrough filled" {
	id=$(new_id)
	put_job done "$id" "{\"url\": \"$RECEIVER_URL/done/$id\",
		\"passthrough\": \"{{name}}|{{age}}|{{vip}}|{{tags}}|{{city:Paris}}|{{ name }}|{{none}}|{{a.b}}\"}" \
		'{"parameters": {"name": "Ann", "age": 42, "vip": true, "tags": ["x"], "a": {"b": "deep"}},
		  "outputFile": "video.mp4", "thumbnailFiles": ["thumb.jpg"],
		  "expirationDate": "2099-01-01T00:00:00.000Z",
		  "uploads": [{"task": {"extension": "mp4", "destination": {"type": "http"}}, "status": "SUCCESS", "url": "http://x/y.mp4"}]}'
	run vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/done/$id.json"
	[ "$status" -eq 0 ]
	wait_until 10 settled "$id"
	[ "$(arrivals "/done/$id")" -eq 1 ]
	body=$(arrived "/done/$id" | jq -c '.body | fromjson')
	jq -e --arg id "$id" '.id == $id and .renderId == $id and .success == true
		and .state == "DONE" and .projectId == "demo" and .templateId == "card"
		and .passthrough == "Ann|42|true|[\"x\"]|Paris|Ann||deep"
		and (.output | test("/files/" + $id + "/video.mp4[?]expires=[0-9]+&sig=[0-9a-f]{64}$"))
		and (.thumbnailUris[0] | test("/files/" + $id + "/thumb.jpg[?]"))
		and .expirationDate == "2099-01-01T00:00:00.000Z" and .error == null
		and .uploads[0].status == "SUCCESS" and .uploads[0].task.extension == "mp4"' <<< "$body"
	arrived "/done/$id" | jq -e '.method == "POST" and
		.headers["content-type"] == "application/json"'
	sent "$id" | jq -e '.status == "SUCCESS" and (.attempts | length) == 1 and
		.attempts[0].httpStatus == 200 and .attempts[0].error == null'
}

@test "FAILED and INVALID renders are notified exactly as onFailure and onInvalid say" {
	declare -A want
	ids=()
	for spec in "failed yes {\"onFailure\":true}" "failed no {}" \
		"failed no {\"onFailure\":false}" "invalid yes {\"onFailure\":true}" \
		"invalid no {\"onFailure\":true,\"onInvalid\":false}" \
		"invalid yes {\"onInvalid\":true}" \
		"invalid no {\"onFailure\":false,\"onInvalid\":null}"; do
		read -r dir wanted flags <<< "$spec"
		id=$(new_id)
		put_job "$dir" "$id" "$(jq -c --arg u "$RECEIVER_URL/flags/$id" '. + {url: $u}' <<< "$flags")" \
			'{"error": {"code": "WORKER_FFMPEG_ENCODING_ERROR", "message": "boom"}}'
		want[$id]=$wanted
		ids+=("$VR_SPOOL/$dir/$id.json")
	done
	run vr-notify -f "$VR_CONF" --enqueue "${ids[@]}"
	[ "$status" -eq 0 ]
	for id in "${!want[@]}"; do
		if [ "${want[$id]}" = yes ]; then
			wait_until 10 settled "$id"
			arrived "/flags/$id" | jq -e '.body | fromjson |
				.success == false and (.state == "FAILED" or .state == "INVALID")
				and .error.code == "WORKER_FFMPEG_ENCODING_ERROR"'
		fi
	done
	for id in "${!want[@]}"; do
		if [ "${want[$id]}" = no ]; then
			[ -z "$(ls "$VR_SPOOL/outbox" "$VR_SPOOL/sent" | grep "^$id")" ]
			[ "$(arrivals "/flags/$id")" -eq 0 ]
			run vr-notify -f "$VR_CONF" --status "$id"
			[ "$output" = '{"status":"IGNORED","deliveries":[]}' ]
		fi
	done
}

@test "a passthrough that is not a string is sent as it is" {
	id=$(new_id)
	put_job done "$id" "{\"url\": \"$RECEIVER_URL/pt/$id\", \"passthrough\": {\"crm\": 7}}"
	vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/done/$id.json"
	wait_until 10 has_arrived "/pt/$id"
	arrived "/pt/$id" | jq -e '.body | fromjson | .passthrough == {crm: 7}'
}

@test "a notification with method GET and no payload (FX's onsuccess) is sent as a GET without a body" {
	id=$(new_id)
	put_job done "$id" '{"url": "http://unused.invalid/"}'
	jq -n --arg id "$id" --arg url "$RECEIVER_URL/fx/$id?msg=ok" '{webhookId:
		("msg_" + $id + "_onsuccess"), renderId: $id, org: "acme",
		event: "onsuccess", method: "GET", url: $url, payload: null,
		status: "PENDING", attempts: [], createdAt: "2026-01-01T00:00:00.000Z"}' \
		> "$VR_SPOOL/tmp/$id.onsuccess.json"
	mv "$VR_SPOOL/tmp/$id.onsuccess.json" "$VR_SPOOL/outbox/"
	wait_until 10 test -f "$VR_SPOOL/sent/$id.onsuccess.json"
	arrived "/fx/$id?msg=ok" | jq -e --arg id "$id" '.method == "GET" and
		.body == "" and .headers["webhook-id"] == "msg_" + $id + "_onsuccess"
		and (.headers | has("content-type") | not)'
	jq -e '.status == "SUCCESS"' "$VR_SPOOL/sent/$id.onsuccess.json"
}

@test "a notification waits until its render sits in a final directory" {
	early=$(new_id) late=$(new_id)
	put_job in-progress "$early" "{\"url\": \"$RECEIVER_URL/wait/$early\"}"
	put_job done "$late" "{\"url\": \"$RECEIVER_URL/wait/$late\"}"
	vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/in-progress/$early.json"
	vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/done/$late.json"
	wait_until 10 has_arrived "/wait/$late"
	[ "$(arrivals "/wait/$early")" -eq 0 ]
	[ -f "$VR_SPOOL/outbox/$early.final.json" ]
	jq '.state = "DONE"' "$VR_SPOOL/in-progress/$early.json" > "$VR_SPOOL/tmp/$early"
	mv "$VR_SPOOL/tmp/$early" "$VR_SPOOL/done/$early.json"
	rm "$VR_SPOOL/in-progress/$early.json"
	wait_until 10 has_arrived "/wait/$early"
	arrived "/wait/$early" | jq -e '.body | fromjson | .state == "DONE"'
}

@test "dropped twice before its move (a crash between), a render's webhook is sent once" {
	id=$(new_id)
	put_job in-progress "$id" "{\"url\": \"$RECEIVER_URL/twice/$id\"}"
	vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/in-progress/$id.json"
	vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/in-progress/$id.json"
	[ "$(ls "$VR_SPOOL/outbox" | grep -c "^$id")" -eq 1 ]
	mv "$VR_SPOOL/in-progress/$id.json" "$VR_SPOOL/done/$id.json"
	wait_until 10 settled "$id"
	[ "$(arrivals "/twice/$id")" -eq 1 ]
}

@test "a render cancelled after its notification was dropped is not called: IGNORED" {
	id=$(new_id)
	put_job in-progress "$id" "{\"url\": \"$RECEIVER_URL/cancel/$id\"}"
	vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/in-progress/$id.json"
	jq '.state = "CANCELLED"' "$VR_SPOOL/in-progress/$id.json" > "$VR_SPOOL/tmp/$id"
	mv "$VR_SPOOL/tmp/$id" "$VR_SPOOL/cancelled/$id.json"
	rm "$VR_SPOOL/in-progress/$id.json"
	wait_until 10 settled "$id"
	sent "$id" | jq -e '.status == "IGNORED"'
	[ "$(arrivals "/cancel/$id")" -eq 0 ]
	run vr-notify -f "$VR_CONF" --status "$id"
	jq -e '.status == "IGNORED"' <<< "$output"
}

@test "a receiver failing 3 times gets 4 attempts with growing gaps, then SUCCESS" {
	id=$(new_id)
	put_job done "$id" "{\"url\": \"$RECEIVER_URL/flaky/$id?fail=3\"}"
	vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/done/$id.json"
	wait_until 15 settled "$id"
	[ "$(arrivals "/flaky/$id?fail=3")" -eq 4 ]
	arrived "/flaky/$id?fail=3" | jq -s -e '
		(map(.headers["webhook-id"]) | unique | length) == 1 and
		(map(.status) == [500, 500, 500, 200]) and
		([.[1].t - .[0].t, .[2].t - .[1].t, .[3].t - .[2].t] as $g |
		 $g[0] < $g[1] and $g[1] < $g[2])'
	run vr-notify -f "$VR_CONF" --status "$id"
	[ "$status" -eq 0 ]
	jq -e '.status == "SUCCESS" and (.deliveries | length) == 4 and
		(.deliveries | map(.httpStatus)) == [500, 500, 500, 200] and
		.deliveries[0].error == "HTTP 500"' <<< "$output"
}

@test "a receiver that always fails ends FAILURE with every attempt listed" {
	id=$(new_id)
	put_job done "$id" "{\"url\": \"$RECEIVER_URL/down/$id?status=503\"}"
	vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/done/$id.json"
	run vr-notify -f "$VR_CONF" --status "$id"
	jq -e '.status == "PENDING" or .status == "RETRYING"' <<< "$output"
	wait_until 20 settled "$id"
	n=$(arrivals "/down/$id?status=503")
	[ "$n" -ge 3 ]
	sent "$id" | jq -e --argjson n "$n" '.status == "FAILURE" and
		(.attempts | length) == $n and
		all(.attempts[]; .httpStatus == 503 and .error == "HTTP 503" and
		    (.at | test("^20[0-9-]+T")) and .latencyMs >= 0)'
	run vr-notify -f "$VR_CONF" --status "$id"
	jq -e --argjson n "$n" '.status == "FAILURE" and (.deliveries | length) == $n' <<< "$output"
}

# verify LOG-LINE [SED]: the openssl CLI's HMAC of "id.timestamp.body" (the
# body edited by SED) compared with the webhook-signature header.
verify() {
	local id ts sig key mine
	id=$(jq -r '.headers["webhook-id"]' <<< "$1")
	ts=$(jq -r '.headers["webhook-timestamp"]' <<< "$1")
	sig=$(jq -r '.headers["webhook-signature"]' <<< "$1")
	key=$(printf %s "${WHSEC#whsec_}" | base64 -d | od -An -tx1 -v | tr -d ' \n')
	mine=$({ printf '%s.%s.' "$id" "$ts"
		jq -r .body_b64 <<< "$1" | base64 -d | sed "${2:-}"; } |
		openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | base64)
	[ "$sig" = "v1,$mine" ]
}

@test "the signature verifies with the openssl CLI, and a changed byte fails it" {
	id=$(new_id)
	put_job done "$id" "{\"url\": \"$RECEIVER_URL/sig/$id\"}"
	vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/done/$id.json"
	wait_until 10 has_arrived "/sig/$id"
	line=$(arrived "/sig/$id")
	jq -e --arg id "$id" --argjson now "$(date +%s)" '
		.headers["webhook-id"] == "msg_" + $id + "_final" and
		((.headers["webhook-timestamp"] | tonumber) - $now | fabs) < 60' <<< "$line"
	verify "$line"
	run verify "$line" 's/"DONE"/"DONF"/'
	[ "$status" -ne 0 ]
}

@test "re-sending a delivered render by hand carries a new webhook-id" {
	id=$(new_id)
	put_job done "$id" "{\"url\": \"$RECEIVER_URL/again/$id\"}"
	vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/done/$id.json"
	wait_until 10 settled "$id"
	vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/done/$id.json"
	wait_until 10 has_arrived "/again/$id" 2
	arrived "/again/$id" | jq -s -e 'map(.headers["webhook-id"]) | unique | length == 2'
	wait_until 10 eval "vr-notify -f $VR_CONF --status $id | jq -e '(.deliveries | length) == 2 and .status == \"SUCCESS\"'"
}

@test "redirects are followed, and only through the address guard" {
	id=$(new_id) bad=$(new_id)
	put_job done "$id" "{\"url\": \"$RECEIVER_URL/hop/$id?redirect=$RECEIVER_URL/landed/$id\"}"
	put_job done "$bad" "{\"url\": \"$RECEIVER_URL/hop/$bad?redirect=http://127.0.0.2:$RECEIVER_PORT/landed/$bad\"}"
	vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/done/$id.json" "$VR_SPOOL/done/$bad.json"
	wait_until 10 settled "$id"
	wait_until 10 settled "$bad"
	arrived "/landed/$id" | jq -e --arg id "$id" '.method == "POST" and
		(.body | fromjson | .id == $id)'
	sent "$id" | jq -e '.status == "SUCCESS"'
	sent "$bad" | jq -e '.status == "FAILURE" and (.attempts | length) == 1 and
		(.attempts[0].error | test("refused"))'
}

@test "webhook URLs at denied addresses are refused with a clear error, not fetched" {
	cp "$VR_CONF" "$VR_DIR/etc/denied.conf"
	sed -i -e '/^fetch_allow/d' -e "s|^spool = .*|spool = $VR_DIR/spool2|" "$VR_DIR/etc/denied.conf"
	mkdir -p "$VR_DIR/spool2"
	start_bg notify2 vr-notify -f "$VR_DIR/etc/denied.conf"
	id=$(new_id)
	wait_until 10 test -d "$VR_DIR/spool2/outbox"
	VR_SPOOL=$VR_DIR/spool2 put_job done "$id" "{\"url\": \"$RECEIVER_URL/denied/$id\"}"
	vr-notify -f "$VR_DIR/etc/denied.conf" --enqueue "$VR_DIR/spool2/done/$id.json"
	wait_until 10 test -f "$VR_DIR/spool2/sent/$id.final.json"
	jq -e '.status == "FAILURE" and (.attempts | length) == 1 and
		(.attempts[0].error | test("refused by the guard: .*127.0.0.1"))' \
		"$VR_DIR/spool2/sent/$id.final.json"
	[ "$(arrivals "/denied/$id")" -eq 0 ]
	stop_bg notify2
}

@test "GET /api/v2/webhook-test and POST /renders/ID/webhook send signed webhooks that webhookDelivery shows" {
	key=$(make_key -f "$VR_CONF" e2e)
	secret=$(awk -F: '$1 == "e2e" { print $5; exit }' "$VR_DIR/etc/keys")
	run curl -sS -u "$key:" --get --data-urlencode "url=$RECEIVER_URL/wt/$key" \
		--data-urlencode "passthrough=order 7" "$VR_URL/api/v2/webhook-test"
	[ "$status" -eq 0 ]
	[ "$output" = 202 ]
	wait_until 10 has_arrived "/wt/$key"
	line=$(arrived "/wt/$key")
	jq -e '.body | fromjson | .passthrough == "order 7" and .success == true' <<< "$line"
	WHSEC=$secret verify "$line"

	id=$(new_id)
	put_job done "$id" "{\"url\": \"$RECEIVER_URL/rt/$id\"}" '{"org": "e2e"}'
	run curl -sS -u "$key:" -X POST "$VR_URL/api/v2/renders/$id/webhook"
	[ "$status" -eq 0 ]
	wait_until 10 has_arrived "/rt/$id"
	line=$(arrived "/rt/$id")
	jq -e --arg id "$id" '.headers["webhook-id"] | startswith("msg_" + $id + "_")' <<< "$line"
	WHSEC=$secret verify "$line"
	delivered() {
		curl -sS -u "$key:" "$VR_URL/api/v2/renders/$id" | jq -e '
			.webhookDelivery.status == "SUCCESS" and
			(.webhookDelivery.deliveries | length) == 1 and
			.webhookDelivery.deliveries[0].httpStatus == 200'
	}
	wait_until 10 delivered
}

@test "killed with SIGKILL while 100 are in flight, vr-notify delivers every one after restart" {
	files=() names=()
	for i in $(seq 100); do
		id=$(new_id)
		printf '{"id":"%s","state":"DONE","org":"acme","webhook":{"url":"%s/crash/%s?delay=1"}}' \
			"$id" "$RECEIVER_URL" "$id" > "$VR_SPOOL/done/$id.json"
		files+=("$VR_SPOOL/done/$id.json")
		names+=("$VR_SPOOL/sent/$id.final.json")
	done
	vr-notify -f "$VR_CONF" --enqueue "${files[@]}"
	wait_until 20 eval "[ \$(grep -c '\"/crash/' $RECEIVER_LOG) -ge 30 ]"
	stop_bg notify KILL
	[ "$(ls "$VR_SPOOL/outbox" | wc -l)" -gt 0 ]
	(start_bg notify vr-notify -f "$VR_CONF")
	wait_until 30 all_exist "${names[@]}"
	jq -s -e 'length == 100 and all(.[]; .status == "SUCCESS")' "${names[@]}"
	jq -s -e '[.[] | select(.path | startswith("/crash/"))] |
		length >= 100 and (map(.headers["webhook-id"]) | unique | length) == 100 and
		all(.[]; .headers["webhook-id"] ==
		    "msg_" + (.path | ltrimstr("/crash/") | rtrimstr("?delay=1")) + "_final")' \
		"$RECEIVER_LOG"
}

@test "a slow receiver (20 s) does not delay the others" {
	slow=$(new_id)
	put_job done "$slow" "{\"url\": \"$RECEIVER_URL/slow/$slow?delay=20\"}"
	vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/done/$slow.json"
	wait_until 10 has_arrived "/slow/$slow?delay=20"
	files=()
	for i in $(seq 10); do
		id=$(new_id)
		put_job done "$id" "{\"url\": \"$RECEIVER_URL/fast/$id\"}"
		files+=("$VR_SPOOL/done/$id.json")
	done
	vr-notify -f "$VR_CONF" --enqueue "${files[@]}"
	for f in "${files[@]}"; do
		wait_until 5 settled "$(basename "$f" .json)"
	done
	[ -f "$VR_SPOOL/outbox/$slow.final.json" ]
	! settled "$slow"
}

@test "vr-notify --help prints its usage; bad usage exits 64" {
	run vr-notify --help
	[ "$status" -eq 0 ]
	[[ $output == "usage: vr-notify [-f file]"* ]]
	run vr-notify --enqueue
	[ "$status" -eq 64 ]
	run vr-notify -f "$VR_CONF" --status not-an-id
	[ "$status" -eq 64 ]
}

@test "a FAILED render's webhook shows an upload task's inline secrets as ***" {
	id=$(new_id)
	put_job failed "$id" "{\"url\": \"$RECEIVER_URL/secret/$id\", \"onFailure\": true}" \
		'{"error": {"code": "WORKER_FFMPEG_ENCODING_ERROR", "message": "boom"},
		  "uploads": [{"task": {"extension": "mp4", "destination": {"type": "s3",
		    "bucket": "b", "aws_access_key_id": "AKIA1", "aws_secret_access_key": "s3-hush"}},
		    "status": "PENDING"}]}'
	run vr-notify -f "$VR_CONF" --enqueue "$VR_SPOOL/failed/$id.json"
	[ "$status" -eq 0 ]
	wait_until 10 settled "$id"
	body=$(arrived "/secret/$id" | jq -r .body)
	[[ $body != *hush* ]]
	jq -e '.uploads[0].task.destination | .aws_secret_access_key == "***" and .aws_access_key_id == "AKIA1"' <<< "$body"
}
