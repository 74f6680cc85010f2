/*
 * vr-accept — serve one HTTP connection on stdin/stdout, as inetd or
 * xinetd starts it: vr's APIs (lib/api/), API keys, signed output links.
 * It writes new jobs to the spool's pending/ and answers from the spool.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "api/api.h"
#include "conf.h"
#include "http.h"
#include "log.h"
#include "spool.h"

static const char usage[] = "usage: vr-accept [-f file]\n";

static ssize_t
syslog_write(void *cookie, const char *buf, size_t len)
{
	(void)cookie;
	syslog(LOG_WARNING, "%.*s", (int)(len && buf[len - 1] == '\n' ?
	    len - 1 : len), buf);
	return (ssize_t)len;
}

/* diagnostics_to_syslog: inetd hands the connection over as stderr too;
 * diagnostics must not reach the client, so they go to syslog(3). */
static void
diagnostics_to_syslog(void)
{
	static const cookie_io_functions_t io = { .write = syslog_write };
	struct stat st;
	FILE *log_stream;

	if (fstat(STDERR_FILENO, &st) == -1 || !S_ISSOCK(st.st_mode))
		return;
	openlog(log_progname(), LOG_PID, LOG_DAEMON);
	if ((log_stream = fopencookie(NULL, "w", io)) == NULL)
		return;
	setvbuf(log_stream, NULL, _IOLBF, 0);
	stderr = log_stream;
}

int
main(int argc, char *argv[])
{
	const char *conf_path = NULL;
	struct http_limits limits;
	struct api api;
	int ch, served;

	log_init(argv[0]);
	diagnostics_to_syslog();
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	while ((ch = getopt(argc, argv, "f:")) != -1) {
		switch (ch) {
		case 'f': conf_path = optarg; break;
		default: fputs(usage, stderr); return EX_USAGE;
		}
	}
	if (argc != optind) {
		fputs(usage, stderr);
		return EX_USAGE;
	}
	if (conf_load(conf_path) == -1)
		return EX_CONFIG;
	signal(SIGPIPE, SIG_IGN);
	memset(&api, 0, sizeof api);
	if (spool_attach(&api.sp, conf.spool) == -1)
		fatal(EX_TEMPFAIL, "%s", conf.spool);

	limits.max_header_size = conf.max_header_size;
	limits.max_body_size = conf.max_body_size;
	limits.idle_timeout_ms = conf.idle_timeout_ms;
	limits.request_timeout_ms = conf.request_timeout_ms;
	limits.max_requests = conf.max_keepalive_requests;
	served = http_serve(STDIN_FILENO, STDOUT_FILENO, &limits, api_handle,
	    api_http_error, &api);

	free(api.known_auth);
	spool_close(&api.sp);
	conf_free();
	return served < 0 ? EX_IOERR : 0;
}
