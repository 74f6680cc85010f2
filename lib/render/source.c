/*
 * source.c — media inputs: open one stream of a local file (an asset from
 * the spool's cache, a file of the project) with libavformat, decode it with
 * libavcodec, strict about damage, and push its frames into the graph's
 * buffer source with timestamps rebased to output time. Images decode once;
 * clips and sounds may loop until their layer ends.
 */
#include <libavfilter/buffersrc.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Only files, and only the containers vr-validate lets through. */
#define PROTOCOLS "file"
#define FORMATS "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,ogg,mp3,wav,flac," \
	"aac,gif,image2,png_pipe,jpeg_pipe,webp_pipe,bmp_pipe,tiff_pipe"

void
av_err(char *err, size_t err_size, const char *what, int averr)
{
	char msg[AV_ERROR_MAX_STRING_SIZE] = "";

	av_strerror(averr, msg, sizeof msg);
	snprintf(err, err_size, "%s: %s", what, msg);
}

static int
fail(struct source *s, char *err, size_t err_size, const char *what,
    int averr)
{
	char msg[AV_ERROR_MAX_STRING_SIZE] = "";

	av_strerror(averr, msg, sizeof msg);
	snprintf(err, err_size, "layer %s: %s %s: %s", s->layer, what,
	    s->type == AVMEDIA_TYPE_AUDIO ? "audio" : s->image ? "image" :
	    "video", msg);
	return -1;
}

/* decode_next: the next decoded frame into s->frame. 0, AVERROR_EOF at
 * the end of the stream, or another AVERROR. */
static int
decode_next(struct source *s)
{
	int ret;

	for (;;) {
		ret = avcodec_receive_frame(s->dec, s->frame);
		if (ret != AVERROR(EAGAIN))
			return ret;
		if (s->flushing)
			return AVERROR_EOF;
		ret = av_read_frame(s->fmt, s->pkt);
		if (ret == AVERROR_EOF) {
			s->flushing = true;
			ret = avcodec_send_packet(s->dec, NULL);
		} else if (ret < 0)
			return ret;
		else if (s->pkt->stream_index != s->stream) {
			av_packet_unref(s->pkt);
			continue;
		} else {
			ret = avcodec_send_packet(s->dec, s->pkt);
			av_packet_unref(s->pkt);
		}
		if (ret < 0 && ret != AVERROR_EOF)
			return ret;
	}
}

static int
seek_start(struct source *s)
{
	AVStream *st = s->fmt->streams[s->stream];
	int64_t ts = 0;
	int ret;

	if (s->trim_s > 0)
		ts = av_rescale_q((int64_t)(s->trim_s * AV_TIME_BASE),
		    AV_TIME_BASE_Q, st->time_base);
	if (st->start_time != AV_NOPTS_VALUE)
		ts += st->start_time;
	ret = av_seek_frame(s->fmt, s->stream, ts, AVSEEK_FLAG_BACKWARD);
	avcodec_flush_buffers(s->dec);
	s->flushing = false;
	return ret;
}

int
source_open(struct source *s, char *err, size_t err_size)
{
	AVDictionary *opts = NULL;
	const AVCodec *codec = NULL;
	AVDictionaryEntry *e;
	int ret;

	s->pkt = av_packet_alloc();
	s->frame = av_frame_alloc();
	if (s->pkt == NULL || s->frame == NULL)
		return fail(s, err, err_size, "cannot decode", AVERROR(ENOMEM));
	av_dict_set(&opts, "protocol_whitelist", PROTOCOLS, 0);
	av_dict_set(&opts, "format_whitelist", FORMATS, 0);
	ret = avformat_open_input(&s->fmt, s->path, NULL, &opts);
	av_dict_free(&opts);
	if (ret < 0)
		return fail(s, err, err_size, "cannot open the", ret);
	if ((ret = avformat_find_stream_info(s->fmt, NULL)) < 0)
		return fail(s, err, err_size, "cannot read the", ret);
	ret = av_find_best_stream(s->fmt, s->type, -1, -1, &codec, 0);
	if (ret < 0)
		return fail(s, err, err_size, "no stream in the", ret);
	s->stream = ret;
	if ((s->dec = avcodec_alloc_context3(codec)) == NULL)
		return fail(s, err, err_size, "cannot decode the", AVERROR(ENOMEM));
	ret = avcodec_parameters_to_context(s->dec,
	    s->fmt->streams[s->stream]->codecpar);
	if (ret < 0)
		return fail(s, err, err_size, "cannot decode the", ret);
	s->dec->pkt_timebase = s->fmt->streams[s->stream]->time_base;
	/* damaged media fail the render rather than showing garbage */
	s->dec->err_recognition = AV_EF_EXPLODE;
	s->dec->thread_count = s->type == AVMEDIA_TYPE_VIDEO && !s->image ? 0 : 1;
	if ((ret = avcodec_open2(s->dec, codec, NULL)) < 0)
		return fail(s, err, err_size, "cannot decode the", ret);
	if (s->trim_s > 0 && !s->image && (ret = seek_start(s)) < 0)
		return fail(s, err, err_size, "cannot seek in the", ret);
	if (s->image) {
		if ((ret = decode_next(s)) < 0)
			return fail(s, err, err_size, "cannot decode the",
			    ret == AVERROR_EOF ? AVERROR_INVALIDDATA : ret);
		s->first = av_frame_clone(s->frame);
		av_frame_unref(s->frame);
		if (s->first == NULL)
			return fail(s, err, err_size, "cannot keep the",
			    AVERROR(ENOMEM));
		s->width = s->first->width;
		s->height = s->first->height;
		e = av_dict_get(s->first->metadata, "Orientation", NULL, 0);
		if (e != NULL)
			s->orientation = (int)strtol(e->value, NULL, 10);
	} else if (s->type == AVMEDIA_TYPE_VIDEO) {
		const uint8_t *m = av_stream_get_side_data(s->fmt->streams[s->stream],
		    AV_PKT_DATA_DISPLAYMATRIX, NULL);
		s->width = s->dec->width;
		s->height = s->dec->height;
		if (m != NULL) {
			/* the turn a player makes, as an EXIF orientation */
			double theta = -av_display_rotation_get((const int32_t *)m);
			int turn = (int)lrint(theta / 90) & 3;
			s->orientation = turn == 1 ? 6 : turn == 2 ? 3 : turn == 3 ? 8 : 1;
		}
	}
	if (s->orientation < 1 || s->orientation > 8)
		s->orientation = 1;
	if (s->type == AVMEDIA_TYPE_VIDEO && (s->width <= 0 || s->height <= 0))
		return fail(s, err, err_size, "no picture size in the",
		    AVERROR_INVALIDDATA);
	return 0;
}

int
source_buffer(struct source *s, AVFilterGraph *g, char *err, size_t err_size)
{
	AVBufferSrcParameters *par;
	AVStream *st = s->fmt->streams[s->stream];
	bool audio = s->type == AVMEDIA_TYPE_AUDIO;
	char name[160];
	int ret;

	snprintf(name, sizeof name, "src:%s", s->layer);
	s->buf = avfilter_graph_alloc_filter(g, avfilter_get_by_name(audio ?
	    "abuffer" : "buffer"), name);
	if (s->buf == NULL || (par = av_buffersrc_parameters_alloc()) == NULL)
		return fail(s, err, err_size, "cannot feed the", AVERROR(ENOMEM));
	if (audio) {
		par->time_base = (AVRational){ 1, s->dec->sample_rate };
		par->format = s->dec->sample_fmt;
		par->sample_rate = s->dec->sample_rate;
		if (s->dec->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
			av_channel_layout_default(&par->ch_layout,
			    s->dec->ch_layout.nb_channels);
		else
			av_channel_layout_copy(&par->ch_layout, &s->dec->ch_layout);
	} else {
		par->time_base = s->image ? (AVRational){ 1, 25 } : st->time_base;
		par->format = s->image ? s->first->format : s->dec->pix_fmt;
		par->width = s->width;
		par->height = s->height;
		par->sample_aspect_ratio = (AVRational){ 1, 1 };
	}
	ret = av_buffersrc_parameters_set(s->buf, par);
	av_channel_layout_uninit(&par->ch_layout);
	av_free(par);
	if (ret < 0 || (ret = avfilter_init_str(s->buf, NULL)) < 0)
		return fail(s, err, err_size, "cannot feed the", ret);
	return 0;
}

static int
push_end(struct source *s, char *err, size_t err_size)
{
	int ret;

	s->done = true;
	if ((ret = av_buffersrc_add_frame(s->buf, NULL)) < 0)
		return fail(s, err, err_size, "cannot end the", ret);
	return 0;
}

int
source_feed(struct source *s, char *err, size_t err_size)
{
	AVRational stb, tb;
	int64_t trim_pts, trim_end_pts, pts, dur;
	int ret;

	if (s->done)
		return 0;
	if (s->image) {
		s->first->pts = 0;
		if ((ret = av_buffersrc_add_frame_flags(s->buf, s->first,
		    AV_BUFFERSRC_FLAG_KEEP_REF)) < 0)
			return fail(s, err, err_size, "cannot use the", ret);
		return push_end(s, err, err_size);
	}
	stb = s->fmt->streams[s->stream]->time_base;
	tb = s->type == AVMEDIA_TYPE_AUDIO ?
	    (AVRational){ 1, s->dec->sample_rate } : stb;
	trim_pts = av_rescale_q((int64_t)(s->trim_s * AV_TIME_BASE),
	    AV_TIME_BASE_Q, tb);
	if (s->fmt->streams[s->stream]->start_time != AV_NOPTS_VALUE)
		trim_pts += av_rescale_q(s->fmt->streams[s->stream]->start_time,
		    stb, tb);
	trim_end_pts = trim_pts + av_rescale_q((int64_t)((s->trim_end_s -
	    s->trim_s) * AV_TIME_BASE), AV_TIME_BASE_Q, tb);
	if (!s->started) {
		s->base = av_rescale_q((int64_t)(s->start_s * AV_TIME_BASE),
		    AV_TIME_BASE_Q, tb);
		s->started = true;
	}
	for (;;) {
		ret = decode_next(s);
		if (ret == 0 && s->trim_end_s > s->trim_s &&
		    s->frame->best_effort_timestamp != AV_NOPTS_VALUE &&
		    av_rescale_q(s->frame->best_effort_timestamp, stb, tb) >=
		    trim_end_pts) {
			av_frame_unref(s->frame);   /* past the out point */
			ret = AVERROR_EOF;
		}
		if (ret == AVERROR_EOF) {
			if (!s->loop || !s->have_first_pts)
				return push_end(s, err, err_size);
			/* rewind: the next pass continues where this one ended */
			s->base = s->next_out;
			s->have_first_pts = false;
			if ((ret = seek_start(s)) < 0)
				return fail(s, err, err_size, "cannot loop the", ret);
			continue;
		}
		if (ret < 0)
			return fail(s, err, err_size, "cannot decode the", ret);
		pts = s->frame->best_effort_timestamp;
		if (pts != AV_NOPTS_VALUE)
			pts = av_rescale_q(pts, stb, tb);
		else if (s->have_first_pts)
			pts = s->next_out - s->base + s->first_pts;
		else
			pts = trim_pts;
		if (s->type == AVMEDIA_TYPE_AUDIO)
			dur = s->frame->nb_samples;
		else
			dur = s->frame->pkt_duration > 0 ? s->frame->pkt_duration : 1;
		if (pts + dur <= trim_pts) {
			av_frame_unref(s->frame);     /* before the trim point */
			continue;
		}
		if (!s->have_first_pts) {
			s->first_pts = pts;
			s->have_first_pts = true;
		}
		s->frame->pts = s->base + pts - s->first_pts;
		s->next_out = s->frame->pts + dur;
		s->last_s = s->frame->pts * av_q2d(tb);
		if (s->last_s >= s->end_s) {
			av_frame_unref(s->frame);
			return push_end(s, err, err_size);
		}
		ret = av_buffersrc_add_frame(s->buf, s->frame);
		if (ret < 0)
			return fail(s, err, err_size, "cannot use the", ret);
		return 0;
	}
}

void
source_close(struct source *s)
{
	if (s == NULL)
		return;
	avcodec_free_context(&s->dec);
	avformat_close_input(&s->fmt);
	av_packet_free(&s->pkt);
	av_frame_free(&s->frame);
	av_frame_free(&s->first);
}
