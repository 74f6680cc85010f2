#!/bin/sh
# t/bench/upload.sh — one 200 MB output delivered to a local S3 server
# (OpenStack Swift with s3api, ../shared/recipes/s3-swift) by vr-upload,
# against curl --aws-sigv4 -T of the same file, in the same run, taking
# turns, ROUNDS times (default 4) after one untimed upload that wakes the
# store up; the medians are compared.
#   curl, hash given       curl --aws-sigv4 -T FILE with x-amz-content-sha256
#                          computed beforehand (the transfer alone: curl does
#                          not compute it)
#   curl, UNSIGNED-PAYLOAD the same with x-amz-content-sha256: UNSIGNED-PAYLOAD
#   curl, parts            a multipart upload driven by curl with vr-upload's
#                          defaults: 16 MB parts (split beforehand, untimed),
#                          4 at once (xargs -P 4), UNSIGNED-PAYLOAD; then
#                          CompleteMultipartUpload: the same work as
#                          vr-upload in parts, unsigned
#   openssl dgst + curl    openssl dgst's time to hash the file plus the
#                          first row's: what a client signing the body pays
#   vr-upload ..., signed  vr-upload --once on a job in uploading/ with
#                          upload_s3_payload = signed (what auto does over
#                          http): in parts (16 MB, the default) or one PUT
#                          (upload_multipart_threshold above the file size);
#                          the time includes start-up, reading the job,
#                          hashing every byte and, in parts, initiating and
#                          completing the upload and recording the stored
#                          parts in the job file
#   vr-upload ..., unsigned the same with upload_s3_payload = unsigned (what
#                          auto does over https): nothing is hashed
# Figures: seconds and MB/s; ratio = vr-upload's throughput / the
# reference's, like for like: signed against openssl dgst + curl (the same
# work) and against curl with the hash given; unsigned against curl with
# UNSIGNED-PAYLOAD, and unsigned parts also against curl's parts (Swift
# spends about half as much CPU again on an upload in parts: a manifest,
# a container listing per segment). On a shared 2-core machine the server (Swift, Python,
# which hashes a signed body to check it) and the client share the CPU:
# every client cycle shows in the time. Each object is deleted after its
# run, untimed, so that the store does not fill up.
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
rounds=${ROUNDS:-4}
recipe=$root/../shared/recipes/s3-swift
dir=$(mktemp -d)
cleanup() {
	"$recipe" stop "$dir/s3" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
while :; do
	port=$(( $(od -An -tu2 -N2 /dev/urandom) % 20000 + 30000 ))
	port_free "$port" && port_free $((port + 1)) && port_free $((port + 2)) &&
		port_free $((port + 3)) && port_free $((port + 4)) && break
done
"$recipe" start "$dir/s3" "$port" > "$dir/s3.log" 2>&1
for i in 1 2 3 4; do # the recipe waits for the proxy only
	n=0
	while port_free $((port + i)) && [ "$n" -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
done
empty=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
s3url="http://test%3Atester:testing@127.0.0.1:$port"
n=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 aws:amz:us-east-1:s3 \
	-H "x-amz-content-sha256: $empty" -X PUT "$s3url/bench")" = 200 ] || [ "$n" -ge 100 ]; do
	sleep 0.1
	n=$((n + 1))
done

for d in tmp pending invalid throttled queued in-progress uploading done \
	failed cancelled outbox sent out assets lease; do
	mkdir -p "$dir/spool/$d"
done
id=0193d2c4-8a1b-7c3d-9e4f-0a1b2c3d4e5f
mkdir -p "$dir/spool/out/$id"
file=$dir/spool/out/$id/video.mp4
head -c $((200 * 1024 * 1024)) /dev/urandom > "$file"
size=$(stat -c %s "$file")
sha=$(openssl dgst -sha256 -r "$file" | cut -d' ' -f1)
mkdir "$dir/parts"
split -b 16M -d -a 3 "$file" "$dir/parts/p"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/secret"
printf '%s\n' "spool = $dir/spool" "secret = secret" "fetch_allow = 127.0.0.1" \
	> "$dir/base.conf"
for mode in signed unsigned; do
	{ cat "$dir/base.conf"; echo "upload_s3_payload = $mode"; } > "$dir/parts-$mode.conf"
	{ cat "$dir/parts-$mode.conf"; echo "upload_multipart_threshold = 1G"; } \
		> "$dir/put-$mode.conf"
done

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# drop KEY: delete the object, untimed.
drop() {
	curl -s -o /dev/null --aws-sigv4 aws:amz:us-east-1:s3 \
		-H "x-amz-content-sha256: $empty" -X DELETE "$s3url/bench/$1"
}

# vr CONF KEY: one vr-upload run; prints its milliseconds.
vr() {
	jq -n --arg id "$id" --arg key "$2" --arg port "$port" '{id: $id,
		state: "UPLOADING", org: "bench", outputFile: "video.mp4",
		uploads: [{task: {extension: "mp4", destination: {type: "s3",
		bucket: "bench", filename: $key, s3host: ("127.0.0.1:" + $port),
		secure: false, aws_access_key_id: "test:tester",
		aws_secret_access_key: "testing"}}, status: "PENDING"}]}' \
		> "$dir/spool/uploading/$id.json"
	t0=$(now_ms)
	bin/vr-upload -f "$dir/$1.conf" --once 2>> "$dir/upload.log"
	t1=$(now_ms)
	jq -e '.uploads[0].status == "SUCCESS"' "$dir/spool/done/$id.json" > /dev/null ||
		echo "vr-upload did not deliver (see $dir/upload.log)" >&2
	rm -f "$dir/spool/done/$id.json"
	drop "$2"
	echo $((t1 - t0))
}

# hash: the payload hash as a client must compute it; prints milliseconds.
hash() {
	t0=$(now_ms)
	openssl dgst -sha256 -r "$file" > /dev/null
	t1=$(now_ms)
	echo $((t1 - t0))
}

# ref KEY SHA256: one curl PUT; prints its milliseconds.
ref() {
	t0=$(now_ms)
	code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 aws:amz:us-east-1:s3 \
		-H "x-amz-content-sha256: $2" -H "Content-Type: video/mp4" \
		-T "$file" "$s3url/bench/$1")
	t1=$(now_ms)
	[ "$code" = 200 ] || echo "curl: HTTP $code" >&2
	drop "$1"
	echo $((t1 - t0))
}

# ref_parts KEY: one multipart upload driven by curl; prints milliseconds.
ref_parts() {
	t0=$(now_ms)
	uid=$(curl -s --aws-sigv4 aws:amz:us-east-1:s3 -H "x-amz-content-sha256: $empty" \
		-H "Content-Type: video/mp4" -X POST "$s3url/bench/$1?uploads=" |
		sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')
	ls "$dir/parts" | S3URL=$s3url KEY=$1 UID_=$uid DIR=$dir xargs -P 4 -I{} sh -c '
		n=$(( 1${1#p} - 999 ))
		curl -s -o /dev/null -w "%header{etag}" --aws-sigv4 aws:amz:us-east-1:s3 \
			-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$DIR/parts/$1" \
			"$S3URL/bench/$KEY?partNumber=$n&uploadId=$UID_" > "$DIR/etag.$n"' sh {}
	body="<CompleteMultipartUpload>"
	n=1
	while [ -f "$dir/etag.$n" ]; do
		body="$body<Part><PartNumber>$n</PartNumber><ETag>$(cat "$dir/etag.$n")</ETag></Part>"
		n=$((n + 1))
	done
	body="$body</CompleteMultipartUpload>"
	code=$(curl -s -o "$dir/complete.xml" -w '%{http_code}' --aws-sigv4 aws:amz:us-east-1:s3 \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -d "$body" \
		"$s3url/bench/$1?uploadId=$uid")
	t1=$(now_ms)
	[ "$code" = 200 ] && grep -q ETag "$dir/complete.xml" ||
		echo "curl parts: HTTP $code: $(head -c 300 "$dir/complete.xml")" >&2
	rm -f "$dir"/etag.*
	drop "$1"
	echo $((t1 - t0))
}

vr_rows="parts-signed put-signed parts-unsigned put-unsigned"
rows="curl unsigned curlparts hash $vr_rows"
for m in $rows; do : > "$dir/$m.ms"; done
ref warm.mp4 "$sha" > /dev/null # the first upload after start is slow
r=1
while [ "$r" -le "$rounds" ]; do
	h=$(hash)
	c=$(ref "curl-$r.mp4" "$sha")
	echo "$c" >> "$dir/curl.ms"
	echo $((h + c)) >> "$dir/hash.ms"
	ref "curlu-$r.mp4" UNSIGNED-PAYLOAD >> "$dir/unsigned.ms"
	ref_parts "curlp-$r.mp4" >> "$dir/curlparts.ms"
	for m in $vr_rows; do
		vr "$m" "$m-$r.mp4" >> "$dir/$m.ms"
	done
	r=$((r + 1))
done

median() { sort -n "$1" | awk '{v[NR] = $1} END {print (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2}'; }
curl_ms=$(median "$dir/curl.ms")
hash_ms=$(median "$dir/hash.ms")
unsigned_ms=$(median "$dir/unsigned.ms")
parts_ms=$(median "$dir/curlparts.ms")
echo "upload: $((size / 1048576)) MB to S3 (Swift s3api, loopback), median of $rounds runs each"
for m in $rows; do
	ms=$(median "$dir/$m.ms")
	case $m in
	curl) label="curl, hash given" ;;
	unsigned) label="curl, UNSIGNED-PAYLOAD" ;;
	curlparts) label="curl, parts (x4)" ;;
	hash) label="openssl dgst + curl" ;;
	parts-signed) label="vr-upload parts, signed" ;;
	put-signed) label="vr-upload PUT, signed" ;;
	parts-unsigned) label="vr-upload parts, unsigned" ;;
	put-unsigned) label="vr-upload PUT, unsigned" ;;
	esac
	awk -v l="$label" -v m="$m" -v ms="$ms" -v c="$curl_ms" -v h="$hash_ms" \
		-v u="$unsigned_ms" -v p="$parts_ms" -v s="$size" -v all="$(tr '\n' ' ' < "$dir/$m.ms")" \
		'BEGIN { printf "  %-26s %5.2f s %6.1f MB/s", l, ms / 1000, s / 1048576 / (ms / 1000);
		  if (m ~ /-signed$/) printf "   ratio %.2f vs dgst + curl, %.2f vs curl hash given", h / ms, c / ms;
		  if (m ~ /-unsigned$/) printf "   ratio %.2f vs curl UNSIGNED-PAYLOAD", u / ms;
		  if (m == "parts-unsigned") printf ", %.2f vs curl parts", p / ms;
		  printf "   [runs, ms: %s]\n", all }'
done
echo "  target: ratio >= 0.90, like for like"
