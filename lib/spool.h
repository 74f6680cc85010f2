/*
 * spool.h — the maildir-style spool of DESIGN.md §2 (doc/spool.md).
 * One directory per state; a job is <dir>/<id>.json in exactly one of them.
 * Writes go to tmp/ (O_EXCL, fsync) and are renamed into place, or, for a
 * new job, are written unnamed in their directory (O_TMPFILE, fsync) and
 * linked in; the directory is fsync'ed after every rename or link. Rename is the lock: a claim that
 * loses the race gets -1 with errno ENOENT.
 * Ownership: functions that take a jv consume it.
 */
#ifndef VR_SPOOL_H
#define VR_SPOOL_H

#include <jv.h>
#include <stdbool.h>
#include <sys/types.h>

enum sdir {
	SD_TMP,
	SD_PENDING, SD_INVALID, SD_THROTTLED, SD_QUEUED, SD_IN_PROGRESS,
	SD_UPLOADING, SD_DONE, SD_FAILED, SD_CANCELLED,
	SD_OUTBOX, SD_SENT,
	SD_OUT,     /* out/ID/: a job's artifacts */
	SD_ASSETS,  /* fetched media, by sha256 */
	SD_LEASE,   /* lease/ID: flock'ed by the worker that owns the job */
	SD_COUNT
};
#define SD_FIRST_STATE SD_PENDING
#define SD_LAST_STATE SD_CANCELLED

struct spool {
	char *root;
	int root_fd;
	int fd[SD_COUNT];   /* -1 until opened: use spool_dirfd */
};

/* sdir_name: "in-progress". sdir_state: "IN_PROGRESS", NULL for non-states.
 * sdir_from_state: the directory of a state name (ERROR means FAILED), or -1. */
const char *sdir_name(enum sdir d);
const char *sdir_state(enum sdir d);
int sdir_from_state(const char *state);
bool sdir_is_final(enum sdir d);   /* done, failed, invalid, cancelled */

/* The waiting states, those a queue limit counts: pending/, throttled/ and
 * queued/ (SD_NWAITING of them), and the test for one. */
#define SD_NWAITING 3
extern const enum sdir sdir_waiting[SD_NWAITING];
bool sdir_is_waiting(enum sdir d);

/* spool_open: open (creating any missing) every directory under root, as
 * daemons do at start. spool_attach: open root alone; each directory is
 * opened (or made) on first use (vr-accept, exec'd per connection, needs
 * a few).
 * Both return 0, or -1 with errno set (a warning says which directory). */
int spool_open(struct spool *sp, const char *root);
int spool_attach(struct spool *sp, const char *root);
void spool_close(struct spool *sp);

/* spool_dirfd: the descriptor of directory d, opened now if need be; -1
 * with errno set (and a warning) when it cannot be. */
int spool_dirfd(struct spool *sp, enum sdir d);

/* spool_put: write value as dir/name atomically (tmp/, O_EXCL, fsync,
 * rename, fsync dir), mode 0600. Replaces an existing file of that name.
 * Consumes value. Returns 0, or -1 with errno set. */
int spool_put(struct spool *sp, enum sdir dir, const char *name, jv value);

/* spool_create: write value as the new file dir/name: unnamed in dir
 * (O_TMPFILE), fsync'ed, then linked in as name, dir fsync'ed; through
 * tmp/ where O_TMPFILE is not supported. Never replaces: -1 with errno
 * EEXIST when name exists. Consumes value. Returns 0, or -1 with errno. */
int spool_create(struct spool *sp, enum sdir dir, const char *name, jv value);

/* spool_move: the job id sits in `from`. Record the move (job_record with
 * `to`'s state, by `by`), rewrite it in place in `from`, rename it into
 * `to`, fsync both. Consumes job. -1/ENOENT: it was no longer in `from`
 * (another process moved it: not ours any more). */
int spool_move(struct spool *sp, const char *id, enum sdir from, enum sdir to,
    jv job, const char *by);

/* spool_claim: rename id from `from` into `to` without rewriting it.
 * -1/ENOENT: another claimer won. */
int spool_claim(struct spool *sp, const char *id, enum sdir from, enum sdir to);

/* spool_find: the state directory holding id, or -1 (errno ENOENT). */
int spool_find(struct spool *sp, const char *id);

/* spool_get: load job id from dir (see job_loadat for errors). */
jv spool_get(struct spool *sp, enum sdir dir, const char *id);

/* spool_lookup: job id wherever it is, and its directory in *dir; a move
 * between finding and reading it is looked for again. An invalid when it
 * is in no state directory, or (with its message) when it cannot be read. */
jv spool_lookup(struct spool *sp, const char *id, enum sdir *dir);

/* spool_list: the ids ("<id>" without ".json") in dir, newest first,
 * from names alone (UUIDv7 sorts by time). Names that are not ids are
 * left out. */
jv spool_list(struct spool *sp, enum sdir dir);

/* spool_path: "<root>/<dir>/<name>" into buf; -1 if it does not fit. */
int spool_path(struct spool *sp, enum sdir dir, const char *name, char *buf,
    size_t size);

/* spool_lease: take the worker lease on id (lease/ID, flock LOCK_EX|LOCK_NB).
 * Returns the fd to keep open while working, or -1 (errno EWOULDBLOCK: a
 * live worker holds it). spool_unlease closes it and removes the file. */
int spool_lease(struct spool *sp, const char *id);
void spool_unlease(struct spool *sp, const char *id, int lease_fd);

/* spool_name_id: "<id>.json" → id into out (ID_LEN+1); -1 if not a job name. */
int spool_name_id(const char *name, char *out);

#endif
