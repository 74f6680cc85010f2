/*
 * api/api.h — what vr-accept's HTTP APIs share (doc/api.md): the request
 * context, Plainly's ApiError answers, authentication by API key, the
 * render object a client sees, and submitting a new job (idempotency, queue
 * limit, the synchronous wait for vr-validate).
 *
 * One file per API beside this one: plainly.c (/api/v2), files.c (signed
 * outputs and public links); an FX API (/v2) is a sibling fx.c with a
 * route line in route.c. Ownership as in libjq: functions consume the jv
 * they take, unless a comment says they borrow.
 */
#ifndef VR_API_H
#define VR_API_H

#include <jv.h>
#include <stdarg.h>
#include <stdbool.h>

#include "http.h"
#include "keys.h"
#include "spool.h"

#define API_SEGMENTS_MAX 8

struct api {
	struct spool sp;
	struct http_conn *c;        /* the request being answered */
	struct http_request *req;
	struct key key;             /* the caller, once api_auth said yes */
	/* the Authorization header last accepted on this connection and its
	 * key: keep-alive requests do not read the keys file again */
	char *known_auth;
	struct key known_key;
};

/* A failure to answer with: HTTP status, Plainly error code, message. */
struct api_fail {
	int status;
	const char *code;
	char message[256];
};

/* route.c: http.h's handler and error handler for vr-accept. */
void api_handle(void *arg, struct http_conn *c, struct http_request *req);
void api_http_error(void *arg, struct http_conn *c,
    const struct http_request *req, int status, const char *code,
    const char *message);

/* common.c */
/* api_error: answer Plainly's ApiError {error, message "[CODE] text",
 * path, status, timestamp} with the X-PlainlyErrorCode header. */
void api_error(struct api *a, int status, const char *code, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
void api_fail_answer(struct api *a, const struct api_fail *f);
void api_fail_set(struct api_fail *f, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* api_json: answer status with value as JSON (consumed). */
void api_json(struct api *a, int status, jv value);
/* api_auth: find the caller's key (Basic with the key as user name, or
 * Bearer). true when known; otherwise it has answered 401. */
bool api_auth(struct api *a);
/* api_segments: split path (modified) after prefix into at most max
 * segments; -1 if the path does not start with prefix or has too many. */
int api_segments(char *path, const char *prefix, char *seg[], int max);
/* api_job: the caller's job id, where it is. Invalid when the id is not
 * valid, not there or another organisation's (all answered alike: 404). */
jv api_job(struct api *a, const char *id, enum sdir *dir);
/* api_render: the render object the Plainly API shows for job in dir:
 * Plainly's fields, the state from the directory, webhookDelivery. */
jv api_render(struct api *a, jv job, enum sdir dir);
/* api_state_dirs: the state directories in the order renders are listed */
extern const enum sdir api_state_dirs[];
extern const int api_state_ndirs;
/* api_has_object: is value's key an object? (borrows value) */
bool api_has_object(jv value, const char *key);
/* api_new_job: the job every create starts from: id, org, api ("plainly",
 * "fx"), createdDate, attempts, progress, history. Invalid with f filled
 * when no id could be made. */
jv api_new_job(const char *org, const char *api, struct api_fail *f);
/* api_copy_field: job with from's key (borrowed) when it is there and not
 * null. Consumes job. */
jv api_copy_field(jv job, jv from, const char *key);
/* api_one_of: is s one of the NULL-terminated values? */
bool api_one_of(const char *s, const char *const *values);
/* api_id_ms: the creation time (ms) a UUIDv7 id carries. */
int64_t api_id_ms(const char *id);

/* submit.c */
/* api_submit: the end of every create. Under the spool lock: an earlier
 * render of the caller with the same idempotency key (may be NULL) is
 * returned as it is; else the caller's PENDING+THROTTLED+QUEUED count is
 * checked against its queue limit (429 RENDER_ORGANIZATION_QUEUE_FULL),
 * job goes to pending/, and api_submit waits up to conf.validate_wait_ms
 * for vr-validate to move it. Returns the job and sets *dir, or an invalid
 * with f filled. Consumes job. */
jv api_submit(struct api *a, jv job, const char *idempotency_key,
    enum sdir *dir, struct api_fail *f);

/* plainly.c: the renders endpoints, /me, /webhook-test */
void plainly_route(struct api *a, char *seg[], int nseg);
/* plainly-request.c: a new job from a POST /renders body (consumed) for
 * the caller key, checked against Plainly's schema, or an invalid with f
 * filled (400 for every fault, 404 for a project that cannot exist). */
jv plainly_render_job(jv body, const struct key *key, struct api_fail *f);
/* projects.c: /projects… from conf.templates */
void projects_route(struct api *a, char *seg[], int nseg);
/* projects_default_template: the template a render of project gets when it
 * names none: project.json's defaultTemplateId, else the first by name. */
bool projects_default_template(const char *project, char *out, size_t size);

/* files.c: /files/ID/NAME?expires=&sig= and /public/ID/TOKEN */
void files_route(struct api *a, char *seg[], int nseg);
void public_route(struct api *a, char *seg[], int nseg);

#endif
