/*
 * api/files.c — serving outputs (api.h): signed, expiring links
 * /files/ID/NAME?expires=&sig= (lib/sign.h) and promoted public links
 * /public/ID/TOKEN, with the file's Content-Type, single byte ranges (video
 * players seek) and Plainly's attachment / attachmentFileName.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/memops.h>

#include "api/api.h"
#include "clock.h"
#include "conf.h"
#include "id.h"
#include "job.h"
#include "log.h"
#include "sign.h"

static const char *
content_type(const char *name)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".mp4", "video/mp4" }, { ".webm", "video/webm" },
		{ ".gif", "image/gif" }, { ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" }, { ".png", "image/png" },
		{ ".m3u8", "application/vnd.apple.mpegurl" },
		{ ".ts", "video/mp2t" }, { ".mov", "video/quicktime" },
		{ ".json", "application/json" },
	};
	const char *dot = strrchr(name, '.');
	size_t i;

	for (i = 0; dot && i < sizeof types / sizeof types[0]; i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* parse_range: one "bytes=" range of a file of size bytes. 1 a range
 * (*start, *len), 0 none to honour (absent, several, malformed: the whole
 * file is sent), -1 unsatisfiable. */
static int
parse_range(const char *header, int64_t size, int64_t *start, int64_t *len)
{
	int64_t first, last;
	char *end;

	if (header == NULL || strncmp(header, "bytes=", 6) != 0 ||
	    strchr(header, ',') != NULL)
		return 0;
	header += 6;
	if (*header == '-') {        /* the last N bytes */
		errno = 0;
		last = strtoll(header + 1, &end, 10);
		if (errno || *end != '\0' || end == header + 1 || last < 0)
			return 0;
		if (last == 0 || size == 0)
			return -1;
		*len = last < size ? last : size;
		*start = size - *len;
		return 1;
	}
	errno = 0;
	first = strtoll(header, &end, 10);
	if (errno || end == header || *end != '-' || first < 0)
		return 0;
	header = end + 1;
	if (*header == '\0') {
		last = size - 1;
	} else {
		last = strtoll(header, &end, 10);
		if (errno || *end != '\0' || last < first)
			return 0;
		if (last > size - 1)
			last = size - 1;
	}
	if (first >= size)
		return -1;
	*start = first;
	*len = last - first + 1;
	return 1;
}

/* disposition: the Content-Disposition header line for name of job, or
 * "" — attachment only for the main output when the render asked. */
static void
disposition(jv job, const char *name, char *out, size_t size)
{
	jv format = jv_object_get(jv_copy(job), jv_string("outputFormat"));
	const char *output = job_str(job, "outputFile"), *wanted;
	const char *ext = strrchr(name, '.');
	char file[128];
	size_t i;

	out[0] = '\0';
	if (jv_get_kind(format) != JV_KIND_OBJECT || output == NULL ||
	    strcmp(output, name) != 0 ||
	    !jv_equal(jv_object_get(jv_copy(format), jv_string("attachment")),
	    jv_true())) {
		jv_free(format);
		return;
	}
	wanted = job_str(format, "attachmentFileName");
	snprintf(file, sizeof file, "%.100s", wanted && *wanted ? wanted : "");
	if (file[0] == '\0')
		snprintf(file, sizeof file, "%.*s",
		    (int)(ext ? (size_t)(ext - name) : strlen(name)), name);
	/* a header is no place for quotes or control characters */
	for (i = 0; file[i] != '\0'; i++)
		if (!(file[i] >= 'A' && file[i] <= 'Z') &&
		    !(file[i] >= 'a' && file[i] <= 'z') &&
		    !(file[i] >= '0' && file[i] <= '9') &&
		    file[i] != '-' && file[i] != '_' && file[i] != '.' &&
		    file[i] != ' ')
			file[i] = '_';
	snprintf(out, size, "Content-Disposition: attachment; "
	    "filename=\"%s%s\"\r\n", file, ext ? ext : "");
	jv_free(format);
}

static bool
job_expired(jv job)
{
	return jv_equal(jv_object_get(jv_copy(job), jv_string("expired")),
	    jv_true());
}

/* serve: out/ID/NAME of job (consumed), whole or the range asked. */
static void
serve(struct api *a, const char *id, const char *name, jv job)
{
	char rel[ID_LEN + 80], path[4096], headers[512], attach[256];
	int64_t start = 0, len;
	struct stat st;
	int fd, range;

	snprintf(rel, sizeof rel, "%s/%s", id, name);
	if (spool_path(&a->sp, SD_OUT, rel, path, sizeof path) == -1 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (job_expired(job))
			api_error(a, 410, "RENDER_EXPIRED", "the file expired");
		else
			api_error(a, 404, "FILE_DOES_NOT_EXIST", "no file %s",
			    name);
		jv_free(job);
		return;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		jv_free(job);
		api_error(a, 404, "FILE_DOES_NOT_EXIST", "no file %s", name);
		return;
	}
	disposition(job, name, attach, sizeof attach);
	jv_free(job);
	len = st.st_size;
	range = parse_range(http_header_get(a->req, "Range"), st.st_size,
	    &start, &len);
	if (range == -1) {
		snprintf(headers, sizeof headers,
		    "Content-Range: bytes */%lld\r\n", (long long)st.st_size);
		close(fd);
		http_respond(a->c, 416, NULL, headers, "", 0);
		return;
	}
	if (range == 1)
		snprintf(headers, sizeof headers, "Accept-Ranges: bytes\r\n"
		    "Content-Range: bytes %lld-%lld/%lld\r\n%s",
		    (long long)start, (long long)(start + len - 1),
		    (long long)st.st_size, attach);
	else
		snprintf(headers, sizeof headers, "Accept-Ranges: bytes\r\n%s",
		    attach);
	if (http_head(a->c, range == 1 ? 206 : 200, content_type(name), headers,
	    len) == 0)
		http_sendfile(a->c, fd, (off_t)start, len);
	close(fd);
}

static bool
get_or_head(struct api *a)
{
	if (strcmp(a->req->method, "GET") == 0 ||
	    strcmp(a->req->method, "HEAD") == 0)
		return true;
	api_error(a, 405, "METHOD_NOT_ALLOWED", "use GET");
	return false;
}

void
files_route(struct api *a, char *seg[], int nseg)
{
	char expires_text[32], sig[160], *end;
	int64_t expires;
	enum sdir dir;
	jv job;

	if (nseg != 2 || !id_valid(seg[0]) || !name_valid(seg[1])) {
		api_error(a, 404, "FILE_DOES_NOT_EXIST", "no such file");
		return;
	}
	if (!get_or_head(a))
		return;
	if (!http_query_get(a->req, "expires", expires_text,
	    sizeof expires_text) ||
	    !http_query_get(a->req, "sig", sig, sizeof sig)) {
		api_error(a, 403, "FILE_SIGNATURE_INVALID",
		    "the link has no signature");
		return;
	}
	errno = 0;
	expires = strtoll(expires_text, &end, 10);
	if (errno || *end != '\0' || end == expires_text ||
	    !sign_check(seg[0], seg[1], expires, sig)) {
		api_error(a, 403, "FILE_SIGNATURE_INVALID",
		    "the link's signature does not match");
		return;
	}
	if (expires < now_ms() / 1000) {
		api_error(a, 410, "RENDER_EXPIRED", "the link expired");
		return;
	}
	job = spool_lookup(&a->sp, seg[0], &dir);
	if (!jv_is_valid(job)) {
		jv_free(job);
		api_error(a, 404, "RENDER_DOES_NOT_EXIST", "no render %s",
		    seg[0]);
		return;
	}
	if (job_expired(job)) {
		jv_free(job);
		api_error(a, 410, "RENDER_EXPIRED", "the render's files expired");
		return;
	}
	serve(a, seg[0], seg[1], job);
}

void
public_route(struct api *a, char *seg[], int nseg)
{
	const char *token, *output;
	enum sdir dir = SD_TMP;
	char name[128];
	jv job;

	if (nseg != 2 || !id_valid(seg[0]) || strlen(seg[1]) != 32) {
		api_error(a, 404, "FILE_DOES_NOT_EXIST", "no such link");
		return;
	}
	if (!get_or_head(a))
		return;
	job = spool_lookup(&a->sp, seg[0], &dir);
	token = jv_is_valid(job) ? job_str(job, "publicToken") : NULL;
	output = jv_is_valid(job) ? job_str(job, "outputFile") : NULL;
	if (dir != SD_DONE || token == NULL || strlen(token) != 32 ||
	    !memeql_sec(token, seg[1], 32) || output == NULL ||
	    !name_valid(output)) {
		jv_free(job);
		api_error(a, 404, "FILE_DOES_NOT_EXIST", "no such link");
		return;
	}
	if (job_expired(job)) {
		jv_free(job);
		api_error(a, 410, "RENDER_EXPIRED", "the render's files expired");
		return;
	}
	snprintf(name, sizeof name, "%s", output);
	serve(a, seg[0], name, job);
}
