/*
 * internal.h — what the parts of lib/render/ share: media sources (our own
 * decoders feeding buffersrc filters), the graph under construction and the
 * output (encoders and muxer). Not for use outside lib/render/.
 */
#ifndef VR_RENDER_INTERNAL_H
#define VR_RENDER_INTERNAL_H

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <stdbool.h>

#include "render.h"

#define MAX_SOURCES 64

/* One decoded stream of one media file, feeding one buffer/abuffer source.
 * Timestamps are rebased so the first frame is at start_s (output time). */
struct source {
	char path[4096];
	char layer[128];
	enum AVMediaType type;
	bool image;              /* one frame, then end */
	bool loop;               /* rewind at the end until end_s */
	double trim_s;           /* start reading here (source time) */
	double trim_end_s;       /* and stop here, when after trim_s */
	double start_s;          /* output time of the first frame */
	double end_s;            /* output time after which we stop */
	AVFormatContext *fmt;
	AVCodecContext *dec;
	int stream;
	AVFilterContext *buf;
	AVPacket *pkt;
	AVFrame *frame;
	AVFrame *first;          /* images: the decoded picture */
	int64_t base;            /* output pts of this pass's first frame */
	int64_t next_out;        /* output pts after the last frame */
	int64_t first_pts;       /* source pts of this pass's first frame */
	bool started;
	bool have_first_pts;
	bool flushing;
	bool done;
	double last_s;           /* output time of the last frame pushed */
	int width, height;       /* as decoded */
	int orientation;         /* EXIF's 1..8: how to turn it upright */
};

int source_open(struct source *s, char *err, size_t err_size);
int source_buffer(struct source *s, AVFilterGraph *g, char *err,
    size_t err_size);
/* source_feed: push the next frame (or the end). 0, or -1 with err. */
int source_feed(struct source *s, char *err, size_t err_size);
void source_close(struct source *s);

/* The graph and its sources, built from the resolved layers. */
struct build {
	AVFilterGraph *graph;
	int width, height, fps;
	double duration;
	int64_t nframes;
	double k;                /* geometry scale (DRAFT: 0.5) */
	const char *format;      /* output format */
	AVFilterContext *vout, *aout;   /* buffersink filters */
	struct source *src[MAX_SOURCES];
	int nsrc;
	int nfilters;
	const struct render_spec *spec;
	char *err;
	size_t err_size;
	const char *code;
	int naudio;
	AVFilterContext *audio_in[MAX_SOURCES]; /* audio chains to mix */
};

int graph_build(struct build *b, char *err, size_t err_size,
    const char **code);
void graph_free(struct build *b);

/* The output file. */
struct output {
	AVFormatContext *oc;
	AVCodecContext *venc, *aenc;
	AVStream *vst, *ast;
	AVPacket *pkt;
	int64_t frames;          /* video frames sent to the encoder */
	int64_t frames_total;    /* what progress counts to (encode included) */
	int64_t reported_frames, reported_ms;  /* last progress report */
	bool header;
	/* thumbnails */
	const struct render_spec *spec;
	int64_t *thumb_frame;
	int nthumb;
};

int output_open(struct output *o, const struct build *b, char *err,
    size_t err_size);
/* output_video/output_audio: encode a frame (NULL flushes). */
int output_video(struct output *o, AVFrame *f, char *err, size_t err_size);
int output_audio(struct output *o, AVFrame *f, char *err, size_t err_size);
int output_close(struct output *o, char *err, size_t err_size);
void output_free(struct output *o);

/* text.c: a font file for a fontconfig pattern (cached). */
int font_file(const char *pattern, char *path, size_t size);
/* text_width: advance width in pixels of utf8 at size px, or -1. */
double text_width(const char *font_path, double size, const char *utf8);
/* font_ascent: the font's ascender in pixels at size, or -1. */
double font_ascent(const char *font_path, double size);

void av_err(char *err, size_t err_size, const char *what, int averr);

#endif
