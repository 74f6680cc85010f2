/*
 * vr-sweep — keep the spool healthy: remove stale tmp/ files, requeue jobs
 * whose worker died (lease free), fail them past max_attempts, expire
 * outputs past their expirationDate, remove stale leases. Prints one line
 * per thing done, on stdout.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
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
#include "spool.h"

static const char usage[] =
    "usage: vr-sweep [-f conf] [--once] [-i seconds]\n";

static int failures;          /* things that could not be done this pass */
static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* sweep_tmp: files in tmp/ older than tmp_max_age were left by a crash. */
static void
sweep_tmp(struct spool *sp)
{
	int64_t now = now_ms();
	struct dirent *de;
	struct stat st;
	DIR *dp;
	int fd;

	fd = openat(spool_dirfd(sp, SD_TMP), ".",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (dp = fdopendir(fd)) == NULL) {
		log_warn("tmp/");
		failures++;
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(dp)) != NULL) {
		int64_t age_ms;

		if (de->d_name[0] == '.' ||
		    fstatat(spool_dirfd(sp, SD_TMP), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		age_ms = now - ((int64_t)st.st_mtim.tv_sec * 1000 +
		    st.st_mtim.tv_nsec / 1000000);
		if (age_ms < conf.tmp_max_age_ms)
			continue;
		if (unlinkat(spool_dirfd(sp, SD_TMP), de->d_name, 0) == -1) {
			log_warn("tmp/%s", de->d_name);
			failures++;
			continue;
		}
		printf("removed tmp/%s (%lld s old)\n", de->d_name,
		    (long long)(age_ms / 1000));
	}
	closedir(dp);
}

/* requeue_or_fail: the worker of in-progress job id is gone (we hold its
 * lease): back to queued/, or to failed/ when its attempts are used up. */
static void
requeue_or_fail(struct spool *sp, const char *id)
{
	jv job = spool_get(sp, SD_IN_PROGRESS, id);
	int64_t attempts;
	char message[256];

	if (!jv_is_valid(job)) {
		jv msg = jv_invalid_get_msg(job);

		if (errno != ENOENT) {
			log_warnx("in-progress/%s", jv_string_value(msg));
			failures++;
		}
		jv_free(msg);
		return;
	}
	attempts = job_int(job, "attempts", 0);
	job = jv_object_delete(job, jv_string("worker"));
	if (attempts >= conf.max_attempts) {
		snprintf(message, sizeof message,
		    "The render was started %lld times and its worker stopped "
		    "each time (max_attempts is %d); it will not be tried again.",
		    (long long)attempts, conf.max_attempts);
		job = job_fail(job, "WORKER_TIMEOUT", message);
		if (notify_job(sp, jv_copy(job)) == -1)
			failures++;
		if (spool_move(sp, id, SD_IN_PROGRESS, SD_FAILED, job,
		    "vr-sweep") == -1) {
			if (errno != ENOENT) {
				log_warn("%s: cannot move to failed/", id);
				failures++;
			}
			return;
		}
		printf("failed %s: worker died %lld times\n", id,
		    (long long)attempts);
		return;
	}
	job = jv_object_set(job, jv_string("progress"), jv_number(0));
	if (spool_move(sp, id, SD_IN_PROGRESS, SD_QUEUED, job, "vr-sweep") == -1) {
		if (errno != ENOENT) {
			log_warn("%s: cannot requeue", id);
			failures++;
		}
		return;
	}
	printf("requeued %s: worker died (attempt %lld of %d)\n", id,
	    (long long)attempts, conf.max_attempts);
}

static void
sweep_in_progress(struct spool *sp)
{
	jv ids = spool_list(sp, SD_IN_PROGRESS);
	int lease_fd;

	if (!jv_is_valid(ids)) {
		log_warnx("in-progress/: cannot list");
		jv_free(ids);
		failures++;
		return;
	}
	jv_array_foreach(ids, i, idv) {
		const char *id = jv_string_value(idv);

		lease_fd = spool_lease(sp, id);
		if (lease_fd == -1) {
			if (errno != EWOULDBLOCK) {
				log_warn("lease/%s", id);
				failures++;
			}
		} else {
			requeue_or_fail(sp, id);
			spool_unlease(sp, id, lease_fd);
		}
		jv_free(idv);
	}
	jv_free(ids);
}

/* sweep_leases: a lease file whose job is not in progress and whose lock
 * is free was left by a worker that died between its steps. */
static void
sweep_leases(struct spool *sp)
{
	struct dirent *de;
	DIR *dp;
	int fd, lease_fd;

	fd = openat(spool_dirfd(sp, SD_LEASE), ".",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (dp = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(dp)) != NULL) {
		char name[ID_LEN + 8];
		struct stat st;

		if (!id_valid(de->d_name))
			continue;
		snprintf(name, sizeof name, "%.36s.json", de->d_name);
		if (fstatat(spool_dirfd(sp, SD_IN_PROGRESS), name, &st, 0) == 0)
			continue;
		if ((lease_fd = spool_lease(sp, de->d_name)) == -1)
			continue;
		spool_unlease(sp, de->d_name, lease_fd);
		printf("removed lease/%s (no job in progress)\n", de->d_name);
	}
	closedir(dp);
}

/* remove_outputs: unlink out/ID/ and what it holds; the number removed. */
static int
remove_outputs(struct spool *sp, const char *id)
{
	struct dirent *de;
	DIR *dp;
	int fd, removed = 0;

	fd = openat(spool_dirfd(sp, SD_OUT), id,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(dp), de->d_name, 0) == -1) {
			closedir(dp);
			return -1;
		}
		removed++;
	}
	closedir(dp);
	if (unlinkat(spool_dirfd(sp, SD_OUT), id, AT_REMOVEDIR) == -1)
		return -1;
	return removed;
}

static void
sweep_expired(struct spool *sp)
{
	jv ids = spool_list(sp, SD_DONE);
	int64_t now = now_ms(), expires;
	char name[ID_LEN + 8];
	int removed;

	if (!jv_is_valid(ids)) {
		jv_free(ids);
		failures++;
		return;
	}
	jv_array_foreach(ids, i, idv) {
		const char *id = jv_string_value(idv);
		jv job = spool_get(sp, SD_DONE, id);
		const char *date = job_str(job, "expirationDate");
		jv expired = jv_is_valid(job) ?
		    jv_object_get(jv_copy(job), jv_string("expired")) : jv_null();

		if (date == NULL || jv_get_kind(expired) == JV_KIND_TRUE ||
		    iso8601_parse(date, &expires) == -1 || expires > now) {
			jv_free(expired);
			jv_free(job);
			jv_free(idv);
			continue;
		}
		jv_free(expired);
		if ((removed = remove_outputs(sp, id)) == -1) {
			log_warn("out/%s", id);
			failures++;
			jv_free(job);
			jv_free(idv);
			continue;
		}
		job = jv_object_set(job, jv_string("expired"), jv_true());
		snprintf(name, sizeof name, "%s.json", id);
		if (spool_put(sp, SD_DONE, name, job) == -1) {
			log_warn("done/%s", name);
			failures++;
		} else {
			printf("expired %s (%d files removed)\n", id, removed);
		}
		jv_free(idv);
	}
	jv_free(ids);
}

static void
sweep_once(struct spool *sp)
{
	sweep_tmp(sp);
	sweep_in_progress(sp);
	sweep_leases(sp);
	sweep_expired(sp);
	fflush(stdout);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },	/* --help: usage on stdout, exit 0 */
		{ NULL, 0, NULL, 0 },
	};
	const char *conf_path = NULL;
	int once = 0, interval_s = 60, ch;
	struct spool sp;

	log_init(argv[0]);
	while ((ch = getopt_long(argc, argv, "f:i:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f': conf_path = optarg; break;
		case 'i': interval_s = atoi(optarg); break;
		case 'o': once = 1; break;
		case 'h': fputs(usage, stdout); return EX_OK;
		default: fputs(usage, stderr); return EX_USAGE;
		}
	}
	if (optind != argc || interval_s <= 0) {
		fputs(usage, stderr);
		return EX_USAGE;
	}
	if (conf_load(conf_path) == -1)
		return EX_CONFIG;
	if (spool_open(&sp, conf.spool) == -1)
		return EX_CANTCREAT;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	do {
		sweep_once(&sp);
		if (!once)
			sleep((unsigned)interval_s);
	} while (!once && !stop);
	spool_close(&sp);
	conf_free();
	return failures ? EX_TEMPFAIL : EX_OK;
}
