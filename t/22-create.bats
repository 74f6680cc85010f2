#!/usr/bin/env bats
# POST /renders through the real pipeline's gate: xinetd running vr-accept,
# vr-validate on the same spool, media served over loopback. The create
# answer already carries vr-validate's verdict: QUEUED, THROTTLED or INVALID.

load helper

setup_file() {
	vr_setup "validate_wait = 20s" "fetch_allow = 127.0.0.1"
	mkdir -p "$VR_DIR/media"
	ffmpeg -loglevel error -f lavfi -i color=c=red:s=64x48 -frames:v 1 "$VR_DIR/media/pic.png"
	start_asset_server "$VR_DIR/media"
	start_xinetd
	start_bg validate vr-validate
	KEY=$(make_key acme -c 1)
	export KEY
}

teardown_file() {
	vr_teardown
}

create() { # BODY -> answer, then the status on the last line
	curl -s -u "$KEY:" -w '\n%{http_code}' -d "$1" "$VR_URL/api/v2/renders"
}

body() { sed '$d' <<< "$output"; }
code() { tail -n 1 <<< "$output"; }

@test "a valid render is answered QUEUED, with its parametrization results" {
	run create "{\"projectId\":\"demo\",\"templateId\":\"social\",\"parameters\":{\"heading\":\"Hi\",\"image\":\"$ASSET_URL/pic.png\"}}"
	[ "$(code)" = 200 ]
	body | jq -e '.state == "QUEUED" and (.parametrizationResults | type == "array")'
	id=$(body | jq -r .id)
	job_in "$id" queued
}

@test "a render over the organisation's concurrency is answered THROTTLED" {
	run create "{\"projectId\":\"demo\",\"templateId\":\"social\",\"parameters\":{\"heading\":\"Two\",\"image\":\"$ASSET_URL/pic.png\"}}"
	[ "$(code)" = 200 ]
	body | jq -e '.state == "THROTTLED"'
	job_in "$(body | jq -r .id)" throttled
}

@test "an unknown template is answered INVALID with PROJECT_TEMPLATE_DOES_NOT_EXIST" {
	run create '{"projectId":"demo","templateId":"nope"}'
	[ "$(code)" = 200 ]
	body | jq -e '.state == "INVALID" and .error.code == "PROJECT_TEMPLATE_DOES_NOT_EXIST"'
	job_in "$(body | jq -r .id)" invalid
}

@test "a missing mandatory parameter is answered INVALID with its parametrization results" {
	run create "{\"projectId\":\"demo\",\"templateId\":\"social\",\"parameters\":{\"image\":\"$ASSET_URL/pic.png\"}}"
	[ "$(code)" = 200 ]
	body | jq -e '.state == "INVALID" and (.error.message | length > 0)
		and (.parametrizationResults | length > 0)'
}

@test "resubmit goes through vr-validate like a create" {
	run create '{"projectId":"demo","templateId":"nope"}'
	id=$(body | jq -r .id)
	run curl -s -u "$KEY:" -X POST "$VR_URL/api/v2/renders/$id/resubmit"
	jq -e --arg id "$id" '.id != $id and .state == "INVALID"' <<< "$output"
}

@test "cancelling a throttled render moves it to cancelled/" {
	id=$(ls "$VR_SPOOL/throttled" | head -n 1 | sed 's/\.json$//')
	[ -n "$id" ]
	run curl -s -u "$KEY:" -X POST "$VR_URL/api/v2/renders/$id/cancel"
	jq -e '.state == "CANCELLED"' <<< "$output"
	job_in "$id" cancelled
}

@test "50 concurrent creates with a concurrency of 3: 3 QUEUED, 47 THROTTLED, released oldest first" {
	key=$(make_key many -c 3)
	body="{\"projectId\":\"demo\",\"templateId\":\"social\",\"parameters\":{\"heading\":\"N\",\"image\":\"$ASSET_URL/pic.png\"}}"
	seq 1 50 | xargs -P 50 -I{} curl -s -o "$BATS_TEST_TMPDIR/answer.{}" -u "$key:" -d "$body" "$VR_URL/api/v2/renders"
	cat "$BATS_TEST_TMPDIR"/answer.* | jq -s -e 'length == 50 and (map(.state) | group_by(.) | map({(.[0]): length}) | add) == {QUEUED: 3, THROTTLED: 47}'
	mine() { grep -l '"org": *"many"' "$VR_SPOOL/$1"/*.json 2>/dev/null | xargs -r -n1 basename | sed 's/\.json$//' | sort; }
	created=$(cat "$BATS_TEST_TMPDIR"/answer.* | jq -r .id | sort)
	released=
	# renders finish (a sysadmin's mv stands for vr-render here): each time
	# queued/ holds the organisation's 3, finish them and see who comes next
	for round in $(seq 1 17); do
		wait_until 20 eval '[ "$(mine queued | wc -l)" -eq 3 ] || [ "$(mine throttled | wc -l)" -eq 0 ]'
		[ "$(mine queued | wc -l)" -le 3 ]
		batch=$(mine queued)
		# after the first 3 (whichever vr-validate saw first), throttled
		# renders are released oldest first: each batch is older than the next
		[ "$round" -eq 1 ] || [ -z "$released" ] ||
			[[ $(tr ' ' '\n' <<< "$released" | tail -n 1) < $(head -n 1 <<< "$batch") ]]
		[ "$round" -eq 1 ] || released="$released $(echo $batch)"
		for id in $batch; do
			mv "$VR_SPOOL/queued/$id.json" "$VR_SPOOL/done/$id.json"
		done
		first_round=${first_round:-$batch}
	done
	[ -z "$(mine throttled)" ]
	[ "$(echo $released | wc -w)" -eq 47 ]
	[ "$(echo $first_round $released | tr ' ' '\n' | sort)" = "$created" ]
}
