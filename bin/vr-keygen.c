/*
 * vr-keygen — make an API key for an organisation: append its hashed line
 * to the keys file (keys.h) and print the key, once, on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <nettle/base64.h>
#include <sha2.h>

#include "conf.h"
#include "id.h"
#include "keys.h"
#include "log.h"

static const char usage[] =
    "usage: vr-keygen [-f file] [-c concurrency] [-q queue_limit] org\n";

#define KEY_RANDOM_BYTES 20     /* 160 bits, 40 hex digits after "vr_" */
#define WHSEC_RANDOM_BYTES 24

static int
number_arg(const char *s, const char *what)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || n < 1 || n > 1000000)
		fatalx(EX_USAGE, "%s must be a number from 1 to 1000000: %s",
		    what, s);
	return (int)n;
}

/* org_whsec: the organisation's signing secret: the one it has, else new. */
static void
org_whsec(const char *org, char *whsec, size_t size)
{
	unsigned char random[WHSEC_RANDOM_BYTES];
	char b64[BASE64_ENCODE_RAW_LENGTH(WHSEC_RANDOM_BYTES) + 1];
	struct key existing;

	switch (keys_org(conf.keys, org, &existing)) {
	case 1:
		snprintf(whsec, size, "%s", existing.whsec);
		return;
	case -1:
		exit(EX_DATAERR);
	}
	arc4random_buf(random, sizeof random);
	base64_encode_raw(b64, sizeof random, random);
	b64[BASE64_ENCODE_RAW_LENGTH(WHSEC_RANDOM_BYTES)] = '\0';
	snprintf(whsec, size, "whsec_%s", b64);
}

int
main(int argc, char *argv[])
{
	const char *conf_path = NULL, *org;
	char key[3 + 2 * KEY_RANDOM_BYTES + 1], hash[SHA256_DIGEST_STRING_LENGTH];
	char whsec[80], line[256];
	int ch, fd, n, concurrency = 2, queue_limit = 1000;

	log_init(argv[0]);
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	while ((ch = getopt(argc, argv, "f:c:q:")) != -1) {
		switch (ch) {
		case 'f': conf_path = optarg; break;
		case 'c': concurrency = number_arg(optarg, "concurrency"); break;
		case 'q': queue_limit = number_arg(optarg, "queue limit"); break;
		default: fputs(usage, stderr); return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		fputs(usage, stderr);
		return EX_USAGE;
	}
	org = argv[optind];
	if (!name_valid(org) || strlen(org) > KEY_ORG_MAX)
		fatalx(EX_USAGE, "%s: not a valid organisation name "
		    "(1-64 of A-Z a-z 0-9 . _ -)", org);
	if (conf_load(conf_path) == -1)
		return EX_CONFIG;

	/* one writer at a time, so that an organisation keeps one secret */
	fd = open(conf.keys, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		fatal(EX_CANTCREAT, "%s", conf.keys);
	if (flock(fd, LOCK_EX) == -1)
		fatal(EX_IOERR, "%s: lock", conf.keys);
	org_whsec(org, whsec, sizeof whsec);
	memcpy(key, "vr_", 3);
	if (random_token(key + 3, KEY_RANDOM_BYTES) == -1)
		fatal(EX_OSERR, "no randomness");
	SHA256Data((const uint8_t *)key, strlen(key), hash);
	n = snprintf(line, sizeof line, "%s:%s:%d:%d:%s\n", org, hash,
	    concurrency, queue_limit, whsec);
	if (n < 0 || (size_t)n >= sizeof line)
		fatalx(EX_SOFTWARE, "key line too long");
	if (write(fd, line, (size_t)n) != n || fsync(fd) == -1)
		fatal(EX_IOERR, "%s", conf.keys);
	if (close(fd) == -1)
		fatal(EX_IOERR, "%s", conf.keys);
	printf("%s\n", key);
	if (fflush(stdout) == EOF)
		fatal(EX_IOERR, "stdout");
	conf_free();
	return 0;
}
