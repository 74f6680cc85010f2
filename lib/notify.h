/*
 * notify.h — webhook notifications in the spool (outbox/, sent/).
 * When a job becomes final, the program that moves it calls notify_job
 * BEFORE the move: it drops outbox/<id>.final.json when the job's webhook
 * asks for it (DONE always; FAILED when onFailure; INVALID when onInvalid,
 * or onFailure when onInvalid is null). The name is fixed per job, so
 * doing it again after a crash replaces the same file: at least once, one
 * webhook-id. A re-trigger drops outbox/<id>.<ms>.json with a new webhook-id.
 * vr-notify delivers and records attempts in the file, then moves it to sent/.
 *
 * A notification file: {webhookId, renderId, org, url, payload, status,
 * attempts: [{at, httpStatus, latencyMs, error}], nextAttemptAt, createdAt}.
 * Ownership: functions consume the jv they take.
 */
#ifndef VR_NOTIFY_H
#define VR_NOTIFY_H

#include <jv.h>
#include <stdbool.h>

#include "spool.h"

/* notify_wanted: does the job's webhook ask to hear about its state? */
bool notify_wanted(jv job);

/* notify_payload: the webhook body for a final job (id, renderId, success,
 * state, passthrough with {{param}} / {{param:default}} filled, output,
 * thumbnailUris, projectId, templateId, expirationDate, error, uploads). */
jv notify_payload(jv job);

/* notify_job: drop the final notification when wanted. 0 (also when none
 * is wanted), -1 on error (logged). */
int notify_job(struct spool *sp, jv job);

/* notify_retrigger: drop a new notification for a final job. */
int notify_retrigger(struct spool *sp, jv job);

/* notify_delivery: the render's webhookDelivery {status, deliveries[]} from
 * its outbox/ and sent/ files; null when the job has no webhook. */
jv notify_delivery(struct spool *sp, jv job);

/*
 * Added by the vr-notify engineer (additive; the contract above holds).
 *
 * notify_retrigger returns -1 with errno EINVAL when the job has no webhook
 * url (vr-accept answers RENDER_DOES_NOT_HAVE_WEBHOOK), as it does for any
 * other failure (errno from the spool, logged).
 *
 * notify_test: GET /api/v2/webhook-test. Drops outbox/<new id>.test.json: a
 * sample DONE payload for org (signed with org's secret) to url, with
 * passthrough as given (NULL: none). It is delivered at once, like any
 * notification (retried, guarded), without waiting for a render. Writes the
 * sample's render id into id_out (ID_LEN + 1 bytes) when not NULL.
 * Returns 0 or -1 (logged).
 */
int notify_test(struct spool *sp, const char *org, const char *url,
    const char *passthrough, char *id_out);

/*
 * notify_call: a notification of any other kind for a job, e.g. FX's
 * onsuccess/onerror: outbox/<id>.<tag>.json, sent with method ("POST",
 * "GET") to url once the job sits in a final directory; body null sends no
 * body. tag is 1..32 of [a-z0-9] and names the webhook-id
 * ("msg_<id>_<tag>"), so doing it again after a crash is the same
 * notification. Consumes job and body. Returns 0 or -1 (logged).
 */
int notify_call(struct spool *sp, jv job, const char *tag, const char *method,
    const char *url, jv body);

#endif
