/*
 * http.h — one HTTP/1.1 connection served on a pair of descriptors
 * (stdin/stdout under inetd): read requests with libhttp-parser, hand each
 * complete one to a handler, keep the connection alive while the client and
 * the limits allow. Everything a client sends is bounded: header bytes,
 * body bytes, the idle time between bytes, the total time to send requests
 * on one connection (slowloris), and the number of requests.
 *
 * A handler answers with http_respond (whole body in memory) or with
 * http_head followed by http_write / http_sendfile. Failures of the
 * connection itself (malformed request, limits) go to the error handler,
 * which answers in the API's own error format; the connection is then
 * closed. No global state.
 */
#ifndef VR_HTTP_H
#define VR_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_HEADERS_MAX 64

struct http_header {
	char *name;
	char *value;
};

struct http_request {
	const char *method;     /* "GET", "POST" … */
	char *target;           /* the request-target as received */
	char *path;             /* its path, not decoded */
	char *query;            /* its query string without '?', or "" */
	struct http_header header[HTTP_HEADERS_MAX];
	int nheader;
	char *body;             /* NUL-terminated for convenience */
	size_t body_len;
};

struct http_limits {
	int64_t max_header_size;    /* request line + headers, bytes */
	int64_t max_body_size;
	int64_t idle_timeout_ms;    /* between bytes, and between requests */
	int64_t request_timeout_ms; /* to send every request of a connection */
	int max_requests;           /* per connection (keep-alive) */
};

struct http_conn;

/* The handler must answer (http_respond or http_head …) exactly once. */
typedef void (*http_handler)(void *arg, struct http_conn *c,
    struct http_request *req);
/* The error handler answers a request that could not be read whole:
 * status 400, 408, 413, 431 …, a short code and a message. req holds what
 * was read (target may be NULL). The connection closes afterwards. */
typedef void (*http_error_handler)(void *arg, struct http_conn *c,
    const struct http_request *req, int status, const char *code,
    const char *message);

/* http_serve: serve requests from in_fd, answering on out_fd, until the
 * client closes, a limit is reached or an error. Returns the number of
 * requests answered, or -1 when the connection failed (logged). */
int http_serve(int in_fd, int out_fd, const struct http_limits *limits,
    http_handler handler, http_error_handler on_error, void *arg);

/* http_header_get: the value of header name (case-insensitive), or NULL. */
const char *http_header_get(const struct http_request *req, const char *name);

/* http_query_get: the percent-decoded value of query parameter name into
 * out (size bytes). true when present (and it fit), false otherwise. */
bool http_query_get(const struct http_request *req, const char *name,
    char *out, size_t size);

/* http_query_has: is query parameter name present (with or without a
 * value)? */
bool http_query_has(const struct http_request *req, const char *name);

/* http_status_text: "Not Found" for 404. */
const char *http_status_text(int status);

/* http_respond: a whole response. extra_headers is NULL or lines each
 * ending in "\r\n". Returns 0, or -1 when the client is gone. */
int http_respond(struct http_conn *c, int status, const char *content_type,
    const char *extra_headers, const void *body, size_t len);

/* http_head: status line and headers for a body of content_length bytes
 * (sent afterwards with http_write / http_sendfile); a negative length
 * sends "Transfer-Encoding: chunked" and the caller frames the chunks. */
int http_head(struct http_conn *c, int status, const char *content_type,
    const char *extra_headers, int64_t content_length);
int http_write(struct http_conn *c, const void *data, size_t len);
/* http_sendfile: len bytes of fd from offset. */
int http_sendfile(struct http_conn *c, int fd, off_t offset, int64_t len);

/* http_close_after: end the connection after this response. */
void http_close_after(struct http_conn *c);

/* http_is_head: is the request being answered a HEAD (no body is sent)? */
bool http_is_head(const struct http_conn *c);

#endif
