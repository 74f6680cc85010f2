/*
 * s3.h — what an S3 request needs beyond plain HTTP: path-style URLs on
 * any endpoint (http(s)://S3HOST/BUCKET/KEY), SigV4 signing by libcurl
 * (CURLOPT_AWS_SIGV4) with x-amz-content-sha256 computed here (libcurl
 * 7.88 signs the value we send but does not compute it) or UNSIGNED-PAYLOAD
 * (s3_payload_signed decides which), the object's
 * headers (Content-Type, Cache-Control, Content-Disposition, x-amz-acl,
 * x-amz-meta-*), the bodies and answers of multipart upload, and S3's
 * error text ("SignatureDoesNotMatch: The request signature ...").
 * Non-jv memory: s3_target_new's result is the caller's (s3_target_free);
 * functions returning char * return malloc'ed strings the caller frees.
 */
#ifndef VR_S3_H
#define VR_S3_H

#include <curl/curl.h>
#include <jv.h>
#include <stdbool.h>
#include <sys/types.h>

#define SHA256_HEX_LEN 64
/* x-amz-content-sha256 of a body sent without its hash in the signature */
#define S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

struct s3_target {
	char *object_url;     /* http(s)://host/bucket/encoded-key */
	char *region;
	char *access_key;
	char *secret_key;
	struct curl_slist *object_headers; /* sent when the object is created */
	bool sign_payload;    /* the file's SHA-256 goes in the signature */
};

/* s3_payload_signed: is a file body hashed and signed, under policy (the
 * vr.conf upload_s3_payload: "auto", "signed" or "unsigned") on a URL of
 * scheme? auto signs over http only: over https TLS already guards the
 * body, and hashing it costs about a CPU second per GB, on the store too
 * (the AWS SDKs' and botocore's default). */
bool s3_payload_signed(const char *policy, const char *scheme);

/* s3_target_new: from an s3 destination (borrowed), the key defaulting to
 * default_key, Content-Type to content_type, sign_payload from
 * payload_policy (s3_payload_signed). NULL with err filled when a field is
 * not usable. */
struct s3_target *s3_target_new(jv dest, const char *default_key,
    const char *content_type, const char *payload_policy, char *err,
    size_t err_size);
void s3_target_free(struct s3_target *t);

/* s3_url: object_url + query ("uploads=", "partNumber=1&uploadId=X": the
 * canonical form, names sorted and '=' present, as SigV4 signs it). */
char *s3_url(const struct s3_target *t, const char *query);

/* s3_sign: have libcurl sign easy's request for t, and add the
 * x-amz-content-sha256 header (sha256_hex, or S3_UNSIGNED_PAYLOAD) to
 * *headers (which the caller installs with CURLOPT_HTTPHEADER and frees).
 * 0 or -1. */
int s3_sign(CURL *easy, const struct s3_target *t, const char *sha256_hex,
    struct curl_slist **headers);

/* s3_sha256_fd: sha256 of len bytes of fd from off, as hex. 0 or -1 (errno). */
int s3_sha256_fd(int fd, off_t off, off_t len, char hex[SHA256_HEX_LEN + 1]);
void s3_sha256_mem(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1]);

/* s3_xml_text: the text of the first <tag> element of an answer, entities
 * decoded, or NULL. S3's answers are flat documents of known tags. */
char *s3_xml_text(const char *xml, const char *tag);

/* s3_error_text: "Code: Message" from an S3 error answer, else
 * "HTTP status: first line of the body". */
char *s3_error_text(long status, const char *body);

/* s3_complete_body: CompleteMultipartUpload's XML for the ETags (an
 * array of strings, part 1 first; borrowed). */
char *s3_complete_body(jv etags);

#endif
