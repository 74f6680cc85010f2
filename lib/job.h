/*
 * job.h — the job file: one JSON object, Plainly's Render object plus vr's
 * fields (doc/vr-job.5). Load with limits, record state moves.
 * Ownership as in libjq: every function consumes the jv it is given and
 * returns a new one; job_str and job_int only borrow.
 */
#ifndef VR_JOB_H
#define VR_JOB_H

#include <jv.h>
#include <stdint.h>

/* job_loadat: read dirfd/name (at most conf.job_max_size bytes) and parse it.
 * Returns an object, or an invalid whose message says what is wrong:
 * "NAME: no such job", "NAME: 2000000 bytes, over the limit of 1048576",
 * "NAME: not JSON: ...", "NAME: not a JSON object". errno is ENOENT when the
 * file was not there (a lost race), else EINVAL or the I/O error. */
jv job_loadat(int dirfd, const char *name);
jv job_load(const char *path);

/* job_parse: text to job, with the same checks and a depth limit. */
jv job_parse(const char *text, size_t len, int max_depth);

/* job_record: set state (Plainly's name, e.g. "QUEUED"), lastModified, and
 * append {state, at, by} to history. */
jv job_record(jv job, const char *state, const char *by);

/* job_str: the string at key, or NULL (borrowed from job: do not free job
 * while using it). job_int: the number at key, or dflt. */
const char *job_str(jv job, const char *key);
int64_t job_int(jv job, const char *key, int64_t dflt);

/* job_fail: set error {code, message, details} (Plainly's error object)
 * and return the job. */
jv job_fail(jv job, const char *code, const char *message);

#endif
