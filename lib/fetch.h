/*
 * fetch.h — media assets fetched on a job's behalf (vr-validate), with
 * libcurl behind the address guard (guard.h), into a content-addressed
 * directory (spool/assets/):
 *   assets/SHA256.EXT        the content, named by the sha256 of its bytes
 *   assets/url-SHA256.json   the URL index, named by the sha256 of the URL:
 *                            {url, file, size, contentType, fetchedAt}
 * A URL fetched less than conf.asset_cache_ttl_ms ago whose file is still
 * there is not fetched again. Downloads go to tmp/ (O_EXCL) and are renamed
 * in, so no reader sees half a file; the size limit (conf.asset_max_size)
 * holds while bytes arrive, and conf.fetch_connect_timeout_ms and
 * conf.fetch_timeout_ms bound the transfer. Only http and https, redirects
 * included (at most FETCH_MAX_REDIRS).
 * Needs LIBS_CURL and LIBS_CRYPTO (sha256) when linked.
 */
#ifndef VR_FETCH_H
#define VR_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#define FETCH_PROTOCOLS "http,https"
#define FETCH_MAX_REDIRS 5
#define FETCH_URL_MAX 4096
#define FETCH_NAME_MAX 80 /* "SHA256HEX.EXT" and its NUL */

enum fetch_status {
	FETCH_OK = 0,
	FETCH_REFUSED = -1, /* the URL's fault (refused, unreachable, 404,
	                       too big, too slow): the job is invalid */
	FETCH_LOCAL = -2,   /* ours (disk, memory): try again later */
};

/* fetch_asset: make the content of url a file in assets_fd, going through
 * tmp_fd. On FETCH_OK, name holds "SHA256.EXT" and *downloaded says whether
 * it came over the network now (false: from the index). Otherwise err holds
 * one line saying why, naming the URL. */
enum fetch_status fetch_asset(int tmp_fd, int assets_fd, const char *url,
    char name[FETCH_NAME_MAX], bool *downloaded, char *err, size_t err_size);

/* fetch_sha256_hex: sha256 of len bytes as lower-case hex into out[65]. */
void fetch_sha256_hex(const void *data, size_t len, char out[65]);

#endif
