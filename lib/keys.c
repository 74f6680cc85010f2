/*
 * keys.c — the API keys file (keys.h): parse its lines, find a key's
 * organisation by hashing the key presented (SHA-256, libmd) and comparing
 * with every line in constant time (OpenSSL's CRYPTO_memcmp: Debian 12's
 * libbsd predates timingsafe_bcmp). No global state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/memops.h>
#include <sha2.h>

#include "id.h"
#include "keys.h"
#include "log.h"

#define HASH_HEX_LEN 64

/* parse_line: split "ORG:HASH:CONCURRENCY:QUEUE_LIMIT:WHSEC" (line is
 * modified). 1 parsed, 0 comment or blank, -1 malformed. */
static int
parse_line(char *line, struct key *k, char **hash)
{
	char *field[5], *end;
	long number;
	int i;

	line[strcspn(line, "\r\n")] = '\0';
	if (line[0] == '#' || line[0] == '\0')
		return 0;
	for (i = 0; i < 5; i++) {
		field[i] = strsep(&line, ":");
		if (field[i] == NULL)
			return -1;
	}
	if (line != NULL || !name_valid(field[0]) ||
	    strlen(field[0]) > KEY_ORG_MAX || strlen(field[1]) != HASH_HEX_LEN ||
	    strlen(field[4]) >= sizeof k->whsec)
		return -1;
	memset(k, 0, sizeof *k);
	snprintf(k->org, sizeof k->org, "%s", field[0]);
	*hash = field[1];
	errno = 0;
	number = strtol(field[2], &end, 10);
	if (errno != 0 || *end != '\0' || end == field[2] || number < 1 ||
	    number > 1000000)
		return -1;
	k->concurrency = (int)number;
	number = strtol(field[3], &end, 10);
	if (errno != 0 || *end != '\0' || end == field[3] || number < 1 ||
	    number > 100000000)
		return -1;
	k->queue_limit = (int)number;
	snprintf(k->whsec, sizeof k->whsec, "%s", field[4]);
	return 1;
}

/* keys_scan: call match on every line; stop at nothing (constant work per
 * line whatever matches). Returns 1 if match said so for a line, 0 if for
 * none, -1 on error (logged). */
static int
keys_scan(const char *path, int (*match)(const struct key *, const char *,
    const void *), const void *arg, struct key *out)
{
	struct key k;
	char *line = NULL, *hash;
	size_t size = 0;
	int lineno = 0, found = 0, rc;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL) {
		log_warn("%s", path);
		return -1;
	}
	while (getline(&line, &size, fp) != -1) {
		lineno++;
		rc = parse_line(line, &k, &hash);
		if (rc == -1) {
			log_warnx("%s:%d: malformed key line", path, lineno);
			found = -1;
			break;
		}
		if (rc == 1 && match(&k, hash, arg) && found == 0) {
			*out = k;
			found = 1;
		}
	}
	if (ferror(fp)) {
		log_warn("%s", path);
		found = -1;
	}
	free(line);
	fclose(fp);
	return found;
}

static int
match_hash(const struct key *k, const char *hash, const void *arg)
{
	(void)k;
	return memeql_sec(hash, arg, HASH_HEX_LEN) != 0;
}

static int
match_org(const struct key *k, const char *hash, const void *arg)
{
	(void)hash;
	return strcmp(k->org, arg) == 0;
}

int
keys_lookup(const char *path, const char *api_key, struct key *out)
{
	char hash[SHA256_DIGEST_STRING_LENGTH];

	if (api_key == NULL || *api_key == '\0')
		return 0;
	SHA256Data((const uint8_t *)api_key, strlen(api_key), hash);
	return keys_scan(path, match_hash, hash, out);
}

int
keys_org(const char *path, const char *org, struct key *out)
{
	return keys_scan(path, match_org, org, out);
}
