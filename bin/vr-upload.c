/*
 * vr-upload — deliver finished renders where their upload tasks say
 * (doc/vr-upload.8). A daemon owning spool/uploading/: for each job there,
 * run its uploads[] tasks, several at once on one libcurl multi handle
 * (conf.upload_concurrency), each attempt recorded in the job as it ends
 * (status, url, error, attempts; a multipart upload's parts as they are
 * stored), failures retried with capped exponential backoff up to
 * conf.upload_attempts. When every task has ended the job's webhook
 * notification is dropped and the job moves to done/: a failed upload does
 * not fail a good render, its FAILURE is recorded beside it.
 * The job file is the progress: killed at any point, vr-upload restarted
 * carries on from it (an S3 PUT is idempotent; a multipart upload resumes
 * with its stored parts).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "conf.h"
#include "deliver.h"
#include "id.h"
#include "job.h"
#include "log.h"
#include "fxnotify.h"
#include "notify.h"
#include "spool.h"
#include "upload.h"
#include "watch.h"

static const char usage[] = "usage: vr-upload [-f file] [--once]\n";

#define RESCAN_MS 5000  /* inotify is a hint; the directory is the truth */
/* A multipart upload's stored parts are written to the job at most this
 * often (each write is two fsyncs, ~6 ms here, taken from the transfers);
 * a crash costs at most this much of the upload again. */
#define PROGRESS_SAVE_MS 250

struct job;

struct task {
	struct job *job;
	int index;                 /* in uploads[] */
	enum { T_WAITING, T_RUNNING, T_ENDED } phase;
	int64_t due_ms;            /* monotonic: when it may start */
	struct delivery *delivery; /* while T_RUNNING */
	int64_t saved_ms;          /* monotonic: progress last written */
};

struct job {
	char id[ID_LEN + 1];
	char name[ID_LEN + 6];     /* "<id>.json" */
	jv doc;                    /* the job as last written */
	int ntasks;
	struct task *tasks;
	bool gone;                 /* no longer in uploading/: not ours */
	struct job *next;
};

struct daemon {
	struct spool sp;
	CURLM *multi;
	struct watch *watch;
	struct job *jobs;
	int running;
};

static struct daemon D;

static jv
upload_get(struct job *j, int i)
{
	return jv_array_get(jv_object_get(jv_copy(j->doc), jv_string("uploads")), i);
}

static void
upload_set(struct job *j, int i, jv u)
{
	jv uploads = jv_object_get(jv_copy(j->doc), jv_string("uploads"));

	j->doc = jv_object_set(j->doc, jv_string("uploads"), jv_array_set(uploads, i, u));
}

/* job_save: rewrite the job in place. The check narrows, without closing,
 * the window in which a job taken away (deleted) could be written back. */
static void
job_save(struct job *j)
{
	if (faccessat(spool_dirfd(&D.sp, SD_UPLOADING), j->name,
	    F_OK, 0) != 0) {
		if (!j->gone)
			log_warnx("%s: no longer in uploading/: dropped", j->id);
		j->gone = true;
		return;
	}
	if (spool_put(&D.sp, SD_UPLOADING, j->name, jv_copy(j->doc)) != 0)
		log_warn("%s: cannot record upload progress", j->id);
}

static int64_t
backoff_ms(int attempts)
{
	int64_t ms = conf.upload_retry_initial_ms;

	while (--attempts > 0 && ms < conf.upload_retry_max_ms)
		ms *= 2;
	return ms < conf.upload_retry_max_ms ? ms : conf.upload_retry_max_ms;
}

static const char *
task_type(jv u) /* consumes u */
{
	static char type[16];
	jv t = jv_getpath(u, JV_ARRAY(jv_string("task"), jv_string("destination"),
	    jv_string("type")));

	snprintf(type, sizeof type, "%s", jv_get_kind(t) == JV_KIND_STRING ?
	    jv_string_value(t) : "?");
	jv_free(t);
	return type;
}

/* attempt_end: record how an attempt ended; schedule the next, if any. */
static void
attempt_end(struct task *t, bool ok, bool retry, const char *url,
    const char *error, jv state)
{
	struct job *j = t->job;
	jv u = upload_get(j, t->index);
	int attempts = (int)job_int(u, "attempts", 0) + 1;
	const char *status = ok ? "SUCCESS" : retry && attempts < conf.upload_attempts ?
	    "RETRYING" : "FAILURE";
	char at[ISO8601_LEN + 1];

	iso8601(now_ms(), at);
	u = jv_object_set(u, jv_string("status"), jv_string(status));
	u = jv_object_set(u, jv_string("attempts"), jv_number(attempts));
	u = jv_object_set(u, jv_string("lastAttemptAt"), jv_string(at));
	u = jv_object_set(u, jv_string("url"), url != NULL ? jv_string(url) : jv_null());
	u = jv_object_set(u, jv_string("error"), error != NULL ? jv_string(error) : jv_null());
	if (strcmp(status, "RETRYING") == 0 && jv_get_kind(state) == JV_KIND_OBJECT)
		u = jv_object_set(u, jv_string("multipart"), state);
	else
		u = jv_object_delete(u, jv_string("multipart")), jv_free(state);
	if (ok)
		log_info("%s: upload %d (%s) delivered: %s", j->id, t->index + 1,
		    task_type(jv_copy(u)), url);
	else
		log_warnx("%s: upload %d (%s) attempt %d: %s%s", j->id, t->index + 1,
		    task_type(jv_copy(u)), attempts, error, strcmp(status, "RETRYING") == 0 ?
		    "; will retry" : "; giving up");
	upload_set(j, t->index, u);
	t->phase = strcmp(status, "RETRYING") == 0 ? T_WAITING : T_ENDED;
	t->due_ms = mono_ms() + backoff_ms(attempts);
	job_save(j);
}

/* parts_stored: how many parts a multipart state holds (borrows). */
static int
parts_stored(jv state)
{
	jv parts = jv_get_kind(state) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(state), jv_string("parts")) : jv_null();
	int n = 0;

	if (jv_get_kind(parts) == JV_KIND_ARRAY)
		jv_array_foreach(parts, i, p) {
			n += jv_get_kind(p) == JV_KIND_STRING;
			jv_free(p);
			(void)i;
		}
	jv_free(parts);
	return n;
}

static void
on_progress(void *arg, jv state)
{
	struct task *t = arg;
	jv u = upload_get(t->job, t->index);
	/* the upload id and the first part are kept at once */
	bool first = parts_stored(state) <= 1;

	upload_set(t->job, t->index, jv_object_set(u, jv_string("multipart"), state));
	if (first || mono_ms() - t->saved_ms >= PROGRESS_SAVE_MS) {
		job_save(t->job);
		t->saved_ms = mono_ms();
	}
}

static void
on_done(void *arg, struct delivery_end *end)
{
	struct task *t = arg;
	struct delivery *d = t->delivery;

	t->delivery = NULL;
	D.running--;
	attempt_end(t, end->ok, end->retry, end->url, end->error, end->state);
	delivery_free(d);
}

/* task_start: begin the next attempt of t. */
static void
task_start(struct task *t)
{
	struct job *j = t->job;
	jv u = upload_get(j, t->index);
	jv task = jv_get_kind(u) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(u), jv_string("task")) : jv_null();
	jv ext = jv_get_kind(task) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(task), jv_string("extension")) : jv_null();
	jv dest = jv_get_kind(task) == JV_KIND_OBJECT ?
	    upload_destination(jv_copy(task), job_str(j->doc, "org")) :
	    jv_invalid_with_msg(jv_string("upload task is not an object"));
	jv output = upload_output(jv_copy(j->doc), jv_get_kind(ext) == JV_KIND_STRING ?
	    jv_string_value(ext) : NULL);
	char path[4096], name[ID_LEN + 300], default_name[ID_LEN + 32], err[1024];
	struct delivery_spec spec = { .progress = on_progress, .done = on_done, .arg = t };
	bool retry = false;
	const char *dot;

	if (!jv_is_valid(dest) || !jv_is_valid(output)) {
		jv msg = jv_invalid_get_msg(jv_is_valid(dest) ? jv_copy(output) : jv_copy(dest));

		snprintf(err, sizeof err, "%s", jv_get_kind(msg) == JV_KIND_STRING ?
		    jv_string_value(msg) : "upload task not usable");
		jv_free(msg);
		jv_free(dest);
		goto fail;
	}
	snprintf(name, sizeof name, "%s/%s", j->id, jv_string_value(output));
	dot = strrchr(jv_string_value(output), '.');
	snprintf(default_name, sizeof default_name, "%s%s", j->id, dot != NULL ? dot : "");
	spool_path(&D.sp, SD_OUT, name, path, sizeof path);
	spec.dest = dest;
	spec.path = path;
	spec.ext = dot != NULL ? dot + 1 : "";
	spec.default_name = default_name;
	spec.state = jv_object_get(jv_copy(u), jv_string("multipart"));
	if (!jv_is_valid(spec.state))
		spec.state = jv_null();
	else
		log_info("%s: upload %d resumes a multipart upload (%d parts stored)",
		    j->id, t->index + 1, parts_stored(spec.state));
	spec.last_attempt = job_int(u, "attempts", 0) + 1 >= conf.upload_attempts;
	t->delivery = delivery_start(D.multi, &spec, err, sizeof err, &retry);
	if (t->delivery != NULL) {
		t->phase = T_RUNNING;
		D.running++;
		goto out;
	}
fail:
	attempt_end(t, false, retry, NULL, err, jv_null());
out:
	jv_free(u);
	jv_free(task);
	jv_free(ext);
	jv_free(output);
}

static void
job_free(struct job *j)
{
	for (int i = 0; i < j->ntasks; i++)
		if (j->tasks[i].delivery != NULL) {
			delivery_free(j->tasks[i].delivery);
			D.running--;
		}
	jv_free(j->doc);
	free(j->tasks);
	free(j);
}

/* task_calls: FX's per-task callbacks: POST the outcome to the task's
 * onsuccess or onerror URL, with ?msg= the uploaded file's URL or the
 * error as FX clients expect (fxnotify.h; delivered by vr-notify once the
 * job is final). */
static void
task_calls(struct job *j)
{
	for (int i = 0; i < j->ntasks; i++) {
		jv u = upload_get(j, i);
		jv status = jv_get(jv_copy(u), jv_string("status"));
		bool ok = jv_get_kind(status) == JV_KIND_STRING &&
		    strcmp(jv_string_value(status), "SUCCESS") == 0;
		jv url = jv_getpath(jv_copy(u), JV_ARRAY(jv_string("task"),
		    jv_string(ok ? "onsuccess" : "onerror")));
		char tag[32];

		if (jv_get_kind(url) == JV_KIND_STRING &&
		    jv_string_length_bytes(jv_copy(url)) > 0) {
			jv body = JV_OBJECT(jv_string("renderId"), jv_string(j->id),
			    jv_string("token"), jv_get(jv_copy(j->doc), jv_string("token")),
			    jv_string("extension"), jv_getpath(jv_copy(u),
			    JV_ARRAY(jv_string("task"), jv_string("extension"))),
			    jv_string("status"), jv_copy(status),
			    jv_string("url"), jv_get(jv_copy(u), jv_string("url")),
			    jv_string("error"), jv_get(jv_copy(u), jv_string("error")));

			const char *msg = job_str(u, ok ? "url" : "error");
			jv call = fxnotify_url(jv_string_value(url),
			    msg ? msg : ok ? "" : "the upload failed");

			snprintf(tag, sizeof tag, "upload%d%s", i + 1, ok ? "ok" : "err");
			if (!jv_is_valid(call))
				jv_free(body);
			if (!jv_is_valid(call) || notify_call(&D.sp,
			    jv_copy(j->doc), tag, "POST", jv_string_value(call),
			    body) != 0)
				log_warnx("%s: upload %d: %s call not dropped", j->id,
				    i + 1, ok ? "onsuccess" : "onerror");
			jv_free(call);
		}
		jv_free(url);
		jv_free(status);
		jv_free(u);
	}
}

/* job_finish: every task has ended: notify, then move to done/. Inline
 * secrets have served their purpose: the final job keeps "***" in their
 * place, so nothing read from done/ (API answers, webhook payloads built
 * by vr-notify) can show them. */
static void
job_finish(struct job *j)
{
	jv final = upload_redact_job(jv_copy(j->doc));

	task_calls(j);
	if (notify_job(&D.sp, jv_copy(final)) != 0)
		log_warnx("%s: webhook notification not dropped", j->id);
	if (spool_move(&D.sp, j->id, SD_UPLOADING, SD_DONE, final, "vr-upload") != 0)
		log_warn("%s: cannot move to done/", j->id);
	else
		log_info("%s: done", j->id);
}

/* on_arrival: a job file in uploading/ (watch.h's callback). */
static int
on_arrival(void *arg, int index, int dirfd, const char *name)
{
	struct job *j;
	jv doc, uploads;
	int n;

	(void)arg;
	(void)index;
	if ((j = calloc(1, sizeof *j)) == NULL) {
		log_warn("%s", name);
		return 1;
	}
	if (spool_name_id(name, j->id) != 0) {
		free(j);
		return 0;
	}
	for (struct job *o = D.jobs; o != NULL; o = o->next)
		if (strcmp(o->id, j->id) == 0 && !o->gone) {
			free(j);
			return 0;
		}
	doc = job_loadat(dirfd, name);
	if (!jv_is_valid(doc)) {
		jv msg = jv_invalid_get_msg(doc);

		if (errno != ENOENT)
			log_warnx("%s", jv_get_kind(msg) == JV_KIND_STRING ?
			    jv_string_value(msg) : name);
		jv_free(msg);
		free(j);
		return 0;
	}
	snprintf(j->name, sizeof j->name, "%s", name);
	uploads = jv_object_get(jv_copy(doc), jv_string("uploads"));
	n = jv_get_kind(uploads) == JV_KIND_ARRAY ? jv_array_length(jv_copy(uploads)) : 0;
	if (jv_get_kind(uploads) != JV_KIND_ARRAY)
		doc = jv_object_set(doc, jv_string("uploads"), jv_array());
	j->doc = doc;
	j->ntasks = n;
	if (n > 0 && (j->tasks = calloc((size_t)n, sizeof *j->tasks)) == NULL) {
		log_warn("%s", name);
		jv_free(uploads);
		job_free(j);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		jv u = jv_array_get(jv_copy(uploads), i);
		jv st;

		if (jv_get_kind(u) != JV_KIND_OBJECT) { /* fails at its start */
			u = JV_OBJECT(jv_string("task"), u);
			upload_set(j, i, jv_copy(u));
		}
		st = jv_get(jv_copy(u), jv_string("status"));
		bool ended = jv_get_kind(st) == JV_KIND_STRING &&
		    (strcmp(jv_string_value(st), "SUCCESS") == 0 ||
		    strcmp(jv_string_value(st), "FAILURE") == 0);

		j->tasks[i] = (struct task){ .job = j, .index = i,
		    .phase = ended ? T_ENDED : T_WAITING, .due_ms = mono_ms() };
		jv_free(st);
		jv_free(u);
	}
	jv_free(uploads);
	log_info("%s: %d upload task%s", j->id, n, n == 1 ? "" : "s");
	j->next = D.jobs;
	D.jobs = j;
	return 0;
}

/* schedule: start due tasks while there is room; finish ended jobs; drop
 * jobs gone. Returns the ms until the next task is due (or RESCAN_MS). */
static int64_t
schedule(void)
{
	int64_t now = mono_ms(), next = RESCAN_MS;
	struct job **p = &D.jobs, *j;

	while ((j = *p) != NULL) {
		bool all_ended = !j->gone;

		for (int i = 0; i < j->ntasks && !j->gone; i++) {
			struct task *t = &j->tasks[i];

			if (t->phase == T_WAITING && t->due_ms <= now &&
			    D.running < conf.upload_concurrency)
				task_start(t);
			if (t->phase == T_WAITING && t->due_ms - now < next)
				next = t->due_ms > now ? t->due_ms - now : 0;
			if (t->phase != T_ENDED)
				all_ended = false;
		}
		if (all_ended)
			job_finish(j);
		if (all_ended || j->gone) {
			*p = j->next;
			job_free(j);
		} else {
			p = &j->next;
		}
	}
	return next;
}

static void
run(bool once)
{
	sigset_t mask;
	struct signalfd_siginfo si;
	struct curl_waitfd fds[2];
	int64_t last_scan = mono_ms();
	char dir[4096];
	int sfd, still;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		fatal(EX_OSERR, "signalfd");
	snprintf(dir, sizeof dir, "%s/%s", D.sp.root, sdir_name(SD_UPLOADING));
	if ((D.watch = watch_new(on_arrival, NULL)) == NULL ||
	    watch_add(D.watch, SD_UPLOADING, spool_dirfd(&D.sp, SD_UPLOADING),
	    dir) != 0)
		fatal(EX_OSERR, "cannot watch %s", dir);
	for (;;) {
		int64_t wait_ms = schedule();
		CURLMsg *msg;

		if (once && D.jobs == NULL)
			break;
		fds[0] = (struct curl_waitfd){ .fd = watch_fd(D.watch), .events = CURL_WAIT_POLLIN };
		fds[1] = (struct curl_waitfd){ .fd = sfd, .events = CURL_WAIT_POLLIN };
		curl_multi_poll(D.multi, fds, 2, (int)(wait_ms > 0 ? wait_ms : 0), NULL);
		if (fds[1].revents != 0 && read(sfd, &si, sizeof si) == sizeof si) {
			log_info("signal %u: stopping (uploads in flight resume at restart)",
			    si.ssi_signo);
			break;
		}
		if (fds[0].revents != 0 && watch_dispatch(D.watch) < 0)
			log_warn("inotify");
		if (mono_ms() - last_scan >= RESCAN_MS) {
			watch_rescan(D.watch);
			last_scan = mono_ms();
		}
		curl_multi_perform(D.multi, &still);
		while ((msg = curl_multi_info_read(D.multi, &still)) != NULL)
			delivery_handle(msg);
	}
	close(sfd);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },	/* --help: usage on stdout, exit 0 */
		{ "once", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf_path = NULL;
	bool once = false;
	int ch;

	log_init(argv[0]);
	while ((ch = getopt_long(argc, argv, "f:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			conf_path = optarg;
			break;
		case 'o':
			once = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return EX_USAGE;
	}
	if (conf_load(conf_path) != 0)
		return EX_CONFIG;
	if (spool_open(&D.sp, conf.spool) != 0)
		fatal(EX_IOERR, "spool %s", conf.spool);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (D.multi = curl_multi_init()) == NULL)
		fatalx(EX_SOFTWARE, "libcurl cannot start");
	curl_multi_setopt(D.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    (long)conf.upload_concurrency * DELIVERY_PARTS_IN_FLIGHT);
	umask(077);
	run(once);
	while (D.jobs != NULL) {
		struct job *j = D.jobs;

		D.jobs = j->next;
		job_free(j);
	}
	watch_free(D.watch);
	curl_multi_cleanup(D.multi);
	curl_global_cleanup();
	spool_close(&D.sp);
	conf_free();
	return 0;
}
