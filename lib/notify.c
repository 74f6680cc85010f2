/*
 * notify.c — webhook notifications as spool files (notify.h): which final
 * states want one, the payload a receiver gets, dropping notification files
 * into outbox/, and reading outbox/ and sent/ back as a render's
 * webhookDelivery. No network here (vr-notify delivers): vr-accept links
 * this, so it needs only the core, libjq and sign.h.
 *
 * A notification file, outbox/<id>.<tag>.json (doc/webhooks.md):
 *   {webhookId, renderId, org, event, method, url, payload, status,
 *    attempts: [{at, httpStatus, latencyMs, error}], nextAttemptAt, createdAt}
 * event is "final" (the job became final), "retrigger", "test", or the tag
 * of a notify_call. status is PENDING, RETRYING, SUCCESS, FAILURE or IGNORED.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "id.h"
#include "job.h"
#include "log.h"
#include "notify.h"
#include "upload.h"
#include "sign.h"
#include "spool.h"

#define TAG_MAX 32

static void listing_drop(void);

/* str_at: the string at obj.key, or NULL (borrowed from obj). */
static const char *
str_at(jv obj, const char *key)
{
	jv v;
	const char *s;

	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return NULL;
	v = jv_object_get(jv_copy(obj), jv_string(key));
	s = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : NULL;
	jv_free(v);   /* obj still holds the string */
	return s;
}

/* webhook_url: the job's webhook url, or NULL (borrowed from job). */
static const char *
webhook_url(jv job)
{
	jv hook;
	const char *url;

	if (jv_get_kind(job) != JV_KIND_OBJECT)
		return NULL;
	hook = jv_object_get(jv_copy(job), jv_string("webhook"));
	url = str_at(hook, "url");
	jv_free(hook);
	return url != NULL && *url != '\0' ? url : NULL;
}

/* hook_flag: webhook.key as 1 (true), 0 (false) or -1 (null or unset). */
static int
hook_flag(jv job, const char *key)
{
	jv v = jv_getpath(jv_copy(job),
	    JV_ARRAY(jv_string("webhook"), jv_string(key)));
	int flag = -1;

	if (jv_get_kind(v) == JV_KIND_TRUE)
		flag = 1;
	else if (jv_get_kind(v) == JV_KIND_FALSE)
		flag = 0;
	jv_free(v);
	return flag;
}

/*
 * final_state: the state the job is final in. Callers drop the notification
 * just before the move that records the state, so a job may still say
 * UPLOADING (which only ever ends DONE), IN_PROGRESS or PENDING: then an
 * error means FAILED (INVALID when still PENDING: only vr-validate fails a
 * pending job), no error means DONE.
 * vr-notify checks again against the directory before it delivers.
 */
static const char *
final_state(jv job)
{
	static const char *const finals[] = {
		"DONE", "FAILED", "INVALID", "CANCELLED"
	};
	const char *state = str_at(job, "state");
	jv error;
	int failed;
	size_t i;

	for (i = 0; state != NULL && i < sizeof finals / sizeof *finals; i++)
		if (strcmp(state, finals[i]) == 0)
			return finals[i];
	if (state != NULL && strcmp(state, "ERROR") == 0)
		return "FAILED";
	if (state != NULL && strcmp(state, "UPLOADING") == 0)
		return "DONE";
	error = jv_object_get(jv_copy(job), jv_string("error"));
	failed = jv_get_kind(error) == JV_KIND_OBJECT;
	jv_free(error);
	if (!failed)
		return "DONE";
	return state != NULL && strcmp(state, "PENDING") == 0 ? "INVALID" :
	    "FAILED";
}

bool
notify_wanted(jv job)
{
	const char *state;
	bool wanted = false;
	int on_invalid;

	if (webhook_url(job) == NULL)
		goto out;
	state = final_state(job);
	if (strcmp(state, "DONE") == 0)
		wanted = true;
	else if (strcmp(state, "FAILED") == 0)
		wanted = hook_flag(job, "onFailure") == 1;
	else if (strcmp(state, "INVALID") == 0) {
		on_invalid = hook_flag(job, "onInvalid");
		wanted = (on_invalid == -1 ? hook_flag(job, "onFailure") :
		    on_invalid) == 1;
	}
out:
	jv_free(job);
	return wanted;
}

/* param_text: a parameter value as passthrough text (strings as they are,
 * anything else as its JSON text); consumes v. */
static jv
param_text(jv v)
{
	if (jv_get_kind(v) == JV_KIND_STRING)
		return v;
	return jv_dump_string(v, 0);
}

/* param_lookup: params at a dotted name ("customer.name"); consumes
 * params. An invalid when absent or null. */
static jv
param_lookup(jv params, const char *name)
{
	jv v = params;
	const char *dot;

	while (jv_get_kind(v) == JV_KIND_OBJECT) {
		dot = strchr(name, '.');
		if (dot == NULL) {
			v = jv_object_get(v, jv_string(name));
			break;
		}
		v = jv_object_get(v, jv_string_sized(name, (int)(dot - name)));
		name = dot + 1;
	}
	if (!jv_is_valid(v) || jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return jv_invalid();
	}
	return v;
}

/* trimmed: text[0..len) without surrounding blanks, as a new jv string. */
static jv
trimmed(const char *text, size_t len)
{
	while (len > 0 && (*text == ' ' || *text == '\t'))
		text++, len--;
	while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	return jv_string_sized(text, (int)len);
}

/*
 * passthrough_fill: Plainly's passthrough: "{{name}}" takes the render's
 * parameter name (dotted names reach into objects), "{{name:default}}"
 * takes default when the parameter is absent or null; other text stays.
 * Values that are not strings appear as their JSON text (42, true, [..]).
 * A passthrough that is not a string (an object, a number) is sent as it
 * is. Consumes both.
 */
static jv
passthrough_fill(jv passthrough, jv params)
{
	const char *text, *open, *close, *colon;
	jv out, name, value;

	if (jv_get_kind(passthrough) != JV_KIND_STRING) {
		jv_free(params);
		if (!jv_is_valid(passthrough)) {   /* webhook not an object */
			jv_free(passthrough);
			return jv_null();
		}
		return passthrough;
	}
	text = jv_string_value(passthrough);
	out = jv_string("");
	while ((open = strstr(text, "{{")) != NULL &&
	    (close = strstr(open + 2, "}}")) != NULL) {
		out = jv_string_append_buf(out, text, (int)(open - text));
		colon = memchr(open + 2, ':', (size_t)(close - open - 2));
		name = trimmed(open + 2, (size_t)((colon ? colon : close) -
		    open - 2));
		value = param_lookup(jv_copy(params), jv_string_value(name));
		if (jv_is_valid(value))
			out = jv_string_concat(out, param_text(value));
		else if (colon != NULL)
			out = jv_string_append_buf(out, colon + 1,
			    (int)(close - colon - 1));
		jv_free(name);
		text = close + 2;
	}
	out = jv_string_append_str(out, text);
	jv_free(passthrough);
	jv_free(params);
	return out;
}

/* expires_s: when output URLs in a payload expire: the render's
 * expirationDate, but no later than url_ttl from now. */
static int64_t
expires_s(jv job)
{
	int64_t ttl = conf.url_ttl_ms > 0 ? conf.url_ttl_ms : 7 * 86400000LL;
	int64_t at = now_ms() + ttl, exp_ms;
	const char *exp = str_at(job, "expirationDate");

	if (exp != NULL && iso8601_parse(exp, &exp_ms) == 0 && exp_ms < at)
		at = exp_ms;
	return at / 1000;
}

/* signed_or: a fresh signed URL for out/<id>/<name> (old ones may have
 * expired when a webhook is re-sent), else fallback; consumes fallback. */
static jv
signed_or(const char *id, const char *name, int64_t exp, jv fallback)
{
	char *url;

	if (name == NULL || conf.secret == NULL || !name_valid(name))
		return fallback;
	if ((url = sign_url(id, name, exp)) == NULL)
		return fallback;
	jv_free(fallback);
	fallback = jv_string(url);
	free(url);
	return fallback;
}

/* payload_uploads: the upload tasks and their outcome, every secret of a
 * task shown as "***" (upload_redact): a FAILED render's job may still hold
 * inline credentials. */
static jv
payload_uploads(jv uploads)
{
	jv out = jv_array(), u, task, keep;
	static const char *const fields[] = {
		"status", "url", "error", "attempts"
	};
	size_t f;
	int i, n = jv_array_length(jv_copy(uploads));

	for (i = 0; i < n; i++) {
		u = jv_array_get(jv_copy(uploads), i);
		if (jv_get_kind(u) != JV_KIND_OBJECT) {
			jv_free(u);
			continue;
		}
		keep = jv_object();
		task = jv_object_get(jv_copy(u), jv_string("task"));
		if (jv_get_kind(task) == JV_KIND_OBJECT)
			keep = jv_object_set(keep, jv_string("task"),
			    upload_redact(task));
		else
			jv_free(task);
		for (f = 0; f < sizeof fields / sizeof *fields; f++) {
			jv v = jv_object_get(jv_copy(u), jv_string(fields[f]));
			if (jv_is_valid(v))
				keep = jv_object_set(keep, jv_string(fields[f]), v);
			else
				jv_free(v);
		}
		out = jv_array_append(out, keep);
		jv_free(u);
	}
	jv_free(uploads);
	return out;
}

/* field: job.key, or null. */
static jv
field(jv job, const char *key)
{
	jv v = jv_object_get(jv_copy(job), jv_string(key));

	if (!jv_is_valid(v)) {
		jv_free(v);
		return jv_null();
	}
	return v;
}

jv
notify_payload(jv job)
{
	const char *id, *state;
	jv p, thumbs, files, uploads, expired;
	int64_t exp;
	int i, n;

	if (jv_get_kind(job) != JV_KIND_OBJECT ||
	    (id = str_at(job, "id")) == NULL || !id_valid(id)) {
		jv_free(job);
		return jv_invalid_with_msg(jv_string("job without a valid id"));
	}
	state = final_state(job);
	exp = expires_s(job);
	p = JV_OBJECT(jv_string("id"), jv_string(id),
	    jv_string("renderId"), jv_string(id),
	    jv_string("success"), jv_bool(strcmp(state, "DONE") == 0),
	    jv_string("state"), jv_string(state));
	p = jv_object_set(p, jv_string("passthrough"), passthrough_fill(
	    jv_getpath(jv_copy(job), JV_ARRAY(jv_string("webhook"),
	    jv_string("passthrough"))), field(job, "parameters")));
	expired = field(job, "expired");
	if (jv_get_kind(expired) == JV_KIND_TRUE) {
		p = jv_object_set(p, jv_string("output"), jv_null());
		p = jv_object_set(p, jv_string("thumbnailUris"), jv_array());
	} else {
		p = jv_object_set(p, jv_string("output"), signed_or(id,
		    str_at(job, "outputFile"), exp, field(job, "output")));
		thumbs = field(job, "thumbnailUris");
		files = field(job, "thumbnailFiles");
		if (jv_get_kind(files) == JV_KIND_ARRAY && conf.secret != NULL) {
			jv_free(thumbs);
			thumbs = jv_array();
			n = jv_array_length(jv_copy(files));
			for (i = 0; i < n; i++) {
				jv name = jv_array_get(jv_copy(files), i);
				if (jv_get_kind(name) == JV_KIND_STRING)
					thumbs = jv_array_append(thumbs,
					    signed_or(id, jv_string_value(name),
					    exp, jv_null()));
				jv_free(name);
			}
		} else if (jv_get_kind(thumbs) != JV_KIND_ARRAY) {
			jv_free(thumbs);
			thumbs = jv_array();
		}
		jv_free(files);
		p = jv_object_set(p, jv_string("thumbnailUris"), thumbs);
	}
	jv_free(expired);
	p = jv_object_set(p, jv_string("projectId"), field(job, "projectId"));
	p = jv_object_set(p, jv_string("templateId"), field(job, "templateId"));
	p = jv_object_set(p, jv_string("expirationDate"),
	    field(job, "expirationDate"));
	p = jv_object_set(p, jv_string("error"), field(job, "error"));
	uploads = field(job, "uploads");
	if (jv_get_kind(uploads) == JV_KIND_ARRAY &&
	    jv_array_length(jv_copy(uploads)) > 0)
		p = jv_object_set(p, jv_string("uploads"),
		    payload_uploads(uploads));
	else
		jv_free(uploads);
	jv_free(job);
	return p;
}

/* note_new: a notification file's first content. Consumes payload. */
static jv
note_new(const char *render_id, const char *tag, const char *event,
    const char *org, const char *method, const char *url, jv payload)
{
	char created[ISO8601_LEN + 1];
	int64_t now = now_ms();

	jv note;

	iso8601(now, created);
	note = JV_OBJECT(
	    jv_string("webhookId"), jv_string_fmt("msg_%s_%s", render_id, tag),
	    jv_string("renderId"), jv_string(render_id),
	    jv_string("org"), org != NULL ? jv_string(org) : jv_null(),
	    jv_string("event"), jv_string(event),
	    jv_string("method"), jv_string(method),
	    jv_string("url"), jv_string(url),
	    jv_string("payload"), payload,
	    jv_string("status"), jv_string("PENDING"),
	    jv_string("attempts"), jv_array());
	note = jv_object_set(note, jv_string("nextAttemptAt"),
	    jv_string(created));
	return jv_object_set(note, jv_string("createdAt"), jv_string(created));
}

static bool
tag_valid(const char *tag)
{
	size_t n = strspn(tag, "abcdefghijklmnopqrstuvwxyz0123456789");

	return n > 0 && n <= TAG_MAX && tag[n] == '\0';
}

/* note_put: write outbox/<id>.<tag>.json. Consumes note. */
static int
note_put(struct spool *sp, const char *id, const char *tag, jv note)
{
	char name[ID_LEN + TAG_MAX + 8];

	snprintf(name, sizeof name, "%s.%s.json", id, tag);
	listing_drop();
	if (spool_put(sp, SD_OUTBOX, name, note) == -1) {
		log_warn("%s: cannot write outbox/%s", id, name);
		return -1;
	}
	return 0;
}

static bool
exists_at(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, 0) == 0;
}

/* job_check: the job's id and webhook url, or -1 (logged). */
static int
job_check(jv job, const char **id, const char **url)
{
	*id = str_at(job, "id");
	*url = webhook_url(job);
	if (*id == NULL || !id_valid(*id)) {
		log_warnx("notify: job without a valid id");
		errno = EINVAL;
		return -1;
	}
	if (*url == NULL) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int
notify_job(struct spool *sp, jv job)
{
	const char *id, *url;
	char name[ID_LEN + TAG_MAX + 8], tag[TAG_MAX + 1];
	int rc = 0;

	if (!notify_wanted(jv_copy(job)))
		goto out;
	if ((rc = job_check(job, &id, &url)) == -1)
		goto out;
	snprintf(name, sizeof name, "%s.final.json", id);
	/* Already waiting: a crash came between the drop and the move, and
	 * the job was made final again. vr-notify builds the payload from the
	 * final job anyway. */
	if (exists_at(spool_dirfd(sp, SD_OUTBOX), name))
		goto out;
	snprintf(tag, sizeof tag, "final");
	/* Delivered before: the job left its final state (a retry by hand)
	 * and is final again, which is news: a new webhook-id. */
	if (exists_at(spool_dirfd(sp, SD_SENT), name))
		snprintf(tag, sizeof tag, "%lld", (long long)now_ms());
	rc = note_put(sp, id, tag, note_new(id, tag, "final",
	    str_at(job, "org"), "POST", url, notify_payload(jv_copy(job))));
out:
	jv_free(job);
	return rc;
}

int
notify_retrigger(struct spool *sp, jv job)
{
	const char *id, *url;
	char tag[TAG_MAX + 1];
	int rc;

	if ((rc = job_check(job, &id, &url)) == 0) {
		snprintf(tag, sizeof tag, "%lld", (long long)now_ms());
		rc = note_put(sp, id, tag, note_new(id, tag, "retrigger",
		    str_at(job, "org"), "POST", url,
		    notify_payload(jv_copy(job))));
	}
	jv_free(job);
	return rc;
}

int
notify_call(struct spool *sp, jv job, const char *tag, const char *method,
    const char *url, jv body)
{
	const char *id = str_at(job, "id");
	int rc = -1;

	if (id == NULL || !id_valid(id) || !tag_valid(tag) ||
	    strcmp(tag, "final") == 0 || strcmp(tag, "test") == 0) {
		log_warnx("notify: bad job id or tag for a %s call", method);
		jv_free(body);
		goto out;
	}
	rc = note_put(sp, id, tag, note_new(id, tag, tag, str_at(job, "org"),
	    method, url, body));
out:
	jv_free(job);
	return rc;
}

int
notify_test(struct spool *sp, const char *org, const char *url,
    const char *passthrough, char *id_out)
{
	char id[ID_LEN + 1], created[ISO8601_LEN + 1];
	jv job;

	if (id_new(id) == -1) {
		log_warn("notify: no id for a test webhook");
		return -1;
	}
	iso8601(now_ms() + 7 * 86400000LL, created);
	job = JV_OBJECT(jv_string("id"), jv_string(id),
	    jv_string("state"), jv_string("DONE"),
	    jv_string("projectId"), jv_string("sample-project"),
	    jv_string("templateId"), jv_string("sample-template"),
	    jv_string("output"), jv_string_fmt("%s/files/%s/video.mp4",
	    conf.public_url ? conf.public_url : "", id),
	    jv_string("thumbnailUris"), jv_array(),
	    jv_string("expirationDate"), jv_string(created),
	    jv_string("webhook"), JV_OBJECT(jv_string("url"), jv_string(url),
	    jv_string("passthrough"), passthrough ? jv_string(passthrough) :
	    jv_null()));
	if (id_out != NULL)
		memcpy(id_out, id, ID_LEN + 1);
	return note_put(sp, id, "test", note_new(id, "test", "test", org,
	    "POST", url, notify_payload(job)));
}

/* by_created: order notification files by createdAt (ISO text sorts). */
static int
by_created(const void *a, const void *b)
{
	const char *x = str_at(*(const jv *)a, "createdAt");
	const char *y = str_at(*(const jv *)b, "createdAt");

	return strcmp(x ? x : "", y ? y : "");
}

/*
 * The names of the notification files in outbox/ and sent/, by render id:
 * {id: {name: SD_OUTBOX or SD_SENT}}. A page of renders asks for each one's
 * webhookDelivery: one listing, kept for LISTING_TTL_MS, serves them all.
 * It is dropped when this process drops a notification.
 */
#define LISTING_TTL_MS 1000
static struct {
	bool valid;
	const struct spool *sp;
	int64_t at_ms;
	jv by_id;
} listing;

static void
listing_drop(void)
{
	if (listing.valid)
		jv_free(listing.by_id);
	listing.valid = false;
}

/* listing_read: list dir into listing.by_id (a name in sent/ wins: the file
 * is written there before it is removed from outbox/). */
static void
listing_read(struct spool *sp, enum sdir d)
{
	struct dirent *e;
	DIR *dir;
	size_t len;
	int fd;
	jv names;

	if ((fd = openat(spool_dirfd(sp, d), ".",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1 || (dir = fdopendir(fd)) == NULL) {
		log_warn("cannot list %s/%s", sp->root, sdir_name(d));
		if (fd != -1)
			close(fd);
		return;
	}
	while ((e = readdir(dir)) != NULL) {
		len = strlen(e->d_name);
		if (len < ID_LEN + 7 || e->d_name[ID_LEN] != '.' ||
		    strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		jv id = jv_string_sized(e->d_name, ID_LEN);
		names = jv_object_get(jv_copy(listing.by_id), jv_copy(id));
		if (!jv_is_valid(names)) {
			jv_free(names);
			names = jv_object();
		}
		names = jv_object_set(names, jv_string(e->d_name),
		    jv_number(d));
		listing.by_id = jv_object_set(listing.by_id, id, names);
	}
	closedir(dir);
}

/* notes_of: every notification file of id in outbox/ and sent/. */
static jv
notes_of(struct spool *sp, const char *id)
{
	jv notes = jv_array(), names, note;
	int d;

	if (!listing.valid || listing.sp != sp ||
	    mono_ms() - listing.at_ms > LISTING_TTL_MS) {
		listing_drop();
		listing.by_id = jv_object();
		listing.valid = true;
		listing.sp = sp;
		listing.at_ms = mono_ms();
		listing_read(sp, SD_OUTBOX);
		listing_read(sp, SD_SENT);
	}
	names = jv_object_get(jv_copy(listing.by_id), jv_string(id));
	if (!jv_is_valid(names)) {
		jv_free(names);
		return notes;
	}
	jv_object_foreach(names, name, where) {
		d = (int)jv_number_value(where);
		note = job_loadat(spool_dirfd(sp, d), jv_string_value(name));
		if (!jv_is_valid(note) && errno == ENOENT && d == SD_OUTBOX) {
			jv_free(note);    /* delivered meanwhile */
			note = job_loadat(spool_dirfd(sp, SD_SENT),
			    jv_string_value(name));
		}
		if (jv_is_valid(note))
			notes = jv_array_append(notes, note);
		else if (errno != ENOENT) {
			jv msg = jv_invalid_get_msg(note);
			log_warnx("%s", jv_string_value(msg));
			jv_free(msg);
		} else
			jv_free(note);
		jv_free(name);
		jv_free(where);
	}
	jv_free(names);
	return notes;
}

jv
notify_delivery(struct spool *sp, jv job)
{
	const char *id, *state, *status = "PENDING";
	jv notes, deliveries = jv_array(), out;
	jv *each;
	int i, j, n, m;

	if (webhook_url(job) == NULL || (id = str_at(job, "id")) == NULL ||
	    !id_valid(id)) {
		jv_free(job);
		return jv_null();
	}
	notes = notes_of(sp, id);
	n = jv_array_length(jv_copy(notes));
	each = calloc((size_t)n + 1, sizeof *each);
	if (each == NULL) {
		jv_free(notes);
		jv_free(job);
		return jv_invalid_with_msg(jv_string("out of memory"));
	}
	for (i = 0; i < n; i++)
		each[i] = jv_array_get(jv_copy(notes), i);
	qsort(each, (size_t)n, sizeof *each, by_created);
	for (i = 0; i < n; i++) {
		jv attempts = field(each[i], "attempts");

		m = jv_get_kind(attempts) == JV_KIND_ARRAY ?
		    jv_array_length(jv_copy(attempts)) : 0;
		for (j = 0; j < m; j++) {
			jv a = jv_array_get(jv_copy(attempts), j);
			if (jv_get_kind(a) != JV_KIND_OBJECT) {
				jv_free(a);
				continue;
			}
			a = jv_object_set(a, jv_string("webhookId"),
			    field(each[i], "webhookId"));
			a = jv_object_set(a, jv_string("url"),
			    field(each[i], "url"));
			deliveries = jv_array_append(deliveries, a);
		}
		jv_free(attempts);
	}
	state = str_at(job, "state");
	if (n > 0 && str_at(each[n - 1], "status") != NULL)
		status = str_at(each[n - 1], "status");
	else if (n == 0 && state != NULL && (strcmp(state, "CANCELLED") == 0 ||
	    ((strcmp(state, "DONE") == 0 || strcmp(state, "FAILED") == 0 ||
	    strcmp(state, "INVALID") == 0) && !notify_wanted(jv_copy(job)))))
		status = "IGNORED";
	out = JV_OBJECT(jv_string("status"), jv_string(status),
	    jv_string("deliveries"), deliveries);
	for (i = 0; i < n; i++)
		jv_free(each[i]);
	free(each);
	jv_free(notes);
	jv_free(job);
	return out;
}
