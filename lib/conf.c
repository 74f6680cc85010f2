/*
 * conf.c — load etc/vr.conf into the global `conf` (conf.h): a table of
 * every key with its type, place and default; unknown keys and bad values
 * are errors naming file and line.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "util.h"

#ifndef VR_CONF_DEFAULT
#define VR_CONF_DEFAULT "/etc/vr/vr.conf"
#endif

struct conf conf;

enum ctype { C_PATH, C_STR, C_INT, C_MS, C_SIZE, C_BOOL, C_LIST };

struct ckey {
	const char *name;
	enum ctype type;
	size_t offset;
	const char *dflt;
	const char *choices;   /* C_STR: the words allowed, or NULL for any */
};

#define K(name, type, field, dflt) \
	{ name, type, offsetof(struct conf, field), dflt, NULL }
#define KC(name, field, dflt, choices) \
	{ name, C_STR, offsetof(struct conf, field), dflt, choices }
static const struct ckey keys[] = {
	K("spool", C_PATH, spool, "../spool"),
	K("templates", C_PATH, templates, "templates"),
	K("keys", C_PATH, keys, "keys"),
	K("credentials", C_PATH, credentials, "credentials"),
	K("secret", C_PATH, secret, "secret"),
	K("public_url", C_STR, public_url, "http://127.0.0.1:8080"),
	K("max_attempts", C_INT, max_attempts, "3"),
	K("job_max_size", C_SIZE, job_max_size, "1M"),
	K("retention", C_MS, retention_ms, "7d"),
	K("tmp_max_age", C_MS, tmp_max_age_ms, "1h"),
	K("max_header_size", C_SIZE, max_header_size, "16K"),
	K("max_body_size", C_SIZE, max_body_size, "1M"),
	K("max_json_depth", C_INT, max_json_depth, "32"),
	K("idle_timeout", C_MS, idle_timeout_ms, "10s"),
	K("request_timeout", C_MS, request_timeout_ms, "60s"),
	K("validate_wait", C_MS, validate_wait_ms, "10s"),
	K("url_ttl", C_MS, url_ttl_ms, "7d"),
	K("cancel_in_progress", C_BOOL, cancel_in_progress, "yes"),
	K("max_keepalive_requests", C_INT, max_keepalive_requests, "100"),
	K("asset_max_size", C_SIZE, asset_max_size, "200M"),
	K("asset_max_duration", C_MS, asset_max_duration_ms, "10m"),
	K("asset_max_width", C_INT, asset_max_width, "4096"),
	K("asset_max_height", C_INT, asset_max_height, "4096"),
	K("asset_cache_ttl", C_MS, asset_cache_ttl_ms, "1h"),
	K("fetch_connect_timeout", C_MS, fetch_connect_timeout_ms, "5s"),
	K("fetch_timeout", C_MS, fetch_timeout_ms, "60s"),
	K("fetch_allow", C_LIST, fetch_allow, ""),
	K("render_workers", C_INT, render_workers, "2"),
	K("render_stall", C_MS, render_stall_ms, "60s"),
	K("render_timeout", C_MS, render_timeout_ms, "30m"),
	K("render_rlimit_as", C_SIZE, render_rlimit_as, "4G"),
	K("render_rlimit_cpu", C_MS, render_rlimit_cpu_ms, "1h"),
	K("max_video_duration", C_INT, max_video_duration_s, "600"),
	K("max_width", C_INT, max_width, "3840"),
	K("max_height", C_INT, max_height, "2160"),
	K("parallel_max", C_INT, parallel_max, "4"),
	K("routing_keys", C_LIST, routing_keys, "default"),
	K("anonymous_projects", C_LIST, anonymous_projects, ""),
	K("upload_concurrency", C_INT, upload_concurrency, "4"),
	K("upload_attempts", C_INT, upload_attempts, "5"),
	K("upload_retry_initial", C_MS, upload_retry_initial_ms, "5s"),
	K("upload_retry_max", C_MS, upload_retry_max_ms, "5m"),
	K("upload_part_size", C_SIZE, upload_part_size, "16M"),
	K("upload_multipart_threshold", C_SIZE, upload_multipart_threshold, "64M"),
	K("upload_timeout", C_MS, upload_timeout_ms, "30m"),
	KC("upload_s3_payload", upload_s3_payload, "auto",
	    "auto signed unsigned"),
	K("webhook_concurrency", C_INT, webhook_concurrency, "64"),
	K("webhook_timeout", C_MS, webhook_timeout_ms, "30s"),
	K("webhook_retry_initial", C_MS, webhook_retry_initial_ms, "15m"),
	K("webhook_retry_max", C_MS, webhook_retry_max_ms, "15m"),
	K("webhook_give_up", C_MS, webhook_give_up_ms, "24h"),
};
#undef K
#undef KC
#define NKEYS (sizeof keys / sizeof keys[0])

static char *conf_dir;   /* directory of the file, for relative paths */

static void *
field(const struct ckey *k)
{
	return (char *)&conf + k->offset;
}

/* parse_number: digits then an optional unit from units[] (NULL-terminated
 * pairs "name", multiplier). Returns 0 and *out, or -1. */
static int
parse_scaled(const char *s, const char *const *unit_names,
    const int64_t *unit_scale, int64_t default_scale, int64_t *out)
{
	char *end;
	long long n;
	int i;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno)
		return -1;
	if (*end == '\0') {
		if (n > INT64_MAX / default_scale)
			return -1;
		*out = n * default_scale;
		return 0;
	}
	for (i = 0; unit_names[i]; i++) {
		if (strcmp(end, unit_names[i]) == 0) {
			if (n > INT64_MAX / unit_scale[i])
				return -1;
			*out = n * unit_scale[i];
			return 0;
		}
	}
	return -1;
}

static int
parse_ms(const char *s, int64_t *out)
{
	static const char *const names[] = { "ms", "s", "m", "h", "d", NULL };
	static const int64_t scale[] = { 1, 1000, 60000, 3600000, 86400000 };

	return parse_scaled(s, names, scale, 1000, out);
}

static int
parse_size(const char *s, int64_t *out)
{
	static const char *const names[] = { "K", "M", "G", NULL };
	static const int64_t scale[] = { 1024, 1024 * 1024, 1024 * 1024 * 1024 };

	return parse_scaled(s, names, scale, 1, out);
}

static void
list_clear(struct conf_list *list)
{
	int i;

	for (i = 0; i < list->n; i++)
		free(list->item[i]);
	list->n = 0;
}

static int
parse_list(const char *s, struct conf_list *list)
{
	char *copy = strdup(s), *word, *save = NULL;

	if (copy == NULL)
		return -1;
	list_clear(list);
	for (word = strtok_r(copy, " \t,", &save); word;
	    word = strtok_r(NULL, " \t,", &save)) {
		if (list->n == CONF_LIST_MAX) {
			free(copy);
			return -1;
		}
		if ((list->item[list->n] = strdup(word)) == NULL) {
			free(copy);
			return -1;
		}
		list->n++;
	}
	free(copy);
	return 0;
}

/* is_choice: is value one of the blank-separated words of choices? */
static bool
is_choice(const char *value, const char *choices)
{
	size_t len = strlen(value), wlen;

	for (const char *w = choices; *w != '\0'; w += wlen + (w[wlen] == ' ')) {
		wlen = strcspn(w, " ");
		if (wlen == len && strncmp(w, value, len) == 0)
			return true;
	}
	return false;
}

/* set: parse value for key k. Returns NULL, or what is wrong with it. */
static const char *
set(const struct ckey *k, const char *value)
{
	static char why[128];
	char **str = field(k);
	int64_t n;

	switch (k->type) {
	case C_PATH:
	case C_STR:
		if (*value == '\0' && k->type == C_PATH)
			return "needs a path";
		if (k->choices != NULL && !is_choice(value, k->choices)) {
			snprintf(why, sizeof why, "needs one of: %s",
			    k->choices);
			return why;
		}
		free(*str);
		if (k->type == C_PATH && value[0] != '/' && conf_dir != NULL) {
			if (asprintf(str, "%s/%s", conf_dir, value) == -1)
				*str = NULL;
		} else {
			*str = strdup(value);
		}
		return *str ? NULL : "out of memory";
	case C_INT:
		if (parse_scaled(value, (const char *const[]){ NULL }, NULL, 1,
		    &n) == -1 || n > INT_MAX)
			return "needs a whole number";
		*(int *)field(k) = (int)n;
		return NULL;
	case C_MS:
		if (parse_ms(value, &n) == -1)
			return "needs a duration such as 500ms, 30s, 15m, 1h or 7d";
		*(int64_t *)field(k) = n;
		return NULL;
	case C_SIZE:
		if (parse_size(value, &n) == -1)
			return "needs a size such as 512K, 16M or 4G";
		*(int64_t *)field(k) = n;
		return NULL;
	case C_BOOL:
		if (strcmp(value, "yes") == 0)
			*(bool *)field(k) = true;
		else if (strcmp(value, "no") == 0)
			*(bool *)field(k) = false;
		else
			return "needs yes or no";
		return NULL;
	case C_LIST:
		return parse_list(value, field(k)) == -1 ?
		    "has too many items" : NULL;
	}
	return "has an unknown type";
}

static void
set_defaults(void)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (set(&keys[i], keys[i].dflt) != NULL)
			fatalx(EX_SOFTWARE, "conf: bad default for %s", keys[i].name);
}

int
conf_load(const char *path)
{
	FILE *fp;
	char *line = NULL, *slash;
	size_t cap = 0, i;
	int lineno = 0, rc = -1;

	if (path == NULL)
		path = getenv("VR_CONF");
	if (path == NULL || *path == '\0')
		path = VR_CONF_DEFAULT;
	conf_free();
	if ((conf.path = strdup(path)) == NULL ||
	    (conf_dir = strdup(path)) == NULL)
		return -1;
	slash = strrchr(conf_dir, '/');
	if (slash == NULL)
		strcpy(conf_dir, ".");
	else if (slash == conf_dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	set_defaults();
	if ((fp = fopen(path, "r")) == NULL) {
		log_warn("%s", path);
		return -1;
	}
	while (getline(&line, &cap, fp) != -1) {
		char *key, *value, *eq, *hash;
		const char *why;

		lineno++;
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		key = str_trim(line);
		if (*key == '\0')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			log_warnx("%s:%d: expected key = value", path, lineno);
			goto out;
		}
		*eq = '\0';
		key = str_trim(key);
		value = str_trim(eq + 1);
		for (i = 0; i < NKEYS; i++)
			if (strcmp(keys[i].name, key) == 0)
				break;
		if (i == NKEYS) {
			log_warnx("%s:%d: unknown key '%s'", path, lineno, key);
			goto out;
		}
		if ((why = set(&keys[i], value)) != NULL) {
			log_warnx("%s:%d: %s %s, not '%s'", path, lineno, key, why,
			    value);
			goto out;
		}
	}
	if (ferror(fp)) {
		log_warn("%s", path);
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(fp);
	return rc;
}

void
conf_free(void)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (keys[i].type == C_PATH || keys[i].type == C_STR) {
			char **str = field(&keys[i]);

			free(*str);
			*str = NULL;
		} else if (keys[i].type == C_LIST) {
			list_clear(field(&keys[i]));
		}
	}
	free(conf.path);
	conf.path = NULL;
	free(conf_dir);
	conf_dir = NULL;
}

bool
conf_list_has(const struct conf_list *list, const char *s)
{
	int i;

	for (i = 0; i < list->n; i++)
		if (strcmp(list->item[i], s) == 0)
			return true;
	return false;
}
