/*
 * vr-validate — the spool's gate (doc/vr-validate.8). For each job arriving
 * in pending/: its template must exist and its parameters resolve (the
 * results are recorded as parametrizationResults), each media asset is
 * fetched behind the address guard into assets/ and probed, its upload
 * tasks must be deliverable, its routing key known; then it goes to
 * invalid/ (after its webhook notification is dropped), or to queued/, or
 * to throttled/ when its organisation already has as many renders queued,
 * in progress or uploading as its concurrency limit. Throttled jobs are
 * released to queued/ oldest first as renders leave queued/, in-progress/
 * and uploading/. The spool is the only state, so a restart loses nothing.
 * With --check, one job from stdin is checked and nothing is moved.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "conf.h"
#include "fetch.h"
#include "id.h"
#include "job.h"
#include "keys.h"
#include "log.h"
#include "notify.h"
#include "probe.h"
#include "spool.h"
#include "template.h"
#include "upload.h"
#include "watch.h"

static const char usage[] = "usage: vr-validate [-f conf] [--check]\n";

#define BY "vr-validate"
#define RESCAN_MS 1000      /* periodic look at throttled/ and retries */
#define ERR_MAX 1024
/* Jobs whose assets are fetched and probed at once, each in a child
 * process: a slow asset server holds up only its own job, and a crash in
 * a demuxer only its worker. */
#define CHECK_WORKERS 8

enum verdict { V_OK, V_INVALID, V_RETRY };

/* Where assets go: the spool's tmp/ and assets/, or a private directory
 * for --check. */
struct assetdir {
	int tmp_fd, assets_fd;
	char path[PATH_MAX];    /* of assets/, for libavformat */
};

struct daemon {
	struct spool sp;
	struct assetdir ad;
	struct watch *watch;
	int gone_fd;            /* inotify: jobs leaving active directories */
	int signal_fd;
	jv org_of;              /* id → org of jobs seen active or throttled */
	bool release_due;
	jv todo;                /* id → true: pending, waiting for a look */
	jv busy;                /* id → true: being checked by a worker */
	int nworkers;
	struct worker {
		pid_t pid;
		int fd;             /* its answer: {verdict, job} */
		char id[ID_LEN + 1];
		jv answer;          /* text read so far */
	} worker[CHECK_WORKERS];
};

/* ---- checking one job (both modes) ---- */

/* field: job.key, or null when absent (borrows job). */
static jv
field(jv job, const char *key)
{
	jv v = jv_object_get(jv_copy(job), jv_string(key));

	if (jv_is_valid(v))
		return v;
	jv_free(v);
	return jv_null();
}

/* invalid: the job with error {code, message}; the verdict is INVALID. */
static jv
invalid(jv job, enum verdict *v, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static jv
invalid(jv job, enum verdict *v, const char *code, const char *fmt, ...)
{
	char message[ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	*v = V_INVALID;
	return job_fail(job, code, message);
}

/* template_names: the templates a job renders: templateId, or for FX the
 * movie (a name, or an extension → name object). */
static jv
template_names(jv job)
{
	const char *tid = job_str(job, "templateId");
	jv movie, names = jv_array();

	if (tid != NULL)
		return jv_array_append(names, jv_string(tid));
	movie = jv_object_get(jv_copy(job), jv_string("movie"));
	if (jv_get_kind(movie) == JV_KIND_STRING)
		names = jv_array_append(names, jv_copy(movie));
	else if (jv_get_kind(movie) == JV_KIND_OBJECT)
		jv_object_foreach(movie, ext, name) {
			jv_free(ext);
			if (jv_get_kind(name) == JV_KIND_STRING)
				names = jv_array_append(names, name);
			else
				jv_free(name);
		}
	jv_free(movie);
	return names;
}

/* template_get: the template, or NULL with *broken set when it exists but
 * does not load (the sysadmin's to fix: logged). */
static struct tmpl *
template_get(const char *project, const char *name, bool *broken, char *err,
    size_t size)
{
	struct tmpl *t = tmpl_cache_get(conf.templates, project, name, err, size);
	char path[PATH_MAX];

	*broken = false;
	if (t != NULL || !name_valid(project) || !name_valid(name))
		return t;
	snprintf(path, sizeof path, "%s/%s/%s.json", conf.templates, project,
	    name);
	if (access(path, F_OK) == 0) {
		log_warnx("template %s/%s: %s", project, name, err);
		*broken = true;
	}
	return NULL;
}

/* check_templates: resolve the parameters with each template; media to
 * fetch into *media. The first template's results are recorded. */
static jv
check_templates(jv job, enum verdict *v, jv *media)
{
	jv project_v = field(job, "projectId");
	const char *project = jv_get_kind(project_v) == JV_KIND_STRING ?
	    jv_string_value(project_v) : NULL;
	jv names = template_names(job), params;
	char err[ERR_MAX];
	int n = jv_array_length(jv_copy(names));
	bool broken;

	if (project == NULL || n == 0) {
		jv_free(names);
		job = invalid(job, v, "PROJECT_TEMPLATE_DOES_NOT_EXIST",
		    "the render names no %s", project == NULL ? "projectId" :
		    "templateId");
		jv_free(project_v);
		return job;
	}
	params = field(job, "parameters");
	for (int i = 0; i < n && *v == V_OK; i++) {
		jv name = jv_array_get(jv_copy(names), i);
		struct tmpl *t = template_get(project, jv_string_value(name),
		    &broken, err, sizeof err);
		if (t == NULL) {
			if (broken)
				job = invalid(job, v, "RENDER_INVALID", "template "
				    "%s/%s cannot be used: %s", project,
				    jv_string_value(name), err);
			else
				job = invalid(job, v,
				    "PROJECT_TEMPLATE_DOES_NOT_EXIST",
				    "project %s has no template %s", project,
				    jv_string_value(name));
			jv_free(name);
			break;
		}
		jv_free(name);
		jv r = tmpl_resolve(t, jv_copy(params));
		if (i == 0)
			job = jv_object_set(job, jv_string("parametrizationResults"),
			    jv_object_get(jv_copy(r),
			    jv_string("parametrizationResults")));
		jv ok = jv_object_get(jv_copy(r), jv_string("ok"));
		if (jv_get_kind(ok) != JV_KIND_TRUE) {
			jv e = jv_object_get(jv_copy(r), jv_string("error"));
			jv code = jv_object_get(jv_copy(e), jv_string("code"));
			jv msg = jv_object_get(e, jv_string("message"));
			job = invalid(job, v, jv_get_kind(code) == JV_KIND_STRING ?
			    jv_string_value(code) : "RENDER_INVALID", "%s",
			    jv_get_kind(msg) == JV_KIND_STRING ?
			    jv_string_value(msg) : "the parameters do not fit "
			    "the template");
			jv_free(code);
			jv_free(msg);
		} else
			*media = jv_array_concat(*media,
			    jv_object_get(jv_copy(r), jv_string("media")));
		jv_free(ok);
		jv_free(r);
	}
	jv_free(params);
	jv_free(names);
	jv_free(project_v);
	return job;
}

/* check_asset: fetch and probe one medium; record it in job.assets. */
static jv
check_asset(struct assetdir *ad, jv job, enum verdict *v, const char *layer,
    const char *url, const char *media_type)
{
	char name[FETCH_NAME_MAX], err[ERR_MAX], path[PATH_MAX + FETCH_NAME_MAX];
	struct probe_info info;
	bool downloaded;

	switch (fetch_asset(ad->tmp_fd, ad->assets_fd, url, name, &downloaded,
	    err, sizeof err)) {
	case FETCH_OK:
		break;
	case FETCH_REFUSED:
		return invalid(job, v, "WORKER_DOWNLOAD_ASSET_FAILED",
		    "layer %s: cannot fetch %s", layer, err);
	case FETCH_LOCAL:
		log_warnx("%s", err);
		*v = V_RETRY;
		return job;
	}
	snprintf(path, sizeof path, "%s/%s", ad->path, name);
	if (probe_file(path, media_type, &info, err, sizeof err) == -1)
		return invalid(job, v, "WORKER_IMPORT_ASSET_FAILED",
		    "layer %s: %.200s: %s", layer, url, err);
	jv assets = jv_object_get(jv_copy(job), jv_string("assets"));
	if (jv_get_kind(assets) != JV_KIND_OBJECT) {
		jv_free(assets);
		assets = jv_object();
	}
	assets = jv_object_set(assets, jv_string(url), jv_string(name));
	return jv_object_set(job, jv_string("assets"), assets);
}

/* check_media: fetch and probe each of media; *v is V_OK on entry. */
static jv
check_media(struct assetdir *ad, jv job, enum verdict *v, jv media)
{
	jv_array_foreach(media, i, m) {
		jv layer = jv_object_get(jv_copy(m), jv_string("layer"));
		jv url = jv_object_get(jv_copy(m), jv_string("value"));
		jv type = jv_object_get(m, jv_string("mediaType"));
		if (*v == V_OK && jv_get_kind(url) == JV_KIND_STRING)
			job = check_asset(ad, job, v,
			    jv_get_kind(layer) == JV_KIND_STRING ?
			    jv_string_value(layer) : "?", jv_string_value(url),
			    jv_get_kind(type) == JV_KIND_STRING ?
			    jv_string_value(type) : NULL);
		jv_free(layer);
		jv_free(url);
		jv_free(type);
		(void)i;
	}
	jv_free(media);
	return job;
}

static jv
check_uploads(jv job, enum verdict *v)
{
	jv uploads = jv_object_get(jv_copy(job), jv_string("uploads"));
	char err[ERR_MAX];

	if (jv_get_kind(uploads) == JV_KIND_NULL ||
	    jv_get_kind(uploads) == JV_KIND_INVALID) {
		jv_free(uploads);
		return job;
	}
	if (jv_get_kind(uploads) != JV_KIND_ARRAY) {
		jv_free(uploads);
		return invalid(job, v, "RENDER_INVALID", "uploads must be a list");
	}
	jv_array_foreach(uploads, i, u) {
		jv task = jv_get_kind(u) == JV_KIND_OBJECT ?
		    jv_object_get(jv_copy(u), jv_string("task")) : jv_null();
		if (*v != V_OK)
			jv_free(task);
		else if (upload_check(task, job_str(job, "org"), err,
		    sizeof err) == -1)
			job = invalid(job, v, "RENDER_INVALID", "upload %d: %s",
			    i + 1, err);
		jv_free(u);
	}
	jv_free(uploads);
	return job;
}

/* check_static: what needs no network: routing key, templates and
 * parameters, upload tasks. The media to fetch go to *media. */
static jv
check_static(jv job, enum verdict *v, jv *media)
{
	const char *routing;

	*v = V_OK;
	job = jv_object_delete(job, jv_string("error"));
	job = jv_object_set(job, jv_string("assets"), jv_object());
	routing = job_str(job, "routingkey");
	if (jv_object_has(jv_copy(job), jv_string("routingkey")) &&
	    (routing == NULL || !conf_list_has(&conf.routing_keys, routing)))
		job = invalid(job, v, "RENDER_INVALID", "routing key %s is not "
		    "one of this server's", routing != NULL ? routing : "(not a "
		    "string)");
	if (*v == V_OK)
		job = check_templates(job, v, media);
	if (*v == V_OK)
		job = check_uploads(job, v);
	return job;
}

/* check_job: everything about job that does not depend on the spool's
 * other jobs. Consumes job; returns it with parametrizationResults and
 * assets recorded, and error set when *v is V_INVALID. */
static jv
check_job(struct assetdir *ad, jv job, enum verdict *v)
{
	jv media = jv_array();

	job = check_static(job, v, &media);
	if (*v == V_OK)
		job = check_media(ad, job, v, jv_copy(media));
	jv_free(media);
	return job;
}

/* ---- the quota ---- */

/* The active directories, in the order jobs move through them: listed in
 * this order, a job moving on while we count is counted twice at worst,
 * never missed. */
static const enum sdir active_dirs[] = { SD_QUEUED, SD_IN_PROGRESS,
    SD_UPLOADING };
#define NACTIVE (int)(sizeof active_dirs / sizeof active_dirs[0])

/* census_org: the org of job id, found in dirs[from..] (moving jobs move
 * forward), from the cache or the file; "" when it names none. Records it
 * in *fresh. Consumes nothing; NULL when the job is gone. */
static jv
census_org(struct daemon *d, jv *fresh, const enum sdir *dirs, int ndirs,
    int from, const char *id)
{
	jv org = jv_object_get(jv_copy(d->org_of), jv_string(id));

	for (int i = from; !jv_is_valid(org) && i < ndirs; i++) {
		jv job = spool_get(&d->sp, dirs[i], id);
		if (!jv_is_valid(job)) {
			int gone = errno == ENOENT;
			jv msg = jv_invalid_get_msg(job);
			if (!gone)
				log_warnx("%s/%s", sdir_name(dirs[i]),
				    jv_string_value(msg));
			jv_free(msg);
			if (!gone)
				break;
			continue;
		}
		jv_free(org);
		const char *s = job_str(job, "org");
		org = jv_string(s != NULL ? s : "");
		jv_free(job);
	}
	if (!jv_is_valid(org)) {
		jv_free(org);
		return jv_null();
	}
	*fresh = jv_object_set(*fresh, jv_string(id), jv_copy(org));
	return org;
}

/* census: {active: {org: count}, throttled: [[id, org]...] oldest first}.
 * The whole census (with_throttled) also prunes the id → org cache to
 * exactly these jobs; without, throttled is empty and the cache grows. */
static jv
census(struct daemon *d, bool with_throttled)
{
	jv fresh = with_throttled ? jv_object() : jv_copy(d->org_of);
	jv active = jv_object(), throttled = jv_array();
	enum sdir throttled_dir[] = { SD_THROTTLED };

	for (int i = 0; i < NACTIVE; i++) {
		jv ids = spool_list(&d->sp, active_dirs[i]);
		jv_array_foreach(ids, k, id) {
			jv org = census_org(d, &fresh, active_dirs, NACTIVE, i,
			    jv_string_value(id));
			if (jv_get_kind(org) == JV_KIND_STRING) {
				jv n = jv_object_get(jv_copy(active), jv_copy(org));
				double count = jv_get_kind(n) == JV_KIND_NUMBER ?
				    jv_number_value(n) : 0;
				jv_free(n);
				active = jv_object_set(active, org,
				    jv_number(count + 1));
			} else
				jv_free(org);
			jv_free(id);
			(void)k;
		}
		jv_free(ids);
	}
	jv ids = with_throttled ? spool_list(&d->sp, SD_THROTTLED) : jv_array();
	for (int k = jv_array_length(jv_copy(ids)) - 1; k >= 0; k--) {
		jv id = jv_array_get(jv_copy(ids), k);
		jv org = census_org(d, &fresh, throttled_dir, 1, 0,
		    jv_string_value(id));
		if (jv_get_kind(org) == JV_KIND_STRING)
			throttled = jv_array_append(throttled,
			    JV_ARRAY(id, org));
		else {
			jv_free(id);
			jv_free(org);
		}
	}
	jv_free(ids);
	jv_free(d->org_of);
	d->org_of = fresh;
	return JV_OBJECT(jv_string("active"), active, jv_string("throttled"),
	    throttled);
}

/* org_limit: the concurrency limit of org; 0 when none applies (no org,
 * an org without a key line). -1 when the keys file cannot be read. */
static int
org_limit(const char *org)
{
	struct key key;

	if (org[0] == '\0')
		return 0;
	switch (keys_org(conf.keys, org, &key)) {
	case 1:
		return key.concurrency;
	case 0:
		return 0;
	default:
		return -1;
	}
}

static int
active_count(jv census_result, const char *org)
{
	jv n = jv_object_get(jv_object_get(jv_copy(census_result),
	    jv_string("active")), jv_string(org));
	int count = jv_get_kind(n) == JV_KIND_NUMBER ? (int)jv_number_value(n) : 0;

	jv_free(n);
	return count;
}

/* place: where a valid job of org goes: queued/, or throttled/ when the
 * org is at its limit or has older jobs waiting. -1: cannot tell now. */
static int
place(struct daemon *d, const char *org)
{
	int limit = org_limit(org), to = SD_QUEUED;

	if (limit <= 0)
		return limit == 0 ? SD_QUEUED : -1;
	/* At the limit (the usual case under load): no need to look at
	 * throttled/, which may be long. */
	jv c = census(d, false);
	int full = active_count(c, org) >= limit;
	jv_free(c);
	if (full)
		return SD_THROTTLED;
	c = census(d, true);
	jv waiting = jv_object_get(c, jv_string("throttled"));
	jv_array_foreach(waiting, i, entry) {
		jv o = jv_array_get(entry, 1);
		if (strcmp(jv_string_value(o), org) == 0)
			to = SD_THROTTLED;
		jv_free(o);
		(void)i;
	}
	jv_free(waiting);
	return to;
}

/* release: throttled jobs to queued/, oldest first, while their orgs have
 * room. */
static void
release(struct daemon *d)
{
	jv throttled = spool_list(&d->sp, SD_THROTTLED);
	int none = jv_array_length(throttled) == 0;

	if (none)
		return;
	jv c = census(d, true), limits = jv_object();
	jv active = jv_object_get(jv_copy(c), jv_string("active"));
	jv waiting = jv_object_get(c, jv_string("throttled"));

	jv_array_foreach(waiting, i, entry) {
		jv id = jv_array_get(jv_copy(entry), 0);
		jv org = jv_array_get(entry, 1);
		jv lim = jv_object_get(jv_copy(limits), jv_copy(org));
		int limit;
		if (jv_get_kind(lim) == JV_KIND_NUMBER)
			limit = (int)jv_number_value(lim);
		else {
			limit = org_limit(jv_string_value(org));
			limits = jv_object_set(limits, jv_copy(org),
			    jv_number(limit));
		}
		jv_free(lim);
		jv n = jv_object_get(jv_copy(active), jv_copy(org));
		int count = jv_get_kind(n) == JV_KIND_NUMBER ?
		    (int)jv_number_value(n) : 0;
		jv_free(n);
		if (limit >= 0 && (limit == 0 || count < limit)) {
			const char *s = jv_string_value(id);
			jv job = spool_get(&d->sp, SD_THROTTLED, s);
			if (jv_is_valid(job) && spool_move(&d->sp, s, SD_THROTTLED,
			    SD_QUEUED, job, BY) == 0) {
				log_info("%s: queued (released, %s has %d of %d)",
				    s, jv_string_value(org), count + 1, limit);
				active = jv_object_set(active, jv_copy(org),
				    jv_number(count + 1));
			} else if (!jv_is_valid(job))
				jv_free(job);
			else if (errno != ENOENT)
				log_warn("%s: cannot move to queued/", s);
		}
		jv_free(id);
		jv_free(org);
		(void)i;
	}
	jv_free(waiting);
	jv_free(active);
	jv_free(limits);
}

/* ---- the daemon ---- */

static int
finish_invalid(struct daemon *d, const char *id, jv job)
{
	jv error = jv_object_get(jv_copy(job), jv_string("error"));
	jv msg = jv_object_get(error, jv_string("message"));

	if (notify_job(&d->sp, jv_object_set(jv_copy(job), jv_string("state"),
	    jv_string("INVALID"))) == -1) {
		jv_free(msg);
		jv_free(job);
		return 1;
	}
	if (spool_move(&d->sp, id, SD_PENDING, SD_INVALID, job, BY) == -1) {
		if (errno != ENOENT)
			log_warn("%s: cannot move to invalid/", id);
		jv_free(msg);
		return errno == ENOENT ? 0 : 1;
	}
	log_info("%s: invalid: %s", id, jv_get_kind(msg) == JV_KIND_STRING ?
	    jv_string_value(msg) : "?");
	jv_free(msg);
	return 0;
}

static int
finish_valid(struct daemon *d, const char *id, jv job)
{
	const char *org_s = job_str(job, "org");
	jv check_only = jv_object_get(jv_copy(job), jv_string("validateOnly"));
	char org[KEY_ORG_MAX + 1];
	int to;

	snprintf(org, sizeof org, "%s", org_s != NULL ? org_s : "");
	/* An FX token's check job is done once found valid: the token's
	 * renders are jobs of their own (lib/api/fx.h), under the quota. */
	if (jv_get_kind(check_only) == JV_KIND_TRUE)
		to = SD_DONE;
	else if ((to = place(d, org)) == -1) {
		jv_free(check_only);
		jv_free(job);
		return 1;
	}
	jv_free(check_only);
	if (spool_move(&d->sp, id, SD_PENDING, to, job, BY) == -1) {
		if (errno != ENOENT)
			log_warn("%s: cannot move to %s/", id, sdir_name(to));
		return errno == ENOENT ? 0 : 1;
	}
	log_info("%s: %s", id, sdir_name(to));
	return 0;
}

/* finish: move a checked job out of pending/. 0 done, 1 try again later. */
static int
finish(struct daemon *d, const char *id, jv job, enum verdict v)
{
	switch (v) {
	case V_RETRY:
		jv_free(job);
		return 1;
	case V_INVALID:
		return finish_invalid(d, id, job);
	case V_OK:
		break;
	}
	return finish_valid(d, id, job);
}

/* again: have pending/id offered again at the next rescan. */
static void
again(struct daemon *d, const char *id)
{
	char name[ID_LEN + 6];

	snprintf(name, sizeof name, "%s.json", id);
	watch_forget(d->watch, SD_PENDING, name);
}

/* worker_main: in the child, fetch and probe the media, answer on fd. */
_Noreturn static void
worker_main(struct daemon *d, int fd, jv job, jv media)
{
	int n = jv_array_length(jv_copy(media));
	enum verdict v = V_OK;
	sigset_t mask;
	jv answer;

	sigemptyset(&mask);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	signal(SIGTERM, SIG_DFL);
	/* Every stage is bounded; this bounds their sum. */
	alarm((unsigned)(n * (conf.fetch_timeout_ms + PROBE_TIMEOUT_MS) / 1000 +
	    5));
	close(d->signal_fd);
	close(d->gone_fd);
	close(watch_fd(d->watch));
	job = check_media(&d->ad, job, &v, media);
	answer = jv_dump_string(JV_OBJECT(jv_string("verdict"),
	    jv_number(v), jv_string("job"), job), 0);
	const char *p = jv_string_value(answer);
	size_t left = (size_t)jv_string_length_bytes(jv_copy(answer));
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(EX_IOERR);
		p += w;
		left -= (size_t)w;
	}
	_exit(EX_OK);
}

/* start_check: check pending/id; what needs the network goes to a worker. */
static void
start_check(struct daemon *d, const char *id)
{
	jv job = spool_get(&d->sp, SD_PENDING, id), media;
	enum verdict v;
	int pipefd[2];
	pid_t pid;

	if (!jv_is_valid(job)) {
		int gone = errno == ENOENT;
		jv msg = jv_invalid_get_msg(job);
		if (!gone)
			log_warnx("pending/%s (left there)", jv_string_value(msg));
		jv_free(msg);
		return;
	}
	media = jv_array();
	job = jv_object_set(job, jv_string("id"), jv_string(id));
	job = check_static(job, &v, &media);
	if (v != V_OK || jv_array_length(jv_copy(media)) == 0) {
		jv_free(media);
		if (finish(d, id, job, v) == 1)
			again(d, id);
		return;
	}
	if (pipe2(pipefd, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		log_warn("%s: cannot start a worker", id);
		jv_free(job);
		jv_free(media);
		again(d, id);
		return;
	}
	if (pid == 0) {
		close(pipefd[0]);
		worker_main(d, pipefd[1], job, media);
	}
	close(pipefd[1]);
	jv_free(job);
	jv_free(media);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	struct worker *w = &d->worker[d->nworkers++];
	w->pid = pid;
	w->fd = pipefd[0];
	snprintf(w->id, sizeof w->id, "%s", id);
	w->answer = jv_string("");
	d->busy = jv_object_set(d->busy, jv_string(id), jv_true());
}

/* worker_done: the worker closed its pipe; finish its job. */
static void
worker_done(struct daemon *d, struct worker *w)
{
	int status = 0;
	jv answer, job, verdict;

	while (waitpid(w->pid, &status, 0) == -1 && errno == EINTR)
		;
	close(w->fd);
	answer = jv_parse(jv_string_value(w->answer));
	jv_free(w->answer);
	d->busy = jv_object_delete(d->busy, jv_string(w->id));
	verdict = jv_object_get(jv_copy(answer), jv_string("verdict"));
	job = jv_object_get(answer, jv_string("job"));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    jv_get_kind(verdict) == JV_KIND_NUMBER &&
	    jv_number_value(verdict) >= V_OK &&
	    jv_number_value(verdict) <= V_RETRY &&
	    jv_get_kind(job) == JV_KIND_OBJECT) {
		if (finish(d, w->id, job, (enum verdict)jv_number_value(verdict)) == 1)
			again(d, w->id);
	} else {
		jv_free(job);
		/* The worker died: on this job's assets (it stays pending and
		 * would kill the next worker too), so the job is invalid. */
		job = spool_get(&d->sp, SD_PENDING, w->id);
		if (!jv_is_valid(job))
			jv_free(job);
		else {
			char why[64];
			enum verdict v;
			if (WIFSIGNALED(status))
				snprintf(why, sizeof why, "%s",
				    WTERMSIG(status) == SIGALRM ? "took too long" :
				    strsignal(WTERMSIG(status)));
			else
				snprintf(why, sizeof why, "exit %d",
				    WEXITSTATUS(status));
			log_warnx("%s: asset worker %ld: %s", w->id, (long)w->pid,
			    why);
			job = invalid(job, &v, "WORKER_IMPORT_ASSET_FAILED",
			    "checking the media assets failed (%s)", why);
			if (finish(d, w->id, job, v) == 1)
				again(d, w->id);
		}
	}
	jv_free(verdict);
	*w = d->worker[--d->nworkers];
}

/* worker_read: take what a worker wrote; true when it is done. */
static bool
worker_read(struct worker *w)
{
	char buf[16384];
	ssize_t n;

	while ((n = read(w->fd, buf, sizeof buf)) > 0)
		w->answer = jv_string_append_buf(w->answer, buf, (int)n);
	return n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR);
}

/* start_work: check waiting jobs, oldest first, while workers are free. */
static void
start_work(struct daemon *d)
{
	if (d->nworkers == CHECK_WORKERS ||
	    jv_object_length(jv_copy(d->todo)) == 0)
		return;
	jv ids = jv_keys(jv_copy(d->todo));   /* sorted: by time */
	jv_array_foreach(ids, i, id) {
		if (d->nworkers < CHECK_WORKERS) {
			d->todo = jv_object_delete(d->todo, jv_copy(id));
			start_check(d, jv_string_value(id));
		}
		jv_free(id);
		(void)i;
	}
	jv_free(ids);
}

/* on_arrival: a name in pending/ (to check) or throttled/. */
static int
on_arrival(void *arg, int index, int dirfd, const char *name)
{
	struct daemon *d = arg;
	char id[ID_LEN + 1];

	(void)dirfd;
	if (index == SD_THROTTLED) {
		d->release_due = true;
		return 0;
	}
	if (spool_name_id(name, id) == 0 &&
	    !jv_object_has(jv_copy(d->busy), jv_string(id)))
		d->todo = jv_object_set(d->todo, jv_string(id), jv_true());
	return 0;
}

static int
assetdir_spool(struct assetdir *ad, struct spool *sp)
{
	ad->tmp_fd = spool_dirfd(sp, SD_TMP);
	ad->assets_fd = spool_dirfd(sp, SD_ASSETS);
	return spool_path(sp, SD_ASSETS, ".", ad->path, sizeof ad->path) == -1 ?
	    -1 : 0;
}

static void
daemon_open(struct daemon *d)
{
	static const enum sdir leaving[] = { SD_QUEUED, SD_IN_PROGRESS,
	    SD_UPLOADING };
	char path[PATH_MAX];
	sigset_t mask;

	d->org_of = jv_object();
	d->todo = jv_object();
	d->busy = jv_object();
	d->nworkers = 0;
	if (spool_open(&d->sp, conf.spool) == -1)
		fatalx(EX_CANTCREAT, "cannot open the spool %s", conf.spool);
	if (assetdir_spool(&d->ad, &d->sp) == -1)
		fatalx(EX_SOFTWARE, "spool path too long");
	/* One validator per spool, or two would share out the same quota. */
	if (flock(spool_dirfd(&d->sp, SD_PENDING), LOCK_EX | LOCK_NB) == -1)
		fatal(errno == EWOULDBLOCK ? EX_TEMPFAIL : EX_OSERR,
		    "%s/pending: another vr-validate holds it", conf.spool);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1 ||
	    (d->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC)) == -1)
		fatal(EX_OSERR, "signalfd");
	/* Watch for jobs leaving before anything is counted. */
	if ((d->gone_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		fatal(EX_OSERR, "inotify");
	for (size_t i = 0; i < sizeof leaving / sizeof leaving[0]; i++)
		if (spool_path(&d->sp, leaving[i], ".", path, sizeof path) == -1 ||
		    inotify_add_watch(d->gone_fd, path,
		    IN_MOVED_FROM | IN_DELETE) == -1)
			fatal(EX_OSERR, "inotify %s", path);
	if ((d->watch = watch_new(on_arrival, d)) == NULL)
		fatal(EX_OSERR, "inotify");
	d->release_due = true;
	if (spool_path(&d->sp, SD_THROTTLED, ".", path, sizeof path) == -1 ||
	    watch_add(d->watch, SD_THROTTLED, spool_dirfd(&d->sp, SD_THROTTLED),
	    path) == -1 ||
	    spool_path(&d->sp, SD_PENDING, ".", path, sizeof path) == -1 ||
	    watch_add(d->watch, SD_PENDING, spool_dirfd(&d->sp, SD_PENDING),
	    path) == -1)
		fatal(EX_OSERR, "watch %s", path);
}

/* drain: read every pending event of an inotify fd; did any come? */
static bool
drain(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;

	while (read(fd, buf, sizeof buf) > 0)
		any = true;
	return any;
}

static void
daemon_run(struct daemon *d)
{
	int64_t next_rescan = mono_ms() + RESCAN_MS;
	struct pollfd fds[3 + CHECK_WORKERS];

	for (;;) {
		start_work(d);
		if (d->release_due) {
			d->release_due = false;
			release(d);
		}
		fds[0] = (struct pollfd){ .fd = watch_fd(d->watch), .events = POLLIN };
		fds[1] = (struct pollfd){ .fd = d->gone_fd, .events = POLLIN };
		fds[2] = (struct pollfd){ .fd = d->signal_fd, .events = POLLIN };
		for (int i = 0; i < d->nworkers; i++)
			fds[3 + i] = (struct pollfd){ .fd = d->worker[i].fd,
			    .events = POLLIN };
		int nfds = 3 + d->nworkers;
		int64_t wait_ms = next_rescan - mono_ms();
		if (poll(fds, (nfds_t)nfds, wait_ms > 0 ? (int)wait_ms : 0) == -1 &&
		    errno != EINTR)
			fatal(EX_OSERR, "poll");
		if (fds[2].revents & POLLIN)
			return;
		/* Workers first, from the last: worker_done reorders them. */
		for (int i = nfds - 1; i >= 3; i--)
			if (fds[i].revents && worker_read(&d->worker[i - 3]))
				worker_done(d, &d->worker[i - 3]);
		if ((fds[0].revents & POLLIN) && watch_dispatch(d->watch) == -1)
			log_warn("watch");
		if ((fds[1].revents & POLLIN) && drain(d->gone_fd))
			d->release_due = true;
		if (mono_ms() >= next_rescan) {
			next_rescan = mono_ms() + RESCAN_MS;
			if (watch_rescan(d->watch) == -1)
				log_warn("watch");
			d->release_due = true;
		}
	}
}

/* daemon_close: stop; jobs being checked stay in pending/ for next time. */
static void
daemon_close(struct daemon *d)
{
	for (int i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->worker[i];
		kill(w->pid, SIGTERM);
		while (waitpid(w->pid, NULL, 0) == -1 && errno == EINTR)
			;
		close(w->fd);
		jv_free(w->answer);
	}
	watch_free(d->watch);
	close(d->gone_fd);
	close(d->signal_fd);
	spool_close(&d->sp);
	jv_free(d->org_of);
	jv_free(d->todo);
	jv_free(d->busy);
}

/* ---- --check: one job from stdin, in a private asset directory ---- */

/* empty_dir: unlink the files directly in dir; the names only. */
static void
empty_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dp = opendir(dir);

	if (dp == NULL)
		return;
	while ((de = readdir(dp)) != NULL)
		if (de->d_name[0] != '.' && de->d_type != DT_DIR && snprintf(path, sizeof path, "%s/%s",
		    dir, de->d_name) < (int)sizeof path && unlink(path) == -1)
			log_warn("%s", path);
	closedir(dp);
}

static jv
read_stdin_job(void)
{
	jv text = jv_string(""), job;
	char buf[8192];
	size_t n;

	while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
		text = jv_string_append_buf(text, buf, (int)n);
		if (jv_string_length_bytes(jv_copy(text)) > conf.job_max_size)
			fatalx(EX_DATAERR, "stdin: over job_max_size (%lld bytes)",
			    (long long)conf.job_max_size);
	}
	if (ferror(stdin))
		fatal(EX_IOERR, "stdin");
	job = job_parse(jv_string_value(text),
	    (size_t)jv_string_length_bytes(jv_copy(text)), 0);
	jv_free(text);
	if (!jv_is_valid(job)) {
		jv msg = jv_invalid_get_msg(job);
		fatalx(EX_DATAERR, "stdin: %s", jv_string_value(msg));
	}
	return job;
}

static int
check_stdin(void)
{
	const char *tmpdir = getenv("TMPDIR");
	char dir[PATH_MAX - 8], tmp[PATH_MAX];
	struct assetdir ad;
	enum verdict v;
	jv job = read_stdin_job(), out;

	snprintf(dir, sizeof dir, "%s/vr-validate.XXXXXX",
	    tmpdir != NULL && tmpdir[0] == '/' ? tmpdir : "/tmp");
	if (mkdtemp(dir) == NULL)
		fatal(EX_CANTCREAT, "%s", dir);
	snprintf(tmp, sizeof tmp, "%s/tmp", dir);
	snprintf(ad.path, sizeof ad.path, "%s", dir);
	if (mkdir(tmp, 0700) == -1 ||
	    (ad.tmp_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (ad.assets_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal(EX_CANTCREAT, "%s", tmp);
	job = check_job(&ad, job, &v);
	out = JV_OBJECT(jv_string("valid"), jv_bool(v == V_OK),
	    jv_string("error"), field(job, "error"),
	    jv_string("parametrizationResults"),
	    field(job, "parametrizationResults"),
	    jv_string("assets"), field(job, "assets"));
	jv_free(job);
	jv_dumpf(out, stdout, JV_PRINT_PRETTY | JV_PRINT_SPACE1);
	putchar('\n');
	/* Nothing of it is kept. */
	close(ad.tmp_fd);
	close(ad.assets_fd);
	empty_dir(tmp);
	empty_dir(dir);
	if (rmdir(tmp) == -1 || rmdir(dir) == -1)
		log_warn("%s", dir);
	return v == V_OK ? EX_OK : v == V_INVALID ? EX_DATAERR : EX_TEMPFAIL;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },	/* --help: usage on stdout, exit 0 */
		{ NULL, 0, NULL, 0 },
	};
	const char *conf_path = NULL;
	bool check = false;
	struct daemon d;
	int ch, rc;

	log_init(argv[0]);
	while ((ch = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1)
		switch (ch) {
		case 'f':
			conf_path = optarg;
			break;
		case 'c':
			check = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return EX_OK;
		default:
			fputs(usage, stderr);
			return EX_USAGE;
		}
	if (optind != argc) {
		fputs(usage, stderr);
		return EX_USAGE;
	}
	if (conf_load(conf_path) == -1)
		return EX_CONFIG;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx(EX_SOFTWARE, "libcurl cannot start");
	probe_quiet();

	if (check)
		rc = check_stdin();
	else {
		daemon_open(&d);
		log_info("watching %s/pending", conf.spool);
		for (int i = 0; i < conf.fetch_allow.n; i++)
			log_info("fetch_allow: assets may come from %s",
			    conf.fetch_allow.item[i]);
		daemon_run(&d);
		log_info("stopping");
		daemon_close(&d);
		rc = EX_OK;
	}
	tmpl_cache_clear();
	curl_global_cleanup();
	conf_free();
	return rc;
}
