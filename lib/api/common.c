/*
 * api/common.c — what vr-accept's APIs share (api.h): Plainly's error
 * answers, JSON answers, API-key authentication, path splitting, finding
 * the caller's job and showing it as Plainly's render object.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nettle/base64.h>

#include "api/api.h"
#include "clock.h"
#include "conf.h"
#include "id.h"
#include "job.h"
#include "log.h"
#include "notify.h"
#include "upload.h"

#define API_KEY_MAX 256

const enum sdir api_state_dirs[] = {
	SD_PENDING, SD_INVALID, SD_THROTTLED, SD_QUEUED, SD_IN_PROGRESS,
	SD_UPLOADING, SD_DONE, SD_FAILED, SD_CANCELLED,
};
const int api_state_ndirs = sizeof api_state_dirs / sizeof api_state_dirs[0];

void
api_fail_set(struct api_fail *f, int status, const char *code,
    const char *fmt, ...)
{
	va_list ap;

	f->status = status;
	f->code = code;
	va_start(ap, fmt);
	vsnprintf(f->message, sizeof f->message, fmt, ap);
	va_end(ap);
}

static void
error_answer(struct http_conn *c, const char *path, int status,
    const char *code, const char *message)
{
	char when[ISO8601_LEN + 1], headers[256];
	jv body;
	char *text;

	iso8601(now_ms(), when);
	body = JV_OBJECT(jv_string("error"), jv_string(http_status_text(status)),
	    jv_string("message"), jv_string_fmt("[%s] %s", code, message),
	    jv_string("path"), jv_string(path ? path : ""),
	    jv_string("status"), jv_number(status),
	    jv_string("timestamp"), jv_string(when));
	snprintf(headers, sizeof headers, "X-PlainlyErrorCode: %s\r\n%s", code,
	    status == 401 ? "WWW-Authenticate: Basic realm=\"vr\"\r\n" : "");
	body = jv_dump_string(body, 0);
	text = strdup(jv_string_value(body));
	jv_free(body);
	if (text == NULL) {
		http_respond(c, 500, NULL, NULL, "", 0);
		return;
	}
	http_respond(c, status, "application/json", headers, text, strlen(text));
	free(text);
}

void
api_error(struct api *a, int status, const char *code, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	error_answer(a->c, a->req->path, status, code, message);
}

void
api_fail_answer(struct api *a, const struct api_fail *f)
{
	error_answer(a->c, a->req->path, f->status, f->code, f->message);
}

void
api_http_error(void *arg, struct http_conn *c, const struct http_request *req,
    int status, const char *code, const char *message)
{
	(void)arg;
	error_answer(c, req->path, status, code, message);
}

void
api_json(struct api *a, int status, jv value)
{
	jv text = jv_dump_string(value, 0);

	http_respond(a->c, status, "application/json", NULL,
	    jv_string_value(text), (size_t)jv_string_length_bytes(jv_copy(text)));
	jv_free(text);
}

/* basic_user: the user name of a Basic credential, into out. */
static bool
basic_user(const char *b64, char *out, size_t size)
{
	unsigned char decoded[BASE64_DECODE_LENGTH(API_KEY_MAX) + 1];
	struct base64_decode_ctx ctx;
	size_t len = strlen(b64), n = sizeof decoded - 1;
	char *colon;

	while (len > 0 && (b64[len - 1] == ' ' || b64[len - 1] == '\t'))
		len--;
	if (len == 0 || len > API_KEY_MAX || len % 4 != 0)
		return false;
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &n, decoded, len, b64) ||
	    !base64_decode_final(&ctx))
		return false;
	decoded[n] = '\0';
	if (memchr(decoded, '\0', n) != NULL)
		return false;
	if ((colon = strchr((char *)decoded, ':')) != NULL)
		*colon = '\0';
	if (strlen((char *)decoded) >= size)
		return false;
	snprintf(out, size, "%s", (char *)decoded);
	return true;
}

bool
api_auth(struct api *a)
{
	const char *auth = http_header_get(a->req, "Authorization");
	char api_key[API_KEY_MAX + 1] = "";

	if (auth == NULL) {
		api_error(a, 401, "UNAUTHORIZED",
		    "an API key is needed: HTTP Basic with the key as user name");
		return false;
	}
	if (strncasecmp(auth, "Basic ", 6) == 0) {
		if (!basic_user(auth + 6, api_key, sizeof api_key))
			api_key[0] = '\0';
	} else if (strncasecmp(auth, "Bearer ", 7) == 0 &&
	    strlen(auth + 7) <= API_KEY_MAX) {
		snprintf(api_key, sizeof api_key, "%s", auth + 7);
	}
	if (a->known_auth != NULL && strcmp(a->known_auth, auth) == 0) {
		a->key = a->known_key;
		return true;
	}
	switch (keys_lookup(conf.keys, api_key, &a->key)) {
	case 1:
		free(a->known_auth);
		a->known_auth = strdup(auth);
		a->known_key = a->key;
		return true;
	case 0:
		api_error(a, 401, "UNAUTHORIZED", "unknown API key");
		return false;
	default:
		api_error(a, 500, "INTERNAL_ERROR", "the keys file is unreadable");
		return false;
	}
}

int
api_segments(char *path, const char *prefix, char *seg[], int max)
{
	size_t plen = strlen(prefix);
	char *rest, *s;
	int n = 0;

	if (strncmp(path, prefix, plen) != 0 ||
	    (path[plen] != '\0' && path[plen] != '/'))
		return -1;
	rest = path + plen;
	while ((s = strsep(&rest, "/")) != NULL) {
		if (*s == '\0')
			continue;
		if (n == max)
			return -1;
		seg[n++] = s;
	}
	return n;
}

jv
api_job(struct api *a, const char *id, enum sdir *dir)
{
	const char *org;
	jv job;

	if (!id_valid(id))
		return jv_invalid_with_msg(jv_string("not a render id"));
	job = spool_lookup(&a->sp, id, dir);
	if (!jv_is_valid(job))
		return job;
	org = job_str(job, "org");
	if (org == NULL || strcmp(org, a->key.org) != 0) {
		jv_free(job);
		return jv_invalid_with_msg(jv_string("no such render"));
	}
	return job;
}

jv
api_new_job(const char *org, const char *api, struct api_fail *f)
{
	char id[ID_LEN + 1], now[ISO8601_LEN + 1];

	if (id_new(id) == -1) {
		api_fail_set(f, 500, "INTERNAL_ERROR", "no randomness for an id");
		return jv_invalid();
	}
	iso8601(now_ms(), now);
	return JV_OBJECT(jv_string("id"), jv_string(id),
	    jv_string("org"), jv_string(org), jv_string("api"), jv_string(api),
	    jv_string("createdDate"), jv_string(now),
	    jv_string("attempts"), jv_number(0),
	    jv_string("progress"), jv_number(0),
	    jv_string("history"), jv_array());
}

jv
api_copy_field(jv job, jv from, const char *key)
{
	jv value = jv_object_get(jv_copy(from), jv_string(key));

	if (jv_is_valid(value) && jv_get_kind(value) != JV_KIND_NULL)
		return jv_object_set(job, jv_string(key), value);
	jv_free(value);
	return job;
}

bool
api_one_of(const char *s, const char *const *values)
{
	for (; *values != NULL; values++)
		if (strcmp(s, *values) == 0)
			return true;
	return false;
}

int64_t
api_id_ms(const char *id)
{
	char hex[13];

	if (!id_valid(id))
		return 0;
	memcpy(hex, id, 8);
	memcpy(hex + 8, id + 9, 4);
	hex[12] = '\0';
	return strtoll(hex, NULL, 16);
}

bool
api_has_object(jv value, const char *key)
{
	jv field = jv_object_get(jv_copy(value), jv_string(key));
	bool is_object = jv_get_kind(field) == JV_KIND_OBJECT;

	jv_free(field);
	return is_object;
}

static const char *
content_type_of(const char *ext)
{
	static const struct { const char *ext, *type; } types[] = {
		{ "mp4", "video/mp4" }, { "webm", "video/webm" },
		{ "gif", "image/gif" }, { "jpg", "image/jpeg" },
		{ "png", "image/png" }, { "mov", "video/quicktime" },
	};
	size_t i;

	for (i = 0; ext && i < sizeof types / sizeof types[0]; i++)
		if (strcmp(types[i].ext, ext) == 0)
			return types[i].type;
	return "video/mp4";
}

jv
api_render(struct api *a, jv job, enum sdir dir)
{
	static const char *const shown[] = {
		"id", "projectId", "templateId", "projectName", "templateName",
		"parameters", "attributes", "options", "outputFormat", "webhook",
		"createdDate", "lastModified", "submittedDate", "output",
		"thumbnailUris", "expirationDate", "expired", "error",
		"parametrizationResults", "retried", "publicUrl", "progress",
	};
	const char *state = sdir_state(dir), *ext = job_str(job, "ext");
	jv render = jv_object(), format, uploads;
	size_t i;

	for (i = 0; i < sizeof shown / sizeof shown[0]; i++) {
		jv value = jv_object_get(jv_copy(job), jv_string(shown[i]));

		if (jv_is_valid(value))
			render = jv_object_set(render, jv_string(shown[i]), value);
		else
			jv_free(value);
	}
	/* the directory is the state; uploading is still in progress */
	if (dir == SD_UPLOADING)
		state = "IN_PROGRESS";
	render = jv_object_set(render, jv_string("state"),
	    jv_string(state ? state : "PENDING"));
	format = jv_object_get(jv_copy(render), jv_string("outputFormat"));
	if (jv_get_kind(format) != JV_KIND_OBJECT) {
		jv_free(format);
		format = jv_object();
	}
	format = jv_object_set(format, jv_string("ext"),
	    jv_string(ext ? ext : "mp4"));
	format = jv_object_set(format, jv_string("contentType"),
	    jv_string(content_type_of(ext ? ext : "mp4")));
	render = jv_object_set(render, jv_string("outputFormat"), format);
	/* upload tasks and their results, never their secrets */
	uploads = jv_object_get(jv_copy(job), jv_string("uploads"));
	if (jv_get_kind(uploads) == JV_KIND_ARRAY) {
		jv redacted = upload_redact_job(jv_copy(job));

		render = jv_object_set(render, jv_string("uploads"),
		    jv_object_get(redacted, jv_string("uploads")));
		render = jv_object_set(render, jv_string("integrationDelivery"),
		    upload_delivery(jv_copy(job)));
	}
	jv_free(uploads);
	if (api_has_object(job, "webhook"))
		render = jv_object_set(render, jv_string("webhookDelivery"),
		    notify_delivery(&a->sp, jv_copy(job)));
	else
		render = jv_object_set(render, jv_string("webhookDelivery"),
		    jv_null());
	jv_free(job);
	return render;
}
