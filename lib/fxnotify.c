/*
 * fxnotify.c — the FX API's upload callbacks (fxnotify.h): onsuccess and
 * onerror URLs called with GET and ?msg=, through vr-notify's outbox.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fxnotify.h"
#include "job.h"
#include "log.h"
#include "notify.h"

#define CALL_URL_MAX 8192

jv
fxnotify_url(const char *url, const char *msg)
{
	static const char hex[] = "0123456789ABCDEF";
	char out[CALL_URL_MAX];
	size_t n;

	n = (size_t)snprintf(out, sizeof out, "%s%smsg=", url,
	    strchr(url, '?') ? "&" : "?");
	for (; n < sizeof out - 4 && *msg != '\0'; msg++) {
		unsigned char ch = (unsigned char)*msg;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch))
			out[n++] = (char)ch;
		else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	if (n >= sizeof out - 4)
		return jv_invalid();
	out[n] = '\0';
	return jv_string(out);
}

int
fxnotify_failed(struct spool *sp, jv job)
{
	jv uploads = jv_object_get(jv_copy(job), jv_string("uploads"));
	jv error = jv_object_get(jv_copy(job), jv_string("error"));
	const char *why = jv_get_kind(error) == JV_KIND_OBJECT ?
	    job_str(error, "message") : NULL;
	int rc = 0;

	if (jv_get_kind(uploads) == JV_KIND_ARRAY)
		jv_array_foreach(uploads, i, u) {
			jv task = jv_get_kind(u) == JV_KIND_OBJECT ?
			    jv_object_get(jv_copy(u), jv_string("task")) : jv_null();
			const char *url = jv_get_kind(task) == JV_KIND_OBJECT ?
			    job_str(task, "onerror") : NULL;
			char tag[32];
			jv call;

			if (url != NULL && *url != '\0') {
				/* as vr-upload's calls: POST {renderId, token,
				 * extension, status, url, error} */
				jv body = JV_OBJECT(jv_string("renderId"),
				    jv_object_get(jv_copy(job), jv_string("id")),
				    jv_string("token"), jv_object_get(jv_copy(job),
				    jv_string("token")), jv_string("extension"),
				    jv_object_get(jv_copy(task),
				    jv_string("extension")), jv_string("status"),
				    jv_string("FAILURE"), jv_string("url"), jv_null(),
				    jv_string("error"), jv_string(why ? why :
				    "the render failed"));
				call = fxnotify_url(url, why ? why :
				    "the render failed");
				snprintf(tag, sizeof tag, "upload%derr", i + 1);
				if (!jv_is_valid(call))
					jv_free(body);
				if (!jv_is_valid(call) || notify_call(sp,
				    jv_copy(job), tag, "POST", jv_string_value(call),
				    body) == -1) {
					log_warnx("%s: upload %d: onerror call not "
					    "dropped", job_str(job, "id"), i + 1);
					rc = -1;
				}
				jv_free(call);
			}
			jv_free(task);
			jv_free(u);
		}
	jv_free(uploads);
	jv_free(error);
	jv_free(job);
	return rc;
}
