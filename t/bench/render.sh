#!/bin/sh
# t/bench/render.sh — vr-render beside the reference ffmpeg command
# (../shared/bench/reference.sh), same composition, same encoder settings,
# at 720x720 25 fps 6 s and 1920x1080 30 fps 10 s. Reports wall time, CPU
# time and peak RSS of each, the ratios vr/reference, and the SSIM of vr's
# frames against the reference's. Reports only; never fails on time.
cd "$(dirname "$0")/../.." || exit 70
REF=${REFERENCE:-../shared/bench/reference.sh}
[ -x "$REF" ] || REF=/work/shared/bench/reference.sh
[ -f "$REF" ] || { echo "render: no reference script ($REF)"; exit 69; }
tmp=$(mktemp -d) || exit 70
trap 'rm -rf "$tmp"' EXIT
img=$tmp/reference-image.png
ffmpeg -nostdin -y -hide_banner -loglevel error -f lavfi -i testsrc2=s=600x600 \
	-frames:v 1 "$img" || exit 70
printf '{"image": "%s"}\n' "$img" > "$tmp/params.json"

# measure NAME CMD...: "wall cpu rss_kb" of the run of CMD with the best
# wall time among RUNS (default 3): the machine is shared and noisy
measure() {
	name=$1; shift
	best=
	for i in $(seq "${RUNS:-3}"); do
		/usr/bin/time -f '%e %U %S %M' -o "$tmp/$name.time" "$@" ||
			{ echo "render: $name failed" >&2; return 1; }
		line=$(awk '{printf "%.3f %.3f %d\n", $1, $2 + $3, $4}' "$tmp/$name.time")
		wall=${line%% *}
		if [ -z "$best" ] || awk "BEGIN{exit !($wall < ${best%% *})}"; then
			best=$line
		fi
	done
	echo "$best"
}

ssim() {
	ffmpeg -nostdin -hide_banner -i "$1" -i "$2" -lavfi '[0:v][1:v]ssim' \
		-f null - 2>&1 | sed -n 's/.*All:\([0-9.]*\).*/\1/p' | tail -n 1
}

printf '%-10s %-10s %8s %8s %9s\n' size who wall_s cpu_s rss_MB
for size in 720 1080; do
	case $size in
	720) set -- 720 720 25 6 ;;
	1080) set -- 1920 1080 30 10 ;;
	esac
	ref=$(IMAGE=$img measure ref-$size sh "$REF" "$@" "$tmp/ref-$size.mp4") || continue
	vr=$(measure vr-$size bin/vr-render --template \
		"etc/templates/bench/reference-$size.json" \
		--params "$tmp/params.json" -o "$tmp/vr-$size.mp4") || continue
	for who in ref vr; do
		eval "m=\$$who"
		set -- $m
		printf '%-10s %-10s %8.2f %8.2f %9.1f\n' "$size" "$who" "$1" "$2" \
			"$(echo "$3" | awk '{print $1 / 1024}')"
	done
	set -- $ref; rw=$1 rc=$2 rr=$3
	set -- $vr
	awk -v s="$size" -v vw="$1" -v vc="$2" -v vm="$3" -v rw="$rw" -v rc="$rc" -v rm="$rr" \
		'BEGIN { printf "%-10s ratio vr/ref: wall %.2f  cpu %.2f  rss %.2f\n", s, vw / rw, vc / rc, vm / rm }'
	printf '%-10s ssim vr vs ref: %s\n' "$size" "$(ssim "$tmp/vr-$size.mp4" "$tmp/ref-$size.mp4")"
done
