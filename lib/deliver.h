/*
 * deliver.h — one attempt at one upload task, as transfers on a libcurl
 * multi handle the caller drives: S3 (one PUT, or a multipart upload when
 * the file reaches conf.upload_multipart_threshold), HTTP PUT or POST, FTP,
 * SFTP. Every connection goes through the address guard (guard.h).
 *
 * A multipart upload reports its progress ({uploadId, partSize, parts:
 * [ETag or null ...]}) after each part, for the caller to keep in the job:
 * given back to the next attempt (after a failure or a crash), it resumes
 * with the parts already stored. When an attempt fails and no other will
 * follow (the last one, or an error that retrying cannot cure), the
 * multipart upload is aborted before the end is reported.
 *
 * Ownership: delivery_start consumes the jv in its spec; the callbacks get
 * a jv they own. Strings in struct delivery_end live until the callback
 * returns.
 */
#ifndef VR_DELIVER_H
#define VR_DELIVER_H

#include <curl/curl.h>
#include <jv.h>
#include <stdbool.h>

/* A multipart upload sends this many parts at once: against Swift on two
 * cores, 4 took 6% less time than 2 (t/bench/upload.sh, unsigned). */
#define DELIVERY_PARTS_IN_FLIGHT 4

struct delivery;

struct delivery_end {
	bool ok;
	bool retry;          /* the failure may pass if tried again */
	const char *url;     /* where the file now is (ok) */
	const char *error;   /* the server's own words where it gave some */
	jv state;            /* multipart progress to keep, or null */
};

struct delivery_spec {
	jv dest;                  /* resolved destination (upload_destination) */
	const char *path;         /* the file to send */
	const char *ext;          /* its extension: the default Content-Type */
	const char *default_name; /* object or file name when dest gives none */
	jv state;                 /* an earlier attempt's progress, or null */
	bool last_attempt;
	/* progress: a part was stored; state to keep. */
	void (*progress)(void *arg, jv state);
	/* done: the attempt ended; called once, and may free the delivery. */
	void (*done)(void *arg, struct delivery_end *end);
	void *arg;
};

/* delivery_start: begin an attempt. NULL when it cannot begin (destination
 * not usable, file unreadable): err says why, and *retry whether a later
 * attempt could do better. */
struct delivery *delivery_start(CURLM *multi, struct delivery_spec *spec,
    char *err, size_t err_size, bool *retry);

/* delivery_handle: give a CURLMSG_DONE message of the multi handle to the
 * delivery that owns the transfer (found through CURLINFO_PRIVATE). */
void delivery_handle(CURLMsg *msg);

/* delivery_free: stop the attempt's transfers (no callback) and free it. */
void delivery_free(struct delivery *d);

#endif
