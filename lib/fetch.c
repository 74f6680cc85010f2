/*
 * fetch.c — asset downloads into the content-addressed assets directory and
 * its URL index (fetch.h). Owns the libcurl transfer settings for assets,
 * the naming of asset files and the index files; the address guard is
 * guard.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jv.h>
#include <openssl/evp.h>

#include "clock.h"
#include "conf.h"
#include "fetch.h"
#include "guard.h"
#include "id.h"
#include "log.h"
#include "util.h"

#define INDEX_MAX_SIZE 16384

struct download {
	int fd;
	EVP_MD_CTX *sha;
	int64_t size;
	bool too_big;
	bool write_failed;
	int write_errno;
};

static void
hex(const unsigned char *bytes, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * len] = '\0';
}

void
fetch_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len != 32)
		fatalx(EX_SOFTWARE, "sha256 unavailable from libcrypto");
	hex(md, md_len, out);
}

/* create_tmp: a fresh file in tmp_fd, its name into name[64]. */
static int
create_tmp(int tmp_fd, const char *prefix, char name[64])
{
	char rnd[17];

	if (random_token(rnd, 8) == -1)
		return -1;
	snprintf(name, 64, "%s.%ld.%s", prefix, (long)getpid(), rnd);
	return openat(tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
}

/* commit_tmp: sync fd, close it and rename tmp_fd/tmp_name to
 * dir_fd/name, then sync dir_fd. Closes fd; removes the tmp file on error. */
static int
commit_tmp(int fd, int tmp_fd, const char *tmp_name, int dir_fd,
    const char *name)
{
	int saved;

	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(tmp_fd, tmp_name, dir_fd, name) == -1)
		goto fail;
	if (fsync(dir_fd) == -1)
		return -1;
	return 0;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlinkat(tmp_fd, tmp_name, 0);
	errno = saved;
	return -1;
}

/* index_name: "url-SHA256.json" for url into out[80]. */
static void
index_name(const char *url, char out[80])
{
	char sha[65];

	fetch_sha256_hex(url, strlen(url), sha);
	snprintf(out, 80, "url-%s.json", sha);
}

/* index_lookup: a fresh entry for url whose file is there → name. */
static bool
index_lookup(int assets_fd, const char *url, char name[FETCH_NAME_MAX])
{
	char index[80], text[INDEX_MAX_SIZE];
	bool found = false;
	ssize_t n;
	int fd;

	if (conf.asset_cache_ttl_ms <= 0)
		return false;
	index_name(url, index);
	if ((fd = openat(assets_fd, index, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("assets/%s", index);
		return false;
	}
	n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';

	jv entry = jv_parse(text);
	if (jv_get_kind(entry) == JV_KIND_OBJECT) {
		jv u = jv_object_get(jv_copy(entry), jv_string("url"));
		jv f = jv_object_get(jv_copy(entry), jv_string("file"));
		jv at = jv_object_get(jv_copy(entry), jv_string("fetchedAt"));
		if (jv_get_kind(u) == JV_KIND_STRING &&
		    strcmp(jv_string_value(u), url) == 0 &&
		    jv_get_kind(f) == JV_KIND_STRING &&
		    strlen(jv_string_value(f)) < FETCH_NAME_MAX &&
		    strchr(jv_string_value(f), '/') == NULL &&
		    jv_string_value(f)[0] != '.' &&
		    jv_get_kind(at) == JV_KIND_NUMBER &&
		    now_ms() - (int64_t)jv_number_value(at) <
		    conf.asset_cache_ttl_ms &&
		    faccessat(assets_fd, jv_string_value(f), R_OK, 0) == 0) {
			strcpy(name, jv_string_value(f));
			found = true;
		}
		jv_free(u);
		jv_free(f);
		jv_free(at);
	}
	jv_free(entry);
	return found;
}

static int
index_record(int tmp_fd, int assets_fd, const char *url, const char *name,
    int64_t size, const char *content_type)
{
	char index[80], tmp_name[64];
	jv entry, text;
	int fd, rc;

	index_name(url, index);
	entry = jv_object_set(jv_object(), jv_string("url"), jv_string(url));
	entry = jv_object_set(entry, jv_string("file"), jv_string(name));
	entry = jv_object_set(entry, jv_string("size"), jv_number((double)size));
	entry = jv_object_set(entry, jv_string("contentType"),
	    content_type != NULL ? jv_string(content_type) : jv_null());
	entry = jv_object_set(entry, jv_string("fetchedAt"),
	    jv_number((double)now_ms()));
	text = jv_dump_string(entry, 0);
	if ((fd = create_tmp(tmp_fd, "index", tmp_name)) == -1) {
		jv_free(text);
		return -1;
	}
	rc = write_all(fd, jv_string_value(text),
	    (size_t)jv_string_length_bytes(jv_copy(text)));
	jv_free(text);
	if (rc == -1) {
		int saved = errno;
		close(fd);
		unlinkat(tmp_fd, tmp_name, 0);
		errno = saved;
		return -1;
	}
	return commit_tmp(fd, tmp_fd, tmp_name, assets_fd, index);
}

/* extension: a short lower-case extension for the asset file, from the
 * Content-Type, else the URL's path, else "bin". Only [a-z0-9] reaches the
 * name. */
static void
extension(const char *url, const char *content_type, char ext[8])
{
	static const struct {
		const char *type, *ext;
	} types[] = {
		{ "image/png", "png" }, { "image/jpeg", "jpg" },
		{ "image/gif", "gif" }, { "image/webp", "webp" },
		{ "image/bmp", "bmp" }, { "image/tiff", "tiff" },
		{ "video/mp4", "mp4" }, { "video/webm", "webm" },
		{ "video/quicktime", "mov" }, { "video/x-matroska", "mkv" },
		{ "audio/mpeg", "mp3" }, { "audio/mp4", "m4a" },
		{ "audio/wav", "wav" }, { "audio/x-wav", "wav" },
		{ "audio/ogg", "ogg" }, { "audio/flac", "flac" },
		{ "audio/aac", "aac" },
	};
	const char *path_end, *dot, *p;
	size_t n;

	if (content_type != NULL)
		for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
			n = strlen(types[i].type);
			if (strncasecmp(content_type, types[i].type, n) == 0 &&
			    (content_type[n] == '\0' || content_type[n] == ';' ||
			    content_type[n] == ' ')) {
				strcpy(ext, types[i].ext);
				return;
			}
		}
	path_end = url + strcspn(url, "?#");
	for (dot = NULL, p = url; p < path_end; p++)
		if (*p == '.')
			dot = p;
		else if (*p == '/')
			dot = NULL;
	n = dot != NULL ? (size_t)(path_end - dot - 1) : 0;
	if (n >= 1 && n <= 5) {
		for (size_t i = 0; i < n; i++) {
			if (!isalnum((unsigned char)dot[1 + i]))
				goto fallback;
			ext[i] = (char)tolower((unsigned char)dot[1 + i]);
		}
		ext[n] = '\0';
		return;
	}
fallback:
	strcpy(ext, "bin");
}

static size_t
on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct download *dl = arg;
	size_t len = size * nmemb;

	if (dl->size + (int64_t)len > conf.asset_max_size) {
		dl->too_big = true;
		return 0;
	}
	if (write_all(dl->fd, data, len) == -1) {
		dl->write_failed = true;
		dl->write_errno = errno;
		return 0;
	}
	if (EVP_DigestUpdate(dl->sha, data, len) != 1) {
		dl->write_failed = true;
		dl->write_errno = ENOMEM;
		return 0;
	}
	dl->size += (int64_t)len;
	return len;
}

static CURL *
transfer_new(const char *url, struct guard *g, struct download *dl,
    char *curl_err)
{
	CURL *easy = curl_easy_init();

	if (easy == NULL)
		return NULL;
	if (guard_attach(easy, g, FETCH_PROTOCOLS) == -1 ||
	    curl_easy_setopt(easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, curl_err) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_MAXREDIRS,
	    (long)FETCH_MAX_REDIRS) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_FAILONERROR, 1L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)conf.fetch_connect_timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
	    (long)conf.fetch_timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)conf.asset_max_size) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_USERAGENT, "vr-fetch") != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_WRITEDATA, dl) != CURLE_OK) {
		curl_easy_cleanup(easy);
		return NULL;
	}
	return easy;
}

/* download: url into a tmp/ file, then assets/SHA.EXT. */
static enum fetch_status
download(int tmp_fd, int assets_fd, const char *url, char name[FETCH_NAME_MAX],
    char *err, size_t err_size)
{
	char tmp_name[64], curl_err[CURL_ERROR_SIZE] = "", sha[65], ext[8];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	struct download dl = { .fd = -1 };
	struct guard g = { "" };
	enum fetch_status status = FETCH_LOCAL;
	const char *content_type = NULL;
	CURL *easy = NULL;
	CURLcode rc;

	if ((dl.sha = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(dl.sha, EVP_sha256(), NULL) != 1) {
		snprintf(err, err_size, "%.200s: sha256 unavailable", url);
		goto out;
	}
	if ((dl.fd = create_tmp(tmp_fd, "fetch", tmp_name)) == -1) {
		snprintf(err, err_size, "%.200s: tmp file: %s", url, strerror(errno));
		goto out;
	}
	if ((easy = transfer_new(url, &g, &dl, curl_err)) == NULL) {
		snprintf(err, err_size, "%.200s: cannot set up libcurl", url);
		goto out;
	}
	rc = curl_easy_perform(easy);
	if (dl.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		status = FETCH_REFUSED;
		snprintf(err, err_size, "%.200s: larger than asset_max_size "
		    "(%lld bytes)", url, (long long)conf.asset_max_size);
		goto out;
	}
	if (dl.write_failed) {
		snprintf(err, err_size, "%.200s: writing tmp file: %s", url,
		    strerror(dl.write_errno));
		goto out;
	}
	if (rc != CURLE_OK) {
		status = rc == CURLE_OUT_OF_MEMORY ? FETCH_LOCAL : FETCH_REFUSED;
		if (g.denied[0] != '\0' && rc == CURLE_COULDNT_CONNECT)
			snprintf(err, err_size, "%.200s: %s", url, g.denied);
		else
			snprintf(err, err_size, "%.200s: %s", url,
			    curl_err[0] != '\0' ? curl_err :
			    curl_easy_strerror(rc));
		goto out;
	}
	if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE,
	    &content_type) != CURLE_OK)
		content_type = NULL;
	if (dl.size == 0) {
		status = FETCH_REFUSED;
		snprintf(err, err_size, "%.200s: empty response", url);
		goto out;
	}
	if (EVP_DigestFinal_ex(dl.sha, md, &md_len) != 1 || md_len != 32) {
		snprintf(err, err_size, "%.200s: sha256 failed", url);
		goto out;
	}
	hex(md, md_len, sha);
	extension(url, content_type, ext);
	snprintf(name, FETCH_NAME_MAX, "%s.%s", sha, ext);
	if (commit_tmp(dl.fd, tmp_fd, tmp_name, assets_fd, name) == -1) {
		dl.fd = -1;
		snprintf(err, err_size, "%.200s: assets/%s: %s", url, name,
		    strerror(errno));
		goto out;
	}
	dl.fd = -1;
	if (index_record(tmp_fd, assets_fd, url, name, dl.size,
	    content_type) == -1)
		/* The asset is there; only the next fetch is not saved. */
		log_warn("%s: cannot record in the URL index", url);
	status = FETCH_OK;
out:
	if (dl.fd != -1) {
		close(dl.fd);
		unlinkat(tmp_fd, tmp_name, 0);
	}
	if (easy != NULL)
		curl_easy_cleanup(easy);
	EVP_MD_CTX_free(dl.sha);
	return status;
}

enum fetch_status
fetch_asset(int tmp_fd, int assets_fd, const char *url,
    char name[FETCH_NAME_MAX], bool *downloaded, char *err, size_t err_size)
{
	*downloaded = false;
	err[0] = '\0';
	if (strlen(url) > FETCH_URL_MAX) {
		snprintf(err, err_size, "URL longer than %d bytes", FETCH_URL_MAX);
		return FETCH_REFUSED;
	}
	if (!guard_url_scheme_ok(url, FETCH_PROTOCOLS)) {
		snprintf(err, err_size, "%.200s: only http and https URLs are "
		    "fetched", url);
		return FETCH_REFUSED;
	}
	if (index_lookup(assets_fd, url, name))
		return FETCH_OK;
	enum fetch_status status = download(tmp_fd, assets_fd, url, name, err,
	    err_size);
	*downloaded = status == FETCH_OK;
	return status;
}
