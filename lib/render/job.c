/*
 * job.c — one spool job through the renderer, in the process that holds
 * its lease: record IN_PROGRESS, resolve the template with the job's
 * parameters, find each medium in the asset cache or the project folder,
 * render into spool/out/ID/, record the outputs (signed URLs, expiry) and
 * move the job on: uploading/ or done/, failed/ with Plainly's error,
 * cancelled/ when cancelled, back to queued/ when stopped for a restart.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "id.h"
#include "job.h"
#include "log.h"
#include "fxnotify.h"
#include "notify.h"
#include "render.h"
#include "sign.h"
#include "spool.h"
#include "template.h"

#define MAX_THUMBS 100

struct jobrun {
	struct spool *sp;
	const char *id;
	jv job;                 /* borrowed by the callbacks */
	const char *project_dir;
	int progress_fd;
	int64_t last_write_ms, last_note_ms;
	int last_pct;
};

/* asset_name_valid: a file name in spool/assets/ as vr-validate writes
 * them (sha256 hex, a dot, an extension): no path, no leading dot. */
static bool
asset_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128 || s[0] == '.')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int
job_locate(void *arg, jv layer, char *path, size_t size, char *err,
    size_t err_size, const char **code)
{
	struct jobrun *jr = arg;
	const char *kind = job_str(layer, "srcKind");
	const char *src = job_str(layer, "src");
	const char *lname = job_str(layer, "layerName");
	const char *file;
	jv assets, f;

	*code = "WORKER_DOWNLOAD_ASSET_FAILED";
	if (src == NULL || kind == NULL) {
		snprintf(err, err_size, "layer %s: no media", lname);
		return -1;
	}
	if (strcmp(kind, "project") == 0) {
		if (!name_valid(src)) {
			snprintf(err, err_size, "layer %s: %s is not a file name of "
			    "the project", lname, src);
			return -1;
		}
		snprintf(path, size, "%s/%s", jr->project_dir, src);
	} else if (strcmp(kind, "url") == 0) {
		assets = jv_object_get(jv_copy(jr->job), jv_string("assets"));
		f = jv_get_kind(assets) == JV_KIND_OBJECT ?
		    jv_object_get(assets, jv_string(src)) : (jv_free(assets),
		    jv_null());
		file = jv_get_kind(f) == JV_KIND_STRING ? jv_string_value(f) : NULL;
		if (file == NULL || !asset_name_valid(file) ||
		    spool_path(jr->sp, SD_ASSETS, file, path, size) == -1) {
			snprintf(err, err_size, "layer %s: the asset %s was not "
			    "fetched", lname, src);
			jv_free(f);
			return -1;
		}
		jv_free(f);
	} else {
		snprintf(err, err_size, "layer %s: media must come from a URL or "
		    "the project", lname);
		return -1;
	}
	if (access(path, R_OK) == -1) {
		snprintf(err, err_size, "layer %s: media %s: %s", lname, src,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
job_progress(void *arg, int64_t done, int64_t total)
{
	struct jobrun *jr = arg;
	int64_t now = mono_ms();
	char name[ID_LEN + 8];
	int pct = total > 0 ? (int)(done * 100 / total) : 0;

	if (done < total && pct > 99)
		pct = 99;
	/* the daemon's watchdog hears of every advance (a few times a second) */
	if (jr->progress_fd >= 0 && now - jr->last_note_ms >= 200) {
		ssize_t n = write(jr->progress_fd, "+", 1);
		(void)n;
		jr->last_note_ms = now;
	}
	/* every second while it renders, and whenever it first moves */
	if (now - jr->last_write_ms < 1000 && jr->last_pct >= 0)
		return;
	jr->last_write_ms = now;
	jr->last_pct = pct;
	jr->job = jv_object_set(jr->job, jv_string("progress"), jv_number(pct));
	/* FX's GET /v2/progress counts frames (total counts the encode's end) */
	jr->job = jv_object_set(jr->job, jv_string("framesDone"),
	    jv_number((double)(done < total ? done : total - 1)));
	jr->job = jv_object_set(jr->job, jv_string("framesTotal"),
	    jv_number((double)(total - 1)));
	snprintf(name, sizeof name, "%s.json", jr->id);
	if (spool_put(jr->sp, SD_IN_PROGRESS, name, jv_copy(jr->job)) == -1)
		log_warn("%s: cannot record progress", jr->id);
}

/* output_format: the extension the job asks for (mp4, webm, gif). */
static const char *
output_format(jv job)
{
	const char *ext = job_str(job, "ext");
	jv of = jv_object_get(jv_copy(job), jv_string("outputFormat"));
	jv pe = jv_get_kind(of) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(of), jv_string("postEncoding")) : jv_null();
	const char *fmt = "mp4", *ef = NULL;

	if (jv_get_kind(pe) == JV_KIND_OBJECT)
		ef = job_str(pe, "encodingFormat");
	if (ext && strcmp(ext, "webm") == 0)
		fmt = "webm";
	else if (ext && strcmp(ext, "gif") == 0)
		fmt = "gif";
	else if (ef && strcmp(ef, "WEBM") == 0)
		fmt = "webm";
	else if (ef && strcmp(ef, "GIF") == 0)
		fmt = "gif";
	jv_free(pe);
	jv_free(of);
	return fmt;
}

static bool
is_draft(jv job)
{
	jv of = jv_object_get(jv_copy(job), jv_string("outputFormat"));
	bool draft = false;

	if (jv_get_kind(of) == JV_KIND_OBJECT) {
		const char *st = job_str(of, "settingsTemplate");
		draft = st && strcmp(st, "DRAFT") == 0;
	}
	jv_free(of);
	return draft;
}

/* thumbnails: options.thumbnails as times; returns how many. */
static int
thumbnails(jv job, double duration, double *at, const char **ext)
{
	jv opt = jv_object_get(jv_copy(job), jv_string("options"));
	jv th = jv_get_kind(opt) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(opt), jv_string("thumbnails")) : jv_null();
	jv list;
	int n = 0;

	*ext = "png";
	if (jv_get_kind(th) != JV_KIND_OBJECT)
		goto out;
	if (job_str(th, "format") && strcmp(job_str(th, "format"), "JPG") == 0)
		*ext = "jpg";
	list = jv_object_get(jv_copy(th), jv_string("atSeconds"));
	if (jv_get_kind(list) == JV_KIND_ARRAY &&
	    jv_array_length(jv_copy(list)) > 0) {
		jv_array_foreach(list, i, t) {
			if (jv_get_kind(t) == JV_KIND_NUMBER && n < MAX_THUMBS &&
			    jv_number_value(t) >= 0 && jv_number_value(t) <= duration)
				at[n++] = jv_number_value(t);
			jv_free(t);
			(void)i;
		}
	} else {
		double every = (double)job_int(th, "frequencySeconds", 0);
		for (double t = 0; every >= 1 && t < duration && n < MAX_THUMBS;
		    t += every)
			at[n++] = t;
	}
	jv_free(list);
out:
	jv_free(th);
	jv_free(opt);
	return n;
}

/* clear_outputs: remove out/ID/ and what is in it. */
static void
clear_outputs(struct spool *sp, const char *id)
{
	struct dirent *de;
	DIR *d;
	int dfd;

	if (!id_valid(id))
		return;
	if ((dfd = openat(spool_dirfd(sp, SD_OUT), id, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    unlinkat(dfd, de->d_name, 0) == -1)
			log_warn("%s/%s", id, de->d_name);
	closedir(d);
	if (unlinkat(spool_dirfd(sp, SD_OUT), id, AT_REMOVEDIR) == -1 &&
	    errno != ENOENT)
		log_warn("out/%s", id);
}

/* finish: record the outputs and move the job on. */
static int
finish(struct jobrun *jr, const char *fmt, int nthumb, const char *thumb_ext)
{
	int64_t now = now_ms();
	int64_t url_expires = (now + (conf.url_ttl_ms > 0 ? conf.url_ttl_ms :
	    7 * 86400000LL)) / 1000;
	char name[64], when[ISO8601_LEN + 1], *url;
	jv files = jv_array(), uris = jv_array(), uploads;
	enum sdir to;

	snprintf(name, sizeof name, "video.%s", fmt);
	url = sign_url(jr->id, name, url_expires);
	jr->job = jv_object_set(jr->job, jv_string("outputFile"),
	    jv_string(name));
	if (job_str(jr->job, "ext") == NULL)
		jr->job = jv_object_set(jr->job, jv_string("ext"), jv_string(fmt));
	jr->job = jv_object_set(jr->job, jv_string("output"),
	    url ? jv_string(url) : jv_null());
	free(url);
	for (int i = 0; i < nthumb; i++) {
		snprintf(name, sizeof name, "thumbnail-%d.%s", i + 1, thumb_ext);
		files = jv_array_append(files, jv_string(name));
		if ((url = sign_url(jr->id, name, url_expires)) != NULL)
			uris = jv_array_append(uris, jv_string(url));
		free(url);
	}
	jr->job = jv_object_set(jr->job, jv_string("thumbnailFiles"), files);
	jr->job = jv_object_set(jr->job, jv_string("thumbnailUris"), uris);
	iso8601(now + conf.retention_ms, when);
	jr->job = jv_object_set(jr->job, jv_string("expirationDate"),
	    jv_string(when));
	jr->job = jv_object_set(jr->job, jv_string("progress"), jv_number(100));
	jr->job = jv_object_delete(jr->job, jv_string("error"));
	uploads = jv_object_get(jv_copy(jr->job), jv_string("uploads"));
	to = jv_get_kind(uploads) == JV_KIND_ARRAY &&
	    jv_array_length(jv_copy(uploads)) > 0 ? SD_UPLOADING : SD_DONE;
	jv_free(uploads);
	if (to == SD_DONE) {
		jv done = jv_object_set(jv_copy(jr->job), jv_string("state"),
		    jv_string("DONE"));
		notify_job(jr->sp, done);
	}
	if (spool_move(jr->sp, jr->id, SD_IN_PROGRESS, to, jv_copy(jr->job),
	    "vr-render") == -1) {
		log_warn("%s: cannot move to %s", jr->id, sdir_name(to));
		return -1;
	}
	log_info("%s: rendered, %s", jr->id, sdir_name(to));
	return to;
}

/* render_fail_job: record error {code, message}, notify, move to failed/,
 * remove partial outputs. Consumes job. */
int
render_fail_job(struct spool *sp, const char *id, jv job, const char *code,
    const char *message)
{
	jv failed;

	log_warnx("%s: %s: %s", id, code, message);
	job = job_fail(job, code, message);
	failed = jv_object_set(jv_copy(job), jv_string("state"),
	    jv_string("FAILED"));
	notify_job(sp, failed);
	fxnotify_failed(sp, jv_copy(job));  /* FX tasks' onerror calls */
	clear_outputs(sp, id);
	if (spool_move(sp, id, SD_IN_PROGRESS, SD_FAILED, job, "vr-render")
	    == -1) {
		log_warn("%s: cannot move to failed", id);
		return -1;
	}
	return SD_FAILED;
}

static int
stopped(struct jobrun *jr, enum render_stop why)
{
	enum sdir to = why == RENDER_REQUEUE ? SD_QUEUED : SD_CANCELLED;

	clear_outputs(jr->sp, jr->id);
	jr->job = jv_object_set(jr->job, jv_string("progress"), jv_number(0));
	if (spool_move(jr->sp, jr->id, SD_IN_PROGRESS, to, jv_copy(jr->job),
	    "vr-render") == -1) {
		log_warn("%s: cannot move to %s", jr->id, sdir_name(to));
		return -1;
	}
	log_info("%s: %s", jr->id, to == SD_QUEUED ? "stopped, queued again" :
	    "cancelled");
	return to;
}

/* template_of: the template a job renders: templateId, or for FX its
 * movie: a name, or an extension → name object with "*" as the fallback
 * (borrowed from job). */
static const char *
template_of(jv job, const char *ext)
{
	const char *name = job_str(job, "templateId");
	jv movie;

	if (name != NULL)
		return name;
	movie = jv_object_get(jv_copy(job), jv_string("movie"));
	if (jv_get_kind(movie) == JV_KIND_STRING)
		name = job_str(job, "movie");
	else if (jv_get_kind(movie) == JV_KIND_OBJECT) {
		name = job_str(movie, ext);
		if (name == NULL)
			name = job_str(movie, "*");
	}
	jv_free(movie);      /* job still holds what name points into */
	return name;
}

static int
run(struct jobrun *jr, volatile sig_atomic_t *stop)
{
	const char *project = job_str(jr->job, "projectId");
	const char *fmt = output_format(jr->job), *code, *thumb_ext;
	const char *template_name = template_of(jr->job,
	    job_str(jr->job, "ext") ? job_str(jr->job, "ext") : fmt);
	char err[1024], out_dir[4096], part[4200], final[4200];
	double at[MAX_THUMBS], duration;
	struct render_spec spec = { 0 };
	struct tmpl *t;
	jv resolved, msg;
	int nthumb, rc;

	t = project && template_name ? tmpl_cache_get(conf.templates, project,
	    template_name, err, sizeof err) : NULL;
	if (t == NULL)
		return render_fail_job(jr->sp, jr->id, jv_copy(jr->job),
		    "PROJECT_TEMPLATE_DOES_NOT_EXIST", project && template_name ?
		    err : "the job names no project and template");
	jr->project_dir = tmpl_project_dir(t);
	resolved = tmpl_resolve(t, jv_object_get(jv_copy(jr->job),
	    jv_string("parameters")));
	if (jv_get_kind(jv_object_get(jv_copy(resolved), jv_string("ok"))) !=
	    JV_KIND_TRUE) {
		msg = jv_object_get(jv_object_get(resolved, jv_string("error")),
		    jv_string("message"));
		rc = render_fail_job(jr->sp, jr->id, jv_copy(jr->job),
		    "WORKER_SCRIPT_FATAL_ERROR", jv_get_kind(msg) ==
		    JV_KIND_STRING ? jv_string_value(msg) : "parameters do not "
		    "resolve");
		jv_free(msg);
		return rc;
	}
	if (spool_path(jr->sp, SD_OUT, jr->id, out_dir, sizeof out_dir) == -1 ||
	    (mkdir(out_dir, 0700) == -1 && errno != EEXIST)) {
		jv_free(resolved);
		snprintf(err, sizeof err, "cannot make the output folder: %s",
		    strerror(errno));
		return render_fail_job(jr->sp, jr->id, jv_copy(jr->job),
		    "WORKER_FATAL_ERROR", err);
	}
	duration = jv_number_value(jv_object_get(jv_copy(tmpl_json(t)),
	    jv_string("duration")));
	nthumb = thumbnails(jr->job, duration, at, &thumb_ext);
	snprintf(part, sizeof part, "%s/.video.part", out_dir);
	snprintf(final, sizeof final, "%s/video.%s", out_dir, fmt);
	spec.doc = tmpl_json(t);
	spec.layers = jv_object_get(jv_copy(resolved), jv_string("layers"));
	spec.out_path = part;
	spec.format = fmt;
	spec.fragmented = job_int(jr->job, "fragmented", 0) ||
	    jv_get_kind(jv_object_get(jv_copy(jr->job), jv_string(
	    "fragmented"))) == JV_KIND_TRUE;
	spec.draft = is_draft(jr->job);
	spec.thumb_at = at;
	spec.nthumb = nthumb;
	spec.thumb_dir = out_dir;
	spec.thumb_ext = thumb_ext;
	spec.thumb_quality = (int)job_int(jr->job, "quality", 0);  /* FX q= */
	spec.project_dir = jr->project_dir;
	spec.locate = job_locate;
	spec.locate_arg = jr;
	spec.progress = job_progress;
	spec.progress_arg = jr;
	spec.stop = stop;
	/* FX's one frame (?frame=N): render up to it, encode it alone */
	if (job_int(jr->job, "frame", -1) >= 0) {
		spec.frame_from = job_int(jr->job, "frame", 0);
		spec.frame_to = spec.frame_from + 1;
		spec.no_audio = true;
	}
	/* FX's parallel: N time segments at once (render_run when N is 1) */
	rc = render_parallel(&spec, spec.frame_to > 0 ? 1 :
	    (int)job_int(jr->job, "parallel", 1), err, sizeof err, &code);
	jv_free(spec.layers);
	jv_free(resolved);
	if (rc == 0 && rename(part, final) == -1) {
		snprintf(err, sizeof err, "cannot keep the output: %s",
		    strerror(errno));
		code = "WORKER_FATAL_ERROR";
		rc = -1;
	}
	if (rc == 0)
		return finish(jr, fmt, nthumb, thumb_ext);
	if (strcmp(code, "CANCELLED") == 0)
		return stopped(jr, (enum render_stop)*stop);
	return render_fail_job(jr->sp, jr->id, jv_copy(jr->job), code, err);
}

int
render_job(struct spool *sp, const char *id, int lease_fd,
    volatile sig_atomic_t *stop, int progress_fd)
{
	struct jobrun jr = { .sp = sp, .id = id, .progress_fd = progress_fd,
	    .last_pct = -1 };
	char name[ID_LEN + 8], host[256] = "";
	int64_t attempts;
	int rc;

	jr.job = spool_get(sp, SD_IN_PROGRESS, id);
	if (!jv_is_valid(jr.job)) {
		jv msg = jv_invalid_get_msg(jr.job);
		log_warnx("%s", jv_get_kind(msg) == JV_KIND_STRING ?
		    jv_string_value(msg) : id);
		jv_free(msg);
		spool_unlease(sp, id, lease_fd);
		return -1;
	}
	attempts = job_int(jr.job, "attempts", 0) + 1;
	gethostname(host, sizeof host - 1);
	jr.job = job_record(jr.job, "IN_PROGRESS", "vr-render");
	jr.job = jv_object_set(jr.job, jv_string("attempts"),
	    jv_number((double)attempts));
	jr.job = jv_object_set(jr.job, jv_string("progress"), jv_number(0));
	jr.job = jv_object_set(jr.job, jv_string("worker"), JV_OBJECT(
	    jv_string("host"), jv_string(host),
	    jv_string("pid"), jv_number(getpid())));
	snprintf(name, sizeof name, "%s.json", id);
	if (spool_put(sp, SD_IN_PROGRESS, name, jv_copy(jr.job)) == -1)
		log_warn("%s: cannot record IN_PROGRESS", id);
	if (conf.max_attempts > 0 && attempts > conf.max_attempts) {
		char why[128];
		snprintf(why, sizeof why, "gave up after %lld attempts to render",
		    (long long)attempts - 1);
		rc = render_fail_job(sp, id, jv_copy(jr.job), "WORKER_FATAL_ERROR",
		    why);
	} else
		rc = run(&jr, stop);
	jv_free(jr.job);
	spool_unlease(sp, id, lease_fd);
	return rc;
}

void
render_preload(jv job)
{
	const char *project = job_str(job, "projectId");
	const char *name = template_of(job, job_str(job, "ext") ?
	    job_str(job, "ext") : output_format(job));
	char err[512];

	if (project && name)
		tmpl_cache_get(conf.templates, project, name, err, sizeof err);
	jv_free(job);
}

int
render_claim(struct spool *sp, const char *id)
{
	int fd = spool_lease(sp, id);

	if (fd == -1) {
		if (errno != EWOULDBLOCK && errno != ENOENT)
			log_warn("%s: cannot take the lease", id);
		return -1;
	}
	if (spool_claim(sp, id, SD_QUEUED, SD_IN_PROGRESS) == -1) {
		if (errno != ENOENT)
			log_warn("%s: cannot claim", id);
		spool_unlease(sp, id, fd);
		return -1;
	}
	return fd;
}

int
render_requeue_orphans(struct spool *sp)
{
	jv ids = spool_list(sp, SD_IN_PROGRESS);
	int n = 0;

	jv_array_foreach(ids, i, idv) {
		const char *id = jv_string_value(idv);
		int fd = spool_lease(sp, id);
		(void)i;
		if (fd >= 0) {
			jv job = spool_get(sp, SD_IN_PROGRESS, id);
			if (jv_is_valid(job) && spool_move(sp, id, SD_IN_PROGRESS,
			    SD_QUEUED, job, "vr-render") == 0) {
				log_info("%s: its worker died: queued again", id);
				n++;
			} else if (!jv_is_valid(job))
				jv_free(job);
			spool_unlease(sp, id, fd);
		}
		jv_free(idv);
	}
	jv_free(ids);
	return n;
}
