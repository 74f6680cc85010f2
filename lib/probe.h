/*
 * probe.h — is a fetched asset media vr can use? Opened with libavformat
 * (local files only, a fixed list of container formats: no playlists, no
 * network), the stream its layer needs is found and one frame of it decoded;
 * its kind must be what the layer expects and it must stay within
 * conf.asset_max_width/height and conf.asset_max_duration_ms. Bounded in
 * time by PROBE_TIMEOUT_MS. Needs LIBS_AV when linked.
 */
#ifndef VR_PROBE_H
#define VR_PROBE_H

#include <stdint.h>
#include <stddef.h>

#define PROBE_TIMEOUT_MS 10000
/* Demuxers a client's file may be read with (libavformat's
 * format_whitelist; use it wherever assets are opened, with
 * protocol_whitelist "file"): plain containers and still images. Left out
 * on purpose: playlists and concatenation (hls, dash, concat), which would
 * open other files or URLs. */
#define PROBE_FORMATS "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts," \
	"flv,ogg,mp3,wav,flac,aac,aiff,image2,png_pipe,jpeg_pipe,webp_pipe," \
	"bmp_pipe,tiff_pipe,gif,apng"

struct probe_info {
	char kind[8];        /* "image", "video" or "audio" */
	char format[32];     /* the demuxer's first name: "mov", "png_pipe" */
	char codec[32];      /* of the stream checked */
	int width, height;   /* 0 for audio */
	int64_t duration_ms; /* -1 when unknown (images) */
	int has_audio;       /* a video with sound */
};

/* probe_file: check path as media of kind `expected` ("image", "video",
 * "audio"; NULL or anything else takes any kind). 0 with info filled, or
 * -1 with one line in err saying what is wrong with the file. */
int probe_file(const char *path, const char *expected, struct probe_info *info,
    char *err, size_t err_size);

/* probe_quiet: silence libav's own logging (vr reports errors itself). */
void probe_quiet(void);

#endif
