/*
 * keys.h — the API keys file (conf.keys, written by vr-keygen).
 * One line per key, colon-separated like passwd(5):
 *   ORG:SHA256-OF-KEY-HEX:CONCURRENCY:QUEUE_LIMIT:WEBHOOK_SECRET
 * The key itself is never stored; lookups hash the presented key and compare
 * in constant time. WEBHOOK_SECRET ("whsec_" + base64) is the organisation's
 * signing secret, the same on each of its lines. '#' lines are comments.
 */
#ifndef VR_KEYS_H
#define VR_KEYS_H

#include <stdbool.h>

#define KEY_ORG_MAX 64

struct key {
	char org[KEY_ORG_MAX + 1];
	int concurrency;     /* renders QUEUED + IN_PROGRESS at once */
	int queue_limit;     /* renders PENDING + THROTTLED + QUEUED */
	char whsec[80];
};

/* keys_lookup: find the organisation of api_key. 1 found, 0 not, -1 error
 * (file unreadable or malformed: logged). */
int keys_lookup(const char *path, const char *api_key, struct key *out);

/* keys_org: the first line of org. 1 found, 0 not, -1 error. */
int keys_org(const char *path, const char *org, struct key *out);

#endif
