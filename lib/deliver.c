/*
 * deliver.c — one attempt at one upload task over a libcurl multi handle
 * (deliver.h): the requests of each destination type, S3's multipart
 * upload as a small state machine (initiate, parts, complete; abort when
 * giving up), and the judgement of each failure: retry or not.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "deliver.h"
#include "guard.h"
#include "log.h"
#include "s3.h"
#include "upload.h"

#define PARTS_MAX 10000
#define PART_SIZE_MIN (5 << 20)  /* S3's smallest part but the last */
#define RESPONSE_MAX 65536       /* of an answer body we keep */
#define UPLOAD_BUFFER (1 << 20)  /* libcurl's upload buffer, for throughput */

enum rkind { R_SINGLE, R_INIT, R_PART, R_COMPLETE, R_ABORT };

struct request {
	struct delivery *d;
	enum rkind kind;
	int part;                  /* 1-based, R_PART */
	CURL *easy;
	struct curl_slist *headers;
	struct guard guard;
	off_t offset, length, sent; /* the body, a range of the file */
	char *body;                /* or this (R_COMPLETE) */
	char *response;
	size_t response_len;
	char etag[256];
	char errbuf[CURL_ERROR_SIZE];
	struct request *next;
};

struct delivery {
	CURLM *multi;
	char type[8];
	jv dest;
	int fd;
	off_t size;
	char *ext;
	char *url;                 /* the request URL (single transfers) */
	char *result_url;          /* what the job records */
	struct s3_target *s3;
	bool multipart, last_attempt, post;
	jv state;                  /* multipart: {uploadId, partSize, parts} */
	int nparts;
	int64_t part_size;
	char *part_busy;
	struct hasher *hasher;     /* part hashes, computed ahead; NULL when
	                            * the payload is not signed */
	struct request *requests;  /* in flight */
	bool failed, retry, aborting;
	char error[1024];
	void (*progress)(void *, jv);
	void (*done)(void *, struct delivery_end *);
	void *arg;
};

/*
 * When the payload is signed (s3_payload_signed), the parts'
 * x-amz-content-sha256 are computed by a thread running ahead of the
 * transfers, so that hashing (about 1 ms per MB) overlaps sending instead
 * of stalling the event loop before each part.
 */
struct hasher {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fd, nparts;
	off_t size, part_size;
	int done;                  /* parts [0, done) are hashed (or skipped) */
	char *skip;                /* parts already stored: not hashed */
	int error;                 /* errno of a failed read, or 0 */
	bool stop;
	char (*sha)[SHA256_HEX_LEN + 1];
};

static void *
hasher_run(void *arg)
{
	struct hasher *h = arg;

	for (int i = 0; i < h->nparts; i++) {
		off_t offset = (off_t)i * h->part_size;
		off_t length = h->size - offset < h->part_size ? h->size - offset :
		    h->part_size;
		char sha[SHA256_HEX_LEN + 1] = "";
		int rc = h->skip[i] ? 0 : s3_sha256_fd(h->fd, offset, length, sha);
		int saved = errno;
		bool stop;

		pthread_mutex_lock(&h->lock);
		if (rc == 0) {
			memcpy(h->sha[i], sha, sizeof sha);
			h->done = i + 1;
		} else {
			h->error = saved != 0 ? saved : EIO;
		}
		stop = h->stop || rc != 0;
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
		if (stop)
			break;
	}
	return NULL;
}

/* hasher_start: hash the parts of fd not marked in skip (copied). */
static struct hasher *
hasher_start(int fd, off_t size, off_t part_size, int nparts, const char *skip)
{
	struct hasher *h = calloc(1, sizeof *h);

	if (h == NULL || (h->sha = calloc((size_t)nparts, sizeof *h->sha)) == NULL ||
	    (h->skip = malloc((size_t)nparts)) == NULL) {
		if (h != NULL)
			free(h->sha);
		free(h);
		return NULL;
	}
	memcpy(h->skip, skip, (size_t)nparts);
	h->fd = fd;
	h->size = size;
	h->part_size = part_size;
	h->nparts = nparts;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (pthread_create(&h->thread, NULL, hasher_run, h) != 0) {
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->cond);
		free(h->skip);
		free(h->sha);
		free(h);
		return NULL;
	}
	return h;
}

/* hasher_get: part i's hash into sha, waiting for it if need be; -1 with
 * errno when the file could not be read. */
static int
hasher_get(struct hasher *h, int i, char sha[SHA256_HEX_LEN + 1])
{
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	while (h->done <= i && h->error == 0)
		pthread_cond_wait(&h->cond, &h->lock);
	if (h->done > i)
		memcpy(sha, h->sha[i], SHA256_HEX_LEN + 1);
	else
		rc = -1, errno = h->error;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static void
hasher_free(struct hasher *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h->skip);
	free(h->sha);
	free(h);
}

/* str: dest[key] as a string borrowed from dest, or NULL. */
static const char *
str(jv dest, const char *key)
{
	jv v = jv_object_get(jv_copy(dest), jv_string(key));
	const char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(v)) > 0)
		s = jv_string_value(v); /* dest still holds it */
	jv_free(v);
	return s;
}

static size_t
on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct request *r = arg;
	size_t want = size * n;
	ssize_t got;

	if ((off_t)want > r->length - r->sent)
		want = (size_t)(r->length - r->sent);
	if (want == 0)
		return 0;
	if (r->body != NULL) {
		memcpy(buf, r->body + r->sent, want);
		r->sent += (off_t)want;
		return want;
	}
	do
		got = pread(r->d->fd, buf, want, r->offset + r->sent);
	while (got < 0 && errno == EINTR);
	if (got <= 0) {
		snprintf(r->errbuf, sizeof r->errbuf, "reading the output: %s",
		    got < 0 ? strerror(errno) : "file shrank");
		return CURL_READFUNC_ABORT;
	}
	r->sent += got;
	return (size_t)got;
}

static int
on_seek(void *arg, curl_off_t offset, int origin)
{
	struct request *r = arg;

	if (origin != SEEK_SET || offset < 0 || offset > r->length)
		return CURL_SEEKFUNC_CANTSEEK;
	r->sent = offset;
	return CURL_SEEKFUNC_OK;
}

static size_t
on_write(char *data, size_t size, size_t n, void *arg)
{
	struct request *r = arg;
	size_t len = size * n, room = RESPONSE_MAX - r->response_len;
	char *grown;

	if (len < room)
		room = len;
	if (room > 0 && (grown = realloc(r->response, r->response_len + room + 1)) != NULL) {
		memcpy(grown + r->response_len, data, room);
		r->response_len += room;
		grown[r->response_len] = '\0';
		r->response = grown;
	}
	return len;
}

static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
	struct request *r = arg;
	size_t len = size * n;

	if (len > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		const char *v = data + 5;
		size_t vlen = len - 5;

		while (vlen > 0 && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
		    v[vlen - 1] == ' '))
			vlen--;
		if (vlen < sizeof r->etag) {
			memcpy(r->etag, v, vlen);
			r->etag[vlen] = '\0';
		}
	}
	return len;
}

static void
request_free(struct request *r)
{
	if (r == NULL)
		return;
	if (r->easy != NULL) {
		curl_multi_remove_handle(r->d->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r->response);
	free(r);
}

static void
request_unlink(struct delivery *d, struct request *r)
{
	struct request **p;

	for (p = &d->requests; *p != NULL; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
}

static int
headers_copy(struct curl_slist **to, const struct curl_slist *from)
{
	for (; from != NULL; from = from->next) {
		struct curl_slist *l = curl_slist_append(*to, from->data);

		if (l == NULL)
			return -1;
		*to = l;
	}
	return 0;
}

static int
header_add(struct curl_slist **to, const char *line)
{
	struct curl_slist *l = curl_slist_append(*to, line);

	if (l == NULL)
		return -1;
	*to = l;
	return 0;
}

/* request_new: an easy handle with what every request of d shares. */
static struct request *
request_new(struct delivery *d, enum rkind kind, const char *url)
{
	struct request *r = calloc(1, sizeof *r);
	const char *protocols = strcmp(d->type, "ftp") == 0 ? "ftp,ftps" :
	    strcmp(d->type, "sftp") == 0 ? "sftp" : "http,https";
	CURL *e;

	if (r == NULL || (r->easy = e = curl_easy_init()) == NULL) {
		free(r);
		return NULL;
	}
	r->d = d;
	r->kind = kind;
	if (guard_attach(e, &r->guard, protocols) != 0 ||
	    curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK) {
		curl_easy_cleanup(e);
		free(r);
		return NULL;
	}
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)conf.fetch_connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)conf.upload_timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(e, CURLOPT_READDATA, r);
	curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
	curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
	curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, (long)UPLOAD_BUFFER);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "vr-upload");
	return r;
}

/* request_go: hand r to the multi handle. */
static int
request_go(struct delivery *d, struct request *r)
{
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	if (curl_multi_add_handle(d->multi, r->easy) != CURLM_OK) {
		request_free(r);
		return -1;
	}
	r->next = d->requests;
	d->requests = r;
	return 0;
}

static void
body_from_file(struct request *r, off_t offset, off_t length, bool post)
{
	r->offset = offset;
	r->length = length;
	if (post) {
		curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)length);
	} else {
		curl_easy_setopt(r->easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(r->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)length);
	}
}

/* s3_request: a signed S3 request; body_sha256 NULL means "empty body". */
static struct request *
s3_request(struct delivery *d, enum rkind kind, const char *query,
    const char *body_sha256, bool object_headers)
{
	static const char empty_sha256[] =
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	char *url = s3_url(d->s3, query);
	struct request *r = url != NULL ? request_new(d, kind, url) : NULL;

	free(url);
	if (r == NULL)
		return NULL;
	if ((object_headers && headers_copy(&r->headers, d->s3->object_headers) != 0) ||
	    s3_sign(r->easy, d->s3, body_sha256 != NULL ? body_sha256 : empty_sha256,
	    &r->headers) != 0) {
		request_free(r);
		return NULL;
	}
	return r;
}

static void
fail(struct delivery *d, bool retry, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct delivery *d, bool retry, const char *fmt, ...)
{
	va_list ap;

	if (d->failed)
		return; /* the first error is the one that tells */
	d->failed = true;
	d->retry = retry;
	va_start(ap, fmt);
	vsnprintf(d->error, sizeof d->error, fmt, ap);
	va_end(ap);
}

static void
finish(struct delivery *d)
{
	struct delivery_end end = {
		.ok = !d->failed,
		.retry = d->failed && d->retry,
		.url = d->failed ? NULL : d->result_url,
		.error = d->failed ? d->error : NULL,
		.state = d->multipart && jv_is_valid(d->state) ? jv_copy(d->state) : jv_null(),
	};

	d->done(d->arg, &end);
}

static bool
part_stored(struct delivery *d, int i)
{
	jv etag = jv_array_get(jv_object_get(jv_copy(d->state), jv_string("parts")), i);
	bool stored = jv_get_kind(etag) == JV_KIND_STRING;

	jv_free(etag);
	return stored;
}

static int
part_start(struct delivery *d, int i)
{
	off_t offset = (off_t)i * d->part_size;
	off_t length = d->size - offset < d->part_size ? d->size - offset : d->part_size;
	char sha[SHA256_HEX_LEN + 1], query[512];
	jv upload_id = jv_object_get(jv_copy(d->state), jv_string("uploadId"));
	char *eid = curl_easy_escape(NULL, jv_string_value(upload_id), 0);
	struct request *r = NULL;

	jv_free(upload_id);
	if (eid == NULL)
		return -1;
	snprintf(query, sizeof query, "partNumber=%d&uploadId=%s", i + 1, eid);
	curl_free(eid);
	if (d->hasher == NULL) {
		snprintf(sha, sizeof sha, "%s", S3_UNSIGNED_PAYLOAD);
	} else if (hasher_get(d->hasher, i, sha) != 0) {
		fail(d, false, "reading the output: %s", strerror(errno));
		return -1;
	}
	if ((r = s3_request(d, R_PART, query, sha, false)) == NULL)
		return -1;
	r->part = i + 1;
	body_from_file(r, offset, length, false);
	if (request_go(d, r) != 0)
		return -1;
	d->part_busy[i] = 1;
	return 0;
}

static int
complete_start(struct delivery *d)
{
	jv upload_id = jv_object_get(jv_copy(d->state), jv_string("uploadId"));
	jv parts = jv_object_get(jv_copy(d->state), jv_string("parts"));
	char *eid = curl_easy_escape(NULL, jv_string_value(upload_id), 0);
	char *body = s3_complete_body(parts), query[512], sha[SHA256_HEX_LEN + 1];
	struct request *r = NULL;

	jv_free(upload_id);
	jv_free(parts);
	if (eid != NULL && body != NULL) {
		snprintf(query, sizeof query, "uploadId=%s", eid);
		s3_sha256_mem(body, strlen(body), sha);
		r = s3_request(d, R_COMPLETE, query, sha, false);
	}
	curl_free(eid);
	if (r == NULL || header_add(&r->headers, "Content-Type: application/xml") != 0) {
		free(body);
		request_free(r);
		return -1;
	}
	r->body = body;
	r->length = (off_t)strlen(body);
	curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->length);
	return request_go(d, r);
}

static int
abort_start(struct delivery *d)
{
	jv upload_id = jv_object_get(jv_copy(d->state), jv_string("uploadId"));
	char *eid = curl_easy_escape(NULL, jv_string_value(upload_id), 0), query[512];
	struct request *r = NULL;

	jv_free(upload_id);
	if (eid != NULL) {
		snprintf(query, sizeof query, "uploadId=%s", eid);
		r = s3_request(d, R_ABORT, query, NULL, false);
	}
	curl_free(eid);
	if (r == NULL)
		return -1;
	curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, "DELETE");
	d->aborting = true;
	return request_go(d, r);
}

static bool
have_upload_id(struct delivery *d)
{
	jv id = jv_is_valid(d->state) && jv_get_kind(d->state) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(d->state), jv_string("uploadId")) : jv_invalid();
	bool have = jv_get_kind(id) == JV_KIND_STRING;

	jv_free(id);
	return have;
}

/* advance: start the parts not stored nor in flight
 * (DELIVERY_PARTS_IN_FLIGHT at most), then CompleteMultipartUpload when
 * every part is stored. A start that fails marks d failed. */
static void
advance(struct delivery *d)
{
	int busy = 0, i;

	if (d->failed || !d->multipart || !have_upload_id(d))
		return; /* nothing to start; or InitiateMultipartUpload in flight */
	for (struct request *r = d->requests; r != NULL; r = r->next)
		if (r->kind == R_COMPLETE)
			return;
		else if (r->kind == R_PART)
			busy++;
	for (i = 0; i < d->nparts && busy < DELIVERY_PARTS_IN_FLIGHT; i++) {
		if (d->part_busy[i] || part_stored(d, i))
			continue;
		if (part_start(d, i) != 0) {
			fail(d, true, "cannot start part %d", i + 1);
			return;
		}
		busy++;
	}
	if (busy > 0)
		return;
	for (i = 0; i < d->nparts; i++)
		if (!part_stored(d, i))
			return;
	if (complete_start(d) != 0)
		fail(d, true, "cannot start CompleteMultipartUpload");
}

/* settle: after each answer, start what comes next, or end the attempt
 * (the done callback may free d). */
static void
settle(struct delivery *d)
{
	advance(d);
	if (d->requests != NULL)
		return;
	if (d->failed && d->multipart && !d->aborting && have_upload_id(d) &&
	    (d->last_attempt || !d->retry) && abort_start(d) == 0)
		return;
	finish(d);
}

static bool
curl_error_permanent(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_LOGIN_DENIED:
	case CURLE_REMOTE_ACCESS_DENIED:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_REMOTE_DISK_FULL:
	case CURLE_REMOTE_FILE_NOT_FOUND:
	case CURLE_SSH:
	case CURLE_READ_ERROR:
	case CURLE_ABORTED_BY_CALLBACK:
		return true;
	default:
		return false;
	}
}

/* judge: did r succeed? If not, record why on d and whether to retry. */
static bool
judge(struct delivery *d, struct request *r, CURLcode rc)
{
	long status = 0;
	char *text;

	if (rc != CURLE_OK) {
		if (r->guard.denied[0] != '\0')
			fail(d, false, "destination refused by the address guard: %s",
			    r->guard.denied);
		else
			fail(d, !curl_error_permanent(rc), "%s%s%s", curl_easy_strerror(rc),
			    r->errbuf[0] != '\0' ? ": " : "", r->errbuf);
		return false;
	}
	if (strcmp(d->type, "ftp") == 0 || strcmp(d->type, "sftp") == 0)
		return true;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	/* CompleteMultipartUpload may fail inside a 200 answer */
	if (status >= 200 && status < 300 && !(r->kind == R_COMPLETE &&
	    r->response != NULL && strstr(r->response, "<Error>") != NULL))
		return true;
	text = d->s3 != NULL ? s3_error_text(status, r->response) : NULL;
	if (text == NULL && asprintf(&text, "HTTP %ld: %.200s", status,
	    r->response != NULL ? r->response : "") >= 0)
		text[strcspn(text, "\r\n")] = '\0';
	fail(d, status >= 500 || status == 408 || status == 429 || status < 200 ||
	    r->kind == R_COMPLETE, "%s", text != NULL ? text : "HTTP error");
	if (text != NULL && strstr(text, "NoSuchUpload") != NULL) {
		/* the stored upload is gone: the next attempt begins anew */
		jv_free(d->state);
		d->state = jv_null();
		d->retry = true;
	}
	free(text);
	return false;
}

static void
init_answered(struct delivery *d, struct request *r)
{
	char *upload_id = s3_xml_text(r->response, "UploadId");
	jv parts = jv_array();

	if (upload_id == NULL || *upload_id == '\0') {
		free(upload_id);
		jv_free(parts);
		fail(d, true, "InitiateMultipartUpload: no UploadId in the answer");
		return;
	}
	for (int i = 0; i < d->nparts; i++)
		parts = jv_array_append(parts, jv_null());
	jv_free(d->state);
	d->state = JV_OBJECT(jv_string("uploadId"), jv_string(upload_id),
	    jv_string("partSize"), jv_number((double)d->part_size),
	    jv_string("parts"), parts);
	free(upload_id);
	d->progress(d->arg, jv_copy(d->state));
}

void
delivery_handle(CURLMsg *msg)
{
	struct request *r = NULL;
	struct delivery *d;

	if (msg->msg != CURLMSG_DONE ||
	    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r) != CURLE_OK ||
	    r == NULL)
		return;
	d = r->d;
	request_unlink(d, r);
	if (r->kind == R_ABORT) {
		long status = 0;

		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		if (msg->data.result != CURLE_OK || status < 200 || status >= 300)
			log_warnx("%s: AbortMultipartUpload failed: %s (HTTP %ld)",
			    d->s3->object_url, curl_easy_strerror(msg->data.result), status);
		jv_free(d->state);
		d->state = jv_null();
	} else if (judge(d, r, msg->data.result)) {
		if (r->kind == R_INIT) {
			init_answered(d, r);
		} else if (r->kind == R_PART) {
			jv parts = jv_object_get(jv_copy(d->state), jv_string("parts"));

			d->part_busy[r->part - 1] = 0;
			parts = jv_array_set(parts, r->part - 1, jv_string(r->etag));
			d->state = jv_object_set(d->state, jv_string("parts"), parts);
			if (r->etag[0] == '\0')
				fail(d, true, "UploadPart %d: no ETag in the answer", r->part);
			else
				d->progress(d->arg, jv_copy(d->state));
		} else if (r->kind == R_COMPLETE) {
			jv_free(d->state);
			d->state = jv_null();
		}
	} else if (r->kind == R_PART) {
		d->part_busy[r->part - 1] = 0;
	}
	request_free(r);
	settle(d);
}

/* remote_url: the ftp/sftp URL of dest, from url or host/port/path. */
static char *
remote_url(struct delivery *d, const char *default_name, char *err, size_t size)
{
	CURLU *u = curl_url();
	const char *url = str(d->dest, "url"), *host = str(d->dest, "host");
	const char *path = str(d->dest, "path");
	char *scheme = NULL, *p = NULL, *out = NULL, full[2048];
	jv port = jv_object_get(jv_copy(d->dest), jv_string("port"));
	bool ok = u != NULL;

	if (path == NULL)
		path = str(d->dest, "filename");
	if (ok && url != NULL) {
		ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		    curl_url_get(u, CURLUPART_PATH, &p, 0) == CURLUE_OK;
		if (ok && p[strlen(p) - 1] == '/') {
			snprintf(full, sizeof full, "%s%s", p, default_name);
			ok = curl_url_set(u, CURLUPART_PATH, full, CURLU_URLENCODE) == CURLUE_OK;
		}
	} else if (ok && host != NULL) {
		if (path == NULL)
			path = "/";
		snprintf(full, sizeof full, "%s%s%s", path[0] == '/' ? "" : "/", path,
		    path[strlen(path) - 1] == '/' ? default_name : "");
		ok = curl_url_set(u, CURLUPART_SCHEME, d->type, 0) == CURLUE_OK &&
		    curl_url_set(u, CURLUPART_HOST, host, 0) == CURLUE_OK &&
		    curl_url_set(u, CURLUPART_PATH, full, CURLU_URLENCODE) == CURLUE_OK &&
		    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK;
		if (ok && jv_get_kind(port) == JV_KIND_NUMBER) {
			char ps[16];

			snprintf(ps, sizeof ps, "%d", (int)jv_number_value(port));
			ok = curl_url_set(u, CURLUPART_PORT, ps, 0) == CURLUE_OK;
		} else if (ok && jv_get_kind(port) == JV_KIND_STRING) {
			ok = curl_url_set(u, CURLUPART_PORT, jv_string_value(port), 0) == CURLUE_OK;
		}
	} else {
		ok = false;
	}
	if (ok && strcmp(d->type, "ftp") == 0 && strcmp(scheme, "ftp") != 0 &&
	    strcmp(scheme, "ftps") != 0)
		ok = false;
	if (ok && strcmp(d->type, "sftp") == 0 && strcmp(scheme, "sftp") != 0)
		ok = false;
	if (ok && curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
		ok = false;
	/* the URL kept in the job has no credentials in it */
	if (ok) {
		char *bare = NULL;

		if (curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
		    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
		    curl_url_get(u, CURLUPART_URL, &bare, 0) != CURLUE_OK ||
		    (d->result_url = strdup(bare)) == NULL)
			ok = false;
		curl_free(bare);
	}
	if (!ok) {
		snprintf(err, size, "%s destination: url (or host, port, path) not usable",
		    d->type);
		curl_free(out);
		out = NULL;
	}
	jv_free(port);
	curl_free(scheme);
	curl_free(p);
	curl_url_cleanup(u);
	if (out != NULL) { /* curl's memory, ours to free(3) from here */
		char *copy = strdup(out);

		curl_free(out);
		out = copy;
	}
	return out;
}

/* strip_url: url without credentials and query, for the record. */
static char *
strip_url(const char *url)
{
	CURLU *u = curl_url();
	char *out = NULL;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK)
		curl_url_get(u, CURLUPART_URL, &out, 0);
	curl_url_cleanup(u);
	if (out != NULL) {
		char *copy = strdup(out);

		curl_free(out);
		out = copy;
	}
	return out;
}

static int
start_single(struct delivery *d)
{
	struct request *r;
	char sha[SHA256_HEX_LEN + 1];

	if (d->s3 != NULL) {
		if (!d->s3->sign_payload) {
			snprintf(sha, sizeof sha, "%s", S3_UNSIGNED_PAYLOAD);
		} else if (s3_sha256_fd(d->fd, 0, d->size, sha) != 0) {
			fail(d, false, "reading the output: %s", strerror(errno));
			return -1;
		}
		r = s3_request(d, R_SINGLE, NULL, sha, true);
	} else {
		r = request_new(d, R_SINGLE, d->url);
	}
	if (r == NULL)
		return -1;
	body_from_file(r, 0, d->size, d->post);
	if (strcmp(d->type, "http") == 0) {
		jv headers = jv_object_get(jv_copy(d->dest), jv_string("headers"));
		bool typed = false;
		char line[4096];

		if (jv_get_kind(headers) == JV_KIND_OBJECT) {
			jv_object_foreach(headers, name, value) {
				if (strcasecmp(jv_string_value(name), "Content-Type") == 0)
					typed = true;
				if (jv_get_kind(value) == JV_KIND_STRING &&
				    snprintf(line, sizeof line, "%s: %s", jv_string_value(name),
				    jv_string_value(value)) < (int)sizeof line)
					header_add(&r->headers, line);
				jv_free(name);
				jv_free(value);
			}
		}
		jv_free(headers);
		snprintf(line, sizeof line, "Content-Type: %s", upload_content_type(d->ext));
		if (!typed)
			header_add(&r->headers, line);
		/* plain servers rarely answer 100-continue: do not wait for it */
		header_add(&r->headers, "Expect:");
	} else if (strcmp(d->type, "ftp") == 0 || strcmp(d->type, "sftp") == 0) {
		const char *user = str(d->dest, "username"), *pass = str(d->dest, "password");

		if (user != NULL)
			curl_easy_setopt(r->easy, CURLOPT_USERNAME, user);
		if (pass != NULL)
			curl_easy_setopt(r->easy, CURLOPT_PASSWORD, pass);
		curl_easy_setopt(r->easy, CURLOPT_FTP_CREATE_MISSING_DIRS,
		    (long)CURLFTP_CREATE_DIR_RETRY);
		/* a cached connection would skip this task's own host key and
		 * login checks: one connection per file */
		curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(r->easy, CURLOPT_FORBID_REUSE, 1L);
		if (strcmp(d->type, "sftp") == 0) {
			const char *key = str(d->dest, "keyfile"), *pub = str(d->dest, "pubkeyfile");
			const char *pw = str(d->dest, "passphrase"), *fp = str(d->dest, "fingerprint");
			const char *kh = str(d->dest, "knownhosts");

			curl_easy_setopt(r->easy, CURLOPT_SSH_AUTH_TYPES,
			    (long)(CURLSSH_AUTH_PUBLICKEY | CURLSSH_AUTH_PASSWORD));
			if (key != NULL)
				curl_easy_setopt(r->easy, CURLOPT_SSH_PRIVATE_KEYFILE, key);
			if (pub != NULL)
				curl_easy_setopt(r->easy, CURLOPT_SSH_PUBLIC_KEYFILE, pub);
			if (pw != NULL)
				curl_easy_setopt(r->easy, CURLOPT_KEYPASSWD, pw);
			if (fp != NULL)
				curl_easy_setopt(r->easy, CURLOPT_SSH_HOST_PUBLIC_KEY_SHA256, fp);
			if (kh != NULL)
				curl_easy_setopt(r->easy, CURLOPT_SSH_KNOWNHOSTS, kh);
		}
	}
	return request_go(d, r);
}

/* multipart_setup: part size and count; resume from state when it fits. */
static int
multipart_setup(struct delivery *d)
{
	int64_t part_size = conf.upload_part_size;
	jv saved = jv_get_kind(d->state) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(d->state), jv_string("partSize")) : jv_invalid();
	jv parts;

	if (part_size < PART_SIZE_MIN)
		part_size = PART_SIZE_MIN;
	while ((d->size + part_size - 1) / part_size > PARTS_MAX)
		part_size *= 2;
	if (jv_get_kind(saved) == JV_KIND_NUMBER && jv_number_value(saved) >= PART_SIZE_MIN)
		part_size = (int64_t)jv_number_value(saved);
	jv_free(saved);
	d->part_size = part_size;
	d->nparts = (int)((d->size + part_size - 1) / part_size);
	if ((d->part_busy = calloc((size_t)d->nparts, 1)) == NULL)
		return -1;
	/* a saved state is used only when it describes this file */
	parts = have_upload_id(d) ? jv_object_get(jv_copy(d->state), jv_string("parts")) :
	    jv_invalid();
	if (jv_get_kind(parts) != JV_KIND_ARRAY ||
	    jv_array_length(jv_copy(parts)) != d->nparts) {
		jv_free(d->state);
		d->state = jv_null();
	}
	jv_free(parts);
	if (d->s3->sign_payload) {
		/* part_busy doubles as the stored parts the hasher skips */
		for (int i = 0; have_upload_id(d) && i < d->nparts; i++)
			d->part_busy[i] = part_stored(d, i);
		d->hasher = hasher_start(d->fd, d->size, d->part_size, d->nparts,
		    d->part_busy);
		memset(d->part_busy, 0, (size_t)d->nparts);
		if (d->hasher == NULL)
			return -1;
	}
	if (have_upload_id(d))
		return 0;
	{
		struct request *r = s3_request(d, R_INIT, "uploads=", NULL, true);

		if (r == NULL)
			return -1;
		curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, "");
		return request_go(d, r);
	}
}

static int
prepare(struct delivery *d, const char *default_name, char *err, size_t size)
{
	if (strcmp(d->type, "s3") == 0) {
		if ((d->s3 = s3_target_new(d->dest, default_name,
		    upload_content_type(d->ext), conf.upload_s3_payload, err,
		    size)) == NULL)
			return -1;
		d->result_url = strdup(d->s3->object_url);
		d->multipart = d->size > 0 && d->size >= conf.upload_multipart_threshold;
	} else if (strcmp(d->type, "http") == 0) {
		const char *url = str(d->dest, "url"), *method = str(d->dest, "method");

		if (url == NULL || !guard_url_scheme_ok(url, "http,https")) {
			snprintf(err, size, "http destination: url must be http or https");
			return -1;
		}
		d->post = method != NULL && strcasecmp(method, "POST") == 0;
		d->url = strdup(url);
		d->result_url = strip_url(url);
	} else if (strcmp(d->type, "ftp") == 0 || strcmp(d->type, "sftp") == 0) {
		if ((d->url = remote_url(d, default_name, err, size)) == NULL)
			return -1;
	} else {
		snprintf(err, size, "destination type not supported by this server: %s",
		    d->type);
		return -1;
	}
	if (d->result_url == NULL) {
		snprintf(err, size, "out of memory");
		return -1;
	}
	return 0;
}

struct delivery *
delivery_start(CURLM *multi, struct delivery_spec *spec, char *err,
    size_t err_size, bool *retry)
{
	struct delivery *d = calloc(1, sizeof *d);
	const char *type;
	struct stat st;

	*retry = false;
	if (d == NULL) {
		jv_free(spec->dest);
		jv_free(spec->state);
		snprintf(err, err_size, "out of memory");
		*retry = true;
		return NULL;
	}
	d->multi = multi;
	d->dest = spec->dest;
	d->state = spec->state;
	d->fd = -1;
	d->last_attempt = spec->last_attempt;
	d->progress = spec->progress;
	d->done = spec->done;
	d->arg = spec->arg;
	d->ext = strdup(spec->ext != NULL ? spec->ext : "");
	if (jv_get_kind(d->dest) != JV_KIND_OBJECT ||
	    (type = str(d->dest, "type")) == NULL || strlen(type) >= sizeof d->type) {
		snprintf(err, err_size, "upload task without destination.type");
		goto fail;
	}
	snprintf(d->type, sizeof d->type, "%s", type);
	if ((d->fd = open(spec->path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(d->fd, &st) != 0) {
		snprintf(err, err_size, "output %s: %s", strrchr(spec->path, '/') != NULL ?
		    strrchr(spec->path, '/') + 1 : spec->path, strerror(errno));
		goto fail;
	}
	d->size = st.st_size;
	if (prepare(d, spec->default_name, err, err_size) != 0)
		goto fail;
	if (d->multipart ? multipart_setup(d) != 0 : start_single(d) != 0) {
		snprintf(err, err_size, "%s", d->failed ? d->error :
		    "cannot start the transfer (libcurl)");
		*retry = !d->failed || d->retry;
		goto fail;
	}
	advance(d); /* a resumed upload: its parts, or its completion */
	if (d->failed && d->requests == NULL) {
		snprintf(err, err_size, "%s", d->error);
		*retry = d->retry;
		goto fail;
	}
	return d;
fail:
	delivery_free(d);
	return NULL;
}

void
delivery_free(struct delivery *d)
{
	struct request *r, *next;

	if (d == NULL)
		return;
	for (r = d->requests; r != NULL; r = next) {
		next = r->next;
		request_free(r);
	}
	hasher_free(d->hasher);
	if (d->fd >= 0)
		close(d->fd);
	jv_free(d->dest);
	jv_free(d->state);
	s3_target_free(d->s3);
	free(d->part_busy);
	free(d->url);
	free(d->result_url);
	free(d->ext);
	free(d);
}
