#!/bin/sh
# t/bench/fx.sh — the FX API's streaming and parallel rendering, through a
# real xinetd, vr-validate and one vr-render worker on a private spool:
#  1. time to the first body byte of GET /v2/get/TOKEN.mp4 (streamed while
#     it renders) against the time of the whole render of the same movie
#     (GET /v2/render on a fresh token), at 720x720 and 1920x1080 (the
#     reference templates of etc/templates/bench/);
#  2. the speed-up of parallel: 2 over parallel: 1 on a 60 s 1080p movie
#     (etc/templates/fxtest/long-1080.json).
# Reports only; never fails on time.
# t/helper.bash is bash's (/dev/tcp): run under bash whatever started us
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
cd "$(dirname "$0")/../.." || exit 70
tmp=$(mktemp -d) || exit 70
BATS_TEST_DIRNAME=$PWD/t BATS_FILE_TMPDIR=$tmp
export BATS_TEST_DIRNAME BATS_FILE_TMPDIR
# the tests' harness: private conf and spool, xinetd, parts stopped by pid
. t/helper.bash
trap 'vr_teardown; rm -rf "$tmp"' EXIT
vr_setup "fetch_allow = 127.0.0.1" "validate_wait = 20s" "render_timeout = 10m"
mkdir -p "$VR_DIR/media"
ffmpeg -nostdin -y -hide_banner -loglevel error -f lavfi -i testsrc2=s=600x600 \
	-frames:v 1 "$VR_DIR/media/image.png" || exit 70
start_asset_server "$VR_DIR/media" || exit 70
start_xinetd || exit 70
KEY=$(make_key bench) || exit 70
start_bg validate vr-validate
start_bg render vr-render -j 1

token() { # PROJECT MOVIE PARALLEL [TITLE]
	curl -sf -u "$KEY:" -d '{"movie":"'"$2"'","parallel":'"$3"',"params":{"image":"'"$ASSET_URL"'/image.png","title":"'"${4:-x}"'"}}' \
		"$VR_URL/v2/render/$1" | jq -er .token
}

# fetch URL OUT: "first_byte_s first_fragment_s total_s" of the body (the
# first fragment: the first moof box, the first frames a player can show)
fetch() {
	python3 - "$1" "$2" <<-'PY'
	import sys, time, urllib.request
	start = time.monotonic()
	first = frag = None
	seen = b""
	with urllib.request.urlopen(sys.argv[1], timeout=600) as r, open(sys.argv[2], "wb") as out:
	    while True:
	        b = r.read1(65536)
	        if not b:
	            break
	        now = time.monotonic() - start
	        if first is None:
	            first = now
	        if frag is None:
	            seen += b
	            if b"moof" in seen:
	                frag = now
	        out.write(b)
	end = time.monotonic() - start
	print(f"{first:.3f} {frag if frag is not None else end:.3f} {end:.3f}")
	PY
}

echo "streaming: GET /v2/get (first byte, first fragment, whole) vs GET /v2/render (whole render)"
printf '%-6s %8s %8s %8s %9s %11s %10s\n' size first_s frag_s get_s render_s first/render frag/render
for size in 720 1080; do
	t=$(token bench "reference-$size" 1 get) || { echo "fx: POST failed"; continue; }
	set -- $(fetch "$VR_URL/v2/get/$t.mp4" "$tmp/get-$size.mp4") || continue
	first=$1 frag=$2 whole_get=$3
	t=$(token bench "reference-$size" 1 render) || continue
	set -- $(fetch "$VR_URL/v2/render/$t.mp4" "$tmp/render-$size.mp4") || continue
	whole=$3
	awk -v s="$size" -v f="$first" -v g="$whole_get" -v w="$whole" -v m="$frag" \
		'BEGIN { printf "%-6s %8.3f %8.3f %8.3f %9.3f %11.3f %10.3f\n", s, f, m, g, w, f / w, m / w }'
done

# the machine is shared: runs alternate (1 2 1 2 …) and each keeps its best
echo "parallel: a 60 s 1920x1080 30 fps movie, GET /v2/render (whole render), best of ${RUNS:-2}"
printf '%-10s %10s %8s\n' parallel wall_s frames
for run in $(seq "${RUNS:-2}"); do
	for n in 1 2; do
		t=$(token fxtest long-1080 "$n" "run$run") || { echo "fx: POST failed"; continue; }
		set -- $(fetch "$VR_URL/v2/render/$t.mp4" "$tmp/long-$n.mp4") || continue
		eval "best=\${wall_$n:-}"
		if [ -z "$best" ] || awk "BEGIN { exit !($3 < $best) }"; then
			eval "wall_$n=$3"
		fi
		echo "  run $run parallel $n: $3 s" >&2
	done
done
for n in 1 2; do
	eval "w=\${wall_$n:-}"
	[ -n "$w" ] && printf '%-10s %10.3f %8s\n' "$n" "$w" "$(ffprobe -v error -select_streams v:0 \
		-count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$tmp/long-$n.mp4")"
done
[ -n "${wall_1:-}" ] && [ -n "${wall_2:-}" ] &&
	awk -v a="$wall_1" -v b="$wall_2" -v c="$(nproc)" \
		'BEGIN { printf "speed-up of parallel 2 over 1: %.2fx (%d cores)\n", a / b, c }'
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
