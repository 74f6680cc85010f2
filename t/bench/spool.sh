#!/bin/sh
# t/bench/spool.sh — spool throughput with fsync, and inotify hand-off latency.
set -eu
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/spool"
printf 'spool = %s/spool\n' "$dir" > "$dir/vr.conf"
VR_CONF=$dir/vr.conf t/bench/spoolbench moves 2000
VR_CONF=$dir/vr.conf t/bench/spoolbench handoff 2000
