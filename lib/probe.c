/*
 * probe.c — media checks on fetched assets with libavformat/libavcodec
 * (probe.h). Owns the list of container formats vr accepts from clients and
 * the rule that says what kind (image, video, audio) a file is.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>

#include "clock.h"
#include "conf.h"
#include "log.h"
#include "probe.h"

/* Packets read while looking for one decodable frame. */
#define PROBE_MAX_PACKETS 2000

static int
past_deadline(void *arg)
{
	return mono_ms() > *(const int64_t *)arg;
}

void
probe_quiet(void)
{
	av_log_set_level(AV_LOG_QUIET);
}

static bool
is_image_format(const char *name)
{
	size_t n = strlen(name);

	return strcmp(name, "image2") == 0 || strcmp(name, "gif") == 0 ||
	    strcmp(name, "apng") == 0 ||
	    (n > 5 && strcmp(name + n - 5, "_pipe") == 0);
}

/* first_stream: the first stream of type, leaving cover art out. */
static int
first_stream(const AVFormatContext *fmt, enum AVMediaType type)
{
	for (unsigned i = 0; i < fmt->nb_streams; i++) {
		const AVStream *st = fmt->streams[i];
		if (st->codecpar->codec_type == type &&
		    !(st->disposition & AV_DISPOSITION_ATTACHED_PIC))
			return (int)i;
	}
	return -1;
}

static int64_t
duration_ms(const AVFormatContext *fmt, const AVStream *st)
{
	if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0)
		return fmt->duration / (AV_TIME_BASE / 1000);
	if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
		return av_rescale_q(st->duration, st->time_base,
		    (AVRational){ 1, 1000 });
	return -1;
}

/* max_pixels: decoders refuse pictures larger than the limits allow, so a
 * small file announcing a huge picture is not decoded into memory. */
static void
set_max_pixels(AVDictionary **opts)
{
	av_dict_set_int(opts, "max_pixels",
	    (int64_t)conf.asset_max_width * conf.asset_max_height, 0);
}

static int
find_stream_info(AVFormatContext *fmt)
{
	AVDictionary **opts = av_calloc(fmt->nb_streams, sizeof *opts);
	int rc;

	if (opts == NULL && fmt->nb_streams > 0)
		return AVERROR(ENOMEM);
	for (unsigned i = 0; i < fmt->nb_streams; i++)
		set_max_pixels(&opts[i]);
	rc = avformat_find_stream_info(fmt, opts);
	for (unsigned i = 0; i < fmt->nb_streams; i++)
		av_dict_free(&opts[i]);
	av_free(opts);
	return rc;
}

/* decode_one: read packets until one frame of stream idx decodes. */
static int
decode_one(AVFormatContext *fmt, int idx, char *err, size_t err_size)
{
	const AVCodecParameters *par = fmt->streams[idx]->codecpar;
	const AVCodec *dec = avcodec_find_decoder(par->codec_id);
	AVCodecContext *ctx = NULL;
	AVPacket *pkt = av_packet_alloc();
	AVFrame *frame = av_frame_alloc();
	AVDictionary *dec_opts = NULL;
	int rc = -1, got = 0, averr = 0;
	char why[AV_ERROR_MAX_STRING_SIZE] = "no frame";

	if (dec == NULL) {
		snprintf(err, err_size, "no decoder for codec %s",
		    avcodec_get_name(par->codec_id));
		goto out;
	}
	if (pkt == NULL || frame == NULL ||
	    (ctx = avcodec_alloc_context3(dec)) == NULL ||
	    avcodec_parameters_to_context(ctx, par) < 0) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	ctx->thread_count = 1;
	set_max_pixels(&dec_opts);
	if ((averr = avcodec_open2(ctx, dec, &dec_opts)) < 0) {
		av_strerror(averr, why, sizeof why);
		snprintf(err, err_size, "cannot open %s decoder: %s", dec->name,
		    why);
		goto out;
	}
	for (int n = 0; !got && n < PROBE_MAX_PACKETS; n++) {
		averr = av_read_frame(fmt, pkt);
		if (averr < 0)
			break;
		if (pkt->stream_index == idx && avcodec_send_packet(ctx, pkt) >= 0)
			got = avcodec_receive_frame(ctx, frame) >= 0;
		av_packet_unref(pkt);
	}
	if (!got && avcodec_send_packet(ctx, NULL) >= 0)
		got = avcodec_receive_frame(ctx, frame) >= 0;
	if (!got) {
		if (averr < 0 && averr != AVERROR_EOF)
			av_strerror(averr, why, sizeof why);
		snprintf(err, err_size, "no %s frame could be decoded (%s)",
		    avcodec_get_name(par->codec_id), why);
		goto out;
	}
	rc = 0;
out:
	av_dict_free(&dec_opts);
	avcodec_free_context(&ctx);
	av_frame_free(&frame);
	av_packet_free(&pkt);
	return rc;
}

/* kind_check: the stream to decode for what is expected, or -1. */
static int
kind_check(AVFormatContext *fmt, const char *expected, struct probe_info *info,
    char *err, size_t err_size)
{
	int video = first_stream(fmt, AVMEDIA_TYPE_VIDEO);
	int audio = first_stream(fmt, AVMEDIA_TYPE_AUDIO);
	bool image = video >= 0 && is_image_format(fmt->iformat->name);

	info->has_audio = audio >= 0;
	if (video >= 0)
		strcpy(info->kind, image ? "image" : "video");
	else if (audio >= 0)
		strcpy(info->kind, "audio");
	else {
		snprintf(err, err_size, "no video or audio stream");
		return -1;
	}
	if (expected == NULL)
		return video >= 0 ? video : audio;
	if (strcmp(expected, "image") == 0 && image)
		return video;
	if (strcmp(expected, "video") == 0 && video >= 0 &&
	    (!image || strcmp(fmt->iformat->name, "gif") == 0))
		return video;
	if (strcmp(expected, "audio") == 0 && audio >= 0)
		return audio;
	if (strcmp(expected, "image") != 0 && strcmp(expected, "video") != 0 &&
	    strcmp(expected, "audio") != 0)
		return video >= 0 ? video : audio;
	snprintf(err, err_size, "expected %s, found %s (%s)", expected,
	    info->kind, info->format);
	return -1;
}

static int
limits_check(const AVFormatContext *fmt, int idx, struct probe_info *info,
    char *err, size_t err_size)
{
	const AVStream *st = fmt->streams[idx];
	const AVCodecParameters *par = st->codecpar;

	if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
		info->width = par->width;
		info->height = par->height;
		if (par->width <= 0 || par->height <= 0) {
			snprintf(err, err_size, "unreadable %s: no picture of at "
			    "most asset_max_width x asset_max_height (%dx%d) "
			    "decodes", info->format, conf.asset_max_width,
			    conf.asset_max_height);
			return -1;
		}
		if (par->width > conf.asset_max_width ||
		    par->height > conf.asset_max_height) {
			snprintf(err, err_size, "%dx%d is larger than "
			    "asset_max_width x asset_max_height (%dx%d)",
			    par->width, par->height, conf.asset_max_width,
			    conf.asset_max_height);
			return -1;
		}
	}
	info->duration_ms = strcmp(info->kind, "image") == 0 ? -1 :
	    duration_ms(fmt, st);
	if (info->duration_ms > conf.asset_max_duration_ms) {
		snprintf(err, err_size, "%.1f s long, over asset_max_duration "
		    "(%.1f s)", (double)info->duration_ms / 1000,
		    (double)conf.asset_max_duration_ms / 1000);
		return -1;
	}
	return 0;
}

int
probe_file(const char *path, const char *expected, struct probe_info *info,
    char *err, size_t err_size)
{
	AVFormatContext *fmt = avformat_alloc_context();
	AVDictionary *opts = NULL;
	int64_t deadline = mono_ms() + PROBE_TIMEOUT_MS;
	char why[AV_ERROR_MAX_STRING_SIZE];
	int rc = -1, averr, idx;

	memset(info, 0, sizeof *info);
	info->duration_ms = -1;
	err[0] = '\0';
	if (fmt == NULL) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	fmt->interrupt_callback.callback = past_deadline;
	fmt->interrupt_callback.opaque = &deadline;
	av_dict_set(&opts, "protocol_whitelist", "file", 0);
	av_dict_set(&opts, "format_whitelist", PROBE_FORMATS, 0);
	if ((averr = avformat_open_input(&fmt, path, NULL, &opts)) < 0) {
		av_strerror(averr, why, sizeof why);
		snprintf(err, err_size, "not a media file vr reads (%s)",
		    averr == AVERROR(EINVAL) ? "format not accepted" : why);
		goto out; /* fmt was freed */
	}
	snprintf(info->format, sizeof info->format, "%.*s",
	    (int)strcspn(fmt->iformat->name, ","), fmt->iformat->name);
	if ((averr = find_stream_info(fmt)) < 0) {
		av_strerror(averr, why, sizeof why);
		snprintf(err, err_size, "unreadable %s: %s", info->format, why);
		goto out;
	}
	if ((idx = kind_check(fmt, expected, info, err, err_size)) < 0 ||
	    limits_check(fmt, idx, info, err, err_size) == -1)
		goto out;
	snprintf(info->codec, sizeof info->codec, "%s",
	    avcodec_get_name(fmt->streams[idx]->codecpar->codec_id));
	if (decode_one(fmt, idx, err, err_size) == -1)
		goto out;
	rc = 0;
out:
	if (rc == -1 && mono_ms() > deadline)
		snprintf(err, err_size, "probing took longer than %d ms",
		    PROBE_TIMEOUT_MS);
	av_dict_free(&opts);
	avformat_close_input(&fmt);
	return rc;
}
