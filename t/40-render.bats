#!/usr/bin/env bats
# vr-render: jobs written straight into queued/ (assets put into
# spool/assets/ by the test, as vr-validate would) are rendered by a real
# daemon; the videos are measured with ffprobe and their decoded pixels.

load helper

setup_file() {
	vr_setup "render_stall = 4s" "max_attempts = 5"
	FX=$VR_DIR/fx
	mkdir -p "$FX"
	ff() { ffmpeg -nostdin -y -hide_banner -loglevel error "$@"; }
	ff -f lavfi -i testsrc2=s=64x48 -frames:v 1 "$FX/pic.png"
	ff -f lavfi -i testsrc2=s=80x60:r=10:d=1.3 -f lavfi -i sine=f=300:d=1.3 \
		-c:v libx264 -preset ultrafast -c:a aac -shortest "$FX/clip.mp4"
	ff -f lavfi -i sine=f=600:d=0.7 -c:a libopus "$FX/music.ogg"
	# damaged media
	ff -f lavfi -i testsrc2=s=320x240 -frames:v 1 "$FX/big.png"
	head -c 3000 "$FX/big.png" > "$FX/truncated.png"
	ff -f lavfi -i testsrc2=s=320x240:r=25:d=2 -c:v libx264 -preset ultrafast \
		"$FX/garbage.mp4"
	size=$(stat -c %s "$FX/garbage.mp4")
	head -c 30000 /dev/urandom | dd of="$FX/garbage.mp4" bs=1 \
		seek=$((size / 3)) conv=notrunc status=none
	: > "$FX/empty.ogg"
	export FX
	start_bg render vr-render -j 2
}

teardown_file() {
	vr_teardown
}

# add_asset FILE: copy FILE into spool/assets/ under its content's name.
add_asset() {
	local sum ext=${1##*.}
	sum=$(sha256sum "$1" | cut -d' ' -f1)
	cp "$1" "$VR_SPOOL/assets/$sum.$ext"
	echo "$sum.$ext"
}

# queue TEMPLATE PARAMS [ASSETS [EXTRA]]: write a job into queued/; prints id.
queue() {
	local id
	id=$(cat /proc/sys/kernel/random/uuid)
	jq -n --arg id "$id" --arg t "$1" --argjson p "$2" \
		--argjson a "${3:-{\}}" --argjson x "${4:-{\}}" \
		'{id: $id, state: "QUEUED", org: "test", api: "plainly",
		  projectId: "test-render", templateId: $t, parameters: $p,
		  assets: $a, history: []} + $x' > "$VR_SPOOL/tmp/$id.json"
	chmod 600 "$VR_SPOOL/tmp/$id.json"
	mv "$VR_SPOOL/tmp/$id.json" "$VR_SPOOL/queued/$id.json"
	echo "$id"
}

final() {
	job_in "$1" done || job_in "$1" failed || job_in "$1" cancelled ||
		job_in "$1" uploading
}

# render_to TEMPLATE PARAMS [ASSETS [EXTRA]]: queue, wait, print id.
render_to() {
	local id
	id=$(queue "$@")
	wait_until 60 final "$id" >&2
	echo "$id"
}

video() {
	echo "$VR_SPOOL/out/$1/video.${2:-mp4}"
}

probe() {
	ffprobe -v error -count_frames -select_streams "$2" -show_entries \
		"stream=$3" -of default=nw=1:nk=1 "$1"
}

@test "a job renders to done/ with a signed output URL, an expiry and an MP4 exactly as the template says" {
	id=$(render_to basic '{"title": "Hi"}')
	run job_state "$id"
	[ "$output" = done ]
	run jq -r '.output' "$VR_SPOOL/done/$id.json"
	[[ "$output" == */files/$id/video.mp4\?expires=*\&sig=* ]]
	run jq -r '.state, .progress, .outputFile, (.expirationDate | length > 0), .attempts' \
		"$VR_SPOOL/done/$id.json"
	[ "$output" = "$(printf 'DONE\n100\nvideo.mp4\ntrue\n1')" ]
	f=$(video "$id")
	[ "$(probe "$f" v:0 width,height,r_frame_rate,nb_read_frames | paste -sd' ')" = "160 120 10/1 20" ]
	[ "$(probe "$f" v:0 codec_name)" = h264 ]
	vdur=$(probe "$f" v:0 duration)
	adur=$(probe "$f" a:0 duration)
	[ "$(probe "$f" a:0 codec_name)" = aac ]
	awk -v v="$vdur" -v a="$adur" 'BEGIN { d = v - a; exit !(v == 2 && d < 0.1 && d > -0.1) }'
}

@test "a solid layer has its colour at its coordinates, and a colour parameter changes it" {
	id=$(render_to basic '{"rectColor": "#0000ff"}')
	read -r r g b < <(t/frames.py pixel "$(video "$id")" 5 24 20)
	[ "$b" -gt 220 ] && [ "$r" -lt 30 ] && [ "$g" -lt 30 ]
	id=$(render_to basic '{}')
	read -r r g b < <(t/frames.py pixel "$(video "$id")" 5 24 20)
	[ "$r" -gt 220 ] && [ "$g" -lt 30 ] && [ "$b" -lt 30 ]
	# the background around it
	read -r r g b < <(t/frames.py pixel "$(video "$id")" 5 4 60)
	[ "$r" -lt 30 ] && [ "$g" -gt 20 ] && [ "$g" -lt 45 ] && [ "$b" -gt 36 ]
}

@test "a text layer changes pixels only inside its box and only during its time" {
	empty=$(render_to basic '{"title": ""}')
	text=$(render_to basic '{"title": "WWWWW"}')
	for n in 0 5 9 15 19; do
		run t/frames.py diff "$(video "$empty")" "$(video "$text")" "$n"
		[ "$output" = none ]
	done
	for n in 10 12 14; do
		run t/frames.py diff "$(video "$empty")" "$(video "$text")" "$n"
		read -r x0 y0 x1 y1 <<<"$output"
		[ "$x0" -ge 44 ] && [ "$y0" -ge 44 ] && [ "$x1" -le 156 ] && [ "$y1" -le 68 ]
	done
}

@test "a fade-in is monotonic" {
	id=$(render_to basic '{}')
	run t/frames.py series "$(video "$id")" 136 20 1
	prev=-1
	for v in $output; do
		[ "$v" -ge $((prev - 4)) ]
		prev=$v
	done
	set -- $output
	[ "$1" -lt 60 ] && [ "${20}" -gt 220 ]
}

@test "a group hidden by a parameter leaves no trace, and shows when switched on" {
	hidden=$(render_to basic '{"showPromo": false}')
	without=$(queue nogroup '{}')
	wait_until 60 final "$without"
	a=$(ffmpeg -nostdin -v error -i "$(video "$hidden")" -map 0:v -f framemd5 - | grep -v '^#')
	b=$(ffmpeg -nostdin -v error -i "$(video "$without")" -map 0:v -f framemd5 - | grep -v '^#')
	[ -n "$a" ] && [ "$a" = "$b" ]
	shown=$(render_to basic '{"showPromo": "yes"}')
	read -r r g b < <(t/frames.py pixel "$(video "$shown")" 5 24 92)
	[ "$r" -gt 220 ] && [ "$g" -gt 220 ] && [ "$b" -lt 40 ]
}

@test "images, looping clips with their sound and music from the asset cache are drawn and heard" {
	pic=$(add_asset "$FX/pic.png")
	clip=$(add_asset "$FX/clip.mp4")
	music=$(add_asset "$FX/music.ogg")
	id=$(render_to basic '{"image": "http://a/p.png", "clip": "http://a/c.mp4", "music": "http://a/m.ogg"}' \
		"{\"http://a/p.png\": \"$pic\", \"http://a/c.mp4\": \"$clip\", \"http://a/m.ogg\": \"$music\"}")
	run job_state "$id"
	[ "$output" = done ]
	empty=$(render_to basic '{}')
	# the picture's box and the clip's box differ from an empty render,
	# also after the 1.3 s clip looped
	run t/frames.py diff "$(video "$empty")" "$(video "$id")" 17
	read -r x0 y0 x1 y1 <<<"$output"
	[ "$x0" -ge 50 ] && [ "$y0" -ge 8 ] && [ "$x1" -le 139 ] && [ "$y1" -le 99 ]
	run t/frames.py same "$(video "$id")" 2 15
	[ "$output" != yes ]
	# louder than the tone alone
	loud() { ffmpeg -nostdin -i "$1" -map 0:a -af volumedetect -f null - 2>&1 |
		sed -n 's/.*mean_volume: \(-*[0-9.]*\) dB/\1/p'; }
	awk -v a="$(loud "$(video "$id")")" -v b="$(loud "$(video "$empty")")" 'BEGIN { exit !(a > b) }'
}

@test "hostile text renders literally: %{pts}, quotes, colons, backslashes, newlines, emoji and right-to-left script" {
	hostile=$'%{pts} %{localtime} \'quoted\' a:b c\\d; e\nnew line 😀 مرحبا'
	id=$(render_to basic "$(jq -n --arg t "$hostile" '{title: $t}')")
	run job_state "$id"
	[ "$output" = done ]
	run jq -r '.parameters.title' "$VR_SPOOL/done/$id.json"
	[[ "$output" == *'%{pts}'* ]]
	# literal: nothing in the text changes while it is shown
	run t/frames.py same "$(video "$id")" 10 14 60 0 40 159 119
	[ "$output" = yes ]
	empty=$(render_to basic '{"title": ""}')
	run t/frames.py diff "$(video "$empty")" "$(video "$id")" 12
	[ "$output" != none ]
}

@test "a 2,000-character text fails with a message that says why" {
	long=$(head -c 2000 /dev/zero | tr '\0' x)
	id=$(render_to basic "{\"title\": \"$long\"}")
	run job_state "$id"
	[ "$output" = failed ]
	run jq -r '.error.message' "$VR_SPOOL/failed/$id.json"
	[[ "$output" == *"title"*"2000 characters"*"limit of 1000"* ]]
}

@test "a truncated PNG, an MP4 with garbage in the middle and an empty audio file each fail clearly, and the next job renders" {
	png=$(add_asset "$FX/truncated.png")
	mp4=$(add_asset "$FX/garbage.mp4")
	ogg=$(add_asset "$FX/empty.ogg")
	a=$(queue basic '{"image": "http://a/t.png"}' "{\"http://a/t.png\": \"$png\"}")
	b=$(queue basic '{"clip": "http://a/g.mp4"}' "{\"http://a/g.mp4\": \"$mp4\"}")
	c=$(queue basic '{"music": "http://a/e.ogg"}' "{\"http://a/e.ogg\": \"$ogg\"}")
	d=$(queue basic '{"title": "after"}')
	for id in "$a" "$b" "$c" "$d"; do wait_until 60 final "$id"; done
	for id in "$a" "$b" "$c"; do
		run job_state "$id"
		[ "$output" = failed ]
		run jq -r '.state + " " + .error.code' "$VR_SPOOL/failed/$id.json"
		[ "$output" = "FAILED WORKER_IMPORT_ASSET_FAILED" ]
	done
	run jq -r .error.message "$VR_SPOOL/failed/$a.json"
	[[ "$output" == "layer picture: cannot decode the image: "* ]]
	run jq -r .error.message "$VR_SPOOL/failed/$b.json"
	[[ "$output" == "layer clip: "*video* ]]
	run jq -r .error.message "$VR_SPOOL/failed/$c.json"
	[[ "$output" == "layer music: "*audio* ]]
	[ ! -e "$VR_SPOOL/out/$a" ]
	run job_state "$d"
	[ "$output" = done ]
}

@test "a medium that was not fetched fails with WORKER_DOWNLOAD_ASSET_FAILED" {
	id=$(render_to basic '{"image": "http://a/never.png"}')
	run jq -r '.error.code + ": " + .error.message' "$VR_SPOOL/failed/$id.json"
	[ "$output" = "WORKER_DOWNLOAD_ASSET_FAILED: layer picture: the asset http://a/never.png was not fetched" ]
}

@test "thumbnails are written at the asked seconds, and DRAFT renders at half resolution" {
	id=$(render_to basic '{}' '{}' '{"options": {"thumbnails": {"atSeconds": [0.5, 1.5], "format": "JPG"}}, "outputFormat": {"settingsTemplate": "DRAFT"}}')
	run jq -r '.thumbnailFiles | join(" ")' "$VR_SPOOL/done/$id.json"
	[ "$output" = "thumbnail-1.jpg thumbnail-2.jpg" ]
	run jq -r '.thumbnailUris | length' "$VR_SPOOL/done/$id.json"
	[ "$output" = 2 ]
	[ "$(probe "$VR_SPOOL/out/$id/thumbnail-2.jpg" v:0 codec_name)" = mjpeg ]
	[ "$(probe "$(video "$id")" v:0 width,height,nb_read_frames | paste -sd' ')" = "80 60 20" ]
	id=$(render_to basic '{}' '{}' '{"options": {"thumbnails": {"frequencySeconds": 1}}}')
	run jq -r '.thumbnailFiles | join(" ")' "$VR_SPOOL/done/$id.json"
	[ "$output" = "thumbnail-1.png thumbnail-2.png" ]
}

@test "WebM (VP9 + Opus) and GIF outputs are rendered when asked" {
	id=$(render_to basic '{}' '{}' '{"outputFormat": {"postEncoding": {"type": "custom", "encodingFormat": "WEBM"}}}')
	[ "$(jq -r .outputFile "$VR_SPOOL/done/$id.json")" = video.webm ]
	[ "$(probe "$(video "$id" webm)" v:0 codec_name,nb_read_frames | paste -sd' ')" = "vp9 20" ]
	[ "$(probe "$(video "$id" webm)" a:0 codec_name)" = opus ]
	id=$(render_to basic '{}' '{}' '{"ext": "gif"}')
	[ "$(probe "$(video "$id" gif)" v:0 codec_name,nb_read_frames | paste -sd' ')" = "gif 20" ]
}

@test "a job asking for a fragmented MP4 gets one, readable while it grows" {
	id=$(render_to basic '{}' '{}' '{"fragmented": true}')
	f=$(video "$id")
	grep -q moof "$f"
	[ "$(probe "$f" v:0 nb_read_frames)" = 20 ]
	id=$(render_to basic '{}')
	! grep -q moof "$(video "$id")"
}

@test "an FX job renders its movie: a name, or the extension's entry of a movie hash" {
	id=$(render_to basic '{}' '{}' '{"templateId": null, "api": "fx", "movie": "nogroup"}')
	[ "$(jq -r .state "$VR_SPOOL/done/$id.json")" = DONE ]
	id=$(render_to basic '{}' '{}' '{"templateId": null, "api": "fx", "ext": "webm", "movie": {"webm": "nogroup", "*": "missing"}}')
	[ "$(jq -r .outputFile "$VR_SPOOL/done/$id.json")" = video.webm ]
	id=$(render_to basic '{}' '{}' '{"templateId": null, "api": "fx", "ext": "gif", "movie": {"webm": "nogroup", "*": "missing"}}')
	run jq -r '.error.code' "$VR_SPOOL/failed/$id.json"
	[ "$output" = PROJECT_TEMPLATE_DOES_NOT_EXIST ]
}

@test "a job with upload tasks goes to uploading/ after rendering" {
	id=$(render_to basic '{}' '{}' '{"uploads": [{"task": {"extension": "mp4", "destination": {"type": "http", "url": "http://127.0.0.1:9/x"}}, "status": "PENDING"}]}')
	run job_state "$id"
	[ "$output" = uploading ]
}

@test "a job for another routing key is left in queued/ for a vr-render serving that key (-k)" {
	other=$(queue basic '{}' '{}' '{"routingkey": "elsewhere"}')
	id=$(render_to basic '{}')
	run job_state "$id"
	[ "$output" = done ]
	run job_state "$other"
	[ "$output" = queued ]
	start_bg render-elsewhere vr-render -k elsewhere -k spare
	wait_until 60 final "$other"
	run job_state "$other"
	[ "$output" = done ]
	stop_bg render-elsewhere
}

worker_pid() {
	jq -e '.worker.pid' "$VR_SPOOL/in-progress/$1.json" 2>/dev/null
}

progressed() {
	jq -e '.progress > 0' "$VR_SPOOL/in-progress/$1.json" >/dev/null 2>&1
}

@test "progress is recorded while a job renders, and SIGTERM to its worker cancels it" {
	id=$(queue long '{}')
	wait_until 30 progressed "$id"
	pid=$(worker_pid "$id")
	kill -TERM "$pid"
	wait_until 30 job_in "$id" cancelled
	run jq -r '.state' "$VR_SPOOL/cancelled/$id.json"
	[ "$output" = CANCELLED ]
	[ ! -e "$VR_SPOOL/out/$id" ]
}

@test "a render that makes no progress fails with WORKER_TIMEOUT from the watchdog" {
	mkfifo "$VR_SPOOL/assets/stuck.png"
	id=$(queue basic '{"image": "http://a/stuck.png"}' '{"http://a/stuck.png": "stuck.png"}')
	wait_until 30 job_in "$id" failed
	run jq -r '.error.code + ": " + .error.message' "$VR_SPOOL/failed/$id.json"
	[ "$output" = "WORKER_TIMEOUT: the render made no progress for render_stall" ]
	rm "$VR_SPOOL/assets/stuck.png"
}

@test "a worker killed with SIGKILL leaves its job to its lease: vr-render at start queues it again" {
	id=$(queue long '{}')
	wait_until 30 progressed "$id"
	pid=$(worker_pid "$id")
	kill -KILL "$pid"
	wait_until 10 grep -q "$id: render process $pid killed by signal 9" "$VR_DIR/render.log"
	run job_state "$id"
	[ "$output" = in-progress ]
	flock -n "$VR_SPOOL/lease/$id" true
	stop_bg render
	start_bg render vr-render -j 2
	wait_until 30 eval "jq -e '.attempts == 2' '$VR_SPOOL/in-progress/$id.json' >/dev/null 2>&1"
	run jq -r '[.history[].state] | join(" ")' "$VR_SPOOL/in-progress/$id.json"
	[[ "$output" == *"IN_PROGRESS QUEUED IN_PROGRESS" ]]
	wait_until 30 progressed "$id"
	kill -TERM "$(worker_pid "$id")"
	wait_until 30 job_in "$id" cancelled
}

@test "vr-render --once renders one job file and exits 0" {
	stop_bg render
	id=$(queue basic '{"title": "once"}')
	run vr-render --once "$VR_SPOOL/queued/$id.json"
	[ "$status" -eq 0 ]
	run job_state "$id"
	[ "$output" = done ]
	run vr-render --once "$VR_SPOOL/queued/$id.json"
	[ "$status" -eq 75 ]
	[[ "$output" == *"cannot claim"* ]]
	start_bg render vr-render -j 2
}

@test "a render that uses up render_rlimit_cpu fails with WORKER_TIMEOUT" {
	stop_bg render
	conf_set render_rlimit_cpu 1s
	start_bg render vr-render
	id=$(queue long '{}')
	wait_until 60 job_in "$id" failed
	run jq -r '.error.code + ": " + .error.message' "$VR_SPOOL/failed/$id.json"
	[ "$output" = "WORKER_TIMEOUT: the render used up its CPU time (render_rlimit_cpu)" ]
	stop_bg render
	conf_set render_rlimit_cpu 1h
	start_bg render vr-render -j 2
}

@test "a template changed on disk is used by the next render without a restart" {
	mkdir -p "$VR_DIR/own/cache"
	tpl() {
		printf '{"duration": 0.5, "fps": 10, "resolution": {"width": 32, "height": 32}, "layers": [{"layerName": "bg", "layerType": "SOLID", "color": "%s"}]}' "$1" \
			> "$VR_DIR/own/cache/t.json.new"
		mv "$VR_DIR/own/cache/t.json.new" "$VR_DIR/own/cache/t.json"
	}
	tpl "#ff0000"
	stop_bg render
	conf_set templates "$VR_DIR/own"
	start_bg render vr-render
	one=$(render_to t '{}' '{}' '{"projectId": "cache"}')
	tpl "#0000ff"
	two=$(render_to t '{}' '{}' '{"projectId": "cache"}')
	read -r r g b < <(t/frames.py pixel "$(video "$one")" 0 16 16)
	[ "$r" -gt 220 ] && [ "$b" -lt 30 ]
	read -r r g b < <(t/frames.py pixel "$(video "$two")" 0 16 16)
	[ "$b" -gt 220 ] && [ "$r" -lt 30 ]
	stop_bg render
	conf_set templates templates
	start_bg render vr-render -j 2
}

@test "a GIF whose palette pass outlasts render_stall is not taken for a stalled render" {
	# A daemon of its own, with a watchdog far shorter than the render.
	mkdir -p "$VR_DIR/stall/spool/tmp" "$VR_DIR/stall/spool/queued"
	sed -e "s|^spool = .*|spool = $VR_DIR/stall/spool|" -e '/^render_stall/d' \
		"$VR_CONF" > "$VR_DIR/etc/stall.conf"
	echo "render_stall = 3s" >> "$VR_DIR/etc/stall.conf"
	start_bg stall-render vr-render -f "$VR_DIR/etc/stall.conf"
	VR_SPOOL=$VR_DIR/stall/spool
	id=$(render_to long '{}' '{}' '{"ext": "gif"}')
	stop_bg stall-render
	run jq -r '[.state, .outputFile] | @tsv' "$VR_SPOOL/done/$id.json"
	[ "$output" = "$(printf 'DONE\tvideo.gif')" ]
	[ "$(probe "$(video "$id" gif)" v:0 codec_name)" = gif ]
}
