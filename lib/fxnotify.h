/*
 * fxnotify.h — the FX API's upload callbacks: an upload task may name an
 * `onsuccess` and an `onerror` URL, which vr calls once the task's render is
 * final (doc/upload-tasks.md): a POST of {renderId, token, extension,
 * status, url, error}, the URL carrying ?msg= as FX clients expect:
 *   onsuccess?msg=URL-OF-THE-UPLOADED-FILE   the task succeeded
 *   onerror?msg=WHAT-WENT-WRONG              the upload or the render failed
 * Each call is a notification of vr-notify's (notify_call: retried, guarded,
 * sent once the job sits in a final directory), tagged "uploadNok" or
 * "uploadNerr" for task N. vr-upload makes them after the uploads; vr-render
 * when a render with upload tasks fails (fxnotify_failed). No network here.
 * Ownership as in libjq: functions consume the jv they take.
 */
#ifndef VR_FXNOTIFY_H
#define VR_FXNOTIFY_H

#include <jv.h>

#include "spool.h"

/* fxnotify_url: url with "msg=" + msg percent-encoded added to its query,
 * or an invalid when the result would be too long. */
jv fxnotify_url(const char *url, const char *msg);

/* fxnotify_failed: the render of job failed: drop the onerror call of each
 * of its upload tasks, msg being the job's error message. 0, or -1 when
 * one could not be dropped (logged). */
int fxnotify_failed(struct spool *sp, jv job);

#endif
