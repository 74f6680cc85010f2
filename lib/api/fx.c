/*
 * api/fx.c — the Impossible-FX-style API under /v2 (fx.h): its routes,
 * POST /v2/render/PROJECT (the request checked here for shape, then as a
 * check job by vr-validate; the answer is the token), and the renders of a
 * token: one job per (token, extension), named by a link in spool/fx/.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#define ANONYMOUS_ORG "anonymous"
#define ANONYMOUS_QUEUE_LIMIT 100
#define NO_KEY_QUEUE_LIMIT 1000     /* an org with no key line left */
#define LINK_GRACE_MS 5000          /* a link's job may be on its way */
#define POLL_MS 50

static const char *const body_fields[] = {
	"movie", "params", "parallel", "routingkey", "routingKey", "upload",
	"async",
};
static const char *const movie_exts[] = {
	"mp4", "webm", "gif", "jpg", "png", "m3u8", "*",
};

void
fx_error(struct api *a, int status, const char *fmt, ...)
{
	char message[512];
	va_list ap;
	jv body;

	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	body = JV_OBJECT(jv_string("error"), jv_string(message),
	    jv_string("status"), jv_number(status));
	api_json(a, status, body);
}

static bool
in_list(const char *s, const char *const list[], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* fx_dir: spool/fx/, made when missing. An fd, or -1. */
static int
fx_dir(struct api *a)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s", a->sp.root, FX_DIR);
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

bool
fx_template_timing(const char *project, const char *template_name,
    double *duration, double *fps)
{
	char path[PATH_MAX];
	jv doc, d, f;
	bool ok;

	if (!name_valid(project) || !name_valid(template_name))
		return false;
	snprintf(path, sizeof path, "%s/%s/%s.json", conf.templates, project,
	    template_name);
	doc = job_load(path);
	if (!jv_is_valid(doc)) {
		jv_free(doc);
		return false;
	}
	d = jv_object_get(jv_copy(doc), jv_string("duration"));
	f = jv_object_get(doc, jv_string("fps"));
	ok = jv_get_kind(d) == JV_KIND_NUMBER && jv_get_kind(f) == JV_KIND_NUMBER;
	if (ok) {
		*duration = jv_number_value(d);
		*fps = jv_number_value(f);
	}
	jv_free(d);
	jv_free(f);
	return ok && *duration > 0 && *fps > 0;
}

static bool
template_exists(const char *project, const char *template_name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s/%s.json", conf.templates, project,
	    template_name);
	return name_valid(template_name) && access(path, R_OK) == 0;
}

/* ---- POST /v2/render/PROJECT ---- */

/* fx_auth: the caller: its key, or the anonymous organisation when the
 * project is open and no credentials came. false when answered. */
static bool
fx_auth(struct api *a, const char *project)
{
	if (http_header_get(a->req, "Authorization") == NULL &&
	    conf_list_has(&conf.anonymous_projects, project)) {
		snprintf(a->key.org, sizeof a->key.org, "%s", ANONYMOUS_ORG);
		a->key.concurrency = 0;
		a->key.queue_limit = ANONYMOUS_QUEUE_LIMIT;
		return true;
	}
	return api_auth(a);
}

/* check_movie: a template name of project, or {ext: name} with ext one of
 * movie_exts. Answers and returns false otherwise. Borrows movie. */
static bool
check_movie(struct api *a, const char *project, jv movie)
{
	bool ok = true;

	if (jv_get_kind(movie) == JV_KIND_STRING) {
		if (!template_exists(project, jv_string_value(movie))) {
			fx_error(a, 404, "project %s has no movie %.64s", project,
			    jv_string_value(movie));
			return false;
		}
		return true;
	}
	if (jv_get_kind(movie) != JV_KIND_OBJECT ||
	    jv_object_length(jv_copy(movie)) == 0) {
		fx_error(a, 400, "movie must be a movie name or an object from "
		    "extension to movie name");
		return false;
	}
	/* jv_object_foreach borrows the object it walks */
	jv_object_foreach(movie, ext, name) {
		if (ok && !in_list(jv_string_value(ext), movie_exts,
		    sizeof movie_exts / sizeof movie_exts[0])) {
			fx_error(a, 400, "movie: %.16s is not an extension (mp4, "
			    "webm, gif, jpg, png, m3u8 or *)", jv_string_value(ext));
			ok = false;
		} else if (ok && jv_get_kind(name) != JV_KIND_STRING) {
			fx_error(a, 400, "movie.%s must be a movie name",
			    jv_string_value(ext));
			ok = false;
		} else if (ok && !template_exists(project,
		    jv_string_value(name))) {
			fx_error(a, 404, "project %s has no movie %.64s", project,
			    jv_string_value(name));
			ok = false;
		}
		jv_free(ext);
		jv_free(name);
	}
	return ok;
}

/* uploads_of: the body's upload (one task or a list) as job uploads[];
 * an invalid (answered) when malformed. */
static jv
uploads_of(struct api *a, jv upload)
{
	jv uploads = jv_array();

	if (jv_get_kind(upload) == JV_KIND_INVALID ||
	    jv_get_kind(upload) == JV_KIND_NULL) {
		jv_free(upload);
		return uploads;
	}
	if (jv_get_kind(upload) == JV_KIND_OBJECT)
		upload = JV_ARRAY(upload);
	if (jv_get_kind(upload) != JV_KIND_ARRAY) {
		jv_free(upload);
		jv_free(uploads);
		fx_error(a, 400, "upload must be a task or a list of tasks");
		return jv_invalid();
	}
	jv_array_foreach(upload, i, task) {
		const char *ext;

		if (jv_get_kind(task) != JV_KIND_OBJECT) {
			jv_free(task);
			fx_error(a, 400, "upload %d must be an object", i + 1);
			goto bad;
		}
		if (!jv_object_has(jv_copy(task), jv_string("extension")))
			task = jv_object_set(task, jv_string("extension"),
			    jv_string("mp4"));
		ext = job_str(task, "extension");
		if (ext == NULL || !in_list(ext, movie_exts,
		    sizeof movie_exts / sizeof movie_exts[0] - 1) ||
		    strcmp(ext, "m3u8") == 0) {
			jv_free(task);
			fx_error(a, 400, "upload %d: extension must be mp4, webm, "
			    "gif, jpg or png", i + 1);
			goto bad;
		}
		uploads = jv_array_append(uploads, JV_OBJECT(jv_string("task"),
		    task, jv_string("status"), jv_string("PENDING"),
		    jv_string("attempts"), jv_number(0)));
	}
	jv_free(upload);
	return uploads;
bad:
	jv_free(upload);
	jv_free(uploads);
	return jv_invalid();
}

/* new_job: the fields every FX job starts with. */
static jv
new_job(const char *id, const char *org)
{
	char now[ISO8601_LEN + 1];

	iso8601(now_ms(), now);
	return JV_OBJECT(jv_string("id"), jv_string(id),
	    jv_string("org"), jv_string(org), jv_string("api"), jv_string("fx"),
	    jv_string("createdDate"), jv_string(now),
	    jv_string("attempts"), jv_number(0),
	    jv_string("progress"), jv_number(0),
	    jv_string("history"), jv_array());
}

/* check_job: the POST body (borrowed: jv_object_foreach walks it) as the
 * token's check job, or an invalid (answered). */
static jv
check_job(struct api *a, const char *project, jv body)
{
	char token[ID_LEN + 1];
	jv movie, params, parallel, routing, uploads, job, async;
	int64_t n;

	jv_object_foreach(body, key, value) {
		bool known = in_list(jv_string_value(key), body_fields,
		    sizeof body_fields / sizeof body_fields[0]);
		if (!known) {
			fx_error(a, 400, "unknown field %.64s",
			    jv_string_value(key));
			jv_free(key);
			jv_free(value);
			return jv_invalid();
		}
		jv_free(key);
		jv_free(value);
	}
	movie = jv_object_get(jv_copy(body), jv_string("movie"));
	if (!jv_is_valid(movie)) {
		jv_free(movie);
		fx_error(a, 400, "movie is missing");
		return jv_invalid();
	}
	if (!check_movie(a, project, movie)) {
		jv_free(movie);
		return jv_invalid();
	}
	params = jv_object_get(jv_copy(body), jv_string("params"));
	if (!jv_is_valid(params) || jv_get_kind(params) == JV_KIND_NULL) {
		jv_free(params);
		params = jv_object();
	}
	parallel = jv_object_get(jv_copy(body), jv_string("parallel"));
	n = jv_get_kind(parallel) == JV_KIND_NUMBER ?
	    (int64_t)jv_number_value(parallel) : 1;
	routing = jv_object_get(jv_copy(body), jv_string("routingkey"));
	if (!jv_is_valid(routing)) {
		jv_free(routing);
		routing = jv_object_get(jv_copy(body), jv_string("routingKey"));
	}
	async = jv_object_get(jv_copy(body), jv_string("async"));
	if (jv_get_kind(params) != JV_KIND_OBJECT)
		fx_error(a, 400, "params must be an object");
	else if (jv_is_valid(parallel) && (jv_get_kind(parallel) !=
	    JV_KIND_NUMBER || (double)n != jv_number_value(parallel) || n < 1 ||
	    n > conf.parallel_max))
		fx_error(a, 400, "parallel must be a whole number from 1 to %d",
		    conf.parallel_max);
	else if (jv_is_valid(routing) && (jv_get_kind(routing) !=
	    JV_KIND_STRING || !name_valid(jv_string_value(routing))))
		fx_error(a, 400, "routingkey must be a name of 1 to 64 letters, "
		    "digits, '.', '_' or '-'");
	else if (jv_is_valid(async) && jv_get_kind(async) != JV_KIND_TRUE &&
	    jv_get_kind(async) != JV_KIND_FALSE)
		fx_error(a, 400, "async must be true or false");
	else
		goto shaped;
	jv_free(movie);
	jv_free(params);
	jv_free(parallel);
	jv_free(routing);
	jv_free(async);
	return jv_invalid();
shaped:
	jv_free(parallel);
	if (!jv_is_valid(routing)) {
		jv_free(routing);
		routing = jv_string("default");
	}
	uploads = uploads_of(a, jv_object_get(jv_copy(body), jv_string("upload")));
	if (!jv_is_valid(uploads) || id_new(token) == -1) {
		if (jv_is_valid(uploads))
			fx_error(a, 500, "no randomness for a token");
		jv_free(uploads);
		jv_free(movie);
		jv_free(params);
		jv_free(routing);
		jv_free(async);
		return jv_invalid();
	}
	job = new_job(token, a->key.org);
	job = jv_object_set(job, jv_string("token"), jv_string(token));
	job = jv_object_set(job, jv_string("validateOnly"), jv_true());
	job = jv_object_set(job, jv_string("projectId"), jv_string(project));
	job = jv_object_set(job, jv_string("movie"), movie);
	job = jv_object_set(job, jv_string("parameters"), params);
	job = jv_object_set(job, jv_string("parallel"), jv_number((double)n));
	job = jv_object_set(job, jv_string("routingkey"), routing);
	job = jv_object_set(job, jv_string("uploads"), uploads);
	job = jv_object_set(job, jv_string("async"),
	    jv_get_kind(async) == JV_KIND_TRUE ? jv_true() : jv_false());
	jv_free(async);
	return job_record(job, "PENDING", "vr-accept");
}

/* answer_invalid: the check job said no: 404 for a missing template, 400
 * for the rest, with vr-validate's words. */
static void
answer_invalid(struct api *a, jv job)
{
	jv error = jv_object_get(job, jv_string("error"));
	const char *code = jv_get_kind(error) == JV_KIND_OBJECT ?
	    job_str(error, "code") : NULL;
	const char *message = jv_get_kind(error) == JV_KIND_OBJECT ?
	    job_str(error, "message") : NULL;

	fx_error(a, code && strcmp(code, "PROJECT_TEMPLATE_DOES_NOT_EXIST") ==
	    0 ? 404 : 400, "%s", message ? message : "the render is not valid");
	jv_free(error);
}

/* or_null: obj.key, or null when absent (a jv answer must hold no invalid).
 * Consumes obj. */
static jv
or_null(jv obj, const char *key)
{
	jv value = jv_get_kind(obj) == JV_KIND_OBJECT ?
	    jv_object_get(obj, jv_string(key)) : (jv_free(obj), jv_invalid());

	if (!jv_is_valid(value)) {
		jv_free(value);
		return jv_null();
	}
	return value;
}

/* upload_results: what became of the uploads of the token's renders. */
static jv
upload_results(struct api *a, jv ids)
{
	jv results = jv_array();

	jv_array_foreach(ids, i, id) {
		int d = spool_find(&a->sp, jv_string_value(id));
		jv job = d >= 0 ? spool_get(&a->sp, (enum sdir)d,
		    jv_string_value(id)) : jv_invalid();
		jv uploads = jv_is_valid(job) ? jv_object_get(jv_copy(job),
		    jv_string("uploads")) : jv_array();
		(void)i;
		if (jv_get_kind(uploads) != JV_KIND_ARRAY) {
			jv_free(uploads);
			uploads = jv_array();
		}
		jv_array_foreach(uploads, j, u) {
			jv task = jv_object_get(jv_copy(u), jv_string("task"));
			jv r = JV_OBJECT(jv_string("extension"),
			    or_null(task, "extension"),
			    jv_string("status"), or_null(jv_copy(u), "status"),
			    jv_string("url"), or_null(jv_copy(u), "url"));
			jv error = or_null(u, "error");
			(void)j;
			if (jv_get_kind(error) != JV_KIND_NULL)
				r = jv_object_set(r, jv_string("error"), error);
			else
				jv_free(error);
			results = jv_array_append(results, r);
		}
		jv_free(uploads);
		if (jv_is_valid(job) && d == SD_FAILED) {
			jv err = jv_object_get(jv_copy(job), jv_string("error"));
			jv message = or_null(err, "message");
			results = jv_array_append(results, JV_OBJECT(
			    jv_string("extension"), or_null(jv_copy(job), "ext"),
			    jv_string("status"), jv_string("FAILURE"),
			    jv_string("error"), jv_get_kind(message) ==
			    JV_KIND_STRING ? message : (jv_free(message),
			    jv_string("the render failed"))));
		}
		jv_free(job);
		jv_free(id);
	}
	jv_free(ids);
	return results;
}

/* start_uploads: one render per extension the upload tasks name; their
 * ids. An invalid (answered) on failure. */
static jv
start_uploads(struct api *a, jv check)
{
	jv uploads = jv_object_get(jv_copy(check), jv_string("uploads")), ids;
	jv exts = jv_object();

	ids = jv_array();
	jv_array_foreach(uploads, i, u) {
		jv task = jv_object_get(u, jv_string("task"));
		const char *ext = job_str(task, "extension");
		(void)i;
		if (ext != NULL)
			exts = jv_object_set(exts, jv_string(ext), jv_true());
		jv_free(task);
	}
	jv_free(uploads);
	jv_object_foreach(exts, ext, yes) {
		struct fx_want w = { .frame = -1 };
		char id[ID_LEN + 1];

		jv_free(yes);
		snprintf(w.token, sizeof w.token, "%s", job_str(check, "id"));
		snprintf(w.ext, sizeof w.ext, "%s", jv_string_value(ext));
		jv_free(ext);
		if (jv_is_valid(ids) && fx_render_job(a, check, &w, id))
			ids = jv_array_append(ids, jv_string(id));
		else if (jv_is_valid(ids)) {
			jv_free(ids);
			ids = jv_invalid();
		}
	}
	jv_free(exts);
	return ids;
}

static void
render_post(struct api *a, const char *project)
{
	struct api_fail f;
	enum sdir dir;
	jv body, job, ids;
	char token[ID_LEN + 1];
	bool async, has_uploads;
	int64_t deadline;
	char dir_path[PATH_MAX];

	snprintf(dir_path, sizeof dir_path, "%s/%s", conf.templates,
	    name_valid(project) ? project : "");
	if (!name_valid(project) || access(dir_path, R_OK | X_OK) == -1) {
		fx_error(a, 404, "no project %.64s", project);
		return;
	}
	if (!fx_auth(a, project))
		return;
	body = job_parse(a->req->body ? a->req->body : "", a->req->body_len,
	    conf.max_json_depth);
	if (!jv_is_valid(body)) {
		jv msg = jv_invalid_get_msg(body);
		fx_error(a, 400, "%s", jv_get_kind(msg) == JV_KIND_STRING ?
		    jv_string_value(msg) : "the body must be a JSON object");
		jv_free(msg);
		return;
	}
	job = check_job(a, project, body);   /* borrows body */
	jv_free(body);
	if (!jv_is_valid(job))
		return;
	snprintf(token, sizeof token, "%s", job_str(job, "id"));
	job = api_submit(a, job, NULL, &dir, &f);
	if (!jv_is_valid(job)) {
		jv_free(job);
		fx_error(a, f.status, "%s", f.message);
		return;
	}
	if (dir == SD_INVALID) {
		answer_invalid(a, job);
		return;
	}
	if (dir == SD_PENDING) {
		jv_free(job);
		fx_error(a, 503, "the render was not validated in time; "
		    "try again");
		return;
	}
	async = jv_get_kind(jv_object_get(jv_copy(job), jv_string("async"))) ==
	    JV_KIND_TRUE;
	ids = jv_object_get(jv_copy(job), jv_string("uploads"));
	has_uploads = jv_get_kind(ids) == JV_KIND_ARRAY &&
	    jv_array_length(jv_copy(ids)) > 0;
	/* async on the request, or on every one of its tasks */
	if (has_uploads && !async) {
		async = true;
		jv_array_foreach(ids, i, u) {
			jv task_async = jv_getpath(u, JV_ARRAY(jv_string("task"),
			    jv_string("async")));
			(void)i;
			if (jv_get_kind(task_async) != JV_KIND_TRUE)
				async = false;
			jv_free(task_async);
		}
	}
	jv_free(ids);
	if (!has_uploads) {
		jv_free(job);
		api_json(a, 200, JV_OBJECT(jv_string("token"), jv_string(token),
		    jv_string("uploads"), jv_array()));
		return;
	}
	ids = start_uploads(a, job);
	jv_free(job);
	if (!jv_is_valid(ids))
		return;
	if (!async) {
		deadline = mono_ms() + conf.render_timeout_ms +
		    conf.upload_timeout_ms;
		jv_array_foreach(ids, i, id) {
			(void)i;
			fx_wait_final(a, jv_string_value(id), deadline);
			jv_free(id);
		}
	}
	api_json(a, async ? 201 : 200, JV_OBJECT(jv_string("token"),
	    jv_string(token), jv_string("uploads"), upload_results(a, ids)));
}

/* ---- tokens and their renders ---- */

jv
fx_token(struct api *a, const char *token)
{
	int d = id_valid(token) ? spool_find(&a->sp, token) : -1;
	jv job;

	if (d != SD_DONE) {
		fx_error(a, 404, "no token %.40s", token);
		return jv_invalid();
	}
	job = spool_get(&a->sp, (enum sdir)d, token);
	if (!jv_is_valid(job) || jv_get_kind(jv_object_get(jv_copy(job),
	    jv_string("validateOnly"))) != JV_KIND_TRUE) {
		jv_free(job);
		fx_error(a, 404, "no token %.40s", token);
		return jv_invalid();
	}
	return job;
}

int
fx_wait_final(struct api *a, const char *id, int64_t deadline_ms)
{
	struct timespec pause = { 0, POLL_MS * 1000000L };
	int d;

	for (;;) {
		d = spool_find(&a->sp, id);
		if (d >= 0 && (sdir_is_final((enum sdir)d)))
			return d;
		if (mono_ms() >= deadline_ms)
			return -1;
		nanosleep(&pause, NULL);
	}
}

/* movie_for: the template that renders ext for the check job: the movie
 * itself, or movie[ext], else movie["*"]; m3u8 falls back on mp4 first. */
static bool
movie_for(jv check, const char *ext, char *out, size_t size)
{
	jv movie = jv_object_get(jv_copy(check), jv_string("movie")), name;
	const char *tries[] = { ext, strcmp(ext, "m3u8") == 0 ? "mp4" : "*",
	    "*" };

	if (jv_get_kind(movie) == JV_KIND_STRING) {
		snprintf(out, size, "%s", jv_string_value(movie));
		jv_free(movie);
		return true;
	}
	for (size_t i = 0; i < 3 && jv_get_kind(movie) == JV_KIND_OBJECT; i++) {
		name = jv_object_get(jv_copy(movie), jv_string(tries[i]));
		if (jv_get_kind(name) == JV_KIND_STRING) {
			snprintf(out, size, "%s", jv_string_value(name));
			jv_free(name);
			jv_free(movie);
			return true;
		}
		jv_free(name);
	}
	jv_free(movie);
	return false;
}

static void
link_name(const struct fx_want *w, char name[FX_LINK_MAX])
{
	/* m3u8 is the mp4 render served as HLS */
	const char *ext = strcmp(w->ext, "m3u8") == 0 ? "mp4" : w->ext;

	if (w->frame >= 0)
		snprintf(name, FX_LINK_MAX, "%s.f%lld%s%.0d.%s", w->token,
		    (long long)w->frame, w->quality ? "q" : "", w->quality, ext);
	else
		snprintf(name, FX_LINK_MAX, "%s.%s", w->token, ext);
}

/* render_job: the job of a (token, extension) render. */
static jv
render_job(jv check, const char *id, const struct fx_want *w,
    const char *template_name, double fps)
{
	static const char *const inherited[] = {
		"projectId", "movie", "parameters", "parallel", "routingkey",
	};
	const char *ext = strcmp(w->ext, "m3u8") == 0 ? "mp4" : w->ext;
	jv job = new_job(id, job_str(check, "org")), uploads, mine;

	for (size_t i = 0; i < sizeof inherited / sizeof inherited[0]; i++)
		job = jv_object_set(job, jv_string(inherited[i]),
		    jv_object_get(jv_copy(check), jv_string(inherited[i])));
	job = jv_object_set(job, jv_string("token"), jv_string(w->token));
	job = jv_object_set(job, jv_string("templateId"),
	    jv_string(template_name));
	if (w->frame >= 0) {
		/* one frame: the render's thumbnail at that frame's time */
		job = jv_object_set(job, jv_string("ext"), jv_string("mp4"));
		job = jv_object_set(job, jv_string("frame"),
		    jv_number((double)w->frame));
		if (w->quality)
			job = jv_object_set(job, jv_string("quality"),
			    jv_number(w->quality));
		job = jv_object_set(job, jv_string("options"), JV_OBJECT(
		    jv_string("thumbnails"), JV_OBJECT(jv_string("atSeconds"),
		    JV_ARRAY(jv_number(((double)w->frame + 0.25) / fps)),
		    jv_string("format"), jv_string(strcmp(ext, "jpg") == 0 ?
		    "JPG" : "PNG"))));
		return job_record(job, "PENDING", "vr-accept");
	}
	job = jv_object_set(job, jv_string("ext"), jv_string(ext));
	/* streamable while it grows: GET /v2/get follows the file */
	if (strcmp(ext, "mp4") == 0)
		job = jv_object_set(job, jv_string("fragmented"), jv_true());
	uploads = jv_object_get(jv_copy(check), jv_string("uploads"));
	mine = jv_array();
	if (jv_get_kind(uploads) == JV_KIND_ARRAY)
		jv_array_foreach(uploads, i, u) {
			jv task = jv_object_get(jv_copy(u), jv_string("task"));
			const char *e = job_str(task, "extension");
			(void)i;
			if (e != NULL && strcmp(e, ext) == 0)
				mine = jv_array_append(mine, jv_copy(u));
			jv_free(task);
			jv_free(u);
		}
	jv_free(uploads);
	job = jv_object_set(job, jv_string("uploads"), mine);
	return job_record(job, "PENDING", "vr-accept");
}

/* org_key: the queue limit that applies to the token's owner. */
static void
org_key(struct api *a, const char *org)
{
	if (keys_org(conf.keys, org, &a->key) != 1) {
		memset(&a->key, 0, sizeof a->key);
		snprintf(a->key.org, sizeof a->key.org, "%s", org);
		a->key.queue_limit = strcmp(org, ANONYMOUS_ORG) == 0 ?
		    ANONYMOUS_QUEUE_LIMIT : NO_KEY_QUEUE_LIMIT;
	}
}

/* link_fresh: was the link made in the last LINK_GRACE_MS? */
static bool
link_fresh(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return false;
	return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec /
	    1000000 > now_ms() - LINK_GRACE_MS;
}

bool
fx_render_job(struct api *a, jv check, const struct fx_want *w,
    char id[ID_LEN + 1])
{
	char name[FX_LINK_MAX], target[ID_LEN + 2], template_name[80];
	double duration, fps;
	struct api_fail f;
	enum sdir dir;
	int dirfd, tries;
	ssize_t n;
	jv job;

	if (!movie_for(check, w->ext, template_name, sizeof template_name)) {
		fx_error(a, 404, "the token has no movie for .%s and no * movie",
		    w->ext);
		return false;
	}
	if (!fx_template_timing(job_str(check, "projectId"), template_name,
	    &duration, &fps)) {
		fx_error(a, 404, "movie %s is gone", template_name);
		return false;
	}
	if (w->frame >= (int64_t)(duration * fps + 0.5)) {
		fx_error(a, 400, "frame must be from 0 to %lld",
		    (long long)(duration * fps + 0.5) - 1);
		return false;
	}
	if ((dirfd = fx_dir(a)) == -1) {
		log_warn("spool/%s", FX_DIR);
		fx_error(a, 500, "the spool is unavailable");
		return false;
	}
	link_name(w, name);
	for (tries = 0; tries < 50; tries++) {
		n = readlinkat(dirfd, name, target, sizeof target);
		if (n == ID_LEN) {
			target[n] = '\0';
			if (id_valid(target) && spool_find(&a->sp, target) >= 0) {
				memcpy(id, target, ID_LEN + 1);
				close(dirfd);
				return true;
			}
			/* its maker may be writing the job now; else it is
			 * gone (pruned, or its maker died): make another */
			if (link_fresh(dirfd, name)) {
				struct timespec pause = { 0, POLL_MS * 1000000L };
				nanosleep(&pause, NULL);
				continue;
			}
			unlinkat(dirfd, name, 0);
			continue;
		}
		if (n >= 0) {
			unlinkat(dirfd, name, 0);
			continue;
		}
		if (errno != ENOENT || id_new(id) == -1)
			break;
		if (symlinkat(id, dirfd, name) == -1) {
			if (errno == EEXIST)
				continue;
			break;
		}
		org_key(a, job_str(check, "org"));
		job = api_submit(a, render_job(check, id, w, template_name, fps),
		    NULL, &dir, &f);
		if (!jv_is_valid(job)) {
			unlinkat(dirfd, name, 0);
			close(dirfd);
			fx_error(a, f.status, "%s", f.message);
			return false;
		}
		jv_free(job);
		close(dirfd);
		return true;
	}
	log_warn("%s/%s", FX_DIR, name);
	close(dirfd);
	fx_error(a, 500, "the render could not be made");
	return false;
}

void
fx_route(struct api *a, char *seg[], int nseg)
{
	const char *method = a->req->method;

	if (nseg == 2 && strcmp(seg[0], "render") == 0 &&
	    strcmp(method, "POST") == 0)
		render_post(a, seg[1]);
	else if (nseg == 2 && (strcmp(seg[0], "render") == 0 ||
	    strcmp(seg[0], "get") == 0 || strcmp(seg[0], "play") == 0) &&
	    (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0))
		fx_serve(a, seg[0], seg[1]);
	else if (nseg == 2 && strcmp(seg[0], "progress") == 0 &&
	    strcmp(method, "GET") == 0)
		fx_progress(a, seg[1]);
	else if (nseg == 2 && (strcmp(seg[0], "render") == 0 ||
	    strcmp(seg[0], "get") == 0 || strcmp(seg[0], "play") == 0 ||
	    strcmp(seg[0], "progress") == 0))
		fx_error(a, 405, "method %s not allowed here", method);
	else
		fx_error(a, 404, "no such endpoint");
}
