/*
 * floor.c — the floor of vr's front-end design, for t/bench/accept.sh:
 * what xinetd exec'ing a trivial C program costs. It reads requests from
 * stdin (headers, then Content-Length bytes of body) and answers each with
 * a fixed 200, keeping the connection alive unless asked to close.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char ok_alive[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "Content-Length: 2\r\nConnection: keep-alive\r\n\r\n{}";
static const char ok_close[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "Content-Length: 2\r\nConnection: close\r\n\r\n{}";

int
main(void)
{
	char buf[65536], *end, *cl;
	size_t have = 0, need;
	ssize_t n;
	int closing;

	for (;;) {
		buf[have] = '\0';
		while ((end = strstr(buf, "\r\n\r\n")) == NULL) {
			if (have == sizeof buf - 1 ||
			    (n = read(0, buf + have, sizeof buf - 1 - have)) <= 0)
				return 0;
			have += (size_t)n;
			buf[have] = '\0';
		}
		*end = '\0';
		closing = strcasestr(buf, "\r\nConnection: close") != NULL;
		cl = strcasestr(buf, "\r\nContent-Length:");
		need = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
		while (have < need) {
			if ((n = read(0, buf + have, sizeof buf - 1 - have)) <= 0)
				return 0;
			have += (size_t)n;
		}
		if (closing) {
			write(1, ok_close, sizeof ok_close - 1);
			return 0;
		}
		if (write(1, ok_alive, sizeof ok_alive - 1) < 0)
			return 0;
		memmove(buf, buf + need, have - need);
		have -= need;
	}
}
