/*
 * http.c — one HTTP/1.1 connection on two descriptors (http.h): a small
 * blocking loop of poll + read feeding libhttp-parser, paused at the end of
 * each message so that the request is answered before the next is read.
 * Every limit is checked as bytes arrive, never after buffering them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <http_parser.h>

#include "clock.h"
#include "http.h"
#include "log.h"

#define READ_CHUNK 16384
#define DRAIN_MS 1000   /* lingering close: let the client read our answer */

struct http_conn {
	int in_fd, out_fd;
	bool is_socket;
	const struct http_limits *limits;
	http_parser parser;
	http_parser_settings settings;
	struct http_request req;
	size_t target_len;
	size_t name_len, value_len;   /* of the header being read */
	bool in_value;
	int64_t header_bytes;
	size_t body_cap;
	bool started, headers_done, message_done;
	bool close_after, is_head, responded, gone;
	int served;
	int64_t deadline_ms;          /* mono: the client must be done sending */
	/* a request that cannot be read whole */
	int fail_status;
	const char *fail_code;
	char fail_message[160];
	char method[16];
};

static void
conn_fail(struct http_conn *c, int status, const char *code, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
conn_fail(struct http_conn *c, int status, const char *code, const char *fmt,
    ...)
{
	va_list ap;

	if (c->fail_status != 0)
		return;
	c->fail_status = status;
	c->fail_code = code;
	va_start(ap, fmt);
	vsnprintf(c->fail_message, sizeof c->fail_message, fmt, ap);
	va_end(ap);
}

/* append: grow the NUL-terminated string *s of length *len by n bytes. */
static int
append(char **s, size_t *len, const char *at, size_t n)
{
	char *grown = realloc(*s, *len + n + 1);

	if (grown == NULL)
		return -1;
	memcpy(grown + *len, at, n);
	*len += n;
	grown[*len] = '\0';
	*s = grown;
	return 0;
}

static int
count_header_bytes(struct http_conn *c, size_t n)
{
	c->header_bytes += (int64_t)n;
	if (c->header_bytes > c->limits->max_header_size) {
		conn_fail(c, 431, "REQUEST_HEADER_TOO_LARGE",
		    "request headers over the limit of %lld bytes",
		    (long long)c->limits->max_header_size);
		return -1;
	}
	return 0;
}

static int
on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;

	c->started = true;
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = p->data;

	if (count_header_bytes(c, n) == -1)
		return -1;
	return append(&c->req.target, &c->target_len, at, n);
}

static int
on_header_field(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = p->data;
	struct http_header *h;

	/* each header costs its line's punctuation too: ": " and CRLF */
	if (count_header_bytes(c, n + (c->in_value || c->req.nheader == 0 ?
	    4 : 0)) == -1)
		return -1;
	if (c->in_value || c->req.nheader == 0) {
		if (c->req.nheader == HTTP_HEADERS_MAX) {
			conn_fail(c, 431, "REQUEST_HEADER_TOO_LARGE",
			    "more than %d request headers", HTTP_HEADERS_MAX);
			return -1;
		}
		c->req.nheader++;
		c->in_value = false;
		c->name_len = c->value_len = 0;
	}
	h = &c->req.header[c->req.nheader - 1];
	return append(&h->name, &c->name_len, at, n);
}

static int
on_header_value(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = p->data;
	struct http_header *h = &c->req.header[c->req.nheader - 1];

	if (count_header_bytes(c, n) == -1)
		return -1;
	c->in_value = true;
	return append(&h->value, &c->value_len, at, n);
}

static int write_all(struct http_conn *c, const char *data, size_t len);

static int
on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	const char *expect;

	c->headers_done = true;
	snprintf(c->method, sizeof c->method, "%s",
	    http_method_str((enum http_method)p->method));
	c->req.method = c->method;
	c->is_head = p->method == HTTP_HEAD;
	if (c->req.target == NULL && append(&c->req.target, &c->target_len,
	    "", 0) == -1)
		return -1;
	if (p->content_length != ULLONG_MAX &&
	    p->content_length > (uint64_t)c->limits->max_body_size) {
		conn_fail(c, 413, "REQUEST_BODY_TOO_LARGE",
		    "request body of %llu bytes over the limit of %lld",
		    (unsigned long long)p->content_length,
		    (long long)c->limits->max_body_size);
		return -1;
	}
	expect = http_header_get(&c->req, "Expect");
	if (expect != NULL && strcasecmp(expect, "100-continue") == 0 &&
	    write_all(c, "HTTP/1.1 100 Continue\r\n\r\n", 25) == -1)
		return -1;
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = p->data;
	struct http_request *req = &c->req;

	if ((int64_t)(req->body_len + n) > c->limits->max_body_size) {
		conn_fail(c, 413, "REQUEST_BODY_TOO_LARGE",
		    "request body over the limit of %lld bytes",
		    (long long)c->limits->max_body_size);
		return -1;
	}
	if (req->body_len + n + 1 > c->body_cap) {
		size_t cap = c->body_cap ? c->body_cap : 4096;
		char *grown;

		while (cap < req->body_len + n + 1)
			cap *= 2;
		if ((grown = realloc(req->body, cap)) == NULL)
			return -1;
		req->body = grown;
		c->body_cap = cap;
	}
	memcpy(req->body + req->body_len, at, n);
	req->body_len += n;
	req->body[req->body_len] = '\0';
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;

	c->message_done = true;
	http_parser_pause(p, 1);
	return 0;
}

static void
request_reset(struct http_conn *c)
{
	struct http_request *req = &c->req;
	int i;

	free(req->target);
	free(req->path);
	for (i = 0; i < req->nheader; i++) {
		free(req->header[i].name);
		free(req->header[i].value);
	}
	free(req->body);
	memset(req, 0, sizeof *req);
	c->target_len = c->name_len = c->value_len = 0;
	c->in_value = false;
	c->header_bytes = 0;
	c->body_cap = 0;
	c->started = c->headers_done = c->message_done = false;
	c->is_head = c->responded = false;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
}

/* split_target: path and query of the request-target. */
static int
split_target(struct http_request *req)
{
	char *q;

	if ((req->path = strdup(req->target)) == NULL)
		return -1;
	if ((q = strchr(req->path, '#')) != NULL)
		*q = '\0';
	if ((q = strchr(req->path, '?')) != NULL) {
		*q = '\0';
		req->query = q + 1;
	} else {
		req->query = req->path + strlen(req->path);
	}
	return 0;
}

/* wait_fd: poll fd for events until timeout or the connection deadline.
 * 1 ready, 0 timed out, -1 error. */
static int
wait_fd(struct http_conn *c, int fd, short events, bool reading)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t timeout = c->limits->idle_timeout_ms, left;
	int n;

	if (reading) {
		left = c->deadline_ms - mono_ms();
		if (left < timeout)
			timeout = left;
		if (timeout < 0)
			timeout = 0;
	}
	do
		n = poll(&pfd, 1, (int)timeout);
	while (n == -1 && errno == EINTR);
	return n;
}

/* read_some: >0 bytes read, 0 end of file, -2 timed out, -1 error. */
static ssize_t
read_some(struct http_conn *c, char *buf, size_t size)
{
	ssize_t n;
	int ready;

	for (;;) {
		ready = wait_fd(c, c->in_fd, POLLIN, true);
		if (ready == 0)
			return -2;
		if (ready == -1)
			return -1;
		n = read(c->in_fd, buf, size);
		if (n >= 0)
			return n;
		if (errno == ECONNRESET)
			return 0;
		if (errno != EINTR && errno != EAGAIN)
			return -1;
	}
}

static int
write_all(struct http_conn *c, const char *data, size_t len)
{
	ssize_t n;

	if (c->gone)
		return -1;
	while (len > 0) {
		if (c->is_socket)
			n = send(c->out_fd, data, len, MSG_NOSIGNAL);
		else
			n = write(c->out_fd, data, len);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN &&
		    wait_fd(c, c->out_fd, POLLOUT, false) == 1)
			continue;
		c->gone = true;
		return -1;
	}
	return 0;
}

/* drain: after an error answer, read what the client still sends for a
 * moment, so that closing does not reset the connection before it reads. */
static void
drain(struct http_conn *c)
{
	char buf[READ_CHUNK];
	int64_t until = mono_ms() + DRAIN_MS;

	if (!c->is_socket)
		return;
	shutdown(c->out_fd, SHUT_WR);
	if (c->deadline_ms > until)
		c->deadline_ms = until;
	while (read_some(c, buf, sizeof buf) > 0)
		;
}

static bool
keep_alive(struct http_conn *c)
{
	return !c->close_after && !c->gone &&
	    http_should_keep_alive(&c->parser) &&
	    c->served + 1 < c->limits->max_requests;
}

/* compose_head: the status line and headers of the one answer to this
 * request, ending with the blank line, into *whole (malloc'ed). A negative
 * content_length means the body follows in chunks (the caller frames them,
 * ending with "0\r\n\r\n"). */
static int
compose_head(struct http_conn *c, int status, const char *content_type,
    const char *extra_headers, int64_t content_length, char **whole,
    size_t *whole_len)
{
	char head[1024], length[48];
	int n;

	if (c->responded) {
		log_warnx("http: a second answer to one request");
		return -1;
	}
	c->responded = true;
	if (!keep_alive(c))
		c->close_after = true;
	if (content_length < 0)
		snprintf(length, sizeof length, "Transfer-Encoding: chunked");
	else
		snprintf(length, sizeof length, "Content-Length: %lld",
		    (long long)content_length);
	n = snprintf(head, sizeof head,
	    "HTTP/1.1 %d %s\r\n%s%s%s%s\r\nConnection: %s\r\n",
	    status, http_status_text(status),
	    content_type ? "Content-Type: " : "",
	    content_type ? content_type : "", content_type ? "\r\n" : "",
	    length, c->close_after ? "close" : "keep-alive");
	if (n < 0 || (size_t)n >= sizeof head)
		return -1;
	if (append(whole, whole_len, head, (size_t)n) == -1 ||
	    (extra_headers != NULL && append(whole, whole_len, extra_headers,
	    strlen(extra_headers)) == -1) ||
	    append(whole, whole_len, "\r\n", 2) == -1) {
		free(*whole);
		*whole = NULL;
		return -1;
	}
	return 0;
}

int
http_head(struct http_conn *c, int status, const char *content_type,
    const char *extra_headers, int64_t content_length)
{
	char *whole = NULL;
	size_t whole_len = 0;
	int rc;

	if (compose_head(c, status, content_type, extra_headers,
	    content_length, &whole, &whole_len) == -1)
		return -1;
	/* one write: the head must not wait behind Nagle for the body */
	rc = write_all(c, whole, whole_len);
	free(whole);
	return rc;
}

int
http_respond(struct http_conn *c, int status, const char *content_type,
    const char *extra_headers, const void *body, size_t len)
{
	char *whole = NULL;
	size_t whole_len = 0;
	int rc;

	if (compose_head(c, status, content_type, extra_headers, (int64_t)len,
	    &whole, &whole_len) == -1)
		return -1;
	/* one write for head and body: two small writes meet Nagle's delay */
	if (!c->is_head && len > 0 &&
	    append(&whole, &whole_len, body, len) == -1) {
		free(whole);
		return -1;
	}
	rc = write_all(c, whole, whole_len);
	free(whole);
	return rc;
}

int
http_write(struct http_conn *c, const void *data, size_t len)
{
	if (c->is_head)
		return 0;
	return write_all(c, data, len);
}

int
http_sendfile(struct http_conn *c, int fd, off_t offset, int64_t len)
{
	ssize_t n;

	if (c->is_head)
		return 0;
	while (len > 0 && !c->gone) {
		n = sendfile(c->out_fd, fd, &offset,
		    len > (1 << 20) ? (1 << 20) : (size_t)len);
		if (n > 0) {
			len -= n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN &&
		    wait_fd(c, c->out_fd, POLLOUT, false) == 1)
			continue;
		c->gone = true;
	}
	return c->gone ? -1 : 0;
}

void
http_close_after(struct http_conn *c)
{
	c->close_after = true;
}

bool
http_is_head(const struct http_conn *c)
{
	return c->is_head;
}

const char *
http_header_get(const struct http_request *req, const char *name)
{
	int i;

	for (i = 0; i < req->nheader; i++)
		if (req->header[i].name != NULL &&
		    strcasecmp(req->header[i].name, name) == 0)
			return req->header[i].value ? req->header[i].value : "";
	return NULL;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* decode: percent-decode s[0..n) ('+' is a space) into out; false if it
 * does not fit or holds a NUL. */
static bool
decode(const char *s, size_t n, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int ch = (unsigned char)s[i];

		if (ch == '+') {
			ch = ' ';
		} else if (ch == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			ch = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
		}
		if (ch == 0 || o + 1 >= size)
			return false;
		out[o++] = (char)ch;
	}
	if (size == 0)
		return false;
	out[o] = '\0';
	return true;
}

bool
http_query_get(const struct http_request *req, const char *name, char *out,
    size_t size)
{
	const char *p = req->query, *end, *eq;
	size_t name_len = strlen(name);

	while (p != NULL && *p != '\0') {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL)
			eq = end;
		if ((size_t)(eq - p) == name_len &&
		    strncmp(p, name, name_len) == 0)
			return decode(eq == end ? eq : eq + 1,
			    (size_t)(end - (eq == end ? eq : eq + 1)), out, size);
		p = *end ? end + 1 : end;
	}
	return false;
}

bool
http_query_has(const struct http_request *req, const char *name)
{
	const char *p = req->query, *end;
	size_t name_len = strlen(name);

	while (p != NULL && *p != '\0') {
		end = p + strcspn(p, "&");
		if ((size_t)(end - p) >= name_len &&
		    strncmp(p, name, name_len) == 0 &&
		    (p[name_len] == '=' || p + name_len == end))
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

const char *
http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/* read_request: feed the parser until a message is complete. 1 done,
 * 0 the client ended (or idled out) between requests, -1 failed (c->fail_*
 * says how to answer when fail_status is set). */
static int
read_request(struct http_conn *c, char *buf, size_t *have, size_t *off)
{
	enum http_errno err;
	size_t parsed;
	ssize_t n;

	while (!c->message_done) {
		if (*off == *have) {
			n = read_some(c, buf, READ_CHUNK);
			if (n == -2) {
				if (!c->started)
					return 0;
				conn_fail(c, 408, "REQUEST_TIMEOUT",
				    "the request was not received in time");
				return -1;
			}
			if (n == -1) {
				log_warn("http: read");
				return -1;
			}
			if (n == 0) {
				if (!c->started)
					return 0;
				/* let the parser see the end: a body without
				 * length ends here; anything else is short */
				http_parser_execute(&c->parser, &c->settings,
				    buf, 0);
				if (c->message_done)
					break;
				conn_fail(c, 400, "REQUEST_INCOMPLETE",
				    "the connection ended inside the request");
				return -1;
			}
			*have = (size_t)n;
			*off = 0;
		}
		parsed = http_parser_execute(&c->parser, &c->settings,
		    buf + *off, *have - *off);
		*off += parsed;
		err = HTTP_PARSER_ERRNO(&c->parser);
		if (c->fail_status != 0)
			return -1;
		if (err == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
			break;
		}
		if (err == HPE_HEADER_OVERFLOW) {
			conn_fail(c, 431, "REQUEST_HEADER_TOO_LARGE",
			    "request headers too large");
			return -1;
		}
		if (err != HPE_OK) {
			conn_fail(c, 400, "REQUEST_MALFORMED",
			    "malformed HTTP request: %s",
			    http_errno_description(err));
			return -1;
		}
	}
	return 1;
}

int
http_serve(int in_fd, int out_fd, const struct http_limits *limits,
    http_handler handler, http_error_handler on_error, void *arg)
{
	static const struct http_request no_request;
	struct http_conn c;
	struct stat st;
	char *buf;
	size_t have = 0, off = 0;
	int rc, one = 1, served;

	if ((buf = malloc(READ_CHUNK)) == NULL)
		return -1;
	memset(&c, 0, sizeof c);
	c.in_fd = in_fd;
	c.out_fd = out_fd;
	c.limits = limits;
	c.deadline_ms = mono_ms() + limits->request_timeout_ms;
	c.settings.on_message_begin = on_message_begin;
	c.settings.on_url = on_url;
	c.settings.on_header_field = on_header_field;
	c.settings.on_header_value = on_header_value;
	c.settings.on_headers_complete = on_headers_complete;
	c.settings.on_body = on_body;
	c.settings.on_message_complete = on_message_complete;
	if (fstat(out_fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
		c.is_socket = true;
		setsockopt(out_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		fcntl(out_fd, F_SETFL, fcntl(out_fd, F_GETFL) | O_NONBLOCK);
	}
	if (fstat(in_fd, &st) == 0 && S_ISSOCK(st.st_mode))
		fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
	request_reset(&c);
	for (;;) {
		rc = read_request(&c, buf, &have, &off);
		if (rc == 0)
			break;
		if (rc == -1) {
			if (c.fail_status != 0 && on_error != NULL) {
				c.close_after = true;
				if (c.req.target != NULL)
					split_target(&c.req);
				on_error(arg, &c, c.req.target ? &c.req :
				    &no_request, c.fail_status, c.fail_code,
				    c.fail_message);
				drain(&c);
			}
			break;
		}
		if (split_target(&c.req) == -1)
			break;
		handler(arg, &c, &c.req);
		if (!c.responded) {
			log_warnx("http: %s %s: no answer", c.req.method,
			    c.req.target);
			break;
		}
		c.served++;
		if (c.close_after || c.gone)
			break;
		request_reset(&c);
	}
	served = c.served;
	request_reset(&c);
	free(buf);
	return c.gone ? -1 : served;
}
