/*
 * job.c — job files: load with size and depth limits, record state moves,
 * small accessors (job.h). No global state besides conf's limits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "job.h"
#include "log.h"

#define JOB_DEFAULT_MAX_SIZE (1 << 20)
#define JOB_MAX_DEPTH 64

static jv
errorf(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static jv
errorf(int errnum, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	errno = errnum;
	return jv_invalid_with_msg(jv_string(msg));
}

/* json_depth_ok: is the nesting of text at most max_depth? Counts brackets
 * outside strings; the parser itself finds every other fault. */
static int
json_depth_ok(const char *text, size_t len, int max_depth)
{
	int depth = 0, in_string = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = text[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return 0;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return 1;
}

jv
job_parse(const char *text, size_t len, int max_depth)
{
	jv value;

	if (max_depth <= 0)
		max_depth = JOB_MAX_DEPTH;
	if (!json_depth_ok(text, len, max_depth))
		return errorf(EINVAL, "JSON nested deeper than %d levels", max_depth);
	value = jv_parse_sized(text, (int)len);
	if (!jv_is_valid(value)) {
		jv msg = jv_invalid_get_msg(value);
		jv out = errorf(EINVAL, "not JSON: %s",
		    jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) :
		    "unreadable");

		jv_free(msg);
		return out;
	}
	if (jv_get_kind(value) != JV_KIND_OBJECT) {
		jv_free(value);
		return errorf(EINVAL, "not a JSON object");
	}
	return value;
}

jv
job_loadat(int dirfd, const char *name)
{
	int64_t max_size = conf.job_max_size > 0 ? conf.job_max_size :
	    JOB_DEFAULT_MAX_SIZE;
	struct stat st;
	char *text = NULL;
	ssize_t got;
	size_t off = 0;
	int fd;
	jv job;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		if (errno == ENOENT)
			return errorf(ENOENT, "%s: no such job", name);
		return errorf(errno, "%s: %s", name, strerror(errno));
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return errorf(EINVAL, "%s: not a regular file", name);
	}
	if (st.st_size > max_size) {
		close(fd);
		return errorf(EFBIG, "%s: %lld bytes, over the limit of %lld",
		    name, (long long)st.st_size, (long long)max_size);
	}
	if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return errorf(ENOMEM, "%s: out of memory", name);
	}
	while (off < (size_t)st.st_size) {
		got = read(fd, text + off, (size_t)st.st_size - off);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		off += (size_t)got;
	}
	close(fd);
	if (off != (size_t)st.st_size) {
		free(text);
		return errorf(EIO, "%s: short read", name);
	}
	job = job_parse(text, off, JOB_MAX_DEPTH);
	free(text);
	if (!jv_is_valid(job)) {
		jv msg = jv_invalid_get_msg(job);
		jv out = errorf(EINVAL, "%s: %s", name, jv_string_value(msg));

		jv_free(msg);
		return out;
	}
	return job;
}

jv
job_load(const char *path)
{
	return job_loadat(AT_FDCWD, path);
}

jv
job_record(jv job, const char *state, const char *by)
{
	char at[ISO8601_LEN + 1];
	jv history;

	iso8601(now_ms(), at);
	job = jv_object_set(job, jv_string("state"), jv_string(state));
	job = jv_object_set(job, jv_string("lastModified"), jv_string(at));
	history = jv_object_get(jv_copy(job), jv_string("history"));
	if (jv_get_kind(history) != JV_KIND_ARRAY) {
		jv_free(history);
		history = jv_array();
	}
	history = jv_array_append(history, JV_OBJECT(jv_string("state"),
	    jv_string(state), jv_string("at"), jv_string(at), jv_string("by"),
	    jv_string(by)));
	return jv_object_set(job, jv_string("history"), history);
}

const char *
job_str(jv job, const char *key)
{
	jv value;
	const char *s;

	if (jv_get_kind(job) != JV_KIND_OBJECT)
		return NULL;
	value = jv_object_get(jv_copy(job), jv_string(key));
	if (jv_get_kind(value) != JV_KIND_STRING) {
		jv_free(value);
		return NULL;
	}
	/* job still holds a reference, so the string outlives `value`. */
	s = jv_string_value(value);
	jv_free(value);
	return s;
}

int64_t
job_int(jv job, const char *key, int64_t dflt)
{
	jv value;
	int64_t n = dflt;

	if (jv_get_kind(job) != JV_KIND_OBJECT)
		return dflt;
	value = jv_object_get(jv_copy(job), jv_string(key));
	if (jv_get_kind(value) == JV_KIND_NUMBER)
		n = (int64_t)jv_number_value(value);
	jv_free(value);
	return n;
}

jv
job_fail(jv job, const char *code, const char *message)
{
	char text[1024];

	snprintf(text, sizeof text, "%s", message);
	return jv_object_set(job, jv_string("error"), JV_OBJECT(
	    jv_string("code"), jv_string(code),
	    jv_string("message"), jv_string(text),
	    jv_string("details"), jv_object()));
}
