#!/usr/bin/env bats
# The address guard (lib/guard.c) as vr-validate --check meets it: each
# refused range with its reason, IPv4 hidden in IPv6, fetch_allow by
# address, CIDR and host name, and public addresses let through.

load helper

setup_file() {
	vr_setup "fetch_connect_timeout = 2s" "fetch_timeout = 4s"
	conf_set templates "$VR_DIR/tmpl"
	mkdir -p "$VR_DIR/tmpl/g" "$VR_DIR/media"
	cat > "$VR_DIR/tmpl/g/pic.json" <<-'EOF'
	{ "name": "pic", "id": "pic", "duration": 1, "fps": 10,
	  "resolution": { "width": 64, "height": 48 },
	  "layers": [ { "layerName": "picture", "layerType": "MEDIA", "mediaType": "image",
	    "parametrization": { "value": "#image", "mandatory": true } } ] }
	EOF
	ffmpeg -nostdin -loglevel error -f lavfi -i color=red:s=64x48 -frames:v 1 "$VR_DIR/media/pic.png"
	start_asset_server "$VR_DIR/media"
}

teardown_file() {
	vr_teardown
}

# check URL: vr-validate --check on a job with URL as its picture; prints
# the error message, or "valid".
check() {
	jq -nc --arg u "$1" '{projectId: "g", templateId: "pic", parameters: {image: $u}}' |
		vr-validate --check | jq -r 'if .valid then "valid" else .error.message end'
}

@test "every refused IPv4 range is named in the message" {
	while read -r addr why; do
		run check "http://$addr/pic.png"
		[ "$status" -eq 0 ]
		[[ $output == *"address $addr refused: $why, not in fetch_allow" ]] || {
			echo "$addr: $output"; false; }
	done <<-'EOF'
	0.0.0.0 "this network" (0.0.0.0/8)
	10.0.0.1 private (10.0.0.0/8)
	100.64.0.1 shared address space (100.64.0.0/10)
	127.0.0.1 loopback (127.0.0.0/8)
	169.254.169.254 cloud metadata (169.254.169.254)
	169.254.1.1 link-local (169.254.0.0/16)
	172.16.5.4 private (172.16.0.0/12)
	192.168.1.1 private (192.168.0.0/16)
	224.0.0.1 multicast (224.0.0.0/4)
	255.255.255.255 broadcast (255.255.255.255)
	EOF
}

@test "IPv6 loopback, unique-local, link-local, multicast and IPv4 inside IPv6 are refused" {
	while read -r addr why; do
		run check "http://[$addr]/pic.png"
		[[ $output == *"address $addr refused: $why, not in fetch_allow" ]] || {
			echo "$addr: $output"; false; }
	done <<-'EOF'
	::1 loopback (::1)
	fd00::1 unique local (fc00::/7)
	fe80::1 link-local (fe80::/10)
	ff02::1 multicast (ff00::/8)
	::ffff:127.0.0.1 loopback (127.0.0.0/8)
	::ffff:169.254.169.254 cloud metadata (169.254.169.254)
	64:ff9b::a00:1 private (10.0.0.0/8)
	2002:a9fe:a9fe:: cloud metadata (169.254.169.254)
	EOF
}

@test "a host name is judged by the address it resolves to" {
	run check "http://localhost:$ASSET_PORT/pic.png"
	[[ $output == *"refused: loopback"* ]]
}

@test "fetch_allow lets through an address, a CIDR range or a host name, and nothing else" {
	conf_set fetch_allow 127.0.0.1
	[ "$(check "$ASSET_URL/pic.png")" = valid ]
	[[ $(check "http://127.0.0.2:$ASSET_PORT/pic.png") == *"127.0.0.2 refused: loopback"* ]]
	conf_set fetch_allow 127.0.0.0/8
	[ "$(check "http://127.0.0.1:$ASSET_PORT/pic.png?cidr")" = valid ]
	run check "http://127.0.0.2:$ASSET_PORT/pic.png"   # nothing listens there
	[[ $output != *"refused: loopback"* && $output == *"Failed to connect to 127.0.0.2"* ]]
	[[ $(check "http://10.0.0.1/pic.png") == *"10.0.0.1 refused: private"* ]]
	conf_set fetch_allow localhost
	[ "$(check "http://127.0.0.1:$ASSET_PORT/pic.png?name")" = valid ]
	conf_set fetch_allow ""
}

@test "a proxy from the environment is not used, so the address checked is the one connected" {
	conf_set fetch_allow 127.0.0.1
	export http_proxy=http://10.9.9.9:3128 HTTP_PROXY=http://10.9.9.9:3128 ALL_PROXY=http://10.9.9.9:3128
	[ "$(check "$ASSET_URL/pic.png?proxy")" = valid ]
	[[ $(check "http://169.254.169.254/latest") == *"169.254.169.254 refused: cloud metadata"* ]]
	conf_set fetch_allow ""
}

@test "a public address passes the guard and fails here only for want of a network" {
	run check "http://192.0.2.1/pic.png"   # TEST-NET-1: routable, never answers
	[[ $output != *"refused"* ]]
	[[ $output == "layer picture: cannot fetch http://192.0.2.1/pic.png: "* ]]
}
