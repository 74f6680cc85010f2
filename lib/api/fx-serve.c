/*
 * api/fx-serve.c — the FX API's fetches (fx.h): GET /v2/MODE/TOKEN.EXT
 * sends a token's render whole (render), streamed while vr-render writes
 * it (get: the growing file followed with chunked transfer until the job
 * is final), or streamed at playback speed (play); m3u8 is an HLS playlist
 * over the fragmented MP4, listing its fragments as byte ranges as they
 * are written; jpg/png with ?frame=N is one frame. GET /v2/progress/TOKEN
 * counts frames. A client that goes away only ends its own connection:
 * the render is a job of its own and finishes regardless.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/fx.h"
#include "clock.h"
#include "conf.h"
#include "job.h"
#include "log.h"

#define POLL_MS 30
#define PREROLL_S 1.0      /* play: what a player buffers before it starts */
#define HLS_MAX_SEGMENTS 4096

static const char *
content_type(const char *ext)
{
	if (strcmp(ext, "mp4") == 0)
		return "video/mp4";
	if (strcmp(ext, "webm") == 0)
		return "video/webm";
	if (strcmp(ext, "gif") == 0)
		return "image/gif";
	if (strcmp(ext, "jpg") == 0)
		return "image/jpeg";
	if (strcmp(ext, "png") == 0)
		return "image/png";
	return "application/vnd.apple.mpegurl";
}

static void
pause_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

/* parse_want: TOKEN.EXT and the query into w; false (answered) if bad. */
static bool
parse_want(struct api *a, const char *file, struct fx_want *w)
{
	static const char *const exts[] = { "mp4", "webm", "gif", "jpg", "png",
	    "m3u8" };
	const char *dot = strrchr(file, '.');
	char text[32], *end;
	size_t i;
	long long n;

	memset(w, 0, sizeof *w);
	w->frame = -1;
	if (dot == NULL || dot - file != ID_LEN || strlen(dot + 1) >= sizeof w->ext) {
		fx_error(a, 404, "no such render: expected TOKEN.EXT");
		return false;
	}
	memcpy(w->token, file, ID_LEN);
	w->token[ID_LEN] = '\0';
	snprintf(w->ext, sizeof w->ext, "%s", dot + 1);
	for (i = 0; i < sizeof exts / sizeof exts[0]; i++)
		if (strcmp(w->ext, exts[i]) == 0)
			break;
	if (i == sizeof exts / sizeof exts[0]) {
		fx_error(a, 404, "no such format .%s (mp4, webm, gif, jpg, png, "
		    "m3u8)", w->ext);
		return false;
	}
	if (strcmp(w->ext, "jpg") == 0 || strcmp(w->ext, "png") == 0) {
		w->frame = 0;
		if (http_query_get(a->req, "frame", text, sizeof text)) {
			n = strtoll(text, &end, 10);
			if (end == text || *end != '\0' || n < 0 || n > 1000000) {
				fx_error(a, 400, "frame must be a frame number");
				return false;
			}
			w->frame = n;
		}
		if (http_query_get(a->req, "q", text, sizeof text)) {
			n = strtoll(text, &end, 10);
			if (end == text || *end != '\0' || n < 1 || n > 100) {
				fx_error(a, 400, "q must be a quality from 1 to 100");
				return false;
			}
			w->quality = (int)n;
		}
	}
	return true;
}

/* job_of: job id as it is now, and its directory (-1 when it is gone:
 * then an invalid). */
static jv
job_of(struct api *a, const char *id, int *dir)
{
	enum sdir d = SD_TMP;
	jv job = spool_lookup(&a->sp, id, &d);

	*dir = jv_is_valid(job) ? (int)d : -1;
	return job;
}

static void
answer_failed(struct api *a, jv job, int dir)
{
	jv error = jv_object_get(job, jv_string("error"));
	const char *message = jv_get_kind(error) == JV_KIND_OBJECT ?
	    job_str(error, "message") : NULL;

	fx_error(a, dir == SD_INVALID ? 400 : 500, "the render is %s: %s",
	    sdir_name((enum sdir)dir), message ? message : "no reason given");
	jv_free(error);
}

/* open_output: out/ID/NAME, or out/ID/.video.part while it renders. */
static int
open_output(struct api *a, const char *id, const char *name)
{
	char path[4096], rel[ID_LEN + 80];

	if (name == NULL || !name_valid(name))
		return -1;
	snprintf(rel, sizeof rel, "%s/%s", id, name);
	if (spool_path(&a->sp, SD_OUT, rel, path, sizeof path) == -1)
		return -1;
	return open(path, O_RDONLY | O_CLOEXEC);
}

static int
open_part(struct api *a, const char *id)
{
	char path[4096], rel[ID_LEN + 16];

	snprintf(rel, sizeof rel, "%s/.video.part", id);
	if (spool_path(&a->sp, SD_OUT, rel, path, sizeof path) == -1)
		return -1;
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* output_name: the file a done job's answer is: the video, or for a
 * frame its thumbnail. Borrowed from job. */
static const char *
output_name(jv job, bool frame)
{
	jv files;
	const char *name;

	if (!frame)
		return job_str(job, "outputFile");
	files = jv_object_get(jv_copy(job), jv_string("thumbnailFiles"));
	name = NULL;
	if (jv_get_kind(files) == JV_KIND_ARRAY &&
	    jv_array_length(jv_copy(files)) > 0) {
		jv first = jv_array_get(jv_copy(files), 0);
		/* the string lives in job, which holds the same array */
		if (jv_get_kind(first) == JV_KIND_STRING)
			name = jv_string_value(first);
		jv_free(first);
	}
	jv_free(files);
	return name;
}

/* send_whole: wait for the job to be final, then send its file. */
static void
send_whole(struct api *a, const char *id, const char *ext, bool frame)
{
	int64_t deadline = mono_ms() + conf.render_timeout_ms;
	char name[128];
	struct stat st;
	int dir, fd;
	jv job;

	if (fx_wait_final(a, id, deadline) == -1) {
		fx_error(a, 504, "the render did not finish in time");
		return;
	}
	job = job_of(a, id, &dir);
	if (!jv_is_valid(job)) {
		jv_free(job);
		fx_error(a, 404, "the render is gone");
		return;
	}
	if (dir != SD_DONE) {
		answer_failed(a, job, dir);
		return;
	}
	snprintf(name, sizeof name, "%s", output_name(job, frame) ?
	    output_name(job, frame) : "");
	jv_free(job);
	if ((fd = open_output(a, id, name)) == -1 || fstat(fd, &st) == -1) {
		if (fd != -1)
			close(fd);
		fx_error(a, 410, "the render's file is gone");
		return;
	}
	if (http_head(a->c, 200, content_type(ext), NULL, st.st_size) == 0)
		http_sendfile(a->c, fd, 0, st.st_size);
	close(fd);
}

/* rendered_s: seconds of video the job has written so far. */
static double
rendered_s(jv job, double duration, double fps)
{
	int64_t frames = job_int(job, "framesDone", -1);

	if (frames >= 0)
		return (double)frames / fps;
	return (double)job_int(job, "progress", 0) * duration / 100.0;
}

static int
send_chunk(struct api *a, int fd, off_t from, int64_t len)
{
	char head[32];

	snprintf(head, sizeof head, "%" PRIx64 "\r\n", len);
	if (http_write(a->c, head, strlen(head)) == -1 ||
	    http_sendfile(a->c, fd, from, len) == -1 ||
	    http_write(a->c, "\r\n", 2) == -1)
		return -1;
	return 0;
}

/* same_file: is fd the done job's output? (A render tried again starts a
 * new file: what was followed of the old one is not the video.) */
static bool
same_file(struct api *a, const char *id, int fd)
{
	struct stat ours, theirs;
	int dir, final_fd;
	bool same;
	jv job = job_of(a, id, &dir);

	final_fd = jv_is_valid(job) ? open_output(a, id, job_str(job,
	    "outputFile")) : -1;
	jv_free(job);
	same = final_fd != -1 && fstat(fd, &ours) == 0 &&
	    fstat(final_fd, &theirs) == 0 && ours.st_ino == theirs.st_ino &&
	    ours.st_dev == theirs.st_dev;
	if (final_fd != -1)
		close(final_fd);
	return same;
}

/* open_when_ready: the render's video once it exists: the finished output
 * (*done set true, when done is not NULL) or the part still growing. Waits
 * until deadline; fails early, having answered, when the render fails or
 * is gone (404), the finished file is missing (410) or nothing started in
 * time (504). The descriptor, or -1. */
static int
open_when_ready(struct api *a, const char *id, int64_t deadline, bool *done)
{
	int dir = -1, fd = -1;
	bool final;
	jv job;

	for (;;) {
		job = job_of(a, id, &dir);
		if (!jv_is_valid(job)) {
			jv_free(job);
			fx_error(a, 404, "the render is gone");
			return -1;
		}
		if (sdir_is_final((enum sdir)dir) && dir != SD_DONE) {
			answer_failed(a, job, dir);
			return -1;
		}
		final = dir == SD_DONE;
		fd = final ? open_output(a, id, job_str(job, "outputFile")) :
		    open_part(a, id);
		jv_free(job);
		if (fd != -1) {
			if (done != NULL)
				*done = final;
			return fd;
		}
		if (final) {
			fx_error(a, 410, "the render's file is gone");
			return -1;
		}
		if (mono_ms() >= deadline) {
			fx_error(a, 504, "the render did not start in time");
			return -1;
		}
		pause_ms(POLL_MS);
	}
}

/* stream: follow the growing file, chunked, until the job is final; when
 * paced, no faster than playback (after PREROLL_S). */
static void
stream(struct api *a, const char *id, const char *ext, bool paced,
    double duration, double fps)
{
	int64_t deadline = mono_ms() + conf.render_timeout_ms, start = 0;
	int64_t sent = 0, allowed;
	struct stat st;
	int dir = -1, fd = -1;
	bool final;
	jv job;

	if ((fd = open_when_ready(a, id, deadline, NULL)) == -1)
		return;
	if (http_head(a->c, 200, content_type(ext),
	    "Cache-Control: no-cache\r\n", -1) == -1 || http_is_head(a->c))
		goto out;
	start = mono_ms();
	for (;;) {
		/* the state first: a final job's file is complete */
		job = job_of(a, id, &dir);
		final = !jv_is_valid(job) || sdir_is_final((enum sdir)dir);
		if (fstat(fd, &st) == -1)
			break;
		allowed = st.st_size;
		if (paced) {
			double have = final ? duration : rendered_s(job, duration,
			    fps);
			double rate = have > 0.1 ? (double)st.st_size / have :
			    (double)st.st_size / 0.1;
			double played = (double)(mono_ms() - start) / 1000.0 +
			    PREROLL_S;
			if ((double)allowed > rate * played)
				allowed = (int64_t)(rate * played);
		}
		jv_free(job);
		if (allowed > sent) {
			if (send_chunk(a, fd, sent, allowed - sent) == -1)
				break;  /* the client left; the render goes on */
			sent = allowed;
			continue;
		}
		if (final && sent == st.st_size) {
			if (dir == SD_DONE && same_file(a, id, fd))
				http_write(a->c, "0\r\n\r\n", 5);
			else    /* a cut chunked stream tells the client */
				http_close_after(a->c);
			break;
		}
		if (mono_ms() >= deadline) {
			http_close_after(a->c);
			break;
		}
		pause_ms(POLL_MS);
	}
out:
	close(fd);
}

/* ---- HLS over the fragmented MP4 ---- */

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* box_find: the first box of type inside buf[0..len); its payload. */
static const unsigned char *
box_find(const unsigned char *buf, size_t len, const char *type,
    size_t *payload_len)
{
	size_t off = 0, size;

	while (off + 8 <= len) {
		size = be32(buf + off);
		if (size < 8 || off + size > len)
			return NULL;
		if (memcmp(buf + off + 4, type, 4) == 0) {
			*payload_len = size - 8;
			return buf + off + 8;
		}
		off += size;
	}
	return NULL;
}

struct fmp4 {
	int64_t init_len;         /* ftyp + moov */
	uint32_t video_track, timescale;
	int n;
	int64_t off[HLS_MAX_SEGMENTS], len[HLS_MAX_SEGMENTS];
	uint64_t t[HLS_MAX_SEGMENTS];  /* baseMediaDecodeTime of the video */
};

/* read_box: the whole box at off (at most 4 MB) into a malloc'ed buffer. */
static unsigned char *
read_box(int fd, off_t off, uint64_t size)
{
	unsigned char *buf;

	if (size > 4 << 20 || (buf = malloc(size)) == NULL)
		return NULL;
	if (pread(fd, buf, size, off) != (ssize_t)size) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* moov_video: the video track's id and timescale from moov's payload. */
static void
moov_video(struct fmp4 *m, const unsigned char *moov, size_t len)
{
	size_t off = 0, size, plen;
	const unsigned char *p, *mdia, *q;

	while (off + 8 <= len) {
		size = be32(moov + off);
		if (size < 8 || off + size > len)
			return;
		if (memcmp(moov + off + 4, "trak", 4) == 0) {
			const unsigned char *trak = moov + off + 8;
			size_t tlen = size - 8, mlen, hlen;
			p = box_find(trak, tlen, "tkhd", &plen);
			mdia = box_find(trak, tlen, "mdia", &mlen);
			q = mdia ? box_find(mdia, mlen, "hdlr", &hlen) : NULL;
			if (p && q && hlen >= 12 && memcmp(q + 8, "vide", 4) == 0) {
				m->video_track = be32(p + (p[0] == 1 ? 20 : 12));
				q = box_find(mdia, mlen, "mdhd", &hlen);
				if (q && hlen >= 24)
					m->timescale = be32(q + (q[0] == 1 ? 20 :
					    12));
				return;
			}
		}
		off += size;
	}
}

/* moof_time: the video's baseMediaDecodeTime in a moof payload. */
static bool
moof_time(const struct fmp4 *m, const unsigned char *moof, size_t len,
    uint64_t *t)
{
	size_t off = 0, size, plen;
	const unsigned char *p;

	while (off + 8 <= len) {
		size = be32(moof + off);
		if (size < 8 || off + size > len)
			return false;
		if (memcmp(moof + off + 4, "traf", 4) == 0) {
			const unsigned char *traf = moof + off + 8;
			p = box_find(traf, size - 8, "tfhd", &plen);
			if (p && plen >= 8 && be32(p + 4) == m->video_track) {
				p = box_find(traf, size - 8, "tfdt", &plen);
				if (p == NULL || plen < 8)
					return false;
				*t = p[0] == 1 && plen >= 12 ? be64(p + 4) :
				    be32(p + 4);
				return true;
			}
		}
		off += size;
	}
	return false;
}

/* fmp4_scan: the complete top-level boxes of the file so far: the init
 * section and each moof+mdat fragment that starts with video. */
static void
fmp4_scan(int fd, int64_t file_size, struct fmp4 *m)
{
	unsigned char head[16], *box;
	int64_t off = 0, moof_off = -1;
	uint64_t size, t = 0;

	memset(m, 0, sizeof *m);
	while (off + 8 <= file_size && m->n < HLS_MAX_SEGMENTS) {
		if (pread(fd, head, 16, off) < 8)
			break;
		size = be32(head);
		if (size == 1)
			size = be64(head + 8);
		if (size < 8 || off + (int64_t)size > file_size)
			break;
		if (memcmp(head + 4, "moov", 4) == 0 &&
		    (box = read_box(fd, off, size)) != NULL) {
			moov_video(m, box + 8, size - 8);
			free(box);
			m->init_len = off + (int64_t)size;
		} else if (memcmp(head + 4, "moof", 4) == 0) {
			moof_off = -1;
			if ((box = read_box(fd, off, size)) != NULL) {
				if (moof_time(m, box + 8, size - 8, &t))
					moof_off = off;
				free(box);
			}
		} else if (memcmp(head + 4, "mdat", 4) == 0 && moof_off >= 0) {
			m->off[m->n] = moof_off;
			m->len[m->n] = off + (int64_t)size - moof_off;
			m->t[m->n++] = t;
			moof_off = -1;
		}
		off += (int64_t)size;
	}
}

/* playlist: the HLS playlist of the render's fragments so far. */
static void
playlist(struct api *a, const char *id, const char *token, double duration)
{
	int64_t deadline = mono_ms() + conf.render_timeout_ms;
	struct fmp4 *m;
	struct stat st;
	int fd = -1, listed, i;
	bool final = false;
	double seg, longest = 1;
	jv text;

	if ((fd = open_when_ready(a, id, deadline, &final)) == -1)
		return;
	if ((m = malloc(sizeof *m)) == NULL || fstat(fd, &st) == -1) {
		free(m);
		close(fd);
		fx_error(a, 500, "out of memory");
		return;
	}
	fmp4_scan(fd, st.st_size, m);
	close(fd);
	/* while it renders, the last fragment's length in time is not known
	 * until the next one starts: list it then */
	listed = final ? m->n : m->n - 1;
	if (m->timescale == 0 || m->init_len == 0)
		listed = 0;
	for (i = 0; i < listed; i++) {
		seg = (i + 1 < m->n ? (double)(m->t[i + 1] - m->t[i]) /
		    m->timescale : duration - (double)m->t[i] / m->timescale);
		if (seg > longest)
			longest = seg;
	}
	text = jv_string_fmt("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:"
	    "%d\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n"
	    "#EXT-X-MAP:URI=\"%s.mp4\",BYTERANGE=\"%lld@0\"\n",
	    (int)(longest + 0.999), token, (long long)m->init_len);
	for (i = 0; i < listed; i++) {
		seg = (i + 1 < m->n ? (double)(m->t[i + 1] - m->t[i]) /
		    m->timescale : duration - (double)m->t[i] / m->timescale);
		text = jv_string_concat(text, jv_string_fmt("#EXTINF:%.3f,\n"
		    "#EXT-X-BYTERANGE:%lld@%lld\n%s.mp4\n", seg,
		    (long long)m->len[i], (long long)m->off[i], token));
	}
	if (final)
		text = jv_string_concat(text, jv_string("#EXT-X-ENDLIST\n"));
	free(m);
	http_respond(a->c, 200, content_type("m3u8"),
	    "Cache-Control: no-cache\r\n", jv_string_value(text),
	    (size_t)jv_string_length_bytes(jv_copy(text)));
	jv_free(text);
}

/* ranged: a Range request (HLS segments): bytes FIRST-LAST of the file,
 * waiting while it renders until they are written. */
static void
ranged(struct api *a, const char *id, const char *ext, const char *range)
{
	int64_t deadline = mono_ms() + conf.render_timeout_ms, first, last;
	char extra[128], *end;
	struct stat st;
	int dir, fd = -1;
	jv job;

	if (strncmp(range, "bytes=", 6) != 0 ||
	    (first = strtoll(range + 6, &end, 10)) < 0 || *end != '-') {
		fx_error(a, 416, "only one range of bytes FIRST-LAST");
		return;
	}
	last = end[1] == '\0' ? -1 : strtoll(end + 1, &end, 10);
	if (*end != '\0' || (last != -1 && last < first)) {
		fx_error(a, 416, "only one range of bytes FIRST-LAST");
		return;
	}
	for (;;) {
		job = job_of(a, id, &dir);
		if (!jv_is_valid(job)) {
			jv_free(job);
			fx_error(a, 404, "the render is gone");
			goto out;
		}
		if (sdir_is_final((enum sdir)dir) && dir != SD_DONE) {
			answer_failed(a, job, dir);
			goto out;
		}
		if (fd == -1)
			fd = dir == SD_DONE ? open_output(a, id, job_str(job,
			    "outputFile")) : open_part(a, id);
		jv_free(job);
		if (fd != -1 && fstat(fd, &st) == 0 && (dir == SD_DONE ||
		    (last >= 0 && st.st_size > last)))
			break;
		if (fd == -1 && dir == SD_DONE) {
			fx_error(a, 410, "the render's file is gone");
			return;
		}
		if (mono_ms() >= deadline) {
			fx_error(a, 504, "the render did not get there in time");
			goto out;
		}
		pause_ms(POLL_MS);
	}
	if (last == -1 || last >= st.st_size)
		last = st.st_size - 1;
	if (first > last) {
		fx_error(a, 416, "the file has %lld bytes", (long long)st.st_size);
		goto out;
	}
	snprintf(extra, sizeof extra, "Content-Range: bytes %lld-%lld/%lld\r\n",
	    (long long)first, (long long)last, (long long)st.st_size);
	if (http_head(a->c, 206, content_type(ext), extra, last - first + 1) == 0)
		http_sendfile(a->c, fd, first, last - first + 1);
out:
	if (fd != -1)
		close(fd);
}

void
fx_serve(struct api *a, const char *mode, const char *file)
{
	struct fx_want w;
	char id[ID_LEN + 1], movie[80];
	const char *range;
	double duration = 0, fps = 0;
	int dir;
	jv check, job;

	if (!parse_want(a, file, &w))
		return;
	check = fx_token(a, w.token);
	if (!jv_is_valid(check))
		return;
	if (!fx_render_job(a, check, &w, id)) {
		jv_free(check);
		return;
	}
	job = job_of(a, id, &dir);
	snprintf(movie, sizeof movie, "%s", jv_is_valid(job) &&
	    job_str(job, "templateId") ? job_str(job, "templateId") : "");
	jv_free(job);
	if (!fx_template_timing(job_str(check, "projectId"), movie, &duration,
	    &fps)) {
		duration = 1;
		fps = 25;
	}
	jv_free(check);
	range = http_header_get(a->req, "Range");
	if (w.frame >= 0)
		send_whole(a, id, w.ext, true);
	else if (strcmp(w.ext, "m3u8") == 0)
		playlist(a, id, w.token, duration);
	else if (range != NULL)
		ranged(a, id, w.ext, range);
	else if (strcmp(mode, "render") == 0 || strcmp(w.ext, "gif") == 0 ||
	    http_is_head(a->c))
		send_whole(a, id, w.ext, false);
	else
		stream(a, id, w.ext, strcmp(mode, "play") == 0, duration, fps);
}

/* ---- GET /v2/progress/TOKEN ---- */

static int
link_target(int dirfd, const char *name, char id[ID_LEN + 1])
{
	ssize_t n = readlinkat(dirfd, name, id, ID_LEN + 1);

	if (n != ID_LEN)
		return -1;
	id[ID_LEN] = '\0';
	return id_valid(id) ? 0 : -1;
}

void
fx_progress(struct api *a, const char *token)
{
	static const char *const exts[] = { "mp4", "webm", "gif" };
	char path[4096], name[FX_LINK_MAX], id[ID_LEN + 1];
	int64_t done = 0, total = 0;
	double duration, fps;
	int dirfd, dir;
	jv check, job;

	check = fx_token(a, token);
	if (!jv_is_valid(check))
		return;
	snprintf(path, sizeof path, "%s/%s", a->sp.root, FX_DIR);
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = 0; dirfd != -1 && i < sizeof exts / sizeof exts[0];
	    i++) {
		int64_t frames;

		snprintf(name, sizeof name, "%s.%s", token, exts[i]);
		if (link_target(dirfd, name, id) == -1)
			continue;
		job = job_of(a, id, &dir);
		if (!jv_is_valid(job)) {
			jv_free(job);
			continue;
		}
		frames = job_int(job, "framesTotal", -1);
		if (frames < 0 && fx_template_timing(job_str(job, "projectId"),
		    job_str(job, "templateId") ? job_str(job, "templateId") : "",
		    &duration, &fps))
			frames = (int64_t)(duration * fps + 0.5);
		if (frames > 0) {
			total += frames;
			if (dir == SD_DONE || dir == SD_UPLOADING)
				done += frames;
			else if (job_int(job, "framesDone", -1) >= 0)
				done += job_int(job, "framesDone", 0);
			else
				done += frames * job_int(job, "progress", 0) / 100;
		}
		jv_free(job);
	}
	if (dirfd != -1)
		close(dirfd);
	jv_free(check);
	api_json(a, 200, JV_OBJECT(jv_string("token"), jv_string(token),
	    jv_string("done"), jv_number((double)done),
	    jv_string("total"), jv_number((double)total)));
}
