#!/usr/bin/env bats
# vr-upload: jobs written into uploading/ with their outputs in out/<id>/
# (the spool's interface) are delivered to real servers on loopback — an
# S3-compatible store (OpenStack Swift with s3api, checked with an
# independent client, curl --aws-sigv4), vsftpd, OpenSSH's sftp server, a
# Python HTTP receiver — retried, recorded in the job, and moved to done/.

load helper

S3_EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
S3_RECIPE=$VR_ROOT/../shared/recipes/s3-swift

# five_free_ports: a base port whose next four are free too (Swift's).
five_free_ports() {
	local base i
	for _ in $(seq 1 50); do
		base=$(( (RANDOM % 20000) + 30000 ))
		for i in 0 1 2 3 4; do
			port_open $((base + i)) && continue 2
		done
		echo "$base"
		return 0
	done
	return 1
}

# s3_start: the recipe waits for the proxy only; a first request reaching it
# before the account server listens would have "no account" cached (60 s).
s3_start() {
	local i
	"$S3_RECIPE" start "$VR_DIR/s3" "$S3_PORT" > "$VR_DIR/s3.log" 2>&1
	for i in 1 2 3 4; do
		wait_until 20 port_open $((S3_PORT + i))
	done
}
s3_stop() { "$S3_RECIPE" stop "$VR_DIR/s3"; }

# s3 [CURL-ARGS] PATH: a signed request to the store, as its own client.
s3() {
	local path=${*: -1}
	curl -sS --aws-sigv4 "aws:amz:us-east-1:s3" -H "x-amz-content-sha256: $S3_EMPTY_SHA" \
		"${@:1:$#-1}" "http://test%3Atester:testing@127.0.0.1:$S3_PORT$path"
}

setup_file() {
	vr_setup "fetch_allow = 127.0.0.1" \
		"upload_retry_initial = 100ms" \
		"upload_retry_max = 400ms" \
		"upload_attempts = 1000" \
		"upload_part_size = 5M" \
		"upload_multipart_threshold = 8M" \
		"webhook_retry_initial = 200ms" \
		"webhook_retry_max = 1s"
	printf 'acme:%s:2:10:whsec_%s\n' "$(printf k | sha256sum | cut -d' ' -f1)" \
		"$(head -c 24 /dev/urandom | base64)" > "$VR_DIR/etc/keys"
	S3_PORT=$(five_free_ports)
	export S3_PORT
	s3_start
	# the proxy answers before its back ends are all up: retry the first PUT
	wait_until 30 eval "s3 -X PUT -o /dev/null -w '%{http_code}' /videos | grep -q 200"
	cat > "$VR_DIR/etc/credentials/swift" <<-PROFILE
	# the test store
	type = s3
	s3host = 127.0.0.1:$S3_PORT
	secure = no
	aws_access_key_id = test:tester
	aws_secret_access_key = testing
	metadata.origin = vr-test
	org = acme
	PROFILE
	chmod 600 "$VR_DIR/etc/credentials/swift"
	start_bg upload vr-upload -f "$VR_CONF"
}

teardown_file() {
	vr_teardown
	s3_stop
}

new_id() { cat /proc/sys/kernel/random/uuid; }

# output ID NAME BYTES: a render's output file of random bytes.
output() {
	mkdir -p "$VR_SPOOL/out/$1"
	head -c "$3" /dev/urandom > "$VR_SPOOL/out/$1/$2"
}

# put_job ID UPLOADS-JSON [MORE-JSON]: a rendered job arrives in uploading/.
put_job() {
	jq -n --arg id "$1" --argjson uploads "$2" --argjson more "${3:-{\}}" \
		'{id: $id, state: "UPLOADING", org: "acme", api: "fx",
		  outputFile: "video.mp4",
		  uploads: [$uploads[] | {task: ., status: "PENDING"}]} + $more' \
		> "$VR_SPOOL/tmp/$1.json"
	mv "$VR_SPOOL/tmp/$1.json" "$VR_SPOOL/uploading/$1.json"
}

s3_task() { # KEY [MORE-DESTINATION-JSON]
	jq -n --arg key "$1" --argjson more "${2:-{\}}" \
		'{extension: "mp4", destination: ({type: "s3", profile: "swift",
		  bucket: "videos", filename: $key} + $more)}'
}

done_job() { job_in "$1" done; }
upload_field() { jq -r ".uploads[${3:-0}].$2" "$VR_SPOOL/done/$1.json"; }

@test "vr-upload --help prints its usage and exits 0" {
	run vr-upload --help
	[ "$status" -eq 0 ]
	[ "$output" = "usage: vr-upload [-f file] [--once]" ]
	run vr-upload --bogus
	[ "$status" -eq 64 ]
}

@test "an mp4 reaches S3 with its bytes, Content-Type, Cache-Control and metadata, and the job is DONE with the object URL" {
	id=$(new_id)
	output "$id" video.mp4 300000
	put_job "$id" "[$(s3_task "a/$id.mp4" '{"cachecontrol": "max-age=600",
		"contentdisposition": "attachment", "metadata": {"campaign": "spring"}}')]"
	wait_until 20 done_job "$id"
	[ "$(upload_field "$id" status)" = SUCCESS ]
	[ "$(upload_field "$id" url)" = "http://127.0.0.1:$S3_PORT/videos/a/$id.mp4" ]
	[ "$(upload_field "$id" attempts)" = 1 ]
	[ "$(jq -r .state "$VR_SPOOL/done/$id.json")" = DONE ]
	run s3 -D "$BATS_TEST_TMPDIR/h" -o "$BATS_TEST_TMPDIR/got" "/videos/a/$id.mp4"
	[ "$status" -eq 0 ]
	cmp "$BATS_TEST_TMPDIR/got" "$VR_SPOOL/out/$id/video.mp4"
	grep -qi '^content-type: video/mp4' "$BATS_TEST_TMPDIR/h"
	grep -qi '^cache-control: max-age=600' "$BATS_TEST_TMPDIR/h"
	grep -qi '^content-disposition: attachment' "$BATS_TEST_TMPDIR/h"
	grep -qi '^x-amz-meta-campaign: spring' "$BATS_TEST_TMPDIR/h"
	grep -qi '^x-amz-meta-origin: vr-test' "$BATS_TEST_TMPDIR/h"
	[ "$(stat -c %a "$VR_SPOOL/done/$id.json")" = 600 ]
}

@test "a wrong secret ends in FAILURE carrying the server's SignatureDoesNotMatch, and the render stays DONE" {
	id=$(new_id)
	output "$id" video.mp4 1000
	put_job "$id" "[$(s3_task "bad/$id.mp4" '{"profile": null,
		"s3host": "127.0.0.1:'"$S3_PORT"'", "secure": false,
		"aws_access_key_id": "test:tester", "aws_secret_access_key": "not-the-secret"}')]"
	wait_until 20 done_job "$id"
	[ "$(upload_field "$id" status)" = FAILURE ]
	[ "$(upload_field "$id" attempts)" = 1 ]
	upload_field "$id" error | grep -q '^SignatureDoesNotMatch: '
	[ "$(jq -r .state "$VR_SPOOL/done/$id.json")" = DONE ]
	run grep -c 'not-the-secret' "$VR_DIR/upload.log"
	[ "$output" = 0 ]
}

@test "a 200 MB output goes up as a multipart upload and arrives whole" {
	id=$(new_id)
	output "$id" video.mp4 $((200 * 1024 * 1024))
	put_job "$id" "[$(s3_task "big/$id.mp4")]"
	wait_until 120 done_job "$id"
	[ "$(upload_field "$id" status)" = SUCCESS ]
	[ "$(upload_field "$id" multipart)" = null ]
	run s3 -I "/videos/big/$id.mp4"
	echo "$output" | grep -qi '^etag: "[0-9a-f]*-40"'
	want=$(sha256sum < "$VR_SPOOL/out/$id/video.mp4")
	got=$(s3 "/videos/big/$id.mp4" | sha256sum)
	[ "$got" = "$want" ]
	rm -r "$VR_SPOOL/out/$id"
}

@test "with the S3 server down the upload is retried, and succeeds once the server is back" {
	s3_stop
	id=$(new_id)
	output "$id" video.mp4 200000
	put_job "$id" "[$(s3_task "retry/$id.mp4")]"
	wait_until 20 eval "jq -e '.uploads[0].status == \"RETRYING\" and .uploads[0].attempts >= 2' \
		'$VR_SPOOL/uploading/$id.json' > /dev/null 2>&1"
	jq -r '.uploads[0].error' "$VR_SPOOL/uploading/$id.json" | grep -qi 'connect'
	s3_start
	wait_until 30 done_job "$id"
	[ "$(upload_field "$id" status)" = SUCCESS ]
	[ "$(upload_field "$id" attempts)" -ge 3 ]
	run s3 -o "$BATS_TEST_TMPDIR/got" "/videos/retry/$id.mp4"
	cmp "$BATS_TEST_TMPDIR/got" "$VR_SPOOL/out/$id/video.mp4"
}

@test "killed with SIGKILL mid multipart upload, vr-upload restarted completes it: one object, the job in done/" {
	id=$(new_id)
	output "$id" video.mp4 $((100 * 1024 * 1024))
	put_job "$id" "[$(s3_task "kill/$id.mp4")]"
	wait_until 60 eval "jq -e '[.uploads[0].multipart.parts[]? | strings] | length >= 1' \
		'$VR_SPOOL/uploading/$id.json' > /dev/null 2>&1"
	stop_bg upload KILL
	job_in "$id" uploading
	start_bg upload vr-upload -f "$VR_CONF"
	wait_until 60 done_job "$id"
	grep -q "$id: upload 1 resumes a multipart upload" "$VR_DIR/upload.log"
	[ "$(upload_field "$id" status)" = SUCCESS ]
	# libcurl 7.88 signs the query as given: in canonical form already
	run s3 "/videos?list-type=2&prefix=kill%2F"
	[ "$(echo "$output" | grep -o '<Key>[^<]*</Key>' | wc -l)" -eq 1 ]
	run s3 "/videos?prefix=kill%2F&uploads="
	[ "$(echo "$output" | grep -c '<UploadId>')" -eq 0 ]
	want=$(sha256sum < "$VR_SPOOL/out/$id/video.mp4")
	got=$(s3 "/videos/kill/$id.mp4" | sha256sum)
	[ "$got" = "$want" ]
	rm -r "$VR_SPOOL/out/$id"
}

@test "two tasks, mp4 to S3 and webm by HTTP PUT, are both delivered and the webhook then lists both" {
	start_receiver
	start_bg notify vr-notify -f "$VR_CONF"
	id=$(new_id)
	output "$id" video.mp4 50000
	output "$id" video.webm 40000
	http_task=$(jq -n --arg url "$RECEIVER_URL/put/$id.webm" '{extension: "webm",
		destination: {type: "http", url: $url, method: "PUT",
		headers: {"Authorization": "Bearer hush-hush", "X-Tag": "t1"}}}')
	s3_task=$(s3_task "two/$id.mp4" "{\"x\": 1}" | jq --arg cb "$RECEIVER_URL/ok/$id" '.onsuccess = $cb')
	put_job "$id" "[$s3_task, $http_task]" \
		"{\"outputs\": {\"mp4\": \"video.mp4\", \"webm\": \"video.webm\"},
		  \"webhook\": {\"url\": \"$RECEIVER_URL/hook/$id\"}}"
	wait_until 20 done_job "$id"
	[ "$(upload_field "$id" status 0)" = SUCCESS ]
	[ "$(upload_field "$id" status 1)" = SUCCESS ]
	[ "$(upload_field "$id" url 1)" = "$RECEIVER_URL/put/$id.webm" ]
	put=$(jq -c --arg p "/put/$id.webm" 'select(.path == $p)' "$RECEIVER_LOG")
	[ "$(echo "$put" | jq -r .method)" = PUT ]
	[ "$(echo "$put" | jq -r '.headers["content-type"]')" = video/webm ]
	[ "$(echo "$put" | jq -r '.headers["x-tag"]')" = t1 ]
	echo "$put" | jq -r .body_b64 | base64 -d | cmp - "$VR_SPOOL/out/$id/video.webm"
	run s3 -o "$BATS_TEST_TMPDIR/got" "/videos/two/$id.mp4"
	cmp "$BATS_TEST_TMPDIR/got" "$VR_SPOOL/out/$id/video.mp4"
	wait_until 20 eval "grep -q '\"/hook/$id\"' '$RECEIVER_LOG'"
	hook=$(jq -c --arg p "/hook/$id" 'select(.path == $p) | .body | fromjson' "$RECEIVER_LOG")
	echo "$hook" | jq -e '.state == "DONE" and (.uploads | length) == 2
		and ([.uploads[].status] == ["SUCCESS", "SUCCESS"])' > /dev/null
	# the inline secret reached the receiving server, and nothing else
	[[ "$hook" != *hush-hush* ]]
	run grep -c hush-hush "$VR_SPOOL/done/$id.json" "$VR_DIR/upload.log"
	[[ "$output" != *:[1-9]* ]]
	# the hook came after both uploads had ended
	t_put=$(echo "$put" | jq .t)
	t_hook=$(jq --arg p "/hook/$id" 'select(.path == $p) | .t' "$RECEIVER_LOG")
	python3 -c "import sys; sys.exit(0 if $t_hook >= $t_put else 1)"
	# the S3 task's onsuccess call (FX) carries its outcome, and ?msg=
	wait_until 20 eval "grep -q '\"/ok/$id?msg=' '$RECEIVER_LOG'"
	jq -c --arg p "/ok/$id?msg=" 'select(.path | startswith($p)) | .body | fromjson' "$RECEIVER_LOG" |
		jq -e --arg id "$id" '.renderId == $id and .status == "SUCCESS" and .extension == "mp4"
		and (.url | endswith("/videos/two/" + $id + ".mp4"))' > /dev/null
	stop_bg notify
	stop_bg receiver
}

@test "FTP to vsftpd delivers the same bytes, and the password appears in no log" {
	port=$(free_port)
	mkdir -p "$VR_DIR/ftp/in"
	cat > "$VR_DIR/vsftpd.conf" <<-CONF
	listen=YES
	listen_address=127.0.0.1
	listen_port=$port
	background=NO
	run_as_launching_user=YES
	anonymous_enable=YES
	local_enable=NO
	write_enable=YES
	anon_upload_enable=YES
	anon_mkdir_write_enable=YES
	anon_world_readable_only=NO
	anon_root=$VR_DIR/ftp
	pasv_enable=YES
	pasv_address=127.0.0.1
	seccomp_sandbox=NO
	xferlog_enable=NO
	CONF
	start_bg vsftpd /usr/sbin/vsftpd "$VR_DIR/vsftpd.conf"
	wait_until 10 port_open "$port"
	id=$(new_id)
	output "$id" video.mp4 150000
	task=$(jq -n --arg port "$port" '{extension: "mp4", destination: {type: "ftp",
		host: "127.0.0.1", port: ($port | tonumber), path: "/in/deep/",
		username: "anonymous", password: "ftp-pass-7s3cr3t"}}')
	put_job "$id" "[$task]"
	wait_until 20 done_job "$id"
	[ "$(upload_field "$id" status)" = SUCCESS ]
	[ "$(upload_field "$id" url)" = "ftp://127.0.0.1:$port/in/deep/$id.mp4" ]
	cmp "$VR_DIR/ftp/in/deep/$id.mp4" "$VR_SPOOL/out/$id/video.mp4"
	run grep -rl 'ftp-pass-7s3cr3t' "$VR_DIR"/*.log
	[ "$status" -ne 0 ]
	stop_bg vsftpd
}

@test "SFTP to OpenSSH's sftp server, key and host fingerprint from a profile, delivers the same bytes" {
	port=$(free_port)
	d=$VR_DIR/ssh
	mkdir -p "$d/up"
	ssh-keygen -q -t ed25519 -N '' -f "$d/hostkey"
	# libssh2 1.10 signs with ssh-rsa: a PEM RSA key, accepted below
	ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -f "$d/key"
	cp "$d/key.pub" "$d/authorized_keys"
	[ "$(id -u)" -ne 0 ] || mkdir -p /run/sshd
	cat > "$d/sshd_config" <<-CONF
	Port $port
	ListenAddress 127.0.0.1
	HostKey $d/hostkey
	PidFile $d/sshd.pid
	AuthorizedKeysFile $d/authorized_keys
	StrictModes no
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	PubkeyAuthentication yes
	PubkeyAcceptedAlgorithms +ssh-rsa
	PermitRootLogin prohibit-password
	UsePAM no
	Subsystem sftp internal-sftp
	CONF
	start_bg sshd /usr/sbin/sshd -D -e -f "$d/sshd_config"
	wait_until 10 port_open "$port"
	fp=$(ssh-keygen -lf "$d/hostkey.pub" -E sha256 | awk '{print $2}')
	cat > "$VR_DIR/etc/credentials/sftp-test" <<-PROFILE
	type = sftp
	host = 127.0.0.1
	port = $port
	username = $(id -un)
	keyfile = $d/key
	pubkeyfile = $d/key.pub
	fingerprint = ${fp#SHA256:}
	PROFILE
	id=$(new_id)
	output "$id" video.mp4 120000
	put_job "$id" "[{\"extension\": \"mp4\", \"destination\": {\"type\": \"sftp\",
		\"profile\": \"sftp-test\", \"path\": \"$d/up/x/$id.mp4\"}}]"
	wait_until 20 done_job "$id"
	[ "$(upload_field "$id" status)" = SUCCESS ]
	cmp "$d/up/x/$id.mp4" "$VR_SPOOL/out/$id/video.mp4"
	# a host key that is not the one expected is refused, without retrying
	sed -i "s|^fingerprint = .*|fingerprint = AAAA${fp#SHA256:}|" "$VR_DIR/etc/credentials/sftp-test"
	id2=$(new_id)
	output "$id2" video.mp4 1000
	put_job "$id2" "[{\"extension\": \"mp4\", \"destination\": {\"type\": \"sftp\",
		\"profile\": \"sftp-test\", \"path\": \"$d/up/x/$id2.mp4\"}}]"
	wait_until 20 done_job "$id2"
	[ "$(upload_field "$id2" status)" = FAILURE ]
	[ ! -e "$d/up/x/$id2.mp4" ]
	stop_bg sshd
}

@test "a destination this server cannot reach, or an output that is missing, ends in FAILURE saying why" {
	id=$(new_id)
	output "$id" video.mp4 1000
	put_job "$id" '[{"extension": "mp4", "destination": {"type": "youtube"}},
		{"extension": "gif", "destination": {"type": "http", "url": "http://127.0.0.1:9/x"}}]'
	wait_until 20 done_job "$id"
	[ "$(upload_field "$id" status 0)" = FAILURE ]
	upload_field "$id" error 0 | grep -q 'destination type not supported by this server: youtube'
	[ "$(upload_field "$id" status 1)" = FAILURE ]
	upload_field "$id" error 1 | grep -q 'no output with extension gif'
}

@test "a destination address the guard refuses ends in FAILURE without a retry" {
	id=$(new_id)
	output "$id" video.mp4 1000
	put_job "$id" '[{"extension": "mp4", "destination": {"type": "http", "url": "http://127.0.0.2:9/x"}}]'
	wait_until 20 done_job "$id"
	[ "$(upload_field "$id" status)" = FAILURE ]
	[ "$(upload_field "$id" attempts)" = 1 ]
	upload_field "$id" error | grep -q 'address guard'
}

@test "redaction hides every secret of a task and keeps the rest" {
	run "$VR_ROOT/t/uploadctl" redact <<-'JSON'
	{"extension": "mp4", "destination": {"type": "s3", "bucket": "b",
	 "aws_access_key_id": "AKIA1", "aws_secret_access_key": "s3-hush",
	 "password": "pw-hush", "passphrase": "pp-hush",
	 "url": "https://user:url-hush@h.example/p?X-Amz-Signature=sig-hush&a=1",
	 "headers": {"Authorization": "Bearer hdr-hush", "X-Api-Key": "key-hush", "X-Tag": "t1"}}}
	JSON
	[ "$status" -eq 0 ]
	[[ "$output" != *hush* ]]
	echo "$output" | jq -e '.destination | .aws_access_key_id == "AKIA1" and .bucket == "b"
		and .aws_secret_access_key == "***" and .password == "***" and .passphrase == "***"
		and .headers["X-Tag"] == "t1" and .headers.Authorization == "***"
		and .url == "https://user:***@h.example/p?X-Amz-Signature=***&a=1"' > /dev/null
	run "$VR_ROOT/t/uploadctl" redact-job <<-'JSON'
	{"id": "x", "uploads": [{"task": {"destination": {"type": "ftp", "password": "ftp-hush"}}, "status": "SUCCESS"}]}
	JSON
	[ "$status" -eq 0 ]
	[[ "$output" != *hush* ]]
	echo "$output" | jq -e '.uploads[0].status == "SUCCESS"' > /dev/null
}

@test "a task is checked: types this server cannot reach, profile-only fields and other organisations' profiles are refused" {
	run "$VR_ROOT/t/uploadctl" check acme <<< '{"extension": "mp4", "destination": {"type": "youtube"}}'
	[ "$status" -eq 1 ]
	[ "$output" = "destination type not supported by this server: youtube" ]
	run "$VR_ROOT/t/uploadctl" check acme <<< '{"destination": {"type": "sftp", "host": "h", "keyfile": "/etc/shadow"}}'
	[ "$status" -eq 1 ]
	[ "$output" = "destination.keyfile may only be set in a credential profile" ]
	run "$VR_ROOT/t/uploadctl" check acme <<< '{"destination": {"type": "s3", "profile": "swift", "bucket": "b"}}'
	[ "$status" -eq 0 ]
	run "$VR_ROOT/t/uploadctl" check other <<< '{"destination": {"type": "s3", "profile": "swift", "bucket": "b"}}'
	[ "$status" -eq 1 ]
	[ "$output" = "credential profile swift is not open to this organisation" ]
	run "$VR_ROOT/t/uploadctl" check acme <<< '{"destination": {"type": "s3", "profile": "../keys"}}'
	[ "$status" -eq 1 ]
	run "$VR_ROOT/t/uploadctl" check acme <<< '{"destination": {"type": "http", "url": "http://h/x", "method": "DELETE"}}'
	[ "$status" -eq 1 ]
}

@test "integrationDelivery is composed from the uploads" {
	run "$VR_ROOT/t/uploadctl" delivery <<-'JSON'
	{"uploads": [{"task": {"extension": "mp4", "destination": {"type": "s3"}}, "status": "SUCCESS", "url": "u", "attempts": 1},
	  {"task": {"extension": "webm", "destination": {"type": "http"}}, "status": "FAILURE", "error": "HTTP 403: no", "attempts": 2}]}
	JSON
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.status == "FAILURE" and (.deliveries | length) == 2
		and .deliveries[0] == {type: "s3", extension: "mp4", status: "SUCCESS", url: "u", error: null, attempts: 1}
		and .deliveries[1].error == "HTTP 403: no"' > /dev/null
}

# private_spool CONF-LINES...: a spool and vr.conf of the test's own
# (PRIV_SPOOL, PRIV_CONF) for vr-upload --once runs under other settings,
# out of reach of the suite's daemon.
private_spool() {
	local d
	PRIV_SPOOL=$BATS_TEST_TMPDIR/spool
	PRIV_CONF=$BATS_TEST_TMPDIR/vr.conf
	for d in tmp pending invalid throttled queued in-progress uploading done \
		failed cancelled outbox sent out assets lease; do
		mkdir -p "$PRIV_SPOOL/$d"
	done
	cp "$VR_DIR/etc/secret" "$BATS_TEST_TMPDIR/secret"
	printf '%s\n' "spool = spool" "secret = secret" "fetch_allow = 127.0.0.1" \
		"upload_attempts = 1" "upload_part_size = 5M" \
		"upload_multipart_threshold = 8M" "$@" > "$PRIV_CONF"
}

# upload_once ID BYTES TASK-JSON: one output, one job in the private spool,
# delivered by vr-upload --once; status and output of that run.
upload_once() {
	VR_SPOOL=$PRIV_SPOOL output "$1" video.mp4 "$2"
	VR_SPOOL=$PRIV_SPOOL put_job "$1" "[$3]"
	run vr-upload -f "$PRIV_CONF" --once
	echo "$output"
	[ "$status" -eq 0 ]
	jq -r '.uploads[0] | .status + " " + (.error // "")' "$PRIV_SPOOL/done/$1.json"
}

# inline_s3 HOSTPORT KEY: an s3 task with inline credentials, plain http.
inline_s3() {
	jq -n --arg host "$1" --arg key "$2" '{extension: "mp4", destination:
		{type: "s3", s3host: $host, secure: false, bucket: "videos",
		 filename: $key, aws_access_key_id: "test:tester",
		 aws_secret_access_key: "testing"}}'
}

@test "with upload_s3_payload = unsigned, a single PUT and a multipart upload reach Swift whole" {
	private_spool "upload_s3_payload = unsigned"
	for bytes in 300000 $((12 * 1024 * 1024)); do
		id=$(new_id)
		upload_once "$id" "$bytes" "$(inline_s3 "127.0.0.1:$S3_PORT" "unsigned/$id.mp4")"
		[ "$(jq -r '.uploads[0].status' "$PRIV_SPOOL/done/$id.json")" = SUCCESS ]
		s3 -o "$BATS_TEST_TMPDIR/got" "/videos/unsigned/$id.mp4"
		cmp "$BATS_TEST_TMPDIR/got" "$PRIV_SPOOL/out/$id/video.mp4"
	done
	# the second went up in parts (Swift's ETag of a multipart object)
	run s3 -I "/videos/unsigned/$id.mp4"
	echo "$output" | grep -qi '^etag: "[0-9a-f]*-3"'
}

# sent_sha PATH-PREFIX: the x-amz-content-sha256 of each request the
# receiver got on paths starting with PATH-PREFIX, "METHOD QUERY VALUE
# SIGNED" (SIGNED: true when the signature's SignedHeaders list it).
sent_sha() {
	jq -r --arg p "$1" 'select(.path | startswith($p)) | .headers as $h
		| [.method, (.path | split("?")[1] // ""), $h["x-amz-content-sha256"],
		   ($h.authorization | test("SignedHeaders=[^,]*x-amz-content-sha256")
		   | tostring)] | join(" ")' "$RECEIVER_LOG"
}

@test "x-amz-content-sha256 is the file's SHA-256 with auto over http and with signed, UNSIGNED-PAYLOAD with unsigned, one PUT or in parts" {
	start_receiver
	curl -sS -d '{"path": "/videos/", "s3": true}' "$RECEIVER_URL/_control"
	for mode in auto signed unsigned; do
		private_spool "upload_s3_payload = $mode"
		id=$(new_id)
		upload_once "$id" 200000 "$(inline_s3 "127.0.0.1:$RECEIVER_PORT" "$mode/$id.mp4")"
		[ "$(jq -r '.uploads[0].status' "$PRIV_SPOOL/done/$id.json")" = SUCCESS ]
		file=$PRIV_SPOOL/out/$id/video.mp4
		sum=$(sha256sum < "$file" | cut -d' ' -f1)
		[ "$mode" != unsigned ] || sum=UNSIGNED-PAYLOAD
		run sent_sha "/videos/$mode/$id.mp4"
		echo "$output"
		[ "$output" = "PUT  $sum true" ]
		# in parts: 5 MB, 5 MB and 1 MB, each with its own hash
		id=$(new_id)
		upload_once "$id" $((11 * 1024 * 1024)) \
			"$(inline_s3 "127.0.0.1:$RECEIVER_PORT" "$mode/$id.mp4")"
		[ "$(jq -r '.uploads[0].status' "$PRIV_SPOOL/done/$id.json")" = SUCCESS ]
		file=$PRIV_SPOOL/out/$id/video.mp4
		want=()
		for part in 1 2 3; do
			sum=$(tail -c +$(( (part - 1) * 5242880 + 1 )) "$file" | head -c 5242880 |
				sha256sum | cut -d' ' -f1)
			[ "$mode" != unsigned ] || sum=UNSIGNED-PAYLOAD
			want+=("PUT partNumber=$part&uploadId=up-1 $sum true")
		done
		run sent_sha "/videos/$mode/$id.mp4"
		echo "$output"
		echo "$output" | grep -q '^POST uploads= e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 true$'
		[ "$(echo "$output" | grep '^PUT ' | sort)" = "$(printf '%s\n' "${want[@]}")" ]
		echo "$output" | grep -q '^POST uploadId=up-1 [0-9a-f]\{64\} true$'
	done
	stop_bg receiver
}

@test "a bad upload_s3_payload stops vr-upload with one line naming the file and line" {
	private_spool "upload_s3_payload = sometimes"
	run vr-upload -f "$PRIV_CONF" --once
	[ "$status" -eq 78 ]
	line=$(grep -n '^upload_s3_payload' "$PRIV_CONF" | cut -d: -f1)
	[ "$output" = "vr-upload: $PRIV_CONF:$line: upload_s3_payload needs one of: auto signed unsigned, not 'sometimes'" ]
}
