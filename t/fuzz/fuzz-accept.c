/*
 * fuzz-accept.c — libFuzzer harness over vr-accept's request → job path:
 * each input is the bytes a client sends on one connection. They go
 * through the real HTTP loop (lib/http.c: parser, limits, keep-alive,
 * error answers) from a memfd; each request read whole has its path split
 * and its query read as the API does, and its body parsed and checked into
 * a job by plainly_render_job, whose answer is written out. Nothing touches
 * a spool. Run by `make fuzz` (t/fuzz/run).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api/api.h"
#include "conf.h"
#include "http.h"
#include "job.h"
#include "log.h"

static struct http_limits limits = {
	.max_header_size = 16384,
	.max_body_size = 65536,
	.idle_timeout_ms = 1000,
	.request_timeout_ms = 60000,
	.max_requests = 100,
};
static struct key fuzz_key = { .org = "fuzz", .concurrency = 2,
	.queue_limit = 10 };
static int null_fd = -1;

/* Debian 12's libjq 1.6 leaks a string when two strings follow each other
 * in an object ({"a" "b"}: its parser drops the first token); fixed in
 * jq 1.7. Not vr's leak: keep the fuzzer looking for ours. */
const char *
__lsan_default_suppressions(void)
{
	return "leak:jv_parser_next\n";
}

/* libjq has no frame pointers: unwind fully so that suppression matches */
const char *
__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

static void
fuzz_handler(void *arg, struct http_conn *c, struct http_request *req)
{
	struct api *a = arg;
	char *seg[API_SEGMENTS_MAX], *path, value[256];
	struct api_fail f;
	jv body, job;

	a->c = c;
	a->req = req;
	if ((path = strdup(req->path)) == NULL)
		abort();
	api_segments(path, "/api/v2", seg, API_SEGMENTS_MAX);
	free(path);
	http_query_get(req, "searchTerm", value, sizeof value);
	http_header_get(req, "Idempotency-Key");
	body = job_parse(req->body ? req->body : "", req->body_len, 32);
	if (!jv_is_valid(body)) {
		jv_free(body);
		api_error(a, 400, "REQUEST_MALFORMED_JSON", "not JSON");
		return;
	}
	job = plainly_render_job(body, &fuzz_key, &f);
	if (!jv_is_valid(job)) {
		jv_free(job);
		api_fail_answer(a, &f);
		return;
	}
	api_json(a, 200, job);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/vr-fuzz.XXXXXX", path[64];
	FILE *fp;

	(void)argc;
	log_init((*argv)[0]);
	if (mkdtemp(dir) == NULL)
		abort();
	/* templates: a project whose default template exists */
	snprintf(path, sizeof path, "%s/templates/demo", dir);
	mkdir(dir, 0700);
	snprintf(path, sizeof path, "%s/templates", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/templates/demo", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/templates/demo/social.json", dir);
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	fputs("{\"name\":\"social\",\"layers\":[]}\n", fp);
	fclose(fp);
	snprintf(path, sizeof path, "%s/vr.conf", dir);
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	fputs("spool = spool\ntemplates = templates\n", fp);
	fclose(fp);
	if (conf_load(path) == -1)
		abort();
	if ((null_fd = open("/dev/null", O_WRONLY)) == -1)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api a;
	int fd = memfd_create("request", MFD_CLOEXEC);

	if (fd == -1)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	lseek(fd, 0, SEEK_SET);
	memset(&a, 0, sizeof a);
	http_serve(fd, null_fd, &limits, fuzz_handler, api_http_error, &a);
	close(fd);
	return 0;
}
