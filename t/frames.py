#!/usr/bin/env python3
"""t/frames.py — look at the decoded frames of a rendered video (tests).

  frames.py pixel FILE N X Y        R G B of pixel X,Y in frame N
  frames.py series FILE X Y C       channel C (0 R, 1 G, 2 B) of X,Y, every frame
  frames.py diff FILE_A FILE_B N [T] bounding box "x0 y0 x1 y1" of pixels of
                                    frame N that differ by more than T
                                    (default 48) in any channel, or "none"
  frames.py same FILE N M [T [X0 Y0 X1 Y1]]
                                    "yes" if frames N and M of FILE differ
                                    nowhere (in the region) by more than T,
                                    else the box
Frames are decoded by ffmpeg into RGB24."""
import json, subprocess, sys

def probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0",
        "-show_entries", "stream=width,height", "-of", "json", path],
        check=True, capture_output=True).stdout
    s = json.loads(out)["streams"][0]
    return s["width"], s["height"]

def frames(path):
    w, h = probe(path)
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path,
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True,
        capture_output=True).stdout
    size = w * h * 3
    return w, h, [raw[i:i + size] for i in range(0, len(raw), size)]

def box(w, h, a, b, t, region=None):
    x0 = y0 = 10 ** 9
    x1 = y1 = -1
    rx0, ry0, rx1, ry1 = region or (0, 0, w - 1, h - 1)
    for y in range(ry0, min(ry1, h - 1) + 1):
        for x in range(rx0, min(rx1, w - 1) + 1):
            i = (y * w + x) * 3
            if max(abs(a[i + c] - b[i + c]) for c in range(3)) > t:
                x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
    return "none" if x1 < 0 else "%d %d %d %d" % (x0, y0, x1, y1)

def main(argv):
    cmd = argv[1]
    if cmd == "pixel":
        w, h, f = frames(argv[2])
        n, x, y = int(argv[3]), int(argv[4]), int(argv[5])
        i = (y * w + x) * 3
        print(f[n][i], f[n][i + 1], f[n][i + 2])
    elif cmd == "series":
        w, h, f = frames(argv[2])
        x, y, c = int(argv[3]), int(argv[4]), int(argv[5])
        print(" ".join(str(fr[(y * w + x) * 3 + c]) for fr in f))
    elif cmd == "diff":
        w, h, fa = frames(argv[2])
        _, _, fb = frames(argv[3])
        n = int(argv[4])
        print(box(w, h, fa[n], fb[n], int(argv[5]) if len(argv) > 5 else 48))
    elif cmd == "same":
        w, h, f = frames(argv[2])
        region = tuple(int(v) for v in argv[6:10]) if len(argv) > 9 else None
        r = box(w, h, f[int(argv[3])], f[int(argv[4])],
                int(argv[5]) if len(argv) > 5 else 48, region)
        print("yes" if r == "none" else r)
    else:
        sys.exit(__doc__)

main(sys.argv)
