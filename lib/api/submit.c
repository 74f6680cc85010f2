/*
 * api/submit.c — the end of every create (api.h): idempotency and the
 * organisation's queue limit (under the spool lock, unless the queue tally
 * shows every limit far away), then the job into pending/; then the
 * synchronous wait for vr-validate, watching pending/ with inotify until
 * the job leaves it or conf.validate_wait_ms passes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "api/api.h"
#include "clock.h"
#include "conf.h"
#include "id.h"
#include "job.h"
#include "log.h"
#include "tally.h"

#define IDEMPOTENCY_MS (24LL * 3600 * 1000)  /* a key is remembered a day */
/* Creates far from every queue limit need no lock: it takes more creates
 * at one instant than this (xinetd's instances) to overshoot a limit. How
 * far is read from the queue tally (tally.h), in O(1). */
#define LOCK_FREE_MARGIN 512

/* spool_lock: serialise creates (idempotency and queue counts must not
 * race): flock on the spool directory itself. Returns the fd, or -1. */
static int
spool_lock(struct spool *sp)
{
	int fd = open(sp->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1 || flock(fd, LOCK_EX) == -1) {
		log_warn("%s: lock", sp->root);
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

static void
unlock(int lock_fd)
{
	if (lock_fd >= 0)
		close(lock_fd);
}

static bool
owned_by(jv job, const char *org)
{
	const char *owner = job_str(job, "org");

	return owner != NULL && strcmp(owner, org) == 0;
}

/* find_idempotent: the caller's render made with key in the last day. */
static jv
find_idempotent(struct api *a, const char *key, enum sdir *dir)
{
	int64_t since = now_ms() - IDEMPOTENCY_MS;
	int i, j, n;

	for (i = 0; i < api_state_ndirs; i++) {
		jv ids = spool_list(&a->sp, api_state_dirs[i]);

		n = jv_is_valid(ids) ? jv_array_length(jv_copy(ids)) : 0;
		for (j = 0; j < n; j++) {
			jv id = jv_array_get(jv_copy(ids), j);
			jv job;
			const char *found;

			if (api_id_ms(jv_string_value(id)) < since) {
				jv_free(id);
				break;  /* newest first: the rest are older */
			}
			job = spool_get(&a->sp, api_state_dirs[i],
			    jv_string_value(id));
			jv_free(id);
			if (!jv_is_valid(job)) {
				jv_free(job);
				continue;
			}
			found = job_str(job, "idempotencyKey");
			if (found != NULL && strcmp(found, key) == 0 &&
			    owned_by(job, a->key.org)) {
				jv_free(ids);
				*dir = api_state_dirs[i];
				return job;
			}
			jv_free(job);
		}
		jv_free(ids);
	}
	return jv_invalid();
}

/* queue_full: has the caller as many PENDING+THROTTLED+QUEUED renders as
 * its queue limit? total is what the directories hold together (or more);
 * files are opened only when that is as many. */
static bool
queue_full(struct api *a, int total)
{
	int i, j, n, mine = 0;

	if (total < a->key.queue_limit)
		return false;
	for (i = 0; i < SD_NWAITING && mine < a->key.queue_limit; i++) {
		jv ids = spool_list(&a->sp, sdir_waiting[i]);

		n = jv_is_valid(ids) ? jv_array_length(jv_copy(ids)) : 0;
		for (j = 0; j < n && mine < a->key.queue_limit; j++) {
			jv id = jv_array_get(jv_copy(ids), j);
			jv job = spool_get(&a->sp, sdir_waiting[i],
			    jv_string_value(id));

			if (jv_is_valid(job) && owned_by(job, a->key.org))
				mine++;
			jv_free(job);
			jv_free(id);
		}
		jv_free(ids);
	}
	return mine >= a->key.queue_limit;
}

/* watch_pending: an inotify descriptor told when names leave pending/. */
static int
watch_pending(struct api *a)
{
	char path[4096];
	int fd;

	if (conf.validate_wait_ms <= 0)
		return -1;
	if (spool_path(&a->sp, SD_PENDING, "", path, sizeof path) == -1 ||
	    (fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) == -1)
		return -1;
	if (inotify_add_watch(fd, path, IN_MOVED_FROM | IN_DELETE) == -1) {
		log_warn("inotify: %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* wait_validated: until name leaves pending/ or the deadline passes. */
static void
wait_validated(struct api *a, int inotify_fd, const char *name)
{
	int64_t deadline = mono_ms() + conf.validate_wait_ms, left;
	char events[4096];
	struct pollfd pfd = { .fd = inotify_fd, .events = POLLIN };

	while (faccessat(spool_dirfd(&a->sp, SD_PENDING), name, F_OK, 0) == 0) {
		left = deadline - mono_ms();
		if (left <= 0)
			return;
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR)
			return;
		while (read(inotify_fd, events, sizeof events) > 0)
			;
	}
}

jv
api_submit(struct api *a, jv job, const char *idempotency_key,
    enum sdir *dir, struct api_fail *f)
{
	char id[ID_LEN + 1], name[ID_LEN + 6];
	int lock_fd, inotify_fd;
	int64_t total;
	jv found, written;

	lock_fd = -2;   /* no lock needed */
	total = tally_bound(&a->sp);
	if ((idempotency_key != NULL || total < 0 ||
	    total + LOCK_FREE_MARGIN >= a->key.queue_limit) &&
	    (lock_fd = spool_lock(&a->sp)) == -1) {
		jv_free(job);
		api_fail_set(f, 500, "INTERNAL_ERROR", "the spool is unavailable");
		return jv_invalid();
	}
	if (idempotency_key != NULL) {
		found = find_idempotent(a, idempotency_key, dir);
		if (jv_is_valid(found)) {
			unlock(lock_fd);
			jv_free(job);
			return found;
		}
		jv_free(found);
		job = jv_object_set(job, jv_string("idempotencyKey"),
		    jv_string(idempotency_key));
	}
	if (lock_fd >= 0) {
		/* again, now that it holds: exact when the bound says full */
		total = tally_bound(&a->sp);
		if ((total < 0 || total >= a->key.queue_limit) &&
		    (total = tally_recount(&a->sp)) == -1) {
			log_warn("%s: cannot count the queue", a->sp.root);
			unlock(lock_fd);
			jv_free(job);
			api_fail_set(f, 500, "INTERNAL_ERROR", "the spool is unavailable");
			return jv_invalid();
		}
	}
	if (lock_fd >= 0 && queue_full(a, (int)(total < INT_MAX ? total : INT_MAX))) {
		unlock(lock_fd);
		jv_free(job);
		api_fail_set(f, 429, "RENDER_ORGANIZATION_QUEUE_FULL",
		    "the organisation has %d renders waiting, its limit",
		    a->key.queue_limit);
		return jv_invalid();
	}
	snprintf(id, sizeof id, "%s", job_str(job, "id"));
	snprintf(name, sizeof name, "%s.json", id);
	/* watch before the job can move, so that no move is missed */
	inotify_fd = watch_pending(a);
	written = jv_copy(job);
	if (spool_create(&a->sp, SD_PENDING, name, job) == -1) {
		log_warn("%s: cannot write to pending/", id);
		unlock(lock_fd);
		if (inotify_fd != -1)
			close(inotify_fd);
		api_fail_set(f, 500, "INTERNAL_ERROR", "the render was not saved");
		jv_free(written);
		return jv_invalid();
	}
	unlock(lock_fd);
	if (inotify_fd != -1) {
		wait_validated(a, inotify_fd, name);
		close(inotify_fd);
	}
	/* Still in pending/ (no wait, or the deadline passed): it is what we
	 * wrote. Moved: read it where it went. */
	if (faccessat(spool_dirfd(&a->sp, SD_PENDING), name, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0) {
		*dir = SD_PENDING;
		return jv_object_set(written, jv_string("state"), jv_string("PENDING"));
	}
	jv_free(written);
	found = spool_lookup(&a->sp, id, dir);
	if (jv_is_valid(found))
		return found;
	jv_free(found);
	log_warnx("%s: lost after it was written to pending/", id);
	api_fail_set(f, 500, "INTERNAL_ERROR", "the render was lost");
	return jv_invalid();
}
