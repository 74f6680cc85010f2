/*
 * s3.c — S3 requests for libcurl: targets, SigV4, payload hashes, the
 * multipart bodies and S3's XML answers (s3.h).
 */
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "s3.h"

/* field: dest[key] as a string (borrowed from dest), or NULL. */
static const char *
field(jv dest, const char *key)
{
	jv v = jv_object_get(jv_copy(dest), jv_string(key));
	const char *s = NULL;

	/* dest keeps the string alive after this copy is freed */
	if (jv_get_kind(v) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(v)) > 0)
		s = jv_string_value(v);
	jv_free(v);
	return s;
}

static bool
field_bool(jv dest, const char *key, bool dflt)
{
	jv v = jv_object_get(jv_copy(dest), jv_string(key));
	bool b = dflt;

	if (jv_get_kind(v) == JV_KIND_TRUE)
		b = true;
	else if (jv_get_kind(v) == JV_KIND_FALSE)
		b = false;
	else if (jv_get_kind(v) == JV_KIND_STRING)
		b = strcmp(jv_string_value(v), "false") != 0 &&
		    strcmp(jv_string_value(v), "no") != 0;
	jv_free(v);
	return b;
}

/* uri_encode: S3's URI encoding of a key: all but unreserved and '/'. */
static char *
uri_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

static bool
host_ok(const char *host)
{
	if (*host == '\0')
		return false;
	for (; *host != '\0'; host++)
		if (!isalnum((unsigned char)*host) && strchr(".-:[]", *host) == NULL)
			return false;
	return true;
}

static bool
bucket_ok(const char *b)
{
	size_t n = strlen(b);

	if (n < 1 || n > 255 || strcmp(b, ".") == 0 || strcmp(b, "..") == 0)
		return false;
	for (; *b != '\0'; b++)
		if (!isalnum((unsigned char)*b) && strchr("._-", *b) == NULL)
			return false;
	return true;
}

static int
add_header(struct curl_slist **list, const char *name, const char *value)
{
	char line[4096];
	struct curl_slist *l;

	if (value == NULL)
		return 0;
	if (snprintf(line, sizeof line, "%s: %s", name, value) >= (int)sizeof line)
		return -1;
	if ((l = curl_slist_append(*list, line)) == NULL)
		return -1;
	*list = l;
	return 0;
}

static int
object_headers(struct s3_target *t, jv dest, const char *content_type)
{
	const char *ct = field(dest, "contenttype");
	jv meta = jv_object_get(jv_copy(dest), jv_string("metadata"));
	int rc = 0;

	rc |= add_header(&t->object_headers, "Content-Type", ct != NULL ? ct : content_type);
	rc |= add_header(&t->object_headers, "Cache-Control", field(dest, "cachecontrol"));
	rc |= add_header(&t->object_headers, "Content-Disposition",
	    field(dest, "contentdisposition"));
	rc |= add_header(&t->object_headers, "x-amz-acl", field(dest, "acl"));
	if (jv_get_kind(meta) == JV_KIND_OBJECT) {
		jv_object_foreach(meta, name, value) {
			char hname[256];

			if (jv_get_kind(value) == JV_KIND_STRING &&
			    snprintf(hname, sizeof hname, "x-amz-meta-%s",
			    jv_string_value(name)) < (int)sizeof hname)
				rc |= add_header(&t->object_headers, hname,
				    jv_string_value(value));
			else
				rc = -1;
			jv_free(name);
			jv_free(value);
		}
	}
	jv_free(meta);
	return rc;
}

bool
s3_payload_signed(const char *policy, const char *scheme)
{
	if (strcmp(policy, "signed") == 0)
		return true;
	if (strcmp(policy, "unsigned") == 0)
		return false;
	return strcmp(scheme, "http") == 0;
}

struct s3_target *
s3_target_new(jv dest, const char *default_key, const char *content_type,
    const char *payload_policy, char *err, size_t err_size)
{
	struct s3_target *t = calloc(1, sizeof *t);
	const char *host = field(dest, "s3host"), *bucket = field(dest, "bucket");
	const char *key = field(dest, "filename"), *region = field(dest, "region");
	const char *scheme = field_bool(dest, "secure", true) ? "https" : "http";
	char default_host[128], *ekey = NULL;
	size_t len;

	if (t == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	if (region == NULL)
		region = "us-east-1";
	if (host == NULL) {
		snprintf(default_host, sizeof default_host, "s3.%s.amazonaws.com", region);
		host = default_host;
	} else if (strncmp(host, "http://", 7) == 0 || strncmp(host, "https://", 8) == 0) {
		scheme = host[4] == 's' ? "https" : "http";
		host = strstr(host, "://") + 3;
	}
	while (key != NULL && *key == '/')
		key++;
	if (key == NULL || *key == '\0')
		key = default_key;
	len = strlen(host);
	if (len > 0 && host[len - 1] == '/')
		len--;
	if (bucket == NULL || !bucket_ok(bucket)) {
		snprintf(err, err_size, "s3: bucket name not valid");
	} else if (len == 0 || len > 255 || !host_ok(strndupa(host, len))) {
		snprintf(err, err_size, "s3: s3host not valid");
	} else if (strlen(key) > 1024 || strpbrk(key, "\r\n") != NULL) {
		snprintf(err, err_size, "s3: filename not valid");
	} else if (field(dest, "aws_access_key_id") == NULL ||
	    field(dest, "aws_secret_access_key") == NULL) {
		snprintf(err, err_size, "s3: no aws_access_key_id and aws_secret_access_key");
	} else if ((ekey = uri_encode(key)) == NULL ||
	    asprintf(&t->object_url, "%s://%.*s/%s/%s", scheme, (int)len, host,
	    bucket, ekey) < 0 ||
	    (t->region = strdup(region)) == NULL ||
	    (t->access_key = strdup(field(dest, "aws_access_key_id"))) == NULL ||
	    (t->secret_key = strdup(field(dest, "aws_secret_access_key"))) == NULL) {
		snprintf(err, err_size, "out of memory");
	} else if (object_headers(t, dest, content_type) != 0) {
		snprintf(err, err_size, "s3: a header (metadata, acl ...) is not valid");
	} else {
		t->sign_payload = s3_payload_signed(payload_policy, scheme);
		free(ekey);
		return t;
	}
	free(ekey);
	s3_target_free(t);
	return NULL;
}

void
s3_target_free(struct s3_target *t)
{
	if (t == NULL)
		return;
	free(t->object_url);
	free(t->region);
	free(t->access_key);
	if (t->secret_key != NULL)
		explicit_bzero(t->secret_key, strlen(t->secret_key));
	free(t->secret_key);
	curl_slist_free_all(t->object_headers);
	free(t);
}

char *
s3_url(const struct s3_target *t, const char *query)
{
	char *url;

	if (query == NULL)
		return strdup(t->object_url);
	if (asprintf(&url, "%s?%s", t->object_url, query) < 0)
		return NULL;
	return url;
}

int
s3_sign(CURL *easy, const struct s3_target *t, const char *sha256_hex,
    struct curl_slist **headers)
{
	char provider[128];

	snprintf(provider, sizeof provider, "aws:amz:%s:s3", t->region);
	if (curl_easy_setopt(easy, CURLOPT_AWS_SIGV4, provider) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_USERNAME, t->access_key) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_PASSWORD, t->secret_key) != CURLE_OK)
		return -1;
	return add_header(headers, "x-amz-content-sha256", sha256_hex);
}

static void
hex_of(const unsigned char *md, char hex[SHA256_HEX_LEN + 1])
{
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

int
s3_sha256_fd(int fd, off_t off, off_t len, char hex[SHA256_HEX_LEN + 1])
{
	enum { CHUNK = 1 << 20 };
	unsigned char md[EVP_MAX_MD_SIZE], *buf = malloc(CHUNK);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -1;

	if (buf == NULL || ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	while (len > 0) {
		ssize_t n = pread(fd, buf, len < CHUNK ? (size_t)len : CHUNK, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* the file shrank under us */
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		off += n;
		len -= n;
	}
	if (EVP_DigestFinal_ex(ctx, md, NULL) != 1)
		goto out;
	hex_of(md, hex);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

void
s3_sha256_mem(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len;

	EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
	hex_of(md, hex);
}

char *
s3_xml_text(const char *xml, const char *tag)
{
	char open[64], close[64];
	const char *start, *end;
	char *out, *o;

	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	if (xml == NULL || (start = strstr(xml, open)) == NULL)
		return NULL;
	start += strlen(open);
	if ((end = strstr(start, close)) == NULL ||
	    (out = malloc((size_t)(end - start) + 1)) == NULL)
		return NULL;
	for (o = out; start < end; start++) {
		static const char *const ents[][2] = { { "&amp;", "&" },
			{ "&lt;", "<" }, { "&gt;", ">" }, { "&quot;", "\"" },
			{ "&apos;", "'" } };
		size_t i;

		for (i = 0; i < 5; i++)
			if (strncmp(start, ents[i][0], strlen(ents[i][0])) == 0)
				break;
		if (i < 5) {
			*o++ = ents[i][1][0];
			start += strlen(ents[i][0]) - 1;
		} else {
			*o++ = *start;
		}
	}
	*o = '\0';
	return out;
}

char *
s3_error_text(long status, const char *body)
{
	char *code = s3_xml_text(body, "Code"), *message = s3_xml_text(body, "Message");
	char *text = NULL;
	int rc;

	if (code != NULL)
		rc = asprintf(&text, "%s: %s (HTTP %ld)", code,
		    message != NULL ? message : "", status);
	else
		rc = asprintf(&text, "HTTP %ld: %.200s", status,
		    body != NULL ? body : "");
	if (rc < 0)
		text = NULL;
	else if (code == NULL)
		text[strcspn(text, "\r\n")] = '\0';
	free(code);
	free(message);
	return text;
}

char *
s3_complete_body(jv etags)
{
	size_t cap = 128, len;
	char *body, *grown;
	int n = jv_array_length(jv_copy(etags));

	if ((body = malloc(cap)) == NULL)
		return NULL;
	len = (size_t)snprintf(body, cap, "<CompleteMultipartUpload>");
	for (int i = 0; i < n; i++) {
		jv etag = jv_array_get(jv_copy(etags), i);
		const char *e = jv_get_kind(etag) == JV_KIND_STRING ? jv_string_value(etag) : "";
		size_t need = strlen(e) + 96;

		if (len + need >= cap) {
			cap = (len + need) * 2;
			if ((grown = realloc(body, cap)) == NULL) {
				jv_free(etag);
				free(body);
				return NULL;
			}
			body = grown;
		}
		len += (size_t)snprintf(body + len, cap - len,
		    "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i + 1, e);
		jv_free(etag);
	}
	if (len + 32 >= cap && (grown = realloc(body, len + 32)) == NULL) {
		free(body);
		return NULL;
	} else if (len + 32 >= cap) {
		body = grown;
		cap = len + 32;
	}
	snprintf(body + len, cap - len, "</CompleteMultipartUpload>");
	return body;
}
