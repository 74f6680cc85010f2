/*
 * encode.c — the output of a render: encoders and muxer (MP4: H.264 + AAC,
 * faststart or fragmented; WebM: VP9 + Opus; GIF with the palette made by
 * the graph) and thumbnails (PNG or JPEG) taken from the encoded frames.
 */
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static int
efail(char *err, size_t err_size, const char *what, int averr)
{
	av_err(err, err_size, what, averr);
	return -1;
}

static AVCodecContext *
encoder(const char *name, char *err, size_t err_size)
{
	const AVCodec *c = avcodec_find_encoder_by_name(name);
	AVCodecContext *ctx;

	if (c == NULL || (ctx = avcodec_alloc_context3(c)) == NULL) {
		snprintf(err, err_size, "encoder %s is not available", name);
		return NULL;
	}
	return ctx;
}

static int
open_video(struct output *o, const struct build *b, char *err,
    size_t err_size)
{
	const char *fmt = b->format;
	AVCodecContext *c;
	int ret;

	if (strcmp(fmt, "webm") == 0)
		c = encoder("libvpx-vp9", err, err_size);
	else if (strcmp(fmt, "gif") == 0)
		c = encoder("gif", err, err_size);
	else
		c = encoder("libx264", err, err_size);
	if ((o->venc = c) == NULL)
		return -1;
	c->width = b->width;
	c->height = b->height;
	c->time_base = (AVRational){ 1, b->fps };
	c->framerate = (AVRational){ b->fps, 1 };
	c->sample_aspect_ratio = (AVRational){ 1, 1 };
	c->pix_fmt = strcmp(fmt, "gif") == 0 ? AV_PIX_FMT_PAL8 :
	    AV_PIX_FMT_YUV420P;
	c->thread_count = 0;
	if (strcmp(fmt, "webm") == 0) {
		av_opt_set(c->priv_data, "deadline", "realtime", 0);
		av_opt_set(c->priv_data, "cpu-used", "8", 0);
		av_opt_set(c->priv_data, "row-mt", "1", 0);
		av_opt_set(c->priv_data, "crf", "32", 0);
		c->bit_rate = 0;
	} else if (strcmp(fmt, "gif") != 0) {
		av_opt_set(c->priv_data, "preset", o->spec->x264_preset ?
		    o->spec->x264_preset : "veryfast", 0);
		av_opt_set(c->priv_data, "crf", "23", 0);
		/* a segment joins others by copy: decode order = display order */
		if (o->spec->frame_to > 0)
			c->max_b_frames = 0;
	}
	/* streamed while it renders: a fragment (and HLS segment) a second */
	if (o->spec->fragmented)
		c->gop_size = b->fps;
	if (o->oc->oformat->flags & AVFMT_GLOBALHEADER)
		c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	if ((ret = avcodec_open2(c, c->codec, NULL)) < 0)
		return efail(err, err_size, "cannot open the video encoder", ret);
	if ((o->vst = avformat_new_stream(o->oc, NULL)) == NULL)
		return efail(err, err_size, "cannot add a stream", AVERROR(ENOMEM));
	o->vst->time_base = c->time_base;
	o->vst->avg_frame_rate = c->framerate;
	if ((ret = avcodec_parameters_from_context(o->vst->codecpar, c)) < 0)
		return efail(err, err_size, "cannot add a stream", ret);
	return 0;
}

static int
open_audio(struct output *o, const struct build *b, char *err,
    size_t err_size)
{
	bool opus = strcmp(b->format, "webm") == 0;
	AVChannelLayout stereo = AV_CHANNEL_LAYOUT_STEREO;
	AVCodecContext *c;
	int ret;

	if ((o->aenc = c = encoder(opus ? "libopus" : "aac", err, err_size))
	    == NULL)
		return -1;
	c->sample_rate = 48000;
	c->sample_fmt = opus ? AV_SAMPLE_FMT_FLT : AV_SAMPLE_FMT_FLTP;
	av_channel_layout_copy(&c->ch_layout, &stereo);
	c->bit_rate = opus ? 96000 : 128000;
	c->time_base = (AVRational){ 1, 48000 };
	if (o->oc->oformat->flags & AVFMT_GLOBALHEADER)
		c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	if ((ret = avcodec_open2(c, c->codec, NULL)) < 0)
		return efail(err, err_size, "cannot open the audio encoder", ret);
	if ((o->ast = avformat_new_stream(o->oc, NULL)) == NULL)
		return efail(err, err_size, "cannot add a stream", AVERROR(ENOMEM));
	o->ast->time_base = c->time_base;
	if ((ret = avcodec_parameters_from_context(o->ast->codecpar, c)) < 0)
		return efail(err, err_size, "cannot add a stream", ret);
	return 0;
}

int
output_open(struct output *o, const struct build *b, char *err,
    size_t err_size)
{
	const struct render_spec *spec = b->spec;
	AVDictionary *opts = NULL;
	int ret;

	o->spec = spec;
	if ((o->pkt = av_packet_alloc()) == NULL)
		return efail(err, err_size, "output", AVERROR(ENOMEM));
	ret = avformat_alloc_output_context2(&o->oc, NULL, b->format,
	    spec->out_path);
	if (ret < 0)
		return efail(err, err_size, "cannot make the output", ret);
	if (open_video(o, b, err, err_size) == -1)
		return -1;
	if (b->aout && !spec->no_audio && open_audio(o, b, err, err_size) == -1)
		return -1;
	if ((ret = avio_open(&o->oc->pb, spec->out_path, AVIO_FLAG_WRITE)) < 0)
		return efail(err, err_size, "cannot write the output", ret);
	if (strcmp(b->format, "mp4") == 0)
		av_dict_set(&opts, "movflags", spec->fragmented ?
		    "frag_keyframe+empty_moov+default_base_moof" : "+faststart", 0);
	/* a reader follows the growing file: each fragment reaches it whole */
	if (spec->fragmented)
		o->oc->flags |= AVFMT_FLAG_FLUSH_PACKETS;
	ret = avformat_write_header(o->oc, &opts);
	av_dict_free(&opts);
	if (ret < 0)
		return efail(err, err_size, "cannot write the output", ret);
	o->header = true;
	/* thumbnails: frame numbers of the requested times */
	if (spec->nthumb > 0) {
		o->thumb_frame = av_calloc((size_t)spec->nthumb,
		    sizeof *o->thumb_frame);
		if (o->thumb_frame == NULL)
			return efail(err, err_size, "thumbnails", AVERROR(ENOMEM));
		for (int i = 0; i < spec->nthumb; i++) {
			int64_t n = llrint(spec->thumb_at[i] * b->fps);
			o->thumb_frame[i] = n < 0 ? 0 : n >= b->nframes ?
			    b->nframes - 1 : n;
		}
		o->nthumb = spec->nthumb;
	}
	return 0;
}

/* drain: write the packets the encoder has ready. */
static int
drain(struct output *o, AVCodecContext *c, AVStream *st, char *err,
    size_t err_size)
{
	int ret;

	for (;;) {
		ret = avcodec_receive_packet(c, o->pkt);
		if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
			return 0;
		if (ret < 0)
			return efail(err, err_size, "encoding failed", ret);
		av_packet_rescale_ts(o->pkt, c->time_base, st->time_base);
		o->pkt->stream_index = st->index;
		if ((ret = av_interleaved_write_frame(o->oc, o->pkt)) < 0)
			return efail(err, err_size, "cannot write the output", ret);
	}
}

static int
thumbnail(struct output *o, const AVFrame *f, int index, char *err,
    size_t err_size)
{
	bool jpg = o->spec->thumb_ext && strcmp(o->spec->thumb_ext, "jpg") == 0;
	enum AVPixelFormat pf = jpg ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_RGB24;
	AVCodecContext *c = NULL;
	struct SwsContext *sws = NULL;
	AVFrame *pic = NULL;
	AVPacket *pkt = NULL;
	char path[4200];
	FILE *fp = NULL;
	int ret = AVERROR(ENOMEM), rc = -1;

	if (f->format == AV_PIX_FMT_PAL8)
		pf = jpg ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_RGB24;
	snprintf(path, sizeof path, "%s/thumbnail-%d.%s", o->spec->thumb_dir,
	    index + 1, jpg ? "jpg" : "png");
	if ((c = encoder(jpg ? "mjpeg" : "png", err, err_size)) == NULL)
		return -1;
	c->width = f->width;
	c->height = f->height;
	c->pix_fmt = pf;
	c->time_base = (AVRational){ 1, 25 };
	c->color_range = AVCOL_RANGE_JPEG;
	if (jpg) {
		c->flags |= AV_CODEC_FLAG_QSCALE;
		/* FX's q=1..100 onto mjpeg's scale, 31 (worst) to 2 (best) */
		int q = o->spec->thumb_quality > 100 ? 100 :
		    o->spec->thumb_quality;
		c->global_quality = FF_QP2LAMBDA * (q > 0 ? 31 - (q - 1) * 29 /
		    99 : 3);
	}
	if ((ret = avcodec_open2(c, c->codec, NULL)) < 0)
		goto out;
	ret = AVERROR(ENOMEM);
	if ((pic = av_frame_alloc()) == NULL || (pkt = av_packet_alloc()) == NULL)
		goto out;
	pic->format = pf;
	pic->width = f->width;
	pic->height = f->height;
	if ((ret = av_frame_get_buffer(pic, 0)) < 0)
		goto out;
	sws = sws_getContext(f->width, f->height, f->format, f->width, f->height,
	    pf, SWS_BICUBIC, NULL, NULL, NULL);
	if (sws == NULL)
		goto out;
	sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0,
	    f->height, pic->data, pic->linesize);
	pic->pts = 0;
	pic->quality = c->global_quality;  /* a fixed qscale is read per frame */
	if ((ret = avcodec_send_frame(c, pic)) < 0 ||
	    (ret = avcodec_send_frame(c, NULL)) < 0 ||
	    (ret = avcodec_receive_packet(c, pkt)) < 0)
		goto out;
	ret = AVERROR(EIO);
	if ((fp = fopen(path, "wb")) == NULL ||
	    fwrite(pkt->data, 1, (size_t)pkt->size, fp) != (size_t)pkt->size)
		goto out;
	if (fclose(fp) != 0) {
		fp = NULL;
		goto out;
	}
	fp = NULL;
	rc = 0;
out:
	if (rc == -1)
		efail(err, err_size, "cannot write a thumbnail", ret);
	if (fp)
		fclose(fp);
	sws_freeContext(sws);
	av_frame_free(&pic);
	av_packet_free(&pkt);
	avcodec_free_context(&c);
	return rc;
}

int
output_video(struct output *o, AVFrame *f, char *err, size_t err_size)
{
	int ret;

	if (f) {
		int64_t index = o->frames++;
		/* a segment encodes its frames only (and their thumbnails) */
		if (o->spec->frame_to > 0 && (index < o->spec->frame_from ||
		    index >= o->spec->frame_to))
			return 0;
		for (int i = 0; i < o->nthumb; i++)
			if (o->thumb_frame[i] == index &&
			    thumbnail(o, f, i, err, err_size) == -1)
				return -1;
		f->pict_type = AV_PICTURE_TYPE_NONE;
		f->pts = index;
	}
	if ((ret = avcodec_send_frame(o->venc, f)) < 0)
		return efail(err, err_size, "video encoding failed", ret);
	return drain(o, o->venc, o->vst, err, err_size);
}

int
output_audio(struct output *o, AVFrame *f, char *err, size_t err_size)
{
	int ret;

	if (o->aenc == NULL)
		return 0;
	if ((ret = avcodec_send_frame(o->aenc, f)) < 0)
		return efail(err, err_size, "audio encoding failed", ret);
	return drain(o, o->aenc, o->ast, err, err_size);
}

int
output_close(struct output *o, char *err, size_t err_size)
{
	int ret;

	if (output_video(o, NULL, err, err_size) == -1 ||
	    output_audio(o, NULL, err, err_size) == -1)
		return -1;
	if ((ret = av_write_trailer(o->oc)) < 0)
		return efail(err, err_size, "cannot finish the output", ret);
	o->header = false;
	if ((ret = avio_closep(&o->oc->pb)) < 0)
		return efail(err, err_size, "cannot finish the output", ret);
	return 0;
}

void
output_free(struct output *o)
{
	if (o->oc) {
		if (o->oc->pb)
			avio_closep(&o->oc->pb);
		avformat_free_context(o->oc);
	}
	avcodec_free_context(&o->venc);
	avcodec_free_context(&o->aenc);
	av_packet_free(&o->pkt);
	av_freep(&o->thumb_frame);
}
