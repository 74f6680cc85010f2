/*
 * parallel.c — FX's `parallel: N` (render_parallel in render.h): one MP4
 * render split into N time segments rendered at once by N child processes,
 * then joined by copying packets with libavformat, without re-encoding.
 *
 * Segment k encodes the video frames [k*F/N, (k+1)*F/N) with an encoder of
 * its own, so it begins on a keyframe, and without B-frames, so decoding
 * order is presentation order and the joined timestamps stay monotonic.
 * The last segment also encodes the whole audio track: audio is rendered
 * in one piece and has no joins. Progress is the sum of the segments'
 * frames, gathered through shared memory; a stop asked of this process is
 * passed to the children the same way. Children die with their parent.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libavformat/avformat.h>

#include "render.h"

#define SEGMENTS_MAX 16
#define WATCH_MS 100

struct shared {
	volatile sig_atomic_t stop;
	volatile int64_t done[SEGMENTS_MAX];
	char err[SEGMENTS_MAX][512];
	char code[SEGMENTS_MAX][64];
};

struct segment {
	struct shared *sh;
	int index;
	int64_t from, to;
};

/* segment_progress: the frames of its own the segment has encoded. */
static void
segment_progress(void *arg, int64_t done, int64_t total)
{
	struct segment *s = arg;

	(void)total;
	done = (done < s->to ? done : s->to) - s->from;
	s->sh->done[s->index] = done > 0 ? done : 0;
}

/* known_code: the static name of a segment's error code. */
static const char *
known_code(const char *code)
{
	static const char *const codes[] = {
		"WORKER_FFMPEG_ENCODING_ERROR", "WORKER_IMPORT_ASSET_FAILED",
		"WORKER_DOWNLOAD_ASSET_FAILED", "WORKER_TIMEOUT", "CANCELLED",
		"WORKER_SCRIPT_FATAL_ERROR", "PROJECT_TEMPLATE_DOES_NOT_EXIST",
	};

	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (strcmp(code, codes[i]) == 0)
			return codes[i];
	return "WORKER_FATAL_ERROR";
}

static void
seg_path(const struct render_spec *spec, int k, char *path, size_t size)
{
	snprintf(path, size, "%s.seg%d.mp4", spec->out_path, k);
}

/* segment_main: in the child, render segment k and exit. */
_Noreturn static void
segment_main(const struct render_spec *spec, struct shared *sh, int k, int n,
    int64_t nframes)
{
	struct render_spec seg = *spec;
	struct segment me = { sh, k, nframes * k / n, nframes * (k + 1) / n };
	char path[4200];
	const char *code = "WORKER_FATAL_ERROR";

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	seg_path(spec, k, path, sizeof path);
	seg.out_path = path;
	seg.fragmented = false;
	seg.frame_from = nframes * k / n;
	seg.frame_to = nframes * (k + 1) / n;
	seg.no_audio = k < n - 1;
	/* each segment writes the thumbnails that fall in its frames */
	seg.progress = segment_progress;
	seg.progress_arg = &me;
	seg.stop = &sh->stop;
	if (render_run(&seg, sh->err[k], sizeof sh->err[k], &code) == 0)
		_exit(0);
	snprintf(sh->code[k], sizeof sh->code[k], "%s", code);
	_exit(1);
}

static int
open_in(const char *path, AVFormatContext **in, enum AVMediaType type,
    int *stream, char *err, size_t err_size)
{
	int ret;

	*in = NULL;
	if ((ret = avformat_open_input(in, path, NULL, NULL)) < 0 ||
	    (ret = avformat_find_stream_info(*in, NULL)) < 0 ||
	    (ret = av_find_best_stream(*in, type, -1, -1, NULL, 0)) < 0) {
		snprintf(err, err_size, "cannot read segment %s: %s", path,
		    av_err2str(ret));
		return -1;
	}
	*stream = ret;
	return 0;
}

/* next_packet: the next packet of stream in in, or 1 at its end. */
static int
next_packet(AVFormatContext *in, int stream, AVPacket *pkt)
{
	int ret;

	for (;;) {
		if ((ret = av_read_frame(in, pkt)) < 0)
			return ret == AVERROR_EOF ? 1 : ret;
		if (pkt->stream_index == stream)
			return 0;
		av_packet_unref(pkt);
	}
}

/* join: the segments' video in order and the last one's audio into
 * spec->out_path. from[k] is segment k's first frame. */
static int
join(const struct render_spec *spec, int n, const int64_t *from, int fps,
    char *err, size_t err_size)
{
	AVFormatContext *vin[SEGMENTS_MAX] = { 0 }, *ain = NULL, *oc = NULL;
	AVStream *vst = NULL, *ast = NULL;
	AVPacket *vp = av_packet_alloc(), *ap = av_packet_alloc();
	AVDictionary *opts = NULL;
	char path[4200];
	int vs[SEGMENTS_MAX], as = -1, k, rc = -1, ret, vend, aend = 1;
	int64_t first = AV_NOPTS_VALUE, shift = 0, a_shift = 0;

	if (vp == NULL || ap == NULL) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	for (k = 0; k < n; k++) {
		seg_path(spec, k, path, sizeof path);
		if (open_in(path, &vin[k], AVMEDIA_TYPE_VIDEO, &vs[k], err,
		    err_size) == -1)
			goto out;
	}
	seg_path(spec, n - 1, path, sizeof path);
	if (avformat_open_input(&ain, path, NULL, NULL) < 0 ||
	    avformat_find_stream_info(ain, NULL) < 0) {
		snprintf(err, err_size, "cannot read segment %s", path);
		goto out;
	}
	as = av_find_best_stream(ain, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
	if ((ret = avformat_alloc_output_context2(&oc, NULL, "mp4",
	    spec->out_path)) < 0 || (vst = avformat_new_stream(oc, NULL)) ==
	    NULL || (as >= 0 && (ast = avformat_new_stream(oc, NULL)) == NULL)) {
		snprintf(err, err_size, "cannot make the joined output");
		goto out;
	}
	avcodec_parameters_copy(vst->codecpar, vin[0]->streams[vs[0]]->codecpar);
	vst->codecpar->codec_tag = 0;
	vst->time_base = vin[0]->streams[vs[0]]->time_base;
	vst->avg_frame_rate = (AVRational){ fps, 1 };
	if (ast != NULL) {
		avcodec_parameters_copy(ast->codecpar, ain->streams[as]->codecpar);
		ast->codecpar->codec_tag = 0;
		ast->time_base = ain->streams[as]->time_base;
	}
	if ((ret = avio_open(&oc->pb, spec->out_path, AVIO_FLAG_WRITE)) < 0) {
		snprintf(err, err_size, "cannot write the output: %s",
		    av_err2str(ret));
		goto out;
	}
	av_dict_set(&opts, "movflags", spec->fragmented ?
	    "frag_keyframe+empty_moov+default_base_moof" : "+faststart", 0);
	ret = avformat_write_header(oc, &opts);
	av_dict_free(&opts);
	if (ret < 0) {
		snprintf(err, err_size, "cannot write the output: %s",
		    av_err2str(ret));
		goto out;
	}
	k = 0;
	vend = 0;
	if (ast != NULL)
		aend = next_packet(ain, as, ap);
	if (aend < 0)
		goto read_failed;
	/* AAC's priming puts audio before 0; a fragmented MP4 has no edit
	 * list to hide it, and its muxer would stretch the first video frame
	 * to match: start the audio track at 0 with its priming, as a
	 * fragmented single render does */
	if (spec->fragmented && !aend && ap->dts < 0)
		a_shift = -av_rescale_q(ap->dts, ain->streams[as]->time_base,
		    ast->time_base);
	while (!vend || !aend) {
		/* the next video packet, moving on to the next segment */
		while (!vend && vp->data == NULL) {
			AVStream *st = vin[k]->streams[vs[k]];
			ret = next_packet(vin[k], vs[k], vp);
			if (ret < 0)
				goto read_failed;
			if (ret == 1) {
				first = AV_NOPTS_VALUE;
				if (++k == n)
					vend = 1;
				continue;
			}
			if (first == AV_NOPTS_VALUE) {
				first = vp->dts;
				shift = av_rescale_q(from[k], (AVRational){ 1, fps },
				    vst->time_base);
			}
			av_packet_rescale_ts(vp, st->time_base, vst->time_base);
			vp->pts += shift - av_rescale_q(first, st->time_base,
			    vst->time_base);
			vp->dts += shift - av_rescale_q(first, st->time_base,
			    vst->time_base);
			vp->stream_index = vst->index;
			vp->pos = -1;
		}
		if (!vend && (aend || av_compare_ts(vp->dts, vst->time_base,
		    ap->dts, ain->streams[as]->time_base) <= 0)) {
			ret = av_interleaved_write_frame(oc, vp);
			av_packet_unref(vp);
		} else {
			av_packet_rescale_ts(ap, ain->streams[as]->time_base,
			    ast->time_base);
			if (ap->pts != AV_NOPTS_VALUE)
				ap->pts += a_shift;
			if (ap->dts != AV_NOPTS_VALUE)
				ap->dts += a_shift;
			ap->stream_index = ast->index;
			ap->pos = -1;
			ret = av_interleaved_write_frame(oc, ap);
			av_packet_unref(ap);
			if (ret >= 0 && (aend = next_packet(ain, as, ap)) < 0)
				goto read_failed;
		}
		if (ret < 0) {
			snprintf(err, err_size, "cannot write the joined output: "
			    "%s", av_err2str(ret));
			goto out;
		}
	}
	if ((ret = av_write_trailer(oc)) < 0) {
		snprintf(err, err_size, "cannot finish the joined output: %s",
		    av_err2str(ret));
		goto out;
	}
	rc = 0;
	goto out;
read_failed:
	snprintf(err, err_size, "cannot read a segment back");
out:
	for (k = 0; k < n; k++)
		avformat_close_input(&vin[k]);
	avformat_close_input(&ain);
	if (oc != NULL) {
		avio_closep(&oc->pb);
		avformat_free_context(oc);
	}
	av_packet_free(&vp);
	av_packet_free(&ap);
	return rc;
}

int
render_parallel(const struct render_spec *spec, int n, char *err,
    size_t err_size, const char **code)
{
	struct timespec pause = { 0, WATCH_MS * 1000000L };
	struct shared *sh;
	pid_t pid[SEGMENTS_MAX];
	int64_t from[SEGMENTS_MAX], nframes, sum;
	int fps, k, running, status, failed = -1, rc = -1;
	char path[4200];
	double duration;
	jv v;

	*code = "WORKER_FATAL_ERROR";
	v = jv_object_get(jv_copy(spec->doc), jv_string("duration"));
	duration = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : 0;
	jv_free(v);
	v = jv_object_get(jv_copy(spec->doc), jv_string("fps"));
	fps = jv_get_kind(v) == JV_KIND_NUMBER ? (int)jv_number_value(v) : 0;
	jv_free(v);
	/* as graph.c counts them */
	nframes = (int64_t)ceil(duration * fps - 1e-9);
	if (n > SEGMENTS_MAX)
		n = SEGMENTS_MAX;
	if (n > nframes)
		n = (int)nframes;
	if (n <= 1 || strcmp(spec->format, "mp4") != 0 || spec->draft)
		return render_run(spec, err, err_size, code);
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		snprintf(err, err_size, "parallel: %s", strerror(errno));
		return -1;
	}
	memset(sh, 0, sizeof *sh);
	for (k = 0; k < n; k++) {
		from[k] = nframes * k / n;
		if ((pid[k] = fork()) == 0)
			segment_main(spec, sh, k, n, nframes);
		if (pid[k] == -1) {
			snprintf(err, err_size, "parallel: fork: %s",
			    strerror(errno));
			sh->stop = RENDER_CANCEL;
			n = k;
			break;
		}
	}
	for (running = n; running > 0;) {
		if (spec->stop && *spec->stop != RENDER_GO)
			sh->stop = *spec->stop;
		for (k = 0; k < n; k++) {
			if (pid[k] <= 0 || waitpid(pid[k], &status, WNOHANG) !=
			    pid[k])
				continue;
			pid[k] = 0;
			running--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				if (failed == -1)
					failed = k;
				sh->stop = RENDER_CANCEL;  /* the rest is lost */
			}
		}
		for (sum = 0, k = 0; k < n; k++)
			sum += sh->done[k];
		if (spec->progress)
			spec->progress(spec->progress_arg, sum > nframes ?
			    nframes : sum, nframes + 1);
		if (running > 0)
			nanosleep(&pause, NULL);
	}
	if (spec->stop && *spec->stop != RENDER_GO) {
		snprintf(err, err_size, *spec->stop == RENDER_CANCEL ?
		    "cancelled" : "stopped for a restart");
		*code = "CANCELLED";
	} else if (failed >= 0) {
		snprintf(err, err_size, "segment %d of %d: %s", failed + 1, n,
		    sh->err[failed][0] ? sh->err[failed] : "the renderer died");
		*code = known_code(sh->code[failed]);
	} else if (n > 0 && join(spec, n, from, fps, err, err_size) == 0) {
		rc = 0;
		if (spec->progress)
			spec->progress(spec->progress_arg, nframes + 1,
			    nframes + 1);
	}
	for (k = 0; k < n; k++) {
		seg_path(spec, k, path, sizeof path);
		unlink(path);
	}
	munmap(sh, sizeof *sh);
	return rc;
}
