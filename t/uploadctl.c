/*
 * uploadctl — a test driver over lib/upload.c, so the bats suite can check
 * what vr-accept, vr-validate and vr-notify rely on it for. Not installed.
 *   uploadctl redact < task.json        upload_redact: the task, secrets hidden
 *   uploadctl redact-job < job.json     upload_redact_job
 *   uploadctl check [ORG] < task.json   upload_check: "ok", or the reason (exit 1)
 *   uploadctl output EXT < job.json     upload_output: the file name, or why (exit 1)
 *   uploadctl delivery < job.json       upload_delivery: integrationDelivery
 * The configuration (for credential profiles) comes from $VR_CONF.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "job.h"
#include "log.h"
#include "upload.h"

static const char usage[] =
    "usage: uploadctl redact | redact-job | check [org] | output ext | delivery\n";

static jv
read_stdin(void)
{
	char *text = NULL;
	size_t cap = 0, len = 0, n;
	jv v;

	for (;;) {
		if (len == cap) {
			char *grown = realloc(text, cap = cap * 2 + 4096);

			if (grown == NULL)
				fatal(EX_OSERR, "realloc");
			text = grown;
		}
		if ((n = fread(text + len, 1, cap - len, stdin)) == 0)
			break;
		len += n;
	}
	v = jv_parse_sized(text, (int)len);
	free(text);
	if (!jv_is_valid(v))
		fatalx(EX_DATAERR, "stdin: not JSON");
	return v;
}

static int
print(jv v)
{
	jv text = jv_dump_string(v, JV_PRINT_SORTED);

	puts(jv_string_value(text));
	jv_free(text);
	return 0;
}

int
main(int argc, char *argv[])
{
	char err[512];
	int rc = 0;

	log_init(argv[0]);
	if (argc < 2) {
		fputs(usage, stderr);
		return EX_USAGE;
	}
	if (conf_load(NULL) != 0)
		return EX_CONFIG;
	if (strcmp(argv[1], "redact") == 0) {
		rc = print(upload_redact(read_stdin()));
	} else if (strcmp(argv[1], "redact-job") == 0) {
		rc = print(upload_redact_job(read_stdin()));
	} else if (strcmp(argv[1], "check") == 0) {
		rc = upload_check(read_stdin(), argc > 2 ? argv[2] : NULL, err,
		    sizeof err) == 0 ? 0 : 1;
		puts(rc == 0 ? "ok" : err);
	} else if (strcmp(argv[1], "output") == 0 && argc == 3) {
		jv name = upload_output(read_stdin(), argv[2]);

		if (jv_is_valid(name)) {
			puts(jv_string_value(name));
			jv_free(name);
		} else {
			jv msg = jv_invalid_get_msg(name);

			puts(jv_string_value(msg));
			jv_free(msg);
			rc = 1;
		}
	} else if (strcmp(argv[1], "delivery") == 0) {
		rc = print(upload_delivery(read_stdin()));
	} else {
		fputs(usage, stderr);
		rc = EX_USAGE;
	}
	conf_free();
	return rc;
}
