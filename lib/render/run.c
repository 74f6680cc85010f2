/*
 * run.c — one render, start to end, in this process: build the graph, open
 * the output, then pump: drain the sinks into the encoders, and when the
 * graph wants input, feed the source that asked for it most. Reports
 * progress (frames encoded of frames total) and stops when told to.
 */
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "log.h"

/* libav's messages: errors only, one line each, our program name first. */
static void
av_log_line(void *avcl, int level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	(void)avcl;
	if (level > AV_LOG_ERROR)
		return;
	vsnprintf(line, sizeof line, fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (n > 0)
		log_warnx("libav: %s", line);
}

void
render_init(void)
{
	av_log_set_callback(av_log_line);
}

/* report: tell spec->progress how far the render is: at each new frame out,
 * and, with nothing new, at least every 250 ms while work goes on. The
 * watchdog hears of every call; so a GIF's palette pass (which holds every
 * frame until the end, then lets them all out at once) is not taken for a
 * stall, while a source blocked in I/O, which stops all work, still is. */
static void
report(struct output *o)
{
	const struct render_spec *spec = o->spec;
	int64_t now;

	if (spec == NULL || spec->progress == NULL)
		return;
	now = mono_ms();
	if (o->frames == o->reported_frames && now - o->reported_ms < 250)
		return;
	o->reported_frames = o->frames;
	o->reported_ms = now;
	spec->progress(spec->progress_arg, o->frames, o->frames_total);
}

/* drain_sink: encode every frame the sink has; 1 at its end, 0, or -1. */
static int
drain_sink(AVFilterContext *sink, AVFrame *f, struct output *o, bool video,
    char *err, size_t err_size)
{
	int ret;

	for (;;) {
		ret = av_buffersink_get_frame_flags(sink, f,
		    AV_BUFFERSINK_FLAG_NO_REQUEST);
		if (ret == AVERROR(EAGAIN))
			return 0;
		if (ret == AVERROR_EOF)
			return 1;
		if (ret < 0) {
			av_err(err, err_size, "filtering failed", ret);
			return -1;
		}
		ret = video ? output_video(o, f, err, err_size) :
		    output_audio(o, f, err, err_size);
		av_frame_unref(f);
		if (ret == -1)
			return -1;
		report(o);
	}
}

/* feed: give the graph what it waits for. 0, or -1. */
static int
feed(struct build *b, char *err, size_t err_size, bool *stalled)
{
	struct source *best = NULL;
	unsigned best_req = 0;

	for (int i = 0; i < b->nsrc; i++) {
		struct source *s = b->src[i];
		unsigned req;
		if (s->done)
			continue;
		req = av_buffersrc_get_nb_failed_requests(s->buf);
		if (best == NULL || req > best_req ||
		    (req == best_req && s->last_s < best->last_s)) {
			best = s;
			best_req = req;
		}
	}
	if (best == NULL) {
		*stalled = true;
		return 0;
	}
	*stalled = false;
	return source_feed(best, err, err_size);
}

int
render_run(const struct render_spec *spec, char *err, size_t err_size,
    const char **code)
{
	struct build b = { .spec = spec };
	struct output o = { 0 };
	AVFrame *frame = NULL;
	bool vdone = false, adone = false, stalled;
	int64_t last_frames = 0;
	long idle = 0;
	int rc = -1, r;

	err[0] = '\0';
	if (graph_build(&b, err, err_size, code) == -1)
		goto out;
	*code = "WORKER_FFMPEG_ENCODING_ERROR";
	if (output_open(&o, &b, err, err_size) == -1)
		goto out;
	o.frames_total = b.nframes + 1;
	o.reported_frames = -1;
	if ((frame = av_frame_alloc()) == NULL) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	adone = b.aout == NULL;
	while (!vdone || !adone) {
		if (spec->stop && *spec->stop != RENDER_GO) {
			snprintf(err, err_size, *spec->stop == RENDER_CANCEL ?
			    "cancelled" : "stopped for a restart");
			*code = "CANCELLED";
			goto out;
		}
		/* ask the sinks; a request that cannot be met marks a source */
		if (!vdone) {
			r = av_buffersink_get_frame(b.vout, frame);
			if (r >= 0) {
				r = output_video(&o, frame, err, err_size);
				av_frame_unref(frame);
				if (r == -1)
					goto out;
			} else if (r == AVERROR_EOF)
				vdone = true;
			else if (r != AVERROR(EAGAIN)) {
				av_err(err, err_size, "filtering failed", r);
				*code = "WORKER_FATAL_ERROR";
				goto out;
			}
		}
		if (!adone) {
			r = av_buffersink_get_frame(b.aout, frame);
			if (r >= 0) {
				r = output_audio(&o, frame, err, err_size);
				av_frame_unref(frame);
				if (r == -1)
					goto out;
			} else if (r == AVERROR_EOF)
				adone = true;
			else if (r != AVERROR(EAGAIN)) {
				av_err(err, err_size, "filtering failed", r);
				*code = "WORKER_FATAL_ERROR";
				goto out;
			}
		}
		if ((r = drain_sink(b.vout, frame, &o, true, err, err_size)) == -1)
			goto out;
		vdone |= r == 1;
		if (b.aout) {
			if ((r = drain_sink(b.aout, frame, &o, false, err,
			    err_size)) == -1)
				goto out;
			adone |= r == 1;
		}
		/* a graph that spins without output is caught by the idle
		 * count below */
		report(&o);
		/* a segment without audio is done at its last frame */
		if (spec->frame_to > 0 && o.frames >= spec->frame_to &&
		    spec->no_audio)
			vdone = adone = true;
		if (vdone && adone)
			break;
		if (feed(&b, err, err_size, &stalled) == -1) {
			*code = "WORKER_IMPORT_ASSET_FAILED";
			goto out;
		}
		/* with every source done the graph runs on its own; if it
		 * does not, something is wrong with it */
		if (stalled && o.frames == last_frames && ++idle > 100000) {
			snprintf(err, err_size, "the filter graph stalled");
			*code = "WORKER_FATAL_ERROR";
			goto out;
		} else if (o.frames != last_frames) {
			last_frames = o.frames;
			idle = 0;
		}
	}
	if (spec->frame_to > 0 && spec->no_audio ? o.frames < spec->frame_to :
	    o.frames != b.nframes) {
		snprintf(err, err_size, "rendered %lld frames of %lld",
		    (long long)o.frames, (long long)b.nframes);
		*code = "WORKER_FATAL_ERROR";
		goto out;
	}
	if (output_close(&o, err, err_size) == -1)
		goto out;
	if (spec->progress)
		spec->progress(spec->progress_arg, b.nframes + 1, b.nframes + 1);
	rc = 0;
out:
	av_frame_free(&frame);
	output_free(&o);
	graph_free(&b);
	return rc;
}
