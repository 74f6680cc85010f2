#!/usr/bin/env bats
# Templates (doc/vr-template.5): loading and checking, parametrization
# (references, jq expressions, defaults, mandatory), the resolution that
# vr-validate records, and the demo project rendered by the local preview.

load helper

setup_file() {
	vr_setup
	FX=$VR_DIR/fx
	mkdir -p "$FX" "$VR_DIR/tpl/p"
	ffmpeg -nostdin -y -loglevel error -f lavfi -i testsrc2=s=120x90 \
		-frames:v 1 "$FX/pic.png"
	ffmpeg -nostdin -y -loglevel error -f lavfi -i testsrc2=s=96x72:r=25:d=1 \
		-f lavfi -i sine=d=1 -c:v libx264 -preset ultrafast -c:a aac \
		-shortest "$FX/clip.mp4"
	export FX
}

teardown_file() {
	vr_teardown
}

DEMO=etc/templates/demo

resolve() {
	local t=$1; shift
	printf '%s' "$1" > "$VR_DIR/params.json"
	vr-render --template "$t" --params "$VR_DIR/params.json" --resolve
}

# layer_value JSON LAYER KEY: a resolved layer's property
layer_value() {
	jq -r --arg l "$2" --arg k "$3" \
		'[.layers[], (.layers[] | .layers? // [] | .[])] | map(select(.layerName == $l))[0][$k]' <<<"$1"
}

# broken NAME JSON: write a template of the scratch project p
broken() {
	printf '%s' "$2" > "$VR_DIR/tpl/p/$1.json"
	echo "$VR_DIR/tpl/p/$1.json"
}

GOOD='"duration": 1, "fps": 10, "resolution": {"width": 64, "height": 48}'

@test "#name and dotted paths take parameters, defaults fill the rest, and a template's own value stays" {
	run resolve $DEMO/promo.json '{"productImage": "https://cdn.example/p.png", "product": {"title": "Blender"}}'
	[ "$status" -eq 0 ]
	[ "$(layer_value "$output" title text)" = Blender ]
	[ "$(layer_value "$output" product src)" = https://cdn.example/p.png ]
	[ "$(layer_value "$output" background color)" = "#0b132b" ]
	[ "$(layer_value "$output" cta text)" = "Order today" ]
	[ "$(layer_value "$output" music src)" = music.ogg ]
	[ "$(layer_value "$output" music srcKind)" = project ]
	run jq -c '[.parametrizationResults[] | select(.layerName == "title")][0] | [.mandatoryNotResolved, .fatalError, .assets[0].value]' <<<"$output"
	[ "$output" = '[false,false,"Blender"]' ]
}

@test "a jq expression computes a value from the parameters, and switches a group" {
	run resolve $DEMO/promo.json '{"productImage": "https://c/p.png", "product": {"title": "T", "price": 12.5}, "currency": "CHF", "discount": 15}'
	[ "$status" -eq 0 ]
	[ "$(layer_value "$output" price text)" = "12.5 CHF" ]
	[ "$(layer_value "$output" badgeText text)" = "-15%" ]
	[ "$(layer_value "$output" discount visible)" = true ]
	[ "$(layer_value "$output" badge visible)" = true ]
	run resolve $DEMO/promo.json '{"productImage": "https://c/p.png", "product": {"title": "T"}}'
	[ "$(layer_value "$output" discount visible)" = false ]
	[ "$(layer_value "$output" badge visible)" = false ]
	[ "$(layer_value "$output" price text)" = "" ]
}

@test "an expression that fails records jq's message and falls back to defaultValue" {
	run resolve $DEMO/social.json '{"image": "https://c/p.png", "heading": "H", "cta": 42}'
	[ "$status" -eq 0 ]
	[ "$(layer_value "$output" cta text)" = "SHOP NOW" ]
	run jq -r '.parametrizationResults[] | select(.layerName == "cta") | .errorMessage' <<<"$output"
	[[ "$output" == "expression failed: "*"string"* ]]
}

@test "a mandatory parameter that is not given fails the resolution with mandatoryNotResolved" {
	run resolve $DEMO/social.json '{"image": "https://c/p.png"}'
	[ "$status" -eq 65 ]
	run jq -c '[.ok, .error.code, .error.message, (.parametrizationResults[] | select(.layerName == "heading") | .mandatoryNotResolved)]' <<<"$output"
	[ "$output" = '[false,"RENDER_MANDATORY_PARAMETER_NOT_RESOLVED","layer heading: text #heading is mandatory and was not given",true]' ]
}

@test "a colour that is not #RRGGBB fails with RENDER_INPUT_SOLID_COLOR_NOT_VALID" {
	run resolve $DEMO/social.json '{"image": "https://c/p.png", "heading": "H", "backgroundColor": "red; drawbox"}'
	[ "$status" -eq 65 ]
	run jq -c '[.error.code, (.parametrizationResults[] | select(.layerName == "background") | .fatalError)]' <<<"$output"
	[ "$output" = '["RENDER_INPUT_SOLID_COLOR_NOT_VALID",true]' ]
}

@test "media URLs are listed for fetching except inside a hidden group, and a media parameter that is not a URL fails" {
	run resolve $DEMO/intro.json '{"clip": "https://c/clip.mp4", "name": "N", "background": "http://c/bg.mp4"}'
	[ "$status" -eq 0 ]
	run jq -c '[.media[] | [.layer, .value, .mediaType]]' <<<"$output"
	[ "$output" = '[["background","http://c/bg.mp4","video"],["clip","https://c/clip.mp4","video"]]' ]
	run resolve etc/templates/test-render/basic.json '{"showPromo": false, "image": "https://c/p.png"}'
	run jq -c '[.media[].layer]' <<<"$output"
	[ "$output" = '["picture"]' ]
	run resolve $DEMO/intro.json '{"clip": "/etc/passwd", "name": "N"}'
	[ "$status" -eq 65 ]
	run jq -r '.error.message' <<<"$output"
	[ "$output" = "layer clip: src: media must be an http or https URL" ]
}

@test "text over the length or line limit, or with a NUL character, fails with a clear message" {
	long=$(head -c 1001 /dev/zero | tr '\0' a)
	run resolve $DEMO/social.json "{\"image\": \"https://c/p.png\", \"heading\": \"$long\"}"
	[ "$status" -eq 65 ]
	run jq -r '.error.message' <<<"$output"
	[ "$output" = "layer heading: text: text is 1001 characters, over the limit of 1000" ]
	run resolve $DEMO/social.json "$(jq -n '{image: "https://c/p.png", heading: ([range(22)] | map("l") | join("\n"))}')"
	[ "$status" -eq 65 ]
	run jq -r '.error.message' <<<"$output"
	[ "$output" = "layer heading: text: text has 22 lines, over the limit of 20" ]
	run resolve $DEMO/social.json '{"image": "https://c/p.png", "heading": "a\u0000b"}'
	[ "$status" -eq 65 ]
	run jq -r '.error.message' <<<"$output"
	[ "$output" = "layer heading: text: text contains a NUL character" ]
}

@test "a broken template is refused with a message naming the file and the problem" {
	run vr-render --template "$(broken json '{"duration": ')" --resolve
	[ "$status" -eq 65 ]
	[[ "$output" == *"tpl/p/json.json: not JSON"* ]]
	run vr-render --template "$(broken kind "{$GOOD, \"layers\": [{\"layerName\": \"a\", \"layerType\": \"SHAPE\"}]}")" --resolve
	[[ "$output" == *"kind.json: layer a: layerType must be DATA, MEDIA, SOLID or COMPOSITION" ]]
	run vr-render --template "$(broken colour "{$GOOD, \"layers\": [{\"layerName\": \"a\", \"layerType\": \"SOLID\", \"color\": \"white\"}]}")" --resolve
	[[ "$output" == *'colour.json: layer a: color "white" is not #RRGGBB or #RRGGBBAA' ]]
	run vr-render --template "$(broken jq "{$GOOD, \"layers\": [{\"layerName\": \"a\", \"layerType\": \"DATA\", \"parametrization\": {\"value\": \".a +\", \"expression\": true}}]}")" --resolve
	[[ "$output" == *"jq.json: an expression does not compile: "* ]]
	run vr-render --template "$(broken size '{"duration": 1, "fps": 10, "resolution": {"width": 65, "height": 48}, "layers": []}')" --resolve
	[[ "$output" == *"size.json: resolution must be {width, height}, even whole numbers of at least 16" ]]
	run vr-render --template "$(broken path "{$GOOD, \"layers\": [{\"layerName\": \"a\", \"layerType\": \"MEDIA\", \"mediaType\": \"image\", \"src\": \"../../etc/passwd\"}]}")" --resolve
	[[ "$output" == *'path.json: layer a: src "../../etc/passwd" is not a file name of the project' ]]
	run vr-render --template "$(broken twice "{$GOOD, \"layers\": [{\"layerName\": \"a\", \"layerType\": \"DATA\"}, {\"layerName\": \"a\", \"layerType\": \"DATA\"}]}")" --resolve
	[[ "$output" == *"twice.json: layer name a is used twice" ]]
}

@test "every demo template renders in the local preview, to its size and length" {
	printf '{"image": "%s", "heading": "Hello", "cta": "buy"}' "$FX/pic.png" > "$VR_DIR/social.json"
	printf '{"productImage": "%s", "product": {"title": "Blender", "price": 9}, "discount": 10}' "$FX/pic.png" > "$VR_DIR/promo.json"
	printf '{"clip": "%s", "name": "Ada"}' "$FX/clip.mp4" > "$VR_DIR/intro.json"
	for t in social promo intro; do
		run vr-render --template $DEMO/$t.json --params "$VR_DIR/$t.json" --draft -o "$VR_DIR/$t.mp4"
		[ "$status" -eq 0 ]
		w=$(jq '.resolution.width / 2' $DEMO/$t.json)
		d=$(jq '.duration' $DEMO/$t.json)
		run ffprobe -v error -select_streams v:0 -show_entries stream=width,duration -of csv=p=0 "$VR_DIR/$t.mp4"
		[ "$output" = "$w,$d.000000" ]
	done
}

@test "a text layer may use a font file of its project, and a missing one fails clearly" {
	cp /usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf "$VR_DIR/tpl/p/serif.ttf"
	t=$(broken font "{$GOOD, \"layers\": [{\"layerName\": \"t\", \"layerType\": \"DATA\", \"text\": \"Aa\", \"fontFile\": \"serif.ttf\"}]}")
	run vr-render --template "$t" -o "$VR_DIR/font.mp4"
	[ "$status" -eq 0 ]
	rm "$VR_DIR/tpl/p/serif.ttf"
	run vr-render --template "$t" -o "$VR_DIR/font.mp4"
	[ "$status" -eq 65 ]
	[[ "$output" == *"WORKER_IMPORT_ASSET_FAILED: layer t: font file serif.ttf: No such file or directory" ]]
}

@test "a clip trimmed to 0.4 s and looped repeats every 0.4 s" {
	cp "$FX/clip.mp4" "$VR_DIR/tpl/p/clip.mp4"
	t=$(broken trim '{"duration": 2, "fps": 10, "resolution": {"width": 96, "height": 72}, "layers": [{"layerName": "c", "layerType": "MEDIA", "mediaType": "video", "src": "clip.mp4", "fit": "fill", "trimStart": 0.2, "trimEnd": 0.6, "loop": true}]}')
	run vr-render --template "$t" -o "$VR_DIR/trim.mp4"
	[ "$status" -eq 0 ]
	run t/frames.py same "$VR_DIR/trim.mp4" 2 6 100
	[ "$output" = yes ]
	run t/frames.py same "$VR_DIR/trim.mp4" 5 17 100
	[ "$output" = yes ]
	run t/frames.py same "$VR_DIR/trim.mp4" 2 3 100
	[ "$output" != yes ]
}

@test "a solid with a radius has rounded corners" {
	t=$(broken round '{"duration": 1, "fps": 10, "resolution": {"width": 160, "height": 120}, "layers": [{"layerName": "bg", "layerType": "SOLID", "color": "#000000"}, {"layerName": "r", "layerType": "SOLID", "color": "#ffffff", "x": 20, "y": 20, "width": 120, "height": 80, "radius": 20}]}')
	run vr-render --template "$t" -o "$VR_DIR/round.mp4"
	[ "$status" -eq 0 ]
	read -r r g b < <(t/frames.py pixel "$VR_DIR/round.mp4" 5 22 22)
	[ "$r" -lt 40 ]
	read -r r g b < <(t/frames.py pixel "$VR_DIR/round.mp4" 5 40 22)
	[ "$r" -gt 215 ]
	read -r r g b < <(t/frames.py pixel "$VR_DIR/round.mp4" 5 22 60)
	[ "$r" -gt 215 ]
}

@test "a photo is turned upright as its EXIF orientation says" {
	ffmpeg -nostdin -y -loglevel error -f lavfi -i testsrc2=s=96x64 -frames:v 1 "$VR_DIR/tpl/p/plain.jpg"
	python3 - "$VR_DIR/tpl/p/plain.jpg" "$VR_DIR/tpl/p/turned.jpg" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
tiff = b'II*\x00' + struct.pack('<IH', 8, 1) + struct.pack('<HHIHH', 0x0112, 3, 1, 6, 0) + struct.pack('<I', 0)
app1 = b'Exif\x00\x00' + tiff
open(sys.argv[2], 'wb').write(d[:2] + b'\xff\xe1' + struct.pack('>H', len(app1) + 2) + app1 + d[2:])
PY
	for f in plain turned; do
		t=$(broken $f "{\"duration\": 0.2, \"fps\": 10, \"resolution\": {\"width\": 80, \"height\": 160}, \"layers\": [{\"layerName\": \"a\", \"layerType\": \"MEDIA\", \"mediaType\": \"image\", \"src\": \"$f.jpg\"}]}")
		run vr-render --template "$t" -o "$VR_DIR/$f.mp4"
		[ "$status" -eq 0 ]
	done
	# turned a quarter clockwise: testsrc2's red left column is now on top
	read -r r g b < <(t/frames.py pixel "$VR_DIR/turned.mp4" 0 10 25)
	[ "$r" -gt 180 ] && [ "$g" -lt 80 ] && [ "$b" -lt 80 ]
	# unturned, the picture lies across the middle and that pixel is black
	read -r r g b < <(t/frames.py pixel "$VR_DIR/plain.mp4" 0 10 25)
	[ "$r" -lt 40 ] && [ "$g" -lt 40 ] && [ "$b" -lt 40 ]
}

@test "vr-render --help prints its usage, and bad usage exits 64" {
	run vr-render --help
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: vr-render [-f vr.conf] [-j N] [-k KEY]..."* ]]
	run vr-render --template $DEMO/social.json
	[ "$status" -eq 64 ]
	run vr-render --template $DEMO/social.json --resolve -o x.mp4
	[ "$status" -eq 64 ]
	run vr-render -j 0
	[ "$status" -eq 64 ]
}
