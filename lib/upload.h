/*
 * upload.h — upload tasks, as the FX API defines them and as a job's
 * uploads[] holds them: {task: {extension, destination{type, ...}, async,
 * onsuccess, onerror}, status, url, error, attempts}.
 * Here: check a task, resolve its destination (inline fields over a named
 * credential profile, conf.credentials/NAME), pick the output file a task
 * sends, hide secrets ("***") for whatever leaves the spool (API answers,
 * logs, webhook payloads), and compose Plainly's integrationDelivery.
 * No libcurl here, so that vr-accept and vr-validate can link it; the
 * transfers are lib/deliver.h's and lib/s3.h's.
 *
 * A credential profile is a text file of "key = value" lines ('#' starts a
 * comment), the keys being destination fields (doc/vr-upload.8):
 *   type = s3
 *   s3host = s3.eu-west-1.amazonaws.com
 *   aws_access_key_id = AKIA...
 *   aws_secret_access_key = ...
 *   metadata.owner = video-team        (metadata.NAME, headers.NAME)
 *   org = acme                         (only these organisations may use it)
 * A destination's own fields win over its profile's, except `org`.
 *
 * Ownership: libjq's rule — every function consumes the jv it takes.
 */
#ifndef VR_UPLOAD_H
#define VR_UPLOAD_H

#include <jv.h>
#include <stdbool.h>
#include <stddef.h>

/* upload_check: is task well-formed and deliverable by this server (type
 * s3, http, ftp or sftp; profile present and open to org)? 0, or -1 with
 * the reason in err, e.g. "destination type not supported by this server:
 * youtube". org may be NULL (no profile restriction checked). */
int upload_check(jv task, const char *org, char *err, size_t err_size);

/* upload_destination: the task's destination with its profile merged in,
 * or an invalid carrying the reason. */
jv upload_destination(jv task, const char *org);

/* upload_redact: task (or a bare destination) with every secret replaced
 * by "***": keys, passwords, tokens, credential headers, the password of
 * a URL and signature-like query parameters. */
jv upload_redact(jv task);

/* upload_redact_job: the job with each uploads[i].task redacted. */
jv upload_redact_job(jv job);

/* upload_output: the name in out/<id>/ that sends extension ext (NULL or
 * "": the main output): job.outputs[ext] when there is such a map, else
 * outputFile when its extension matches, else a thumbnail of that
 * extension. A string checked with name_valid, or an invalid. */
jv upload_output(jv job, const char *ext);

/* upload_content_type: the MIME type of a file extension
 * ("application/octet-stream" when unknown). */
const char *upload_content_type(const char *ext);

/* upload_delivery: Plainly's integrationDelivery for the job, composed
 * from uploads[]: {status, deliveries: [{type, extension, status, url,
 * error, attempts}]}; null when the job has no upload task. */
jv upload_delivery(jv job);

#endif
