/*
 * sign.c — signed, expiring output URLs (sign.h): HMAC-SHA256 from OpenSSL's
 * libcrypto over "ID/NAME:expires" with the server's secret (conf.secret).
 * Kept free of ffmpeg and curl: vr-accept links it.
 */
#include <errno.h>
#include <fcntl.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "id.h"
#include "log.h"
#include "sign.h"

#define SECRET_MAX 1024

/* read_secret: the contents of conf.secret (trailing newline dropped). */
static int
read_secret(unsigned char *buf, size_t size, size_t *len)
{
	ssize_t n;
	int fd;

	if (conf.secret == NULL) {
		log_warnx("no secret configured for signing URLs");
		return -1;
	}
	if ((fd = open(conf.secret, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("%s", conf.secret);
		return -1;
	}
	n = read(fd, buf, size);
	close(fd);
	if (n <= 0) {
		log_warnx("%s: %s", conf.secret, n == 0 ? "empty" :
		    strerror(errno));
		return -1;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	*len = (size_t)n;
	return 0;
}

static int
signature(const char *id, const char *name, int64_t expires_s,
    char hex[2 * 32 + 1])
{
	unsigned char secret[SECRET_MAX], mac[SHA256_DIGEST_SIZE];
	struct hmac_sha256_ctx ctx;
	size_t secret_len;
	char msg[256];
	int n;

	if (!id_valid(id) || !name_valid(name)) {
		log_warnx("cannot sign %s/%s: not a valid id and name", id, name);
		return -1;
	}
	if (read_secret(secret, sizeof secret, &secret_len) == -1)
		return -1;
	n = snprintf(msg, sizeof msg, "%s/%s:%lld", id, name,
	    (long long)expires_s);
	hmac_sha256_set_key(&ctx, secret_len, secret);
	hmac_sha256_update(&ctx, (size_t)n, (const uint8_t *)msg);
	hmac_sha256_digest(&ctx, sizeof mac, mac);
	explicit_bzero(secret, sizeof secret);
	explicit_bzero(&ctx, sizeof ctx);
	for (size_t i = 0; i < sizeof mac; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	return 0;
}

char *
sign_url(const char *id, const char *name, int64_t expires_s)
{
	char hex[65], *url;
	const char *base = conf.public_url ? conf.public_url : "";
	size_t blen = strlen(base);

	if (signature(id, name, expires_s, hex) == -1)
		return NULL;
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	if (asprintf(&url, "%.*s/files/%s/%s?expires=%lld&sig=%s", (int)blen,
	    base, id, name, (long long)expires_s, hex) == -1) {
		log_warn("sign_url");
		return NULL;
	}
	return url;
}

bool
sign_check(const char *id, const char *name, int64_t expires_s,
    const char *sig_hex)
{
	char hex[65];

	if (sig_hex == NULL || strlen(sig_hex) != 64)
		return false;
	if (signature(id, name, expires_s, hex) == -1)
		return false;
	return memeql_sec(hex, sig_hex, 64) != 0;
}
