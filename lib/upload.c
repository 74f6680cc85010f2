/*
 * upload.c — upload tasks: checking, credential profiles, redaction, the
 * output a task sends, Plainly's integrationDelivery. No libcurl (upload.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "id.h"
#include "upload.h"
#include "util.h"

static const char *const types_supported[] = { "s3", "http", "ftp", "sftp", NULL };
static const char *const types_elsewhere[] = { "youtube", "facebook", "azureblob",
	"dropbox", "gcs", "vimeo", NULL };

/* Fields whose value is a secret, wherever they appear in a destination. */
static const char *const secret_fields[] = { "aws_secret_access_key",
	"aws_session_token", "password", "passphrase", "secret", "token",
	"private_key", "privatekey", NULL };

/* Fields only a profile may set: they name files on this server. */
static const char *const profile_only_fields[] = { "keyfile", "pubkeyfile",
	"knownhosts", NULL };

/* get: obj[key], null when absent or when obj is not an object (borrows). */
static jv
get(jv obj, const char *key)
{
	jv v;

	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return jv_null();
	v = jv_object_get(jv_copy(obj), jv_string(key));
	if (!jv_is_valid(v)) {
		jv_free(v);
		return jv_null();
	}
	return v;
}

static bool
in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* A header or query parameter name that carries a credential. */
static bool
secret_name(const char *name)
{
	static const char *const words[] = { "authorization", "cookie", "token",
		"secret", "signature", "credential", "password", "key", "sig", NULL };
	char lower[128];
	size_t i;

	for (i = 0; name[i] != '\0' && i < sizeof lower - 1; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[i] = '\0';
	for (i = 0; words[i] != NULL; i++)
		if (strstr(lower, words[i]) != NULL)
			return true;
	return false;
}

/* url_redact: "scheme://user:PASS@host/p?sig=X" → password and secret-like
 * query values as "***". */
static jv
url_redact(jv url)
{
	const char *s = jv_string_value(url);
	const char *auth = strstr(s, "://"), *end, *at, *colon, *q;
	char *out;
	size_t cap = strlen(s) * 2 + 16, n = 0;

	if ((out = malloc(cap)) == NULL)
		return url;
	auth = auth != NULL ? auth + 3 : s;
	end = auth + strcspn(auth, "/?#");
	at = memchr(auth, '@', (size_t)(end - auth));
	colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon != NULL) {
		n = (size_t)(colon - s) + 1;
		memcpy(out, s, n);
		memcpy(out + n, "***", 3);
		n += 3;
		s = at;
	}
	q = strchr(s, '?');
	if (q == NULL) {
		n += (size_t)snprintf(out + n, cap - n, "%s", s);
	} else {
		memcpy(out + n, s, (size_t)(q - s));
		n += (size_t)(q - s);
		while (*q == '?' || *q == '&') {
			const char *name = q + 1, *eq, *next;
			char key[128];

			out[n++] = *q;
			next = name + strcspn(name, "&#");
			eq = memchr(name, '=', (size_t)(next - name));
			if (eq != NULL && (size_t)(eq - name) < sizeof key) {
				memcpy(key, name, (size_t)(eq - name));
				key[eq - name] = '\0';
			} else {
				key[0] = '\0';
			}
			if (eq != NULL && secret_name(key)) {
				memcpy(out + n, name, (size_t)(eq - name) + 1);
				n += (size_t)(eq - name) + 1;
				memcpy(out + n, "***", 3);
				n += 3;
			} else {
				memcpy(out + n, name, (size_t)(next - name));
				n += (size_t)(next - name);
			}
			q = next;
		}
		n += (size_t)snprintf(out + n, cap - n, "%s", q);
	}
	out[n] = '\0';
	jv_free(url);
	url = jv_string(out);
	free(out);
	return url;
}

static jv
destination_redact(jv dest)
{
	jv out = jv_copy(dest);

	jv_object_foreach(dest, key, value) {
		const char *k = jv_string_value(key);

		if (in_list(secret_fields, k) && jv_get_kind(value) != JV_KIND_NULL) {
			out = jv_object_set(out, key, jv_string("***"));
			jv_free(value);
			continue;
		}
		if (strcmp(k, "url") == 0 && jv_get_kind(value) == JV_KIND_STRING) {
			out = jv_object_set(out, key, url_redact(value));
			continue;
		}
		if (strcmp(k, "headers") == 0 && jv_get_kind(value) == JV_KIND_OBJECT) {
			jv headers = jv_copy(value);

			jv_object_foreach(value, name, v) {
				jv_free(v);
				if (secret_name(jv_string_value(name)))
					headers = jv_object_set(headers, name, jv_string("***"));
				else
					jv_free(name);
			}
			jv_free(value);
			out = jv_object_set(out, key, headers);
			continue;
		}
		jv_free(key);
		jv_free(value);
	}
	jv_free(dest);
	return out;
}

jv
upload_redact(jv task)
{
	jv dest;

	if (jv_get_kind(task) != JV_KIND_OBJECT)
		return task;
	dest = get(task, "destination");
	if (jv_get_kind(dest) == JV_KIND_OBJECT)
		return jv_object_set(task, jv_string("destination"),
		    destination_redact(dest));
	jv_free(dest);
	return destination_redact(task);
}

jv
upload_redact_job(jv job)
{
	jv uploads = get(job, "uploads");
	int i, n;

	if (jv_get_kind(uploads) != JV_KIND_ARRAY) {
		jv_free(uploads);
		return job;
	}
	n = jv_array_length(jv_copy(uploads));
	for (i = 0; i < n; i++) {
		jv u = jv_array_get(jv_copy(uploads), i);

		if (jv_get_kind(u) == JV_KIND_OBJECT) {
			jv task = get(u, "task");

			u = jv_object_set(u, jv_string("task"), upload_redact(task));
		}
		uploads = jv_array_set(uploads, i, u);
	}
	return jv_object_set(job, jv_string("uploads"), uploads);
}

/* profile_set: put key = value into the profile; "metadata.X" and
 * "headers.X" go into those objects; secure is a boolean, port a number. */
static jv
profile_set(jv prof, const char *key, const char *value)
{
	const char *dot = strchr(key, '.');

	if (dot != NULL && (strncmp(key, "metadata.", 9) == 0 ||
	    strncmp(key, "headers.", 8) == 0)) {
		jv name = jv_string_sized(key, (int)(dot - key));
		jv sub = get(prof, jv_string_value(name));

		if (jv_get_kind(sub) != JV_KIND_OBJECT) {
			jv_free(sub);
			sub = jv_object();
		}
		sub = jv_object_set(sub, jv_string(dot + 1), jv_string(value));
		return jv_object_set(prof, name, sub);
	}
	if (strcmp(key, "secure") == 0)
		return jv_object_set(prof, jv_string(key), jv_bool(
		    strcmp(value, "yes") == 0 || strcmp(value, "true") == 0));
	if (strcmp(key, "port") == 0)
		return jv_object_set(prof, jv_string(key), jv_number(atoi(value)));
	return jv_object_set(prof, jv_string(key), jv_string(value));
}

/* profile_load: conf.credentials/NAME as an object, or an invalid. */
static jv
profile_load(const char *name)
{
	char path[4096], line[4096];
	FILE *fp;
	jv prof = jv_object();
	int lineno = 0;

	if (!name_valid(name))
		return jv_free(prof), jv_invalid_with_msg(jv_string_fmt(
		    "credential profile name not valid: %.64s", name));
	if (conf.credentials == NULL || snprintf(path, sizeof path, "%s/%s",
	    conf.credentials, name) >= (int)sizeof path)
		return jv_free(prof), jv_invalid_with_msg(jv_string(
		    "no credentials directory configured"));
	if ((fp = fopen(path, "r")) == NULL)
		return jv_free(prof), jv_invalid_with_msg(jv_string_fmt(
		    "credential profile %s: %s", name,
		    errno == ENOENT ? "no such profile" : strerror(errno)));
	while (fgets(line, sizeof line, fp) != NULL) {
		char *s = line, *eq;

		lineno++;
		s[strcspn(s, "\r\n")] = '\0';
		if (*(s = str_trim(s)) == '\0' || *s == '#')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			fclose(fp);
			jv_free(prof);
			return jv_invalid_with_msg(jv_string_fmt(
			    "credential profile %s:%d: no '='", name, lineno));
		}
		*eq = '\0';
		prof = profile_set(prof, str_trim(s), str_trim(eq + 1));
	}
	fclose(fp);
	return prof;
}

/* org_allowed: does the profile's `org` list (blanks or commas) hold org? */
static bool
org_allowed(jv prof, const char *org)
{
	jv list = get(prof, "org");
	bool ok = true;

	if (jv_get_kind(list) == JV_KIND_STRING) {
		const char *s = jv_string_value(list);
		size_t len = org != NULL ? strlen(org) : 0;

		ok = false;
		while (*s != '\0' && org != NULL) {
			size_t n = strcspn(s, " \t,");

			if (n == len && strncmp(s, org, n) == 0)
				ok = true;
			s += n;
			s += strspn(s, " \t,");
		}
	}
	jv_free(list);
	return ok;
}

jv
upload_destination(jv task, const char *org)
{
	jv dest = get(task, "destination");
	jv profile, prof;

	jv_free(task);
	if (jv_get_kind(dest) != JV_KIND_OBJECT) {
		jv_free(dest);
		return jv_invalid_with_msg(jv_string("upload task without destination"));
	}
	profile = get(dest, "profile");
	if (jv_get_kind(profile) == JV_KIND_NULL) {
		jv_free(profile);
		return dest;
	}
	if (jv_get_kind(profile) != JV_KIND_STRING) {
		jv_free(profile);
		jv_free(dest);
		return jv_invalid_with_msg(jv_string("destination.profile is not a string"));
	}
	prof = profile_load(jv_string_value(profile));
	if (jv_is_valid(prof) && !org_allowed(prof, org)) {
		jv_free(prof);
		prof = jv_invalid_with_msg(jv_string_fmt("credential profile %s "
		    "is not open to this organisation", jv_string_value(profile)));
	}
	jv_free(profile);
	if (!jv_is_valid(prof)) {
		jv_free(dest);
		return prof;
	}
	prof = jv_object_delete(prof, jv_string("org"));
	return jv_object_merge_recursive(prof, dest);
}

static int
fail(char *err, size_t size, const char *fmt, const char *arg)
{
	snprintf(err, size, fmt, arg);
	return -1;
}

/* string_field_ok: absent, or a string without control characters. */
static bool
string_field_ok(jv dest, const char *key)
{
	jv v = get(dest, key);
	bool ok = true;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		for (const char *s = jv_string_value(v); *s != '\0'; s++)
			if (iscntrl((unsigned char)*s))
				ok = false;
	} else if (jv_get_kind(v) != JV_KIND_NULL) {
		ok = false;
	}
	jv_free(v);
	return ok;
}

static bool
has_string(jv dest, const char *key)
{
	jv v = get(dest, key);
	bool ok = jv_get_kind(v) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(v)) > 0;

	jv_free(v);
	return ok;
}

/* map_ok: absent, or an object of strings without CR/LF (headers, metadata). */
static bool
map_ok(jv dest, const char *key)
{
	jv map = get(dest, key);
	bool ok = true;

	if (jv_get_kind(map) == JV_KIND_OBJECT) {
		jv_object_foreach(map, name, value) {
			const char *n = jv_string_value(name);

			if (*n == '\0' || strpbrk(n, ": \t\r\n") != NULL ||
			    jv_get_kind(value) != JV_KIND_STRING ||
			    strpbrk(jv_string_value(value), "\r\n") != NULL)
				ok = false;
			jv_free(name);
			jv_free(value);
		}
	} else if (jv_get_kind(map) != JV_KIND_NULL) {
		ok = false;
	}
	jv_free(map);
	return ok;
}

static int
destination_check(jv dest, char *err, size_t size)
{
	static const char *const strings[] = { "bucket", "filename", "s3host",
		"region", "contenttype", "contentdisposition", "acl", "cachecontrol",
		"aws_access_key_id", "aws_secret_access_key", "url", "method",
		"host", "path", "username", "password", "fingerprint", NULL };
	jv type_v = get(dest, "type");
	char type[16];
	int i, rc = 0;

	snprintf(type, sizeof type, "%s", jv_get_kind(type_v) == JV_KIND_STRING ?
	    jv_string_value(type_v) : "");
	jv_free(type_v);
	for (i = 0; strings[i] != NULL; i++)
		if (!string_field_ok(dest, strings[i]))
			return fail(err, size, "destination.%s must be a string "
			    "without control characters", strings[i]);
	if (!map_ok(dest, "headers") || !map_ok(dest, "metadata"))
		return fail(err, size, "destination.%s must map names to strings",
		    map_ok(dest, "headers") ? "metadata" : "headers");
	if (strcmp(type, "s3") == 0) {
		if (!has_string(dest, "bucket"))
			rc = fail(err, size, "s3 destination without %s", "bucket");
		else if (!has_string(dest, "aws_access_key_id") ||
		    !has_string(dest, "aws_secret_access_key"))
			rc = fail(err, size, "s3 destination without %s",
			    "aws_access_key_id and aws_secret_access_key");
	} else if (strcmp(type, "http") == 0) {
		jv method = get(dest, "method");

		if (!has_string(dest, "url"))
			rc = fail(err, size, "http destination without %s", "url");
		else if (jv_get_kind(method) == JV_KIND_STRING &&
		    strcasecmp(jv_string_value(method), "PUT") != 0 &&
		    strcasecmp(jv_string_value(method), "POST") != 0)
			rc = fail(err, size, "http destination: method must be PUT "
			    "or POST, not %.16s", jv_string_value(method));
		jv_free(method);
	} else if (!has_string(dest, "url") && !has_string(dest, "host")) {
		rc = fail(err, size, "%s destination without url or host", type);
	}
	return rc;
}

int
upload_check(jv task, const char *org, char *err, size_t err_size)
{
	jv raw, dest, type, ext;
	int rc = -1;

	if (jv_get_kind(task) != JV_KIND_OBJECT) {
		jv_free(task);
		return fail(err, err_size, "%s", "an upload task must be an object");
	}
	ext = get(task, "extension");
	if (jv_get_kind(ext) != JV_KIND_NULL && (jv_get_kind(ext) != JV_KIND_STRING ||
	    jv_string_length_bytes(jv_copy(ext)) > 8 || !name_valid(jv_string_value(ext)))) {
		jv_free(ext);
		jv_free(task);
		return fail(err, err_size, "%s", "upload task: extension not valid");
	}
	jv_free(ext);
	raw = get(task, "destination");
	for (const char *const *f = profile_only_fields; *f != NULL; f++) {
		jv v = get(raw, *f);
		bool set = jv_get_kind(v) != JV_KIND_NULL;

		jv_free(v);
		if (set) {
			jv_free(raw);
			jv_free(task);
			return fail(err, err_size, "destination.%s may only be set "
			    "in a credential profile", *f);
		}
	}
	jv_free(raw);
	dest = upload_destination(task, org);
	if (!jv_is_valid(dest)) {
		jv msg = jv_invalid_get_msg(dest);

		snprintf(err, err_size, "%s", jv_get_kind(msg) == JV_KIND_STRING ?
		    jv_string_value(msg) : "upload task not valid");
		jv_free(msg);
		return -1;
	}
	type = get(dest, "type");
	if (jv_get_kind(type) != JV_KIND_STRING)
		fail(err, err_size, "%s", "upload task without destination.type");
	else if (in_list(types_supported, jv_string_value(type)))
		rc = destination_check(dest, err, err_size);
	else if (in_list(types_elsewhere, jv_string_value(type)))
		fail(err, err_size, "destination type not supported by this "
		    "server: %.32s", jv_string_value(type));
	else
		fail(err, err_size, "unknown destination type: %.32s",
		    jv_string_value(type));
	jv_free(type);
	jv_free(dest);
	return rc;
}

static bool
ends_with_ext(const char *name, const char *ext)
{
	const char *dot = strrchr(name, '.');

	return dot != NULL && strcasecmp(dot + 1, ext) == 0;
}

jv
upload_output(jv job, const char *ext)
{
	jv outputs = get(job, "outputs");
	jv main_file = get(job, "outputFile");
	jv found = jv_invalid();

	if (ext != NULL && *ext != '\0' && jv_get_kind(outputs) == JV_KIND_OBJECT)
		found = get(outputs, ext);
	if (jv_get_kind(found) != JV_KIND_STRING && jv_get_kind(main_file) == JV_KIND_STRING &&
	    (ext == NULL || *ext == '\0' || ends_with_ext(jv_string_value(main_file), ext))) {
		jv_free(found);
		found = jv_copy(main_file);
	}
	if (jv_get_kind(found) != JV_KIND_STRING && ext != NULL && *ext != '\0') {
		jv thumbs = get(job, "thumbnailFiles");

		if (jv_get_kind(thumbs) == JV_KIND_ARRAY) {
			jv_array_foreach(thumbs, i, t) {
				if (jv_get_kind(found) != JV_KIND_STRING &&
				    jv_get_kind(t) == JV_KIND_STRING &&
				    ends_with_ext(jv_string_value(t), ext)) {
					jv_free(found);
					found = jv_copy(t);
				}
				jv_free(t);
			}
		}
		jv_free(thumbs);
	}
	jv_free(outputs);
	jv_free(main_file);
	jv_free(job);
	if (jv_get_kind(found) != JV_KIND_STRING) {
		jv_free(found);
		return jv_invalid_with_msg(jv_string_fmt("no output with "
		    "extension %.16s", ext != NULL && *ext != '\0' ? ext : "(main)"));
	}
	if (!name_valid(jv_string_value(found))) {
		jv_free(found);
		return jv_invalid_with_msg(jv_string("output file name not valid"));
	}
	return found;
}

const char *
upload_content_type(const char *ext)
{
	static const char *const types[][2] = {
		{ "mp4", "video/mp4" }, { "webm", "video/webm" },
		{ "mov", "video/quicktime" }, { "gif", "image/gif" },
		{ "jpg", "image/jpeg" }, { "jpeg", "image/jpeg" },
		{ "png", "image/png" }, { "m3u8", "application/vnd.apple.mpegurl" },
		{ "mp3", "audio/mpeg" }, { "json", "application/json" },
	};

	for (size_t i = 0; ext != NULL && i < sizeof types / sizeof types[0]; i++)
		if (strcasecmp(ext, types[i][0]) == 0)
			return types[i][1];
	return "application/octet-stream";
}

jv
upload_delivery(jv job)
{
	jv uploads = get(job, "uploads");
	jv deliveries = jv_array();
	int n_success = 0, n_failure = 0, n = 0;
	const char *status;

	jv_free(job);
	if (jv_get_kind(uploads) != JV_KIND_ARRAY || jv_array_length(jv_copy(uploads)) == 0) {
		jv_free(uploads);
		jv_free(deliveries);
		return jv_null();
	}
	jv_array_foreach(uploads, i, u) {
		jv task = get(u, "task");
		jv type = jv_get_kind(task) == JV_KIND_OBJECT ? jv_getpath(jv_copy(task),
		    JV_ARRAY(jv_string("destination"), jv_string("type"))) : jv_null();
		jv ext = jv_get_kind(task) == JV_KIND_OBJECT ?
		    get(task, "extension") : jv_null();
		jv st = get(u, "status");
		jv d = jv_object();

		(void)i;
		n++;
		if (jv_get_kind(st) == JV_KIND_STRING) {
			if (strcmp(jv_string_value(st), "SUCCESS") == 0)
				n_success++;
			else if (strcmp(jv_string_value(st), "FAILURE") == 0)
				n_failure++;
		} else {
			jv_free(st);
			st = jv_string("PENDING");
		}
		d = jv_object_set(d, jv_string("type"), type);
		d = jv_object_set(d, jv_string("extension"), ext);
		d = jv_object_set(d, jv_string("status"), st);
		d = jv_object_set(d, jv_string("url"), jv_get_kind(u) == JV_KIND_OBJECT ?
		    get(u, "url") : jv_null());
		d = jv_object_set(d, jv_string("error"), jv_get_kind(u) == JV_KIND_OBJECT ?
		    get(u, "error") : jv_null());
		d = jv_object_set(d, jv_string("attempts"), jv_get_kind(u) == JV_KIND_OBJECT ?
		    get(u, "attempts") : jv_null());
		deliveries = jv_array_append(deliveries, d);
		jv_free(task);
		jv_free(u);
	}
	jv_free(uploads);
	status = n_failure > 0 ? "FAILURE" : n_success == n ? "SUCCESS" : "PENDING";
	return JV_OBJECT(jv_string("status"), jv_string(status),
	    jv_string("deliveries"), deliveries);
}
