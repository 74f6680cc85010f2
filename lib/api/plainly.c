/*
 * api/plainly.c — the Plainly-style API under /api/v2 (doc/api.md): the
 * renders endpoints, the organisation, the webhook test, and the routing
 * of its paths (projects in projects.c; a create's body is checked by
 * plainly-request.c and submitted by submit.c).
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <poll.h>
#include <unistd.h>

#include "api/api.h"
#include "clock.h"
#include "conf.h"
#include "id.h"
#include "job.h"
#include "log.h"
#include "notify.h"

#define PAGE_SIZE_DEFAULT 20
#define PAGE_SIZE_MAX 1000
#define CANCEL_WAIT_MS 5000
#define IDEMPOTENCY_KEY_MAX 255

/* idempotency_key: the request's Idempotency-Key, checked; NULL if none.
 * false (answered) when it is not acceptable. */
static bool
idempotency_key(struct api *a, const char **key)
{
	const char *s = http_header_get(a->req, "Idempotency-Key");
	size_t i;

	*key = NULL;
	if (s == NULL)
		return true;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			break;
	if (i == 0 || s[i] != '\0' || i > IDEMPOTENCY_KEY_MAX) {
		api_error(a, 400, "REQUEST_INVALID_HEADER",
		    "Idempotency-Key must be 1 to %d visible ASCII characters",
		    IDEMPOTENCY_KEY_MAX);
		return false;
	}
	*key = s;
	return true;
}

static void
submit_and_answer(struct api *a, jv job)
{
	struct api_fail f;
	const char *key;
	enum sdir dir;

	if (!idempotency_key(a, &key)) {
		jv_free(job);
		return;
	}
	job = api_submit(a, job, key, &dir, &f);
	if (!jv_is_valid(job)) {
		jv_free(job);
		api_fail_answer(a, &f);
		return;
	}
	api_json(a, 200, api_render(a, job, dir));
}

static void
render_create(struct api *a)
{
	struct api_fail f;
	jv body, job;

	body = job_parse(a->req->body ? a->req->body : "", a->req->body_len,
	    conf.max_json_depth);
	if (!jv_is_valid(body)) {
		jv msg = jv_invalid_get_msg(body);

		api_error(a, 400, "REQUEST_MALFORMED_JSON", "%s",
		    jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) :
		    "the body must be a JSON object");
		jv_free(msg);
		return;
	}
	job = plainly_render_job(body, &a->key, &f);
	if (!jv_is_valid(job)) {
		jv_free(job);
		api_fail_answer(a, &f);
		return;
	}
	submit_and_answer(a, job);
}

/* render_of: the caller's render id and its directory; an invalid, once
 * 404 RENDER_DOES_NOT_EXIST has been answered, when there is none (or it is
 * another organisation's: they look alike). */
static jv
render_of(struct api *a, const char *id, enum sdir *dir)
{
	jv job = api_job(a, id, dir);

	if (!jv_is_valid(job))
		api_error(a, 404, "RENDER_DOES_NOT_EXIST", "no render %.40s", id);
	return job;
}

static void
render_resubmit(struct api *a, const char *id)
{
	static const char *const inputs[] = {
		"projectId", "templateId", "parameters", "attributes", "options",
		"outputFormat", "webhook", "ext" };
	struct api_fail f;
	enum sdir dir;
	jv old, job;
	size_t i;

	old = render_of(a, id, &dir);
	if (!jv_is_valid(old)) {
		jv_free(old);
		return;
	}
	job = api_new_job(a->key.org, "plainly", &f);
	if (!jv_is_valid(job)) {
		jv_free(old);
		api_fail_answer(a, &f);
		return;
	}
	for (i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
		job = api_copy_field(job, old, inputs[i]);
	job = jv_object_set(job, jv_string("resubmittedFrom"), jv_string(id));
	jv_free(old);
	submit_and_answer(a, job_record(job, "PENDING", "vr-accept"));
}

static void
render_get(struct api *a, const char *id)
{
	enum sdir dir;
	jv job = render_of(a, id, &dir);

	if (!jv_is_valid(job)) {
		jv_free(job);
		return;
	}
	api_json(a, 200, api_render(a, job, dir));
}

/* query: query parameter name into out: 1 present, 0 absent, -1 present
 * but too long or holding a NUL (answered 400). */
static int
query(struct api *a, const char *name, char *out, size_t size)
{
	if (http_query_get(a->req, name, out, size))
		return 1;
	if (!http_query_has(a->req, name))
		return 0;
	api_error(a, 400, "REQUEST_INVALID_PARAMETER",
	    "%s: longer than %zu bytes or not text", name, size - 1);
	return -1;
}

/* page_args: page (from 0) and size from the query; false (answered) when
 * they are not numbers in range. */
static bool
page_args(struct api *a, int *page, int *size)
{
	char text[32], *end;
	long n;
	int rc;

	*page = 0;
	*size = PAGE_SIZE_DEFAULT;
	if ((rc = query(a, "page", text, sizeof text)) == -1)
		return false;
	if (rc == 1) {
		n = strtol(text, &end, 10);
		if (*end != '\0' || end == text || n < 0 || n > 1000000) {
			api_error(a, 400, "REQUEST_INVALID_PARAMETER",
			    "page must be a number from 0");
			return false;
		}
		*page = (int)n;
	}
	if ((rc = query(a, "size", text, sizeof text)) == -1)
		return false;
	if (rc == 1) {
		n = strtol(text, &end, 10);
		if (*end != '\0' || end == text || n < 1 || n > PAGE_SIZE_MAX) {
			api_error(a, 400, "REQUEST_INVALID_PARAMETER",
			    "size must be a number from 1 to %d", PAGE_SIZE_MAX);
			return false;
		}
		*size = (int)n;
	}
	return true;
}

struct listed {
	char id[ID_LEN + 1];
	enum sdir dir;
};

static int
newest_first(const void *x, const void *y)
{
	const struct listed *a = x, *b = y;

	return strcmp(b->id, a->id);
}

/* list_ids: the ids in the directories wanted (all when only_dir < 0),
 * newest first. Sets *n; the caller frees the result. */
static struct listed *
list_ids(struct api *a, int only_dir, int *n)
{
	struct listed *all = NULL, *grown;
	int i, j, count = 0;

	for (i = 0; i < api_state_ndirs; i++) {
		enum sdir d = api_state_dirs[i];
		jv ids;
		int len;

		if (only_dir >= 0 && (int)d != only_dir &&
		    !(only_dir == SD_IN_PROGRESS && d == SD_UPLOADING))
			continue;
		ids = spool_list(&a->sp, d);
		len = jv_is_valid(ids) ? jv_array_length(jv_copy(ids)) : 0;
		grown = realloc(all, sizeof *all * (size_t)(count + len + 1));
		if (grown == NULL) {
			jv_free(ids);
			break;
		}
		all = grown;
		for (j = 0; j < len; j++) {
			jv id = jv_array_get(jv_copy(ids), j);

			snprintf(all[count].id, sizeof all[count].id, "%s",
			    jv_string_value(id));
			all[count++].dir = d;
			jv_free(id);
		}
		jv_free(ids);
	}
	if (count > 0)
		qsort(all, (size_t)count, sizeof *all, newest_first);
	*n = count;
	return all;
}

static bool
field_is(jv job, const char *key, const char *want)
{
	const char *have;

	if (want == NULL)
		return true;
	have = job_str(job, key);
	return have != NULL && strcmp(have, want) == 0;
}

static bool
contains(jv job, const char *key, const char *term)
{
	jv value = jv_object_get(jv_copy(job), jv_string(key));
	bool found = false;

	if (jv_get_kind(value) == JV_KIND_STRING) {
		found = strcasestr(jv_string_value(value), term) != NULL;
		jv_free(value);
	} else if (jv_is_valid(value)) {
		jv text = jv_dump_string(value, 0);

		found = strcasestr(jv_string_value(text), term) != NULL;
		jv_free(text);
	} else {
		jv_free(value);
	}
	return found;
}

struct filter {
	const char *project, *template, *webhook_status, *term;
	int dir;
};

static bool
matches(struct api *a, jv job, const struct filter *flt)
{
	static const char *const searched[] = {
		"id", "projectId", "templateId", "projectName", "templateName",
		"parameters", "attributes" };
	size_t i;

	if (!field_is(job, "projectId", flt->project) ||
	    !field_is(job, "templateId", flt->template))
		return false;
	if (flt->webhook_status != NULL) {
		jv delivery = notify_delivery(&a->sp, jv_copy(job));
		const char *status = jv_get_kind(delivery) == JV_KIND_OBJECT ?
		    job_str(delivery, "status") : NULL;
		bool same = status != NULL &&
		    strcmp(status, flt->webhook_status) == 0;

		jv_free(delivery);
		if (!same)
			return false;
	}
	if (flt->term == NULL || flt->term[0] == '\0')
		return true;
	for (i = 0; i < sizeof searched / sizeof searched[0]; i++)
		if (contains(job, searched[i], flt->term))
			return true;
	return false;
}

/* render_list: GET /renders and /renders/search: newest first, paged. */
static void
render_list(struct api *a, const struct filter *flt)
{
	struct listed *ids;
	int page, size, n, i, skip;
	jv out = jv_array();

	if (!page_args(a, &page, &size)) {
		jv_free(out);
		return;
	}
	ids = list_ids(a, flt->dir, &n);
	skip = page * size;
	for (i = 0; i < n && jv_array_length(jv_copy(out)) < size; i++) {
		jv job = spool_get(&a->sp, ids[i].dir, ids[i].id);

		if (!jv_is_valid(job) || !field_is(job, "org", a->key.org) ||
		    !matches(a, job, flt)) {
			jv_free(job);
			continue;
		}
		if (skip > 0) {
			skip--;
			jv_free(job);
			continue;
		}
		out = jv_array_append(out, api_render(a, job, ids[i].dir));
	}
	free(ids);
	api_json(a, 200, out);
}

static void
render_list_query(struct api *a, bool search)
{
	static const char *const webhook_states[] = {
		"PENDING", "RETRYING", "IGNORED", "FAILURE", "SUCCESS", NULL };
	char project[128], template[128], state[32], hook[32], term[256];
	struct filter flt = { .dir = -1 };
	int rc;

	if (search) {
		if ((rc = query(a, "searchTerm", term, sizeof term)) == -1)
			return;
		if (rc == 1)
			flt.term = term;
		render_list(a, &flt);
		return;
	}
	if ((rc = query(a, "projectId", project, sizeof project)) == -1)
		return;
	if (rc == 1)
		flt.project = project;
	if ((rc = query(a, "templateId", template, sizeof template)) == -1)
		return;
	if (rc == 1)
		flt.template = template;
	if ((rc = query(a, "state", state, sizeof state)) == -1)
		return;
	if (rc == 1 && ((flt.dir = sdir_from_state(state)) == -1 ||
	    flt.dir == SD_UPLOADING)) {
		api_error(a, 400, "REQUEST_INVALID_PARAMETER",
		    "state must be one of PENDING, THROTTLED, QUEUED, "
		    "IN_PROGRESS, DONE, FAILED (or ERROR), INVALID, CANCELLED");
		return;
	}
	if ((rc = query(a, "webhookStatus", hook, sizeof hook)) == -1)
		return;
	if (rc == 1) {
		if (!api_one_of(hook, webhook_states)) {
			api_error(a, 400, "REQUEST_INVALID_PARAMETER",
			    "webhookStatus must be one of PENDING, RETRYING, "
			    "IGNORED, FAILURE, SUCCESS");
			return;
		}
		flt.webhook_status = hook;
	}
	render_list(a, &flt);
}

/* wait_gone: until name leaves dir or ms pass (inotify, then a check). */
static void
wait_gone(struct api *a, enum sdir dir, const char *name, int64_t ms)
{
	int64_t deadline = mono_ms() + ms, left;
	struct pollfd pfd = { .events = POLLIN };
	char path[4096], events[4096];

	if (spool_path(&a->sp, dir, "", path, sizeof path) == -1 ||
	    (pfd.fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) == -1)
		return;
	if (inotify_add_watch(pfd.fd, path, IN_MOVED_FROM | IN_DELETE) != -1) {
		while (faccessat(spool_dirfd(&a->sp, dir), name, F_OK,
		    0) == 0 &&
		    (left = deadline - mono_ms()) > 0) {
			if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR)
				break;
			while (read(pfd.fd, events, sizeof events) > 0)
				;
		}
	}
	close(pfd.fd);
}

/* stop_worker: SIGTERM the worker rendering job (vr-render ends the job
 * CANCELLED), then wait a moment for it to leave in-progress/. */
static bool
stop_worker(struct api *a, jv job, const char *id)
{
	jv worker = jv_object_get(jv_copy(job), jv_string("worker"));
	char host[256] = "", name[ID_LEN + 6];
	const char *worker_host;
	int64_t pid;

	if (jv_get_kind(worker) != JV_KIND_OBJECT) {
		jv_free(worker);
		return false;
	}
	pid = job_int(worker, "pid", 0);
	worker_host = job_str(worker, "host");
	gethostname(host, sizeof host - 1);
	if (pid <= 1 || pid > 1 << 22 || worker_host == NULL ||
	    strcmp(worker_host, host) != 0) {
		jv_free(worker);
		return false;
	}
	jv_free(worker);
	if (kill((pid_t)pid, SIGTERM) == -1) {
		log_warn("%s: cannot stop worker %lld", id, (long long)pid);
		return false;
	}
	log_info("%s: cancel: sent SIGTERM to worker %lld", id, (long long)pid);
	snprintf(name, sizeof name, "%s.json", id);
	wait_gone(a, SD_IN_PROGRESS, name, CANCEL_WAIT_MS);
	return true;
}

static void
render_cancel(struct api *a, const char *id)
{
	enum sdir dir;
	int tries;
	jv job;

	for (tries = 0; tries < 5; tries++) {
		job = render_of(a, id, &dir);
		if (!jv_is_valid(job)) {
			jv_free(job);
			return;
		}
		switch (dir) {
		case SD_PENDING:
		case SD_THROTTLED:
		case SD_QUEUED:
			if (spool_move(&a->sp, id, dir, SD_CANCELLED, job,
			    "vr-accept") == -1) {
				if (errno == ENOENT)
					continue;  /* it moved on: look again */
				api_error(a, 500, "INTERNAL_ERROR",
				    "the render could not be cancelled");
				return;
			}
			render_get(a, id);
			return;
		case SD_CANCELLED:
			api_json(a, 200, api_render(a, job, dir));
			return;
		case SD_IN_PROGRESS:
			if (conf.cancel_in_progress && stop_worker(a, job, id)) {
				jv_free(job);
				render_get(a, id);
				return;
			}
			jv_free(job);
			api_error(a, 400, "RENDER_CANNOT_BE_CANCELLED",
			    "the render is in progress%s", conf.cancel_in_progress ?
			    " and its worker cannot be signalled" : "");
			return;
		default:
			jv_free(job);
			api_error(a, 400, "RENDER_CANNOT_BE_CANCELLED",
			    "the render is %s", dir == SD_UPLOADING ?
			    "rendered and being uploaded" : "already finished");
			return;
		}
	}
	api_error(a, 409, "RENDER_BUSY", "the render kept changing state");
}

static void
cancel_all(struct api *a)
{
	char project[128], template[128];
	struct filter flt = { .dir = -1 };
	int i, j, n, rc;

	if ((rc = query(a, "projectId", project, sizeof project)) == -1)
		return;
	if (rc == 1)
		flt.project = project;
	if ((rc = query(a, "templateId", template, sizeof template)) == -1)
		return;
	if (rc == 1)
		flt.template = template;
	for (i = 0; i < SD_NWAITING; i++) {
		jv ids = spool_list(&a->sp, sdir_waiting[i]);

		n = jv_is_valid(ids) ? jv_array_length(jv_copy(ids)) : 0;
		for (j = 0; j < n; j++) {
			jv id = jv_array_get(jv_copy(ids), j);
			jv job = spool_get(&a->sp, sdir_waiting[i],
			    jv_string_value(id));

			if (jv_is_valid(job) && field_is(job, "org", a->key.org) &&
			    matches(a, job, &flt)) {
				/* ENOENT: it moved on meanwhile, not ours */
				spool_move(&a->sp, jv_string_value(id),
				    sdir_waiting[i], SD_CANCELLED, job, "vr-accept");
			} else {
				jv_free(job);
			}
			jv_free(id);
		}
		jv_free(ids);
	}
	http_respond(a->c, 201, NULL, NULL, "", 0);
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) == -1 && errno != ENOENT)
		log_warn("%s", path);
	return 0;
}

static void
render_delete(struct api *a, const char *id)
{
	char name[ID_LEN + 6], text[16], out_dir[4096];
	bool skip_assets;
	enum sdir dir;
	jv job = render_of(a, id, &dir);

	if (!jv_is_valid(job)) {
		jv_free(job);
		return;
	}
	if (!sdir_is_final(dir)) {
		jv_free(job);
		api_error(a, 400, "RENDER_NOT_FINISHED",
		    "the render is not finished: cancel it first");
		return;
	}
	skip_assets = http_query_get(a->req, "skipAssets", text, sizeof text) &&
	    strcmp(text, "true") == 0;
	snprintf(name, sizeof name, "%s.json", id);
	if (unlinkat(spool_dirfd(&a->sp, dir), name, 0) == -1) {
		jv_free(job);
		if (errno == ENOENT) {
			api_error(a, 404, "RENDER_DOES_NOT_EXIST",
			    "no render %.40s", id);
			return;
		}
		log_warn("%s: delete", id);
		api_error(a, 500, "INTERNAL_ERROR", "the render was not deleted");
		return;
	}
	fsync(spool_dirfd(&a->sp, dir));
	if (!skip_assets && spool_path(&a->sp, SD_OUT, id, out_dir,
	    sizeof out_dir) == 0)
		nftw(out_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	log_info("%s: deleted%s", id, skip_assets ? ", outputs kept" : "");
	api_json(a, 201, api_render(a, job, dir));
}

static void
render_promote(struct api *a, const char *id)
{
	char token[33], name[ID_LEN + 6];
	enum sdir dir;
	jv job = render_of(a, id, &dir);

	if (!jv_is_valid(job)) {
		jv_free(job);
		return;
	}
	if (dir != SD_DONE) {
		jv_free(job);
		api_error(a, 400, "RENDER_NOT_FINISHED",
		    "only a DONE render can be promoted");
		return;
	}
	if (jv_equal(jv_object_get(jv_copy(job), jv_string("expired")),
	    jv_true())) {
		jv_free(job);
		api_error(a, 400, "RENDER_EXPIRED", "the render's files expired");
		return;
	}
	if (job_str(job, "publicToken") == NULL) {
		if (random_token(token, 16) == -1) {
			jv_free(job);
			api_error(a, 500, "INTERNAL_ERROR", "no randomness");
			return;
		}
		job = jv_object_set(job, jv_string("publicToken"),
		    jv_string(token));
		job = jv_object_set(job, jv_string("publicUrl"),
		    jv_string_fmt("%s/public/%s/%s", conf.public_url, id, token));
		snprintf(name, sizeof name, "%s.json", id);
		if (spool_put(&a->sp, SD_DONE, name, jv_copy(job)) == -1) {
			log_warn("%s: promote", id);
			jv_free(job);
			api_error(a, 500, "INTERNAL_ERROR",
			    "the render was not promoted");
			return;
		}
	}
	api_json(a, 200, api_render(a, job, dir));
}

static void
render_webhook(struct api *a, const char *id)
{
	enum sdir dir;
	jv job = render_of(a, id, &dir);

	if (!jv_is_valid(job)) {
		jv_free(job);
		return;
	}
	if (!sdir_is_final(dir)) {
		jv_free(job);
		api_error(a, 400, "RENDER_NOT_FINISHED", "the render is not finished");
		return;
	}
	if (!api_has_object(job, "webhook")) {
		jv_free(job);
		api_error(a, 400, "RENDER_DOES_NOT_HAVE_WEBHOOK",
		    "the render has no webhook");
		return;
	}
	if (notify_retrigger(&a->sp, job) == -1) {
		if (errno == EINVAL)
			api_error(a, 400, "RENDER_DOES_NOT_HAVE_WEBHOOK",
			    "the render has no webhook url");
		else
			api_error(a, 500, "INTERNAL_ERROR",
			    "the notification was not queued");
		return;
	}
	api_json(a, 200, jv_object());
}

static void
me(struct api *a)
{
	api_json(a, 200, JV_OBJECT(
	    jv_string("organizationId"), jv_string(a->key.org),
	    jv_string("organizationName"), jv_string(a->key.org),
	    jv_string("concurrency"), jv_number(a->key.concurrency),
	    jv_string("queueLimit"), jv_number(a->key.queue_limit)));
}

static void
webhook_test(struct api *a)
{
	char url[2048], passthrough[1024], id[ID_LEN + 1];
	bool has_passthrough;

	if (!http_query_get(a->req, "url", url, sizeof url) ||
	    (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
		api_error(a, 400, "REQUEST_INVALID_PARAMETER",
		    "url must be an http or https URL");
		return;
	}
	has_passthrough = http_query_get(a->req, "passthrough", passthrough,
	    sizeof passthrough);
	if (notify_test(&a->sp, a->key.org, url,
	    has_passthrough ? passthrough : NULL, id) == -1) {
		api_error(a, 500, "INTERNAL_ERROR", "the test was not queued");
		return;
	}
	api_json(a, 200, jv_number(202));
}

/* is: is the request's method want (HEAD counts as GET)? */
static bool
is(struct api *a, const char *want)
{
	return strcmp(a->req->method, want) == 0 ||
	    (strcmp(want, "GET") == 0 && strcmp(a->req->method, "HEAD") == 0);
}

static void
renders(struct api *a, char *seg[], int nseg)
{
	const char *m = a->req->method;

	if (nseg == 1) {
		if (is(a, "POST"))
			render_create(a);
		else if (is(a, "GET"))
			render_list_query(a, false);
		else
			goto not_allowed;
		return;
	}
	if (nseg == 2 && strcmp(seg[1], "search") == 0) {
		if (!is(a, "GET"))
			goto not_allowed;
		render_list_query(a, true);
		return;
	}
	if (nseg == 2 && strcmp(seg[1], "cancel-all") == 0) {
		if (!is(a, "POST"))
			goto not_allowed;
		cancel_all(a);
		return;
	}
	if (nseg == 2) {
		if (is(a, "GET"))
			render_get(a, seg[1]);
		else if (is(a, "DELETE"))
			render_delete(a, seg[1]);
		else
			goto not_allowed;
		return;
	}
	if (nseg == 3) {
		void (*action)(struct api *, const char *) = NULL;

		if (strcmp(seg[2], "cancel") == 0)
			action = render_cancel;
		else if (strcmp(seg[2], "resubmit") == 0)
			action = render_resubmit;
		else if (strcmp(seg[2], "promote") == 0)
			action = render_promote;
		else if (strcmp(seg[2], "webhook") == 0)
			action = render_webhook;
		if (action == NULL) {
			api_error(a, 404, "NOT_FOUND", "no such endpoint");
			return;
		}
		if (!is(a, "POST"))
			goto not_allowed;
		action(a, seg[1]);
		return;
	}
	api_error(a, 404, "NOT_FOUND", "no such endpoint");
	return;
not_allowed:
	api_error(a, 405, "METHOD_NOT_ALLOWED", "%s is not allowed here", m);
}

void
plainly_route(struct api *a, char *seg[], int nseg)
{
	if (!api_auth(a))
		return;
	if (nseg >= 1 && strcmp(seg[0], "renders") == 0) {
		renders(a, seg, nseg);
	} else if (nseg == 1 && strcmp(seg[0], "me") == 0) {
		if (is(a, "GET"))
			me(a);
		else
			api_error(a, 405, "METHOD_NOT_ALLOWED", "use GET");
	} else if (nseg == 1 && strcmp(seg[0], "webhook-test") == 0) {
		if (is(a, "GET"))
			webhook_test(a);
		else
			api_error(a, 405, "METHOD_NOT_ALLOWED", "use GET");
	} else if (nseg >= 1 && nseg <= 4 && strcmp(seg[0], "projects") == 0 &&
	    (nseg < 3 || strcmp(seg[2], "templates") == 0)) {
		if (is(a, "GET"))
			projects_route(a, seg, nseg);
		else
			api_error(a, 405, "METHOD_NOT_ALLOWED", "use GET");
	} else {
		api_error(a, 404, "NOT_FOUND", "no such endpoint");
	}
}
