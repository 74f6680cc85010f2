#!/usr/bin/env bats
# The Plainly-style API of vr-accept (/api/v2) on job files the test writes
# into the spool: create (PENDING once validate_wait passes), get, list,
# search, cancel, cancel-all, resubmit, delete, promote, webhook re-trigger,
# projects and templates; organisations isolated; idempotency; queue limit;
# request checking; signed output files with ranges and expiry.

load helper

setup_file() {
	vr_setup "validate_wait = 200ms"
	# a templates directory of its own: a project with two templates and a
	# project.json naming the default
	rm "$VR_DIR/etc/templates"
	mkdir -p "$VR_DIR/etc/templates/demo" "$VR_DIR/etc/templates/empty"
	cp "$VR_ROOT/etc/templates/demo/social.json" "$VR_DIR/etc/templates/demo/"
	jq '.id = "story" | .name = "Story"' "$VR_ROOT/etc/templates/demo/social.json" > "$VR_DIR/etc/templates/demo/story.json"
	echo '{"name": "Demo project", "defaultTemplateId": "story"}' > "$VR_DIR/etc/templates/demo/project.json"
	start_xinetd
	KEY=$(make_key acme)
	OTHER=$(make_key globex)
	SMALL=$(make_key tiny -q 2)
	export KEY OTHER SMALL
}

teardown_file() {
	vr_teardown
}

uuid7() {
	python3 -c '
import os, time
b = bytearray(int(time.time() * 1000).to_bytes(6, "big") + os.urandom(10))
b[6] = (b[6] & 0x0f) | 0x70
b[8] = (b[8] & 0x3f) | 0x80
h = b.hex()
print(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")'
}

# put_job DIR ORG [JQ]: write a job file straight into a state directory.
put_job() {
	local id state
	id=$(uuid7)
	state=$(tr a-z- A-Z_ <<< "$1")
	jq -n --arg id "$id" --arg org "$2" --arg state "$state" '{id: $id, org: $org,
		api: "plainly", state: $state, projectId: "demo", templateId: "social",
		parameters: {heading: "Hello"}, createdDate: "2026-11-23T10:00:00.000Z",
		history: [], ext: "mp4"}' | jq "${3:-.}" > "$VR_SPOOL/$1/$id.json"
	chmod 600 "$VR_SPOOL/$1/$id.json"
	echo "$id"
}

api() { # METHOD PATH [curl args]: body, then the status on the last line
	local method=$1 path=$2; shift 2
	curl -s -X "$method" -u "$KEY:" -w '\n%{http_code}' "$@" "$VR_URL/api/v2$path"
}

body() { sed '$d' <<< "$output"; }
code() { tail -n 1 <<< "$output"; }

sign() { # ID NAME EXPIRES -> sig
	printf '%s' "$1/$2:$3" | openssl dgst -sha256 -hmac "$(cat "$VR_DIR/etc/secret")" -r | cut -d' ' -f1
}

@test "POST /renders writes the job to pending/ and answers PENDING once validate_wait passes" {
	run api POST /renders -d '{"projectId":"demo","templateId":"social","parameters":{"heading":"Hi"},"attributes":{"batch":"b1"}}'
	[ "$(code)" = 200 ]
	id=$(body | jq -r .id)
	body | jq -e '.state == "PENDING" and .projectId == "demo" and .templateId == "social"
		and .parameters.heading == "Hi" and .attributes.batch == "b1" and .outputFormat.ext == "mp4"
		and (has("org") | not)'
	jq -e '.org == "acme" and .api == "plainly" and .state == "PENDING" and .history[0].by == "vr-accept"' "$VR_SPOOL/pending/$id.json"
	[ "$(stat -c %a "$VR_SPOOL/pending/$id.json")" = 600 ]
}

@test "POST /renders without templateId takes the project's default template" {
	run api POST /renders -d '{"projectId":"demo"}'
	[ "$(code)" = 200 ]
	body | jq -e '.templateId == "story"'
	run api POST /renders -d '{"projectId":"empty"}'
	[ "$(code)" = 404 ]
	body | jq -e '.message | startswith("[PROJECT_DOES_NOT_EXIST]")'
}

@test "POST /renders picks the output extension from postEncoding and refuses formats vr does not make" {
	run api POST /renders -d '{"projectId":"demo","templateId":"social","outputFormat":{"postEncoding":{"type":"custom","encodingFormat":"WEBM"}}}'
	[ "$(code)" = 200 ]
	body | jq -e '.outputFormat.ext == "webm" and .outputFormat.contentType == "video/webm"'
	run api POST /renders -d '{"projectId":"demo","outputFormat":{"postEncoding":{"type":"custom","encodingFormat":"MXF"}}}'
	[ "$(code)" = 400 ]
	body | jq -e '.message | startswith("[RENDER_OUTPUT_FORMAT_NOT_SUPPORTED]")'
}

@test "POST /renders refuses malformed JSON, wrong types, unknown fields and missing projectId with 400" {
	n=$(ls "$VR_SPOOL/pending" | wc -l)
	for bad in '{"projectId":' '[1,2]' '{"projectId":3}' '{"projectId":"demo","parameters":"x"}' \
		'{"projectId":"demo","colour":"red"}' '{"projectId":"demo","webhook":{"url":"https://h/x","extra":1}}' \
		'{"projectId":"demo","webhook":{"url":"ftp://h/x"}}' '{"projectId":"demo","outputFormat":{"attachment":"yes"}}' \
		'{"projectId":"demo","options":{"thumbnails":{"format":"BMP"}}}' '{"templateId":"social"}' \
		'{"projectId":"demo","parameters":{"a.b":1}}' ''; do
		run api POST /renders -d "$bad"
		[ "$(code)" = 400 ] || { echo "not refused: $bad -> $output"; false; }
		body | jq -e '.status == 400 and (.message | test("^\\[[A-Z_]+\\] "))'
	done
	run curl -s -D - -o /dev/null -u "$KEY:" -d '{"projectId":"demo","colour":"red"}' "$VR_URL/api/v2/renders"
	[[ $output == *"X-PlainlyErrorCode: REQUEST_UNKNOWN_FIELD"* ]]
	[ "$(ls "$VR_SPOOL/pending" | wc -l)" -eq "$n" ]
}

@test "POST /renders for a project name that cannot exist is 404 PROJECT_DOES_NOT_EXIST" {
	run api POST /renders -d '{"projectId":"../etc"}'
	[ "$(code)" = 404 ]
	body | jq -e '.message | startswith("[PROJECT_DOES_NOT_EXIST]")'
}

@test "the same Idempotency-Key from the same organisation returns the same render" {
	run api POST /renders -H 'Idempotency-Key: order-17' -d '{"projectId":"demo","templateId":"social"}'
	first=$(body | jq -r .id)
	run api POST /renders -H 'Idempotency-Key: order-17' -d '{"projectId":"demo","templateId":"social"}'
	[ "$(code)" = 200 ]
	[ "$(body | jq -r .id)" = "$first" ]
	[ "$(grep -l '"order-17"' "$VR_SPOOL"/pending/*.json | wc -l)" -eq 1 ]
	run curl -s -u "$OTHER:" -H 'Idempotency-Key: order-17' -d '{"projectId":"demo"}' "$VR_URL/api/v2/renders"
	[ "$(jq -r .id <<< "$output")" != "$first" ]
}

@test "a full queue is 429 RENDER_ORGANIZATION_QUEUE_FULL and nothing is written" {
	put_job queued tiny >/dev/null
	put_job throttled tiny >/dev/null
	n=$(find "$VR_SPOOL" -name '*.json' | wc -l)
	run curl -s -D "$BATS_TEST_TMPDIR/h" -u "$SMALL:" -d '{"projectId":"demo"}' "$VR_URL/api/v2/renders"
	grep -q '^HTTP/1.1 429' "$BATS_TEST_TMPDIR/h"
	grep -qi '^X-PlainlyErrorCode: RENDER_ORGANIZATION_QUEUE_FULL' "$BATS_TEST_TMPDIR/h"
	[ "$(find "$VR_SPOOL" -name '*.json' | wc -l)" -eq "$n" ]
}

@test "GET /renders/{id} reports the directory's state; another organisation gets 404" {
	id=$(put_job uploading acme)
	run api GET "/renders/$id"
	[ "$(code)" = 200 ]
	body | jq -e --arg id "$id" '.id == $id and .state == "IN_PROGRESS"'
	run curl -s -w '\n%{http_code}' -u "$OTHER:" "$VR_URL/api/v2/renders/$id"
	[ "$(code)" = 404 ]
	body | jq -e '.message | startswith("[RENDER_DOES_NOT_EXIST]")'
	run api GET /renders/not-an-id
	[ "$(code)" = 404 ]
}

@test "GET /renders lists the caller's renders newest first, filtered and paged" {
	a=$(put_job done globex)
	b=$(put_job done globex '.projectId = "other"')
	c=$(put_job failed globex)
	run curl -s -u "$OTHER:" "$VR_URL/api/v2/renders"
	jq -e --arg a "$a" --arg b "$b" --arg c "$c" 'map(.id) | index($c) < index($b) and index($b) < index($a)' <<< "$output"
	jq -e 'all(.[]; .id != null)' <<< "$output"
	run curl -s -u "$OTHER:" "$VR_URL/api/v2/renders?state=ERROR"
	jq -e --arg c "$c" 'map(.id) == [$c]' <<< "$output"
	run curl -s -u "$OTHER:" "$VR_URL/api/v2/renders?projectId=other"
	jq -e --arg b "$b" 'map(.id) == [$b]' <<< "$output"
	run curl -s -u "$OTHER:" "$VR_URL/api/v2/renders?state=DONE&size=1&page=1"
	jq -e --arg a "$a" 'map(.id) == [$a]' <<< "$output"
	run curl -s -u "$KEY:" "$VR_URL/api/v2/renders?size=1000"
	jq -e --arg a "$a" 'map(.id) | index($a) == null' <<< "$output"
	run api GET '/renders?state=SOMETIMES'
	[ "$(code)" = 400 ]
	run api GET '/renders?size=0'
	[ "$(code)" = 400 ]
}

@test "GET /renders/search finds renders by parameter text, case-insensitively" {
	id=$(put_job done acme '.parameters.heading = "Summer Sale Bonanza"')
	run api GET '/renders/search?searchTerm=sale%20bonanza'
	[ "$(code)" = 200 ]
	body | jq -e --arg id "$id" 'map(.id) == [$id]'
	run curl -s -u "$OTHER:" "$VR_URL/api/v2/renders/search?searchTerm=bonanza"
	[ "$output" = "[]" ]
}

@test "cancel moves a queued render to cancelled/ and answers CANCELLED" {
	id=$(put_job queued acme)
	run api POST "/renders/$id/cancel"
	[ "$(code)" = 200 ]
	body | jq -e '.state == "CANCELLED"'
	job_in "$id" cancelled
	jq -e '.history[-1].state == "CANCELLED"' "$VR_SPOOL/cancelled/$id.json"
	run curl -s -w '\n%{http_code}' -X POST -u "$OTHER:" "$VR_URL/api/v2/renders/$id/cancel"
	[ "$(code)" = 404 ]
}

@test "cancel of a finished render is 400 RENDER_CANNOT_BE_CANCELLED" {
	id=$(put_job done acme)
	run api POST "/renders/$id/cancel"
	[ "$(code)" = 400 ]
	body | jq -e '.message | startswith("[RENDER_CANNOT_BE_CANCELLED]")'
	job_in "$id" done
}

@test "cancel of a render in progress sends SIGTERM to its worker" {
	start_bg worker sleep 300
	pid=$(cat "$VR_DIR/worker.pid")
	id=$(put_job in-progress acme ".worker = {host: \"$(hostname)\", pid: $pid}")
	run api POST "/renders/$id/cancel"
	[ "$(code)" = 200 ]
	wait_until 5 eval "! kill -0 $pid 2>/dev/null"
	rm -f "$VR_DIR/worker.pid"
}

@test "cancel of a render in progress is refused when cancel_in_progress is no" {
	conf_set cancel_in_progress no
	start_bg worker2 sleep 300
	pid=$(cat "$VR_DIR/worker2.pid")
	id=$(put_job in-progress acme ".worker = {host: \"$(hostname)\", pid: $pid}")
	run api POST "/renders/$id/cancel"
	conf_set cancel_in_progress yes
	[ "$(code)" = 400 ]
	kill -0 "$pid"
	job_in "$id" in-progress
}

@test "cancel-all cancels the caller's waiting renders only and answers 201" {
	p=$(put_job pending acme '.projectId = "ca"')
	q=$(put_job queued acme '.projectId = "ca"')
	t=$(put_job throttled acme '.projectId = "cb"')
	o=$(put_job queued globex '.projectId = "ca"')
	r=$(put_job in-progress acme '.projectId = "ca"')
	run api POST '/renders/cancel-all?projectId=ca'
	[ "$(code)" = 201 ]
	job_in "$p" cancelled
	job_in "$q" cancelled
	job_in "$t" throttled
	job_in "$o" queued
	job_in "$r" in-progress
}

@test "resubmit creates a new render with the same inputs" {
	id=$(put_job failed acme '.parameters = {heading: "Again"} | .webhook = {url: "http://127.0.0.1:9/h"}')
	run api POST "/renders/$id/resubmit"
	[ "$(code)" = 200 ]
	new=$(body | jq -r .id)
	[ "$new" != "$id" ]
	jq -e '.parameters.heading == "Again" and .webhook.url == "http://127.0.0.1:9/h" and .org == "acme"' "$VR_SPOOL/pending/$new.json"
	job_in "$id" failed
}

@test "delete refuses an unfinished render, removes a finished one with its files, or keeps the files with skipAssets" {
	id=$(put_job queued acme)
	run api DELETE "/renders/$id"
	[ "$(code)" = 400 ]
	body | jq -e '.message | startswith("[RENDER_NOT_FINISHED]")'
	id=$(put_job done acme '.outputFile = "video.mp4"')
	mkdir -p "$VR_SPOOL/out/$id" && echo x > "$VR_SPOOL/out/$id/video.mp4"
	run api DELETE "/renders/$id"
	[ "$(code)" = 201 ]
	! job_state "$id"
	[ ! -e "$VR_SPOOL/out/$id" ]
	id=$(put_job done acme)
	mkdir -p "$VR_SPOOL/out/$id" && echo x > "$VR_SPOOL/out/$id/video.mp4"
	run api DELETE "/renders/$id?skipAssets=true"
	[ "$(code)" = 201 ]
	! job_state "$id"
	[ -e "$VR_SPOOL/out/$id/video.mp4" ]
}

@test "a signed output link serves the file with its type, ranges and attachment name" {
	id=$(put_job done acme '.outputFile = "video.mp4" | .outputFormat = {attachment: true, attachmentFileName: "my \"clip\""}')
	mkdir -p "$VR_SPOOL/out/$id"
	seq 1 1000 > "$VR_SPOOL/out/$id/video.mp4"
	exp=$(( $(date +%s) + 600 ))
	url="$VR_URL/files/$id/video.mp4?expires=$exp&sig=$(sign "$id" video.mp4 "$exp")"
	run curl -s -D "$BATS_TEST_TMPDIR/h" -o "$BATS_TEST_TMPDIR/got" "$url"
	grep -q '^HTTP/1.1 200' "$BATS_TEST_TMPDIR/h"
	grep -q '^Content-Type: video/mp4' "$BATS_TEST_TMPDIR/h"
	grep -q '^Content-Disposition: attachment; filename="my _clip_.mp4"' "$BATS_TEST_TMPDIR/h"
	cmp "$BATS_TEST_TMPDIR/got" "$VR_SPOOL/out/$id/video.mp4"
	run curl -s -D "$BATS_TEST_TMPDIR/h" -H 'Range: bytes=4-9' "$url"
	grep -q '^HTTP/1.1 206' "$BATS_TEST_TMPDIR/h"
	grep -q "^Content-Range: bytes 4-9/$(stat -c %s "$VR_SPOOL/out/$id/video.mp4")" "$BATS_TEST_TMPDIR/h"
	[ "$output" = "$(head -c 10 "$VR_SPOOL/out/$id/video.mp4" | tail -c 6)" ]
	run curl -s -o /dev/null -w '%{http_code}' -H 'Range: bytes=999999-' "$url"
	[ "$output" = 416 ]
}

@test "a signed link serves an empty file with Content-Length: 0 and a thumbnail as image/png" {
	id=$(put_job done acme '.outputFile = "video.mp4" | .thumbnailFiles = ["thumbnail.png"]')
	mkdir -p "$VR_SPOOL/out/$id"
	: > "$VR_SPOOL/out/$id/video.mp4"
	printf 'png' > "$VR_SPOOL/out/$id/thumbnail.png"
	exp=$(( $(date +%s) + 600 ))
	run curl -s -D - "$VR_URL/files/$id/video.mp4?expires=$exp&sig=$(sign "$id" video.mp4 "$exp")"
	[[ $output == *"Content-Length: 0"* ]]
	run curl -s -D "$BATS_TEST_TMPDIR/h" "$VR_URL/files/$id/thumbnail.png?expires=$exp&sig=$(sign "$id" thumbnail.png "$exp")"
	[ "$output" = png ]
	grep -q '^Content-Type: image/png' "$BATS_TEST_TMPDIR/h"
}

@test "an output link with a bad signature is 403 and an expired one 410 RENDER_EXPIRED" {
	id=$(put_job done acme '.outputFile = "video.mp4"')
	mkdir -p "$VR_SPOOL/out/$id" && echo data > "$VR_SPOOL/out/$id/video.mp4"
	exp=$(( $(date +%s) + 600 ))
	run curl -s -w '\n%{http_code}' "$VR_URL/files/$id/video.mp4?expires=$exp&sig=$(sign "$id" other.mp4 "$exp")"
	[ "$(code)" = 403 ]
	old=$(( $(date +%s) - 1 ))
	run curl -s -D "$BATS_TEST_TMPDIR/h" -w '\n%{http_code}' "$VR_URL/files/$id/video.mp4?expires=$old&sig=$(sign "$id" video.mp4 "$old")"
	[ "$(code)" = 410 ]
	grep -qi '^X-PlainlyErrorCode: RENDER_EXPIRED' "$BATS_TEST_TMPDIR/h"
	id=$(put_job done acme '.outputFile = "video.mp4" | .expired = true')
	run curl -s -w '\n%{http_code}' "$VR_URL/files/$id/video.mp4?expires=$exp&sig=$(sign "$id" video.mp4 "$exp")"
	[ "$(code)" = 410 ]
}

@test "promote gives a finished render a random public link that serves its video" {
	id=$(put_job done acme '.outputFile = "video.mp4"')
	mkdir -p "$VR_SPOOL/out/$id" && echo public > "$VR_SPOOL/out/$id/video.mp4"
	run api POST "/renders/$id/promote"
	[ "$(code)" = 200 ]
	link=$(body | jq -r .publicUrl)
	[[ $link == "$VR_URL/public/$id/"* ]]
	[ "$(curl -sf "$link")" = public ]
	run api POST "/renders/$id/promote"
	[ "$(body | jq -r .publicUrl)" = "$link" ]
	run curl -s -o /dev/null -w '%{http_code}' "$VR_URL/public/$id/00000000000000000000000000000000"
	[ "$output" = 404 ]
	id=$(put_job queued acme)
	run api POST "/renders/$id/promote"
	[ "$(code)" = 400 ]
}

@test "webhook re-trigger drops a new notification for a finished render with a webhook" {
	id=$(put_job done acme '.webhook = {url: "http://127.0.0.1:9/hook"}')
	run api POST "/renders/$id/webhook"
	[ "$(code)" = 200 ]
	ls "$VR_SPOOL/outbox" | grep -q "^$id\."
	id=$(put_job done acme)
	run api POST "/renders/$id/webhook"
	[ "$(code)" = 400 ]
	body | jq -e '.message | startswith("[RENDER_DOES_NOT_HAVE_WEBHOOK]")'
	id=$(put_job queued acme '.webhook = {url: "http://127.0.0.1:9/hook"}')
	run api POST "/renders/$id/webhook"
	[ "$(code)" = 400 ]
	body | jq -e '.message | startswith("[RENDER_NOT_FINISHED]")'
}

@test "GET /renders/{id} composes webhookDelivery for a render with a webhook" {
	id=$(put_job done acme '.webhook = {url: "http://127.0.0.1:9/hook"}')
	run api GET "/renders/$id"
	body | jq -e '.webhookDelivery | type == "object"'
}

@test "projects and templates are read from the templates directory" {
	run api GET /projects
	[ "$(code)" = 200 ]
	body | jq -e 'map(.id) == ["demo", "empty"]'
	run api GET /projects/demo
	body | jq -e '.id == "demo" and .name == "Demo project" and (.templates | map(.id)) == ["social", "story"] and .defaultTemplateId == "story"'
	run api GET /projects/demo/templates
	body | jq -e 'map(.id) == ["social", "story"]'
	run api GET /projects/demo/templates/social
	body | jq -e '.id == "social" and (.layers | length) > 0 and .resolution.width > 0'
	run api GET /projects/nope
	[ "$(code)" = 404 ]
	body | jq -e '.message | startswith("[PROJECT_DOES_NOT_EXIST]")'
	run api GET /projects/demo/templates/nope
	[ "$(code)" = 404 ]
	body | jq -e '.message | startswith("[PROJECT_TEMPLATE_DOES_NOT_EXIST]")'
}

@test "webhook-test drops a sample notification for the url given" {
	run api GET '/webhook-test?url=http://127.0.0.1:9/test&passthrough=p1'
	[ "$(code)" = 200 ]
	[ "$(body)" = 202 ]
	grep -l '127.0.0.1:9/test' "$VR_SPOOL"/outbox/*.test.json
	run api GET '/webhook-test?url=file:///etc/passwd'
	[ "$(code)" = 400 ]
}

@test "promote of a render whose files expired is 400 RENDER_EXPIRED" {
	id=$(put_job done acme '.outputFile = "video.mp4" | .expired = true')
	run api POST "/renders/$id/promote"
	[ "$(code)" = 400 ]
	body | jq -e '.message | startswith("[RENDER_EXPIRED]")'
}

@test "a signed link answers HEAD without a body and a suffix range with the file's end" {
	id=$(put_job done acme '.outputFile = "video.mp4"')
	mkdir -p "$VR_SPOOL/out/$id"
	printf '0123456789' > "$VR_SPOOL/out/$id/video.mp4"
	exp=$(( $(date +%s) + 600 ))
	url="$VR_URL/files/$id/video.mp4?expires=$exp&sig=$(sign "$id" video.mp4 "$exp")"
	run curl -s -I "$url"
	[[ $output == *"HTTP/1.1 200 OK"* ]]
	[[ $output == *"Content-Length: 10"* ]]
	[[ $output == *"Accept-Ranges: bytes"* ]]
	run curl -s -H 'Range: bytes=-3' "$url"
	[ "$output" = 789 ]
}

@test "GET /renders filters by templateId and webhookStatus" {
	a=$(put_job done globex '.templateId = "t-only" | .webhook = {url: "http://127.0.0.1:9/h"}')
	run curl -s -u "$OTHER:" "$VR_URL/api/v2/renders?templateId=t-only"
	jq -e --arg a "$a" 'map(.id) == [$a]' <<< "$output"
	run curl -s -u "$OTHER:" "$VR_URL/api/v2/renders?templateId=t-only&webhookStatus=SUCCESS"
	[ "$output" = "[]" ]
	run curl -s -w '\n%{http_code}' -u "$OTHER:" "$VR_URL/api/v2/renders?webhookStatus=MAYBE"
	[ "$(code)" = 400 ]
}

@test "a query parameter too long to hold is 400, not ignored" {
	run api GET "/renders/search?searchTerm=$(head -c 400 /dev/zero | tr '\0' a)"
	[ "$(code)" = 400 ]
	body | jq -e '.message | startswith("[REQUEST_INVALID_PARAMETER]")'
	run api GET "/renders?page=$(head -c 60 /dev/zero | tr '\0' 9)"
	[ "$(code)" = 400 ]
}

@test "a render's upload results and integrationDelivery are shown, its upload secrets never" {
	id=$(put_job failed acme '. + {uploads: [{task: {extension: "mp4", destination: {type: "s3",
		bucket: "b", aws_access_key_id: "AKIA1", aws_secret_access_key: "s3-hush"}},
		status: "FAILURE", error: "SignatureDoesNotMatch", attempts: 1}]}')
	run api GET "/renders/$id"
	[ "$(code)" = 200 ]
	[[ $(body) != *hush* ]]
	body | jq -e '.uploads[0].task.destination.aws_secret_access_key == "***"
		and .uploads[0].task.destination.aws_access_key_id == "AKIA1"
		and .uploads[0].status == "FAILURE"
		and .integrationDelivery.deliveries[0].status == "FAILURE"'
	run api GET "/renders?state=FAILED"
	[[ $(body) != *hush* ]]
}
