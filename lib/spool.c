/*
 * spool.c — the spool directories and every change made to them (spool.h):
 * atomic writes through tmp/, moves that keep exactly one copy, claims by
 * rename, leases by flock, listings from names alone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "id.h"
#include "job.h"
#include "log.h"
#include "spool.h"
#include "tally.h"
#include "util.h"

static const struct {
	const char *dir;
	const char *state;
} sdirs[SD_COUNT] = {
	[SD_TMP] = { "tmp", NULL },
	[SD_PENDING] = { "pending", "PENDING" },
	[SD_INVALID] = { "invalid", "INVALID" },
	[SD_THROTTLED] = { "throttled", "THROTTLED" },
	[SD_QUEUED] = { "queued", "QUEUED" },
	[SD_IN_PROGRESS] = { "in-progress", "IN_PROGRESS" },
	[SD_UPLOADING] = { "uploading", "UPLOADING" },
	[SD_DONE] = { "done", "DONE" },
	[SD_FAILED] = { "failed", "FAILED" },
	[SD_CANCELLED] = { "cancelled", "CANCELLED" },
	[SD_OUTBOX] = { "outbox", NULL },
	[SD_SENT] = { "sent", NULL },
	[SD_OUT] = { "out", NULL },
	[SD_ASSETS] = { "assets", NULL },
	[SD_LEASE] = { "lease", NULL },
};


const char *
sdir_name(enum sdir d)
{
	return d < SD_COUNT ? sdirs[d].dir : "?";
}

const char *
sdir_state(enum sdir d)
{
	return d < SD_COUNT ? sdirs[d].state : NULL;
}

int
sdir_from_state(const char *state)
{
	int d;

	if (state == NULL)
		return -1;
	if (strcmp(state, "ERROR") == 0)
		return SD_FAILED;
	for (d = SD_FIRST_STATE; d <= SD_LAST_STATE; d++)
		if (strcmp(sdirs[d].state, state) == 0)
			return d;
	return -1;
}

const enum sdir sdir_waiting[SD_NWAITING] = {
	SD_PENDING, SD_THROTTLED, SD_QUEUED
};

bool
sdir_is_waiting(enum sdir d)
{
	return d == SD_PENDING || d == SD_THROTTLED || d == SD_QUEUED;
}

bool
sdir_is_final(enum sdir d)
{
	return d == SD_DONE || d == SD_FAILED || d == SD_INVALID ||
	    d == SD_CANCELLED;
}

/* open_dir: root_fd/name as an O_DIRECTORY descriptor, made if missing
 * (open first: the directories are almost always there). */
static int
open_dir(int root_fd, const char *name)
{
	int fd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1 && errno == ENOENT) {
		if (mkdirat(root_fd, name, 0700) == -1 && errno != EEXIST)
			return -1;
		fd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	return fd;
}

static int
attach(struct spool *sp, const char *root)
{
	int d;

	for (d = 0; d < SD_COUNT; d++)
		sp->fd[d] = -1;
	sp->root_fd = -1;
	if ((sp->root = strdup(root)) == NULL)
		return -1;
	sp->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->root_fd == -1) {
		log_warn("spool %s", root);
		free(sp->root);
		sp->root = NULL;
		return -1;
	}
	return 0;
}

int
spool_open(struct spool *sp, const char *root)
{
	int d;

	if (attach(sp, root) == -1)
		return -1;
	for (d = 0; d < SD_COUNT; d++) {
		if ((sp->fd[d] = open_dir(sp->root_fd, sdirs[d].dir)) == -1) {
			log_warn("spool %s/%s", root, sdirs[d].dir);
			spool_close(sp);
			return -1;
		}
	}
	return 0;
}

int
spool_attach(struct spool *sp, const char *root)
{
	return attach(sp, root);
}

int
spool_dirfd(struct spool *sp, enum sdir d)
{
	if (d >= SD_COUNT) {
		errno = EINVAL;
		return -1;
	}
	if (sp->fd[d] == -1 &&
	    (sp->fd[d] = open_dir(sp->root_fd, sdirs[d].dir)) == -1)
		log_warn("spool %s/%s", sp->root, sdirs[d].dir);
	return sp->fd[d];
}

void
spool_close(struct spool *sp)
{
	int d;

	for (d = 0; d < SD_COUNT; d++) {
		if (sp->fd[d] != -1)
			close(sp->fd[d]);
		sp->fd[d] = -1;
	}
	if (sp->root_fd != -1)
		close(sp->root_fd);
	sp->root_fd = -1;
	free(sp->root);
	sp->root = NULL;
}

/* job_text: value as a job file holds it, pretty-printed, with a final
 * newline. Consumes value. */
static jv
job_text(jv value)
{
	return jv_string_append_buf(jv_dump_string(value, JV_PRINT_INDENT_FLAGS(2)),
	    "\n", 1);
}

static int
write_text(int fd, jv text)
{
	return write_all(fd, jv_string_value(text),
	    (size_t)jv_string_length_bytes(jv_copy(text)));
}

/* write_tmp: text into a fresh tmp/ file, synced. The tmp name goes to
 * tmp_name. Consumes text. */
static int
write_tmp(struct spool *sp, const char *name, jv text, char *tmp_name,
    size_t tmp_size)
{
	char rnd[9];
	int fd, saved;

	if (random_token(rnd, 4) == -1) {
		jv_free(text);
		return -1;
	}
	snprintf(tmp_name, tmp_size, "%.80s.%d.%s", name, (int)getpid(), rnd);
	fd = openat(spool_dirfd(sp, SD_TMP), tmp_name,
	    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		jv_free(text);
		return -1;
	}
	if (write_text(fd, text) == -1 || fsync(fd) == -1) {
		saved = errno;
		jv_free(text);
		close(fd);
		unlinkat(spool_dirfd(sp, SD_TMP), tmp_name, 0);
		errno = saved;
		return -1;
	}
	jv_free(text);
	if (close(fd) == -1) {
		saved = errno;
		unlinkat(spool_dirfd(sp, SD_TMP), tmp_name, 0);
		errno = saved;
		return -1;
	}
	return 0;
}

/* link_unnamed: give the O_TMPFILE file fd the name dir_fd/name (never
 * replacing one), through /proc/self/fd, or AT_EMPTY_PATH without /proc
 * (which needs CAP_DAC_READ_SEARCH). */
static int
link_unnamed(int fd, int dir_fd, const char *name)
{
	char proc[64];

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, dir_fd, name, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != ENOENT || access("/proc/self/fd", F_OK) == 0)
		return -1;
	return linkat(fd, "", dir_fd, name, AT_EMPTY_PATH);
}

/* announce: tell inotify watchers (watch.h) that dir_fd/name is complete.
 * A link raises IN_CREATE, which watchers do not act on (a sysadmin's cp
 * raises it on an empty file), and the unnamed file's IN_CLOSE_WRITE bears
 * no name; opening the name for writing and closing it raises
 * IN_CLOSE_WRITE under it, changing nothing. A failure here only delays
 * the job to the watcher's next scan. */
static void
announce(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd != -1)
		close(fd);
}

/* put_via_tmp: text into tmp/, synced, then renamed onto dir/name with
 * renameat2's flags: 0 replaces, RENAME_NOREPLACE never does,
 * RENAME_EXCHANGE swaps (the old content is then tmp/tmp_name, for the
 * caller to remove). The tmp file is removed on failure. Consumes text. */
static int
put_via_tmp(struct spool *sp, enum sdir dir, const char *name, jv text,
    unsigned int flags, char tmp_name[128])
{
	int saved;

	if (write_tmp(sp, name, text, tmp_name, 128) == -1)
		return -1;
	if (renameat2(spool_dirfd(sp, SD_TMP), tmp_name, spool_dirfd(sp, dir),
	    name, flags) == -1) {
		saved = errno;
		unlinkat(spool_dirfd(sp, SD_TMP), tmp_name, 0);
		errno = saved;
		return -1;
	}
	return 0;
}

int
spool_create(struct spool *sp, enum sdir dir, const char *name, jv value)
{
	char tmp_name[128];
	int dir_fd = spool_dirfd(sp, dir), fd, saved;
	jv text = job_text(value);

	if (dir_fd == -1) {
		jv_free(text);
		return -1;
	}
	/* unnamed in dir itself: no tmp/ entry, no cross-directory rename
	 * (creates racing on tmp/ and on the rename lock cost ~0.4 ms of
	 * CPU each, 8 at once) */
	fd = openat(dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd == -1 && (errno == EOPNOTSUPP || errno == EISDIR)) {
		/* no O_TMPFILE here: through tmp/, never replacing */
		if (put_via_tmp(sp, dir, name, text, RENAME_NOREPLACE,
		    tmp_name) == -1)
			return -1;
	} else if (fd == -1) {
		jv_free(text);
		return -1;
	} else {
		if (write_text(fd, text) == -1 || fsync(fd) == -1 ||
		    link_unnamed(fd, dir_fd, name) == -1) {
			saved = errno;
			close(fd);
			jv_free(text);
			errno = saved;
			return -1;
		}
		close(fd);
		jv_free(text);
		announce(dir_fd, name);
	}
	if (sdir_is_waiting(dir))
		tally_entered(sp);   /* after the name appears: see tally.h */
	return fsync(dir_fd);
}

int
spool_put(struct spool *sp, enum sdir dir, const char *name, jv value)
{
	char tmp_name[128];

	if (put_via_tmp(sp, dir, name, job_text(value), 0, tmp_name) == -1)
		return -1;
	if (sdir_is_waiting(dir))
		tally_entered(sp);   /* after the rename: see tally.h */
	return fsync(spool_dirfd(sp, dir));
}

/* replace_existing: put value as dir/name only if that file is still there
 * (RENAME_EXCHANGE fails with ENOENT when another process has moved it), so
 * a rewrite never brings back a file that left. Consumes value. */
static int
replace_existing(struct spool *sp, enum sdir dir, const char *name, jv value)
{
	char tmp_name[128];

	if (put_via_tmp(sp, dir, name, job_text(value), RENAME_EXCHANGE,
	    tmp_name) == -1)
		return -1;
	/* tmp_name now holds the old content. The directory is fsync'ed by
	 * the rename that follows in spool_move. */
	unlinkat(spool_dirfd(sp, SD_TMP), tmp_name, 0);
	return 0;
}

int
spool_move(struct spool *sp, const char *id, enum sdir from, enum sdir to,
    jv job, const char *by)
{
	char name[ID_LEN + 8];

	if (!id_valid(id)) {
		jv_free(job);
		errno = EINVAL;
		return -1;
	}
	snprintf(name, sizeof name, "%s.json", id);
	job = job_record(job, sdir_state(to), by);
	if (replace_existing(sp, from, name, job) == -1)
		return -1;
	return spool_claim(sp, id, from, to);
}

int
spool_claim(struct spool *sp, const char *id, enum sdir from, enum sdir to)
{
	char name[ID_LEN + 8];

	if (!id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(name, sizeof name, "%s.json", id);
	if (renameat2(spool_dirfd(sp, from), name, spool_dirfd(sp, to), name,
	    RENAME_NOREPLACE) == -1)
		return -1;
	if (sdir_is_waiting(to) && !sdir_is_waiting(from))
		tally_entered(sp);
	if (fsync(spool_dirfd(sp, to)) == -1 || fsync(spool_dirfd(sp,
	    from)) == -1)
		return -1;
	return 0;
}

int
spool_find(struct spool *sp, const char *id)
{
	char name[ID_LEN + 8];
	struct stat st;
	int d, pass;

	if (!id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(name, sizeof name, "%s.json", id);
	/* A job moving while we look could be missed once: look twice. */
	for (pass = 0; pass < 2; pass++)
		for (d = SD_FIRST_STATE; d <= SD_LAST_STATE; d++)
			if (fstatat(spool_dirfd(sp, d), name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0)
				return d;
	errno = ENOENT;
	return -1;
}

jv
spool_get(struct spool *sp, enum sdir dir, const char *id)
{
	char name[ID_LEN + 8];
	jv job;

	if (!id_valid(id)) {
		errno = EINVAL;
		return jv_invalid_with_msg(jv_string("not a job id"));
	}
	snprintf(name, sizeof name, "%s.json", id);
	job = job_loadat(spool_dirfd(sp, dir), name);
	/* The directory is the state (DESIGN.md §2.1). */
	if (jv_is_valid(job) && sdir_state(dir) != NULL)
		job = jv_object_set(job, jv_string("state"),
		    jv_string(sdir_state(dir)));
	return job;
}

jv
spool_lookup(struct spool *sp, const char *id, enum sdir *dir)
{
	/* a job may move between finding and reading it: look again */
	for (int tries = 0; tries < 5; tries++) {
		int d = spool_find(sp, id);
		jv job;

		if (d == -1)
			break;
		job = spool_get(sp, (enum sdir)d, id);
		if (jv_is_valid(job)) {
			*dir = (enum sdir)d;
			return job;
		}
		if (errno != ENOENT)
			return job;   /* there, but not a job file */
		jv_free(job);
	}
	return jv_invalid_with_msg(jv_string("no such job"));
}

int
spool_name_id(const char *name, char *out)
{
	size_t len = strlen(name);

	if (len != ID_LEN + 5 || strcmp(name + ID_LEN, ".json") != 0)
		return -1;
	memcpy(out, name, ID_LEN);
	out[ID_LEN] = '\0';
	return id_valid(out) ? 0 : -1;
}

static int
newest_first(const void *a, const void *b)
{
	return -strcmp(*(char *const *)a, *(char *const *)b);
}

jv
spool_list(struct spool *sp, enum sdir dir)
{
	char **ids = NULL, **grown, id[ID_LEN + 1];
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *dp;
	int fd;
	jv list = jv_array();

	if ((fd = openat(spool_dirfd(sp, dir), ".",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (dp = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		jv_free(list);
		return jv_invalid_with_msg(jv_string_fmt("%s: %s",
		    sdir_name(dir), strerror(errno)));
	}
	while ((de = readdir(dp)) != NULL) {
		if (spool_name_id(de->d_name, id) == -1)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			if ((grown = realloc(ids, cap * sizeof *ids)) == NULL)
				break;
			ids = grown;
		}
		if ((ids[n] = strdup(id)) == NULL)
			break;
		n++;
	}
	closedir(dp);
	if (n > 0)
		qsort(ids, n, sizeof *ids, newest_first);
	for (i = 0; i < n; i++) {
		list = jv_array_append(list, jv_string(ids[i]));
		free(ids[i]);
	}
	free(ids);
	return list;
}

int
spool_path(struct spool *sp, enum sdir dir, const char *name, char *buf,
    size_t size)
{
	int n = snprintf(buf, size, "%s/%s/%s", sp->root, sdir_name(dir), name);

	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
spool_lease(struct spool *sp, const char *id)
{
	int fd;

	if (!id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	fd = openat(spool_dirfd(sp, SD_LEASE), id, O_RDWR | O_CREAT | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

void
spool_unlease(struct spool *sp, const char *id, int lease_fd)
{
	if (lease_fd == -1)
		return;
	/* Unlink while still holding the lock: nobody sees a free lease on a
	 * file that is about to go. */
	if (id_valid(id))
		unlinkat(spool_dirfd(sp, SD_LEASE), id, 0);
	close(lease_fd);
}
