/*
 * vr-notify — deliver the webhook notifications waiting in spool/outbox/
 * (doc/vr-notify.8, doc/webhooks.md): many at once with libcurl's multi
 * interface, signed in the Standard Webhooks form, through the address
 * guard, retried with capped exponential backoff and jitter; every attempt
 * is recorded in the notification file, which moves to sent/ once delivered
 * or given up. A notification waits until its render sits in a final
 * directory (it is dropped just before the move there).
 * Also: --enqueue (drop a job's notification again), --status (print a
 * render's webhookDelivery).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/tree.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "clock.h"
#include "conf.h"
#include "guard.h"
#include "id.h"
#include "job.h"
#include "keys.h"
#include "log.h"
#include "notify.h"
#include "spool.h"
#include "watch.h"

static const char usage[] =
    "usage: vr-notify [-f file]\n"
    "       vr-notify [-f file] --enqueue job-file ...\n"
    "       vr-notify [-f file] --status id\n";

#define NOT_FINAL_WAIT_MIN_MS 100   /* first look again at a job not final */
#define NOT_FINAL_WAIT_MAX_MS 5000
#define RESCAN_MS 30000             /* the directory is the truth */
#define IO_RETRY_MS 5000            /* after a failed write or rename */

struct flight;

/* A notification file in outbox/ that this process knows of. The file is
 * the truth: it is read again before every attempt. Notes are kept by name
 * and, while not in flight, by when they are due (red-black trees, so that
 * a backlog of many thousands costs log n per step). */
struct note {
	RB_ENTRY(note) by_name;
	RB_ENTRY(note) by_due;
	char name[NAME_MAX + 1];
	int64_t due_ms;         /* realtime: when to look at it next */
	bool queued;            /* in the by_due tree (not in flight) */
	int waits;              /* looks that found its render not yet final */
	struct flight *flight;  /* while being delivered */
};

static int
name_cmp(struct note *a, struct note *b)
{
	return strcmp(a->name, b->name);
}

static int
due_cmp(struct note *a, struct note *b)
{
	if (a->due_ms != b->due_ms)
		return a->due_ms < b->due_ms ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* Not RB_GENERATE_STATIC: libbsd's tree.h then marks the functions
 * __unused, which its cdefs.h leaves undefined. */
RB_HEAD(names, note);
RB_HEAD(dues, note);
RB_PROTOTYPE(names, note, by_name, name_cmp)
RB_PROTOTYPE(dues, note, by_due, due_cmp)
RB_GENERATE(names, note, by_name, name_cmp)
RB_GENERATE(dues, note, by_due, due_cmp)

/* One delivery attempt in progress. */
struct flight {
	struct note *note;
	jv file;                /* the notification, payload as sent */
	CURL *easy;
	struct curl_slist *headers;
	struct guard guard;
	char *body;
	char errbuf[CURL_ERROR_SIZE];
	int64_t at_ms;          /* realtime start */
	int64_t start_mono_ms;
};

struct daemon {
	struct spool *sp;
	CURLM *multi;
	struct watch *watch;
	struct names names;
	struct dues dues;
	struct note *looking;   /* the note attempt() has; NULL once removed */
	int in_flight;
};

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* str_of: the string at obj.key, or NULL (borrowed from obj). */
static const char *
str_of(jv obj, const char *key)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	const char *s = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) :
	    NULL;

	jv_free(v);
	return s;
}

static bool
is_note_name(const char *name)
{
	size_t len = strlen(name);
	char id[ID_LEN + 1];

	if (len < ID_LEN + 7 || name[ID_LEN] != '.' ||
	    strcmp(name + len - 5, ".json") != 0)
		return false;
	memcpy(id, name, ID_LEN);
	id[ID_LEN] = '\0';
	return id_valid(id);
}

/* --- the table of known notifications ----------------------------------- */

static struct note *
note_find(struct daemon *d, const char *name)
{
	struct note key;

	snprintf(key.name, sizeof key.name, "%s", name);
	return RB_FIND(names, &d->names, &key);
}

/* note_schedule: look at n again at due_ms. */
static void
note_schedule(struct daemon *d, struct note *n, int64_t due_ms)
{
	if (n->queued)
		RB_REMOVE(dues, &d->dues, n);
	n->due_ms = due_ms;
	RB_INSERT(dues, &d->dues, n);
	n->queued = true;
}

/* note_unqueue: n is being delivered: out of the by_due tree. */
static void
note_unqueue(struct daemon *d, struct note *n)
{
	if (n->queued)
		RB_REMOVE(dues, &d->dues, n);
	n->queued = false;
}

static void
note_add(struct daemon *d, const char *name)
{
	struct note *n;

	if ((n = calloc(1, sizeof *n)) == NULL)
		fatal(EX_OSERR, "notification table");
	snprintf(n->name, sizeof n->name, "%s", name);
	RB_INSERT(names, &d->names, n);
	note_schedule(d, n, 0);
}

static void
note_remove(struct daemon *d, struct note *n)
{
	if (d->looking == n)
		d->looking = NULL;
	note_unqueue(d, n);
	RB_REMOVE(names, &d->names, n);
	watch_forget(d->watch, 0, n->name);
	free(n);
}

/* on_outbox: watch.h's callback: a name arrived in outbox/. Our own
 * rewrites arrive too: names already known are left as they are. */
static int
on_outbox(void *arg, int index, int dirfd, const char *name)
{
	struct daemon *d = arg;

	(void)index;
	(void)dirfd;
	if (is_note_name(name) && note_find(d, name) == NULL)
		note_add(d, name);
	return 0;
}

/* --- recording ------------------------------------------------------------ */

/* settle: write the notification back in outbox/, or, when its status is
 * final, into sent/ and remove it from outbox/ and from our table. Consumes
 * file. A failed write is retried later (the attempt may then be made
 * again: at least once).
 * The removal from outbox/ is not synced: a crash that undoes it leaves
 * the notification in both places, and it is delivered once more under the
 * same webhook-id, which receivers drop. That saves two of the four fsyncs
 * a rewrite-then-rename would cost on each delivery. */
static void
settle(struct daemon *d, struct note *n, jv file)
{
	struct spool *sp = d->sp;
	const char *status = str_of(file, "status");
	bool final = status != NULL && strcmp(status, "PENDING") != 0 &&
	    strcmp(status, "RETRYING") != 0;

	if (spool_put(sp, final ? SD_SENT : SD_OUTBOX, n->name, file) == -1) {
		log_warn("%s/%s: cannot record the attempt", final ? "sent" :
		    "outbox", n->name);
		note_schedule(d, n, now_ms() + IO_RETRY_MS);
		return;
	}
	if (!final)
		return;
	if (unlinkat(spool_dirfd(sp, SD_OUTBOX), n->name, 0) == -1 &&
	    errno != ENOENT) {
		log_warn("outbox/%s: delivered, but cannot remove it", n->name);
		note_schedule(d, n, now_ms() + IO_RETRY_MS);
		return;
	}
	note_remove(d, n);
}

/* conclude: set the final status (and why, as the last attempt's error
 * when no attempt was made), then settle. Consumes file. */
static void
conclude(struct daemon *d, struct note *n, jv file, const char *status,
    const char *why)
{
	char at[ISO8601_LEN + 1];
	jv attempts = jv_object_get(jv_copy(file), jv_string("attempts"));

	if (why != NULL) {
		iso8601(now_ms(), at);
		if (jv_get_kind(attempts) != JV_KIND_ARRAY) {
			jv_free(attempts);
			attempts = jv_array();
		}
		attempts = jv_array_append(attempts, JV_OBJECT(
		    jv_string("at"), jv_string(at),
		    jv_string("httpStatus"), jv_null(),
		    jv_string("latencyMs"), jv_number(0),
		    jv_string("error"), jv_string(why)));
		file = jv_object_set(file, jv_string("attempts"), attempts);
		if (strcmp(status, "FAILURE") == 0)
			log_warnx("%s: %s: %s", n->name, status, why);
		else
			log_info("%s: %s: %s", n->name, status, why);
	} else
		jv_free(attempts);
	file = jv_object_set(file, jv_string("status"), jv_string(status));
	file = jv_object_set(file, jv_string("nextAttemptAt"), jv_null());
	settle(d, n, file);
}

/* backoff_ms: the wait after the failed attempt number `failed` (1, 2 …):
 * initial doubling up to the cap, less up to a quarter of jitter so that
 * receivers coming back up are not hit by every sender at once. */
static int64_t
backoff_ms(int failed)
{
	int64_t base = conf.webhook_retry_initial_ms > 0 ?
	    conf.webhook_retry_initial_ms : 1000;
	int64_t cap = conf.webhook_retry_max_ms > base ?
	    conf.webhook_retry_max_ms : base;

	while (--failed > 0 && base < cap)
		base *= 2;
	if (base > cap)
		base = cap;
	return base - (int64_t)((double)base / 4 * arc4random_uniform(1001) /
	    1000.0);
}

/* --- signing ---------------------------------------------------------------- */

/* whsec_key: the key bytes of "whsec_" + base64 (Standard Webhooks). */
static int
whsec_key(const char *whsec, unsigned char *key, size_t size)
{
	const char *b64;
	size_t len;
	int n;

	if (strncmp(whsec, "whsec_", 6) != 0)
		return -1;
	b64 = whsec + 6;
	len = strlen(b64);
	if (len == 0 || len % 4 != 0 || len / 4 * 3 > size)
		return -1;
	if ((n = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)len)) < 0)
		return -1;
	n -= (b64[len - 1] == '=') + (b64[len - 2] == '=');
	return n;
}

/* signature: "v1,<base64 HMAC-SHA256 of id.timestamp.body>" with org's
 * secret into out; -1 (logged) when org has none. */
static int
signature(const char *org, const char *msg_id, long long ts,
    const char *body, char *out, size_t size)
{
	unsigned char key[64], mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	struct key k;
	char *text = NULL;
	int key_len, text_len, rc = -1;

	if (org == NULL || keys_org(conf.keys, org, &k) != 1) {
		log_warnx("%s: no such organisation in %s: sent unsigned",
		    msg_id, conf.keys);
		return -1;
	}
	if ((key_len = whsec_key(k.whsec, key, sizeof key)) <= 0) {
		log_warnx("%s: organisation %s has no valid whsec_ secret: sent "
		    "unsigned", msg_id, org);
		goto out;
	}
	if ((text_len = asprintf(&text, "%s.%lld.%s", msg_id, ts,
	    body ? body : "")) == -1) {
		text = NULL;
		goto out;
	}
	if (HMAC(EVP_sha256(), key, key_len, (unsigned char *)text,
	    (size_t)text_len, mac, &mac_len) == NULL || size < 4 + 4 *
	    ((mac_len + 2) / 3)) {
		log_warnx("%s: HMAC failed: sent unsigned", msg_id);
		goto out;
	}
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)mac_len);
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof key);
	free(text);
	return rc;
}

/* --- delivering ------------------------------------------------------------- */

static size_t
discard(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

static void
flight_free(struct daemon *d, struct flight *f)
{
	if (f->easy != NULL) {
		curl_multi_remove_handle(d->multi, f->easy);
		curl_easy_cleanup(f->easy);
	}
	curl_slist_free_all(f->headers);
	free(f->body);
	jv_free(f->file);
	if (f->note != NULL)
		f->note->flight = NULL;
	free(f);
	d->in_flight--;
}

/* record: the attempt's outcome into the file; SUCCESS, RETRYING at the
 * next backoff, or FAILURE when that would pass the give-up time or the
 * error will not go away (a refused address, a bad URL). */
static void
record(struct daemon *d, struct flight *f, long http_status, const char *error,
    bool permanent)
{
	struct note *n = f->note;
	char at[ISO8601_LEN + 1], next_at[ISO8601_LEN + 1];
	int64_t now = now_ms(), latency = mono_ms() - f->start_mono_ms;
	int64_t next, first = f->at_ms;
	jv file = jv_copy(f->file), attempts, first_at;
	const char *status;
	int failed;

	n->flight = NULL;          /* settle may forget n */
	f->note = NULL;
	iso8601(f->at_ms, at);
	attempts = jv_object_get(jv_copy(file), jv_string("attempts"));
	if (jv_get_kind(attempts) != JV_KIND_ARRAY) {
		jv_free(attempts);
		attempts = jv_array();
	}
	/* The give-up time counts from the first attempt, not from the drop:
	 * a vr-notify that was down for a while still retries for as long. */
	first_at = jv_getpath(jv_copy(attempts), JV_ARRAY(jv_number(0),
	    jv_string("at")));
	if (jv_get_kind(first_at) == JV_KIND_STRING)
		iso8601_parse(jv_string_value(first_at), &first);
	jv_free(first_at);
	attempts = jv_array_append(attempts, JV_OBJECT(
	    jv_string("at"), jv_string(at),
	    jv_string("httpStatus"), http_status > 0 ?
	    jv_number((double)http_status) : jv_null(),
	    jv_string("latencyMs"), jv_number((double)latency),
	    jv_string("error"), error ? jv_string(error) : jv_null()));
	failed = jv_array_length(jv_copy(attempts));
	file = jv_object_set(file, jv_string("attempts"), attempts);
	next = now + backoff_ms(failed);
	if (error == NULL) {
		status = "SUCCESS";
		log_info("%s: delivered to %s (HTTP %ld, %lld ms)", n->name,
		    str_of(f->file, "url"), http_status, (long long)latency);
	} else if (permanent || next > first + conf.webhook_give_up_ms) {
		status = "FAILURE";
		log_warnx("%s: attempt %d: %s: giving up", n->name, failed,
		    error);
	} else {
		status = "RETRYING";
		log_warnx("%s: attempt %d: %s: next in %lld ms", n->name,
		    failed, error, (long long)(next - now));
	}
	file = jv_object_set(file, jv_string("status"), jv_string(status));
	if (strcmp(status, "RETRYING") == 0) {
		iso8601(next, next_at);
		file = jv_object_set(file, jv_string("nextAttemptAt"),
		    jv_string(next_at));
		note_schedule(d, n, next);
	} else
		file = jv_object_set(file, jv_string("nextAttemptAt"),
		    jv_null());
	n->waits = 0;
	settle(d, n, file);
}

/* finish: a transfer ended. */
static void
finish(struct daemon *d, struct flight *f, CURLcode rc)
{
	char error[CURL_ERROR_SIZE + 200];
	long http_status = 0;
	bool permanent = false;

	curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &http_status);
	/* A refusal counts only when the transfer failed: with several
	 * addresses for a name, another one may have been allowed. */
	if (rc != CURLE_OK && f->guard.denied[0] != '\0') {
		snprintf(error, sizeof error, "address refused by the guard: %s",
		    f->guard.denied);
		permanent = true;
	} else if (rc != CURLE_OK) {
		snprintf(error, sizeof error, "%s", f->errbuf[0] ? f->errbuf :
		    curl_easy_strerror(rc));
		permanent = rc == CURLE_UNSUPPORTED_PROTOCOL ||
		    rc == CURLE_URL_MALFORMAT;
	} else if (http_status < 200 || http_status > 299)
		snprintf(error, sizeof error, "HTTP %ld", http_status);
	else
		error[0] = '\0';
	record(d, f, http_status, error[0] ? error : NULL, permanent);
	flight_free(d, f);
}

/* launch: start the request for file (consumed) with libcurl. */
static void
launch(struct daemon *d, struct note *n, jv file)
{
	struct flight *f;
	const char *msg_id = str_of(file, "webhookId");
	const char *method = str_of(file, "method");
	char line[256], sig[128];
	long long ts = (long long)(now_ms() / 1000);
	jv payload = jv_object_get(jv_copy(file), jv_string("payload"));
	CURL *e;

	if ((f = calloc(1, sizeof *f)) == NULL)
		fatal(EX_OSERR, "%s", n->name);
	d->in_flight++;
	f->note = n;
	n->flight = f;
	note_unqueue(d, n);
	f->file = file;
	f->at_ms = now_ms();
	f->start_mono_ms = mono_ms();
	if (method == NULL)
		method = "POST";
	if (jv_is_valid(payload) && jv_get_kind(payload) != JV_KIND_NULL) {
		jv text = jv_dump_string(jv_copy(payload), 0);
		f->body = strdup(jv_string_value(text));
		jv_free(text);
		if (f->body == NULL)
			fatal(EX_OSERR, "%s", n->name);
		f->headers = curl_slist_append(f->headers,
		    "Content-Type: application/json");
	}
	jv_free(payload);
	snprintf(line, sizeof line, "webhook-id: %s", msg_id);
	f->headers = curl_slist_append(f->headers, line);
	snprintf(line, sizeof line, "webhook-timestamp: %lld", ts);
	f->headers = curl_slist_append(f->headers, line);
	if (signature(str_of(file, "org"), msg_id, ts, f->body, sig,
	    sizeof sig) == 0) {
		snprintf(line, sizeof line, "webhook-signature: %s", sig);
		f->headers = curl_slist_append(f->headers, line);
	}
	f->headers = curl_slist_append(f->headers, "User-Agent: vr-notify");
	f->headers = curl_slist_append(f->headers, "Expect:");
	if ((e = f->easy = curl_easy_init()) == NULL)
		fatalx(EX_OSERR, "%s: curl_easy_init failed", n->name);
	curl_easy_setopt(e, CURLOPT_URL, str_of(file, "url"));
	curl_easy_setopt(e, CURLOPT_PRIVATE, f);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)conf.webhook_timeout_ms);
	if (conf.fetch_connect_timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
		    (long)conf.fetch_connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers);
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	else {
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, f->body ? f->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
		    (long)(f->body ? strlen(f->body) : 0));
	}
	if (guard_attach(e, &f->guard, "http,https") == -1) {
		finish(d, f, CURLE_FAILED_INIT);
		return;
	}
	if (curl_multi_add_handle(d->multi, e) != CURLM_OK) {
		finish(d, f, CURLE_FAILED_INIT);
		return;
	}
}

/* freeze_payload: before the first attempt of a final or re-triggered
 * notification, build the payload again from the job as it sits in its
 * final directory (the dropper wrote it just before the move). Returns the
 * file, or an invalid when the job's state wants no webhook after all. */
static jv
freeze_payload(struct daemon *d, jv file, const char *render_id, int dir)
{
	jv job = spool_get(d->sp, (enum sdir)dir, render_id);

	if (!jv_is_valid(job)) {
		jv msg = jv_invalid_get_msg(job);
		log_warnx("%s: payload as dropped: %s", render_id,
		    jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) :
		    "job unreadable");
		jv_free(msg);
		return file;
	}
	if (!notify_wanted(jv_copy(job))) {
		jv_free(job);
		jv_free(file);
		return jv_invalid();
	}
	return jv_object_set(file, jv_string("payload"), notify_payload(job));
}

/* attempt: look at a due notification: settle what is settled, wait for
 * its render to be final, else deliver it. */
static void
attempt(struct daemon *d, struct note *n)
{
	int64_t now = now_ms(), next_ms, created;
	jv file = job_loadat(spool_dirfd(d->sp, SD_OUTBOX), n->name), attempts;
	const char *status, *event, *render_id, *url, *method, *at;
	int dir, tried;

	if (!jv_is_valid(file)) {
		jv msg = jv_invalid_get_msg(file);
		if (errno == ENOENT) {         /* moved away by hand */
			jv_free(msg);
			note_remove(d, n);
			return;
		}
		log_warnx("outbox/%s: %s", n->name, jv_string_value(msg));
		jv_free(msg);
		note_schedule(d, n, now + RESCAN_MS);
		return;
	}
	status = str_of(file, "status");
	event = str_of(file, "event");
	render_id = str_of(file, "renderId");
	url = str_of(file, "url");
	method = str_of(file, "method");
	if (status != NULL && strcmp(status, "PENDING") != 0 &&
	    strcmp(status, "RETRYING") != 0) {
		settle(d, n, file);            /* recorded, not yet moved */
		return;
	}
	if (render_id == NULL || !id_valid(render_id) || url == NULL ||
	    str_of(file, "webhookId") == NULL || strlen(str_of(file,
	    "webhookId")) > 100 || (method != NULL && strcmp(method, "POST") &&
	    strcmp(method, "GET") && strcmp(method, "PUT"))) {
		conclude(d, n, file, "FAILURE", "malformed notification file");
		return;
	}
	if ((at = str_of(file, "nextAttemptAt")) != NULL &&
	    iso8601_parse(at, &next_ms) == 0 && next_ms > now) {
		note_schedule(d, n, next_ms);  /* read back after a restart */
		jv_free(file);
		return;
	}
	if (str_of(file, "createdAt") == NULL ||
	    iso8601_parse(str_of(file, "createdAt"), &created) == -1)
		created = now;
	if (event == NULL || strcmp(event, "test") != 0) {
		dir = spool_find(d->sp, render_id);
		if (dir == -1 || !sdir_is_final((enum sdir)dir)) {
			if (now > created + conf.webhook_give_up_ms) {
				conclude(d, n, file, "FAILURE", dir == -1 ?
				    "the render no longer exists" :
				    "the render never became final");
				return;
			}
			note_schedule(d, n, now + (n->waits < 6 ?
			    NOT_FINAL_WAIT_MIN_MS << n->waits :
			    NOT_FINAL_WAIT_MAX_MS));
			n->waits++;
			jv_free(file);
			return;
		}
		attempts = jv_object_get(jv_copy(file), jv_string("attempts"));
		tried = jv_get_kind(attempts) == JV_KIND_ARRAY ?
		    jv_array_length(jv_copy(attempts)) : 0;
		jv_free(attempts);
		if (tried == 0 && event != NULL && (strcmp(event, "final") == 0 ||
		    strcmp(event, "retrigger") == 0)) {
			jv copy = jv_copy(file);
			file = freeze_payload(d, file, render_id, dir);
			if (!jv_is_valid(file)) {
				conclude(d, n, copy, "IGNORED", "the render's "
				    "final state asks for no webhook");
				return;
			}
			jv_free(copy);
		}
	}
	launch(d, n, file);
}

/* launch_due: attempt every due notification while there is room. Returns
 * ms until the next one is due (at most a second). */
static int
launch_due(struct daemon *d)
{
	int64_t now = now_ms();
	struct note *n;

	while (!stopping && (n = RB_MIN(dues, &d->dues)) != NULL &&
	    n->due_ms <= now) {
		if (d->in_flight >= (conf.webhook_concurrency > 0 ?
		    conf.webhook_concurrency : 1))
			return 1000;   /* a finished transfer wakes us */
		d->looking = n;
		attempt(d, n);
		if (d->looking != NULL && n->queued && n->due_ms <= now) {
			log_warnx("%s: not rescheduled (a bug): in 1 s", n->name);
			note_schedule(d, n, now + 1000);
		}
	}
	n = RB_MIN(dues, &d->dues);
	if (n == NULL || n->due_ms - now > 1000)
		return 1000;
	return n->due_ms > now ? (int)(n->due_ms - now) : 0;
}

static void
reap(struct daemon *d)
{
	struct flight *f;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
		finish(d, f, msg->data.result);
	}
}

/* serve: the daemon's loop until SIGTERM or SIGINT. Deliveries in flight
 * then are dropped unrecorded: they are made again at the next start. */
static int
serve(struct spool *sp)
{
	struct daemon d = { .sp = sp };
	struct note *n;
	struct curl_waitfd wfd;
	struct sigaction sa = { .sa_handler = on_signal };
	int64_t last_scan = mono_ms();
	char outbox[PATH_MAX];
	int running, timeout;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (d.multi = curl_multi_init()) == NULL)
		fatalx(EX_SOFTWARE, "libcurl initialisation failed");
	if ((d.watch = watch_new(on_outbox, &d)) == NULL)
		fatal(EX_OSERR, "inotify");
	if (spool_path(sp, SD_OUTBOX, ".", outbox, sizeof outbox) == -1 ||
	    watch_add(d.watch, 0, spool_dirfd(sp, SD_OUTBOX), outbox) == -1)
		fatal(EX_OSERR, "cannot watch %s/outbox", sp->root);
	log_info("delivering from %s/outbox, %d at once", sp->root,
	    conf.webhook_concurrency);
	while (!stopping) {
		timeout = launch_due(&d);
		wfd = (struct curl_waitfd){ .fd = watch_fd(d.watch),
		    .events = CURL_WAIT_POLLIN };
		if (curl_multi_poll(d.multi, &wfd, 1, timeout, NULL) != CURLM_OK)
			fatalx(EX_SOFTWARE, "curl_multi_poll failed");
		if ((wfd.revents & CURL_WAIT_POLLIN) &&
		    watch_dispatch(d.watch) == -1)
			fatal(EX_OSERR, "reading inotify events");
		curl_multi_perform(d.multi, &running);
		reap(&d);
		if (mono_ms() - last_scan > RESCAN_MS) {
			watch_rescan(d.watch);
			last_scan = mono_ms();
		}
	}
	log_info("stopping; %d deliveries in flight will be made again", 
	    d.in_flight);
	while ((n = RB_MIN(names, &d.names)) != NULL) {
		if (n->flight != NULL)
			flight_free(&d, n->flight);
		note_remove(&d, n);
	}
	watch_free(d.watch);
	curl_multi_cleanup(d.multi);
	curl_global_cleanup();
	return EX_OK;
}

/* --- the command-line modes ------------------------------------------------ */

/* enqueue: drop the notification of each final job file given (a re-send
 * by hand: a job delivered before gets a new webhook-id). */
static int
enqueue(struct spool *sp, int argc, char **argv)
{
	int i, rc = EX_OK;
	jv job;

	for (i = 0; i < argc; i++) {
		job = job_load(argv[i]);
		if (!jv_is_valid(job)) {
			jv msg = jv_invalid_get_msg(job);
			log_warnx("%s", jv_string_value(msg));
			jv_free(msg);
			rc = EX_DATAERR;
			continue;
		}
		if (!notify_wanted(jv_copy(job))) {
			log_info("%s: its webhook asks for nothing in this state",
			    argv[i]);
			jv_free(job);
			continue;
		}
		if (notify_job(sp, job) == -1)
			rc = EX_IOERR;
	}
	return rc;
}

/* status: print the render's webhookDelivery as JSON. */
static int
status(struct spool *sp, const char *id)
{
	int dir;

	if (!id_valid(id))
		fatalx(EX_USAGE, "%s: not a render id", id);
	if ((dir = spool_find(sp, id)) == -1)
		fatalx(EX_NOINPUT, "%s: no such render", id);
	jv_dumpf(notify_delivery(sp, spool_get(sp, (enum sdir)dir, id)), stdout,
	    0);
	putchar('\n');
	return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },	/* --help: usage on stdout, exit 0 */
		{ "enqueue", no_argument, NULL, 'e' },
		{ "status", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conf_path = NULL, *status_id = NULL;
	bool enqueue_mode = false;
	struct spool sp;
	int c, rc;

	log_init(argv[0]);
	while ((c = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			conf_path = optarg;
			break;
		case 'e':
			enqueue_mode = true;
			break;
		case 's':
			status_id = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return EX_OK;
		default:
			fputs(usage, stderr);
			return EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if ((enqueue_mode && (argc == 0 || status_id != NULL)) ||
	    (!enqueue_mode && argc != 0)) {
		fputs(usage, stderr);
		return EX_USAGE;
	}
	if (conf_load(conf_path) == -1)
		return EX_CONFIG;
	if (spool_open(&sp, conf.spool) == -1)
		fatal(EX_IOERR, "cannot open the spool %s", conf.spool);
	if (enqueue_mode)
		rc = enqueue(&sp, argc, argv);
	else if (status_id != NULL)
		rc = status(&sp, status_id);
	else
		rc = serve(&sp);
	spool_close(&sp);
	conf_free();
	return rc;
}
