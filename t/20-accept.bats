#!/usr/bin/env bats
# vr-accept's HTTP side: a connection on stdin/stdout under a real xinetd,
# keep-alive, API-key authentication, Plainly's error answers, and every
# limit on what a client may send (header and body size, JSON depth, idle
# and total time), each refused cleanly with the spool untouched.

load helper

setup_file() {
	vr_setup "idle_timeout = 1s" "request_timeout = 3s" \
		"max_keepalive_requests = 3" "validate_wait = 100ms"
	start_xinetd
	KEY=$(make_key acme)
	export KEY
}

teardown_file() {
	vr_teardown
}

# spool_empty: no job and nothing half-written anywhere in the spool.
spool_empty() {
	[ -z "$(find "$VR_SPOOL" -type f)" ]
}

# raw FILE: feed a request file to vr-accept on stdin, as inetd would.
raw() {
	vr-accept < "$1"
}

@test "vr-accept --help prints its usage and a bad option is a usage error" {
	run vr-accept --help
	[ "$status" -eq 0 ]
	[ "$output" = "usage: vr-accept [-f file]" ]
	run vr-accept -x
	[ "$status" -eq 64 ]
}

@test "vr-accept answers requests from stdin in order and exits when it ends" {
	printf 'GET /api/v2/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n' "$KEY" > "$BATS_TEST_TMPDIR/req"
	run raw "$BATS_TEST_TMPDIR/req"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "HTTP/1.1 200 OK"* ]]
	[[ $output == *'"organizationId":"acme"'* ]]
	[[ $output == *"HTTP/1.1 404 Not Found"* ]]
}

@test "the API key is accepted as the Basic user name and as a Bearer token" {
	run curl -sf -u "$KEY:" "$VR_URL/api/v2/me"
	[ "$status" -eq 0 ]
	[ "$(jq -r .organizationName <<< "$output")" = acme ]
	run curl -sf -H "Authorization: Bearer $KEY" "$VR_URL/api/v2/me"
	[ "$status" -eq 0 ]
	[ "$(jq -r .organizationId <<< "$output")" = acme ]
}

@test "a missing or unknown key is 401 with Plainly's ApiError and error code header" {
	run curl -s -D "$BATS_TEST_TMPDIR/h" "$VR_URL/api/v2/renders"
	grep -qi '^X-PlainlyErrorCode: UNAUTHORIZED' "$BATS_TEST_TMPDIR/h"
	grep -q '^HTTP/1.1 401' "$BATS_TEST_TMPDIR/h"
	jq -e '.status == 401 and .error == "Unauthorized" and .path == "/api/v2/renders"
		and (.message | startswith("[UNAUTHORIZED] ")) and (.timestamp | test("Z$"))' <<< "$output"
	run curl -s -o /dev/null -w '%{http_code}' -u "vr_0000:" "$VR_URL/api/v2/me"
	[ "$output" = 401 ]
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic !!!" "$VR_URL/api/v2/me"
	[ "$output" = 401 ]
}

@test "a connection is kept alive across requests" {
	run curl -sv -u "$KEY:" "$VR_URL/api/v2/me" "$VR_URL/api/v2/me"
	[ "$status" -eq 0 ]
	[[ $output == *"Re-using existing connection"* ]] || [[ $output == *"Reusing existing connection"* ]]
}

@test "the last request allowed on a connection is answered with Connection: close" {
	printf 'GET /api/v2/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n' "$KEY" "$KEY" "$KEY" "$KEY" > "$BATS_TEST_TMPDIR/req"
	run raw "$BATS_TEST_TMPDIR/req"
	[ "$(grep -o 'HTTP/1.1 200' <<< "$output" | wc -l)" -eq 3 ]
	[ "$(grep -c '^Connection: close' <<< "$output")" -eq 1 ]
	[ "$(grep -c '^Connection: keep-alive' <<< "$output")" -eq 2 ]
}

@test "an unknown path is 404 NOT_FOUND and a wrong method 405, both as ApiError" {
	run curl -s -u "$KEY:" "$VR_URL/api/v2/nothing"
	jq -e '.status == 404 and (.message | startswith("[NOT_FOUND]"))' <<< "$output"
	run curl -s -X PUT -u "$KEY:" "$VR_URL/api/v2/me"
	jq -e '.status == 405' <<< "$output"
}

@test "a malformed request line is 400 REQUEST_MALFORMED and the connection closes" {
	printf 'GARBAGE\r\n\r\n' > "$BATS_TEST_TMPDIR/req"
	run raw "$BATS_TEST_TMPDIR/req"
	[[ ${lines[0]} == "HTTP/1.1 400 Bad Request"* ]]
	[[ $output == *"X-PlainlyErrorCode: REQUEST_MALFORMED"* ]]
	[[ $output == *"Connection: close"* ]]
	spool_empty
}

@test "a truncated body is 400 REQUEST_INCOMPLETE and nothing is written" {
	printf 'POST /api/v2/renders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{"projectId":"de' "$KEY" > "$BATS_TEST_TMPDIR/req"
	run raw "$BATS_TEST_TMPDIR/req"
	[[ ${lines[0]} == "HTTP/1.1 400 Bad Request"* ]]
	[[ $output == *'"message":"[REQUEST_INCOMPLETE]'* ]]
	spool_empty
}

@test "a truncated body over TCP (client half-closes) is 400 REQUEST_INCOMPLETE" {
	run python3 - "$VR_PORT" "$KEY" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /api/v2/renders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
          + sys.argv[2].encode() + b"\r\nContent-Length: 50\r\n\r\n{\"proj")
s.shutdown(socket.SHUT_WR)
print(s.makefile("rb").read().decode())
PY
	[[ ${lines[0]} == "HTTP/1.1 400 Bad Request"* ]]
	[[ $output == *"REQUEST_INCOMPLETE"* ]]
	spool_empty
}

@test "a 100 MB body is refused with 413 REQUEST_BODY_TOO_LARGE before it is read" {
	head -c 100M /dev/zero > "$BATS_TEST_TMPDIR/big"
	run curl -s -u "$KEY:" -H 'Content-Type: application/json' \
		--data-binary @"$BATS_TEST_TMPDIR/big" -w '\n%{http_code}' "$VR_URL/api/v2/renders"
	rm -f "$BATS_TEST_TMPDIR/big"
	[ "${lines[-1]}" = 413 ]
	[[ $output == *"[REQUEST_BODY_TOO_LARGE]"* ]]
	spool_empty
}

@test "a chunked body that grows past the limit is refused with 413" {
	{
		printf 'POST /api/v2/renders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n' "$KEY"
		for i in $(seq 1 20); do
			printf '10000\r\n'; head -c 65536 /dev/zero | tr '\0' ' '; printf '\r\n'
		done
		printf '0\r\n\r\n'
	} > "$BATS_TEST_TMPDIR/req"
	run raw "$BATS_TEST_TMPDIR/req"
	[[ ${lines[0]} == "HTTP/1.1 413 Payload Too Large"* ]]
	spool_empty
}

@test "a header flood is refused with 431 REQUEST_HEADER_TOO_LARGE" {
	{
		printf 'GET /api/v2/me HTTP/1.1\r\nHost: x\r\n'
		for i in $(seq 1 400); do printf 'X-Flood-%d: %0100d\r\n' "$i" 0; done
		printf '\r\n'
	} > "$BATS_TEST_TMPDIR/req"
	run raw "$BATS_TEST_TMPDIR/req"
	[[ ${lines[0]} == "HTTP/1.1 431 "* ]]
	[[ $output == *"X-PlainlyErrorCode: REQUEST_HEADER_TOO_LARGE"* ]]
	run curl -s -w '\n%{http_code}' $(for i in $(seq 1 100); do printf -- "-H X-Many-%d:%0200d " "$i" 0; done) "$VR_URL/api/v2/me"
	[ "${lines[-1]}" = 431 ]
	spool_empty
}

@test "JSON nested deeper than max_json_depth is 400 REQUEST_MALFORMED_JSON" {
	body=$(printf '{"projectId":"demo","parameters":'; for i in $(seq 40); do printf '{"a":'; done; printf 1; for i in $(seq 40); do printf '}'; done; printf '}')
	run curl -s -u "$KEY:" --data-binary "$body" "$VR_URL/api/v2/renders"
	jq -e '.status == 400 and (.message | test("REQUEST_MALFORMED_JSON.*deeper"))' <<< "$output"
	spool_empty
}

@test "a client that stops sending mid-request gets 408 after idle_timeout" {
	run python3 - "$VR_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t = time.monotonic()
s.sendall(b"GET /api/v2/me HTTP/1.1\r\nHost: x\r\n")
data = s.makefile("rb").read().decode()
print(data)
print("after %.1f" % (time.monotonic() - t))
PY
	[[ ${lines[0]} == "HTTP/1.1 408 Request Timeout"* ]]
	[[ $output == *"REQUEST_TIMEOUT"* ]]
	secs=$(sed -n 's/^after //p' <<< "$output")
	python3 -c "import sys; sys.exit(not 0.8 <= $secs < 3)"
}

@test "a slow client trickling bytes is cut off by request_timeout (slowloris)" {
	run python3 - "$VR_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
t = time.monotonic()
req = b"GET /api/v2/me HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200
try:
    for b in req:
        s.send(bytes([b]))
        time.sleep(0.3)   # the load: one byte at a time, under idle_timeout
except OSError:
    pass
data = s.makefile("rb").read().decode()
print(data)
print("after %.1f" % (time.monotonic() - t))
PY
	[[ ${lines[0]} == "HTTP/1.1 408 Request Timeout"* ]]
	secs=$(sed -n 's/^after //p' <<< "$output")
	python3 -c "import sys; sys.exit(not 2.5 <= $secs < 6)"
	spool_empty
}

@test "an idle keep-alive connection is closed silently after idle_timeout" {
	run python3 - "$VR_PORT" "$KEY" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
s.sendall(b"GET /api/v2/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + sys.argv[2].encode() + b"\r\n\r\n")
print(s.makefile("rb").read().decode())
PY
	[[ ${lines[0]} == "HTTP/1.1 200 OK"* ]]
	[ "$(grep -c '^HTTP/1.1' <<< "$output")" -eq 1 ]
}

@test "a request with Expect: 100-continue gets 100 Continue, then its answer" {
	printf 'POST /api/v2/renders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}' "$KEY" > "$BATS_TEST_TMPDIR/req"
	run raw "$BATS_TEST_TMPDIR/req"
	[[ ${lines[0]} == "HTTP/1.1 100 Continue"* ]]
	[[ $output == *"HTTP/1.1 400 Bad Request"* ]]
	[[ $output == *"projectId is required"* ]]
	spool_empty
}

@test "vr-keygen prints a key once and keeps only its hash, one secret per organisation" {
	run vr-keygen --help
	[ "$status" -eq 0 ]
	[ "$output" = "usage: vr-keygen [-f file] [-c concurrency] [-q queue_limit] org" ]
	a=$(vr-keygen -c 4 -q 9 keyco)
	b=$(vr-keygen keyco)
	[[ $a == vr_* ]] && [ "$a" != "$b" ]
	! grep -q "$a" "$VR_DIR/etc/keys"
	grep -q "^keyco:$(printf '%s' "$a" | sha256sum | cut -d' ' -f1):4:9:whsec_" "$VR_DIR/etc/keys"
	[ "$(grep '^keyco:' "$VR_DIR/etc/keys" | cut -d: -f5 | sort -u | wc -l)" -eq 1 ]
	[ "$(stat -c %a "$VR_DIR/etc/keys")" = 600 ]
	run curl -s -u "$b:" "$VR_URL/api/v2/me"
	jq -e '.organizationId == "keyco" and .concurrency == 2 and .queueLimit == 1000' <<< "$output"
	run vr-keygen ../evil
	[ "$status" -eq 64 ]
	run vr-keygen -c 0 x
	[ "$status" -eq 64 ]
}

@test "vr-accept makes the spool directories a request needs when they are missing" {
	conf=$BATS_TEST_TMPDIR/vr.conf
	sed "s|^spool = .*|spool = $BATS_TEST_TMPDIR/fresh|" "$VR_CONF" > "$conf"
	printf 'validate_wait = 0\n' >> "$conf"
	ln -s "$VR_DIR/etc/templates" "$VR_DIR/etc/keys" "$VR_DIR/etc/secret" "$BATS_TEST_TMPDIR/"
	mkdir "$BATS_TEST_TMPDIR/fresh"
	body='{"projectId":"demo","templateId":"social","parameters":{"heading":"Hi","image":"https://example.com/a.png"}}'
	printf 'POST /api/v2/renders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
		"$KEY" "${#body}" "$body" > "$BATS_TEST_TMPDIR/req"
	run vr-accept -f "$conf" < "$BATS_TEST_TMPDIR/req"
	[[ ${lines[0]} == "HTTP/1.1 20"* ]]
	id=$(printf '%s\n' "$output" | tail -n 1 | jq -r .id)
	[ -f "$BATS_TEST_TMPDIR/fresh/pending/$id.json" ]
	[ "$(stat -c %a "$BATS_TEST_TMPDIR/fresh/pending")" = 700 ]
}
