/*
 * guard.c — the address guard (guard.h): which addresses vr may connect to
 * on a client's behalf, enforced at the socket libcurl opens, so the address
 * really connected is the one checked, after every redirect too. Owns the
 * table of refused ranges and the parsing of conf.fetch_allow; no state
 * besides the per-transfer struct guard the caller keeps.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "guard.h"
#include "log.h"

/* Refused IPv4 ranges (network byte values), with what each one is. */
static const struct {
	uint8_t net[4];
	int bits;
	const char *what;
} denied_v4[] = {
	{ { 0, 0, 0, 0 }, 8, "\"this network\" (0.0.0.0/8)" },
	{ { 10, 0, 0, 0 }, 8, "private (10.0.0.0/8)" },
	{ { 100, 64, 0, 0 }, 10, "shared address space (100.64.0.0/10)" },
	{ { 127, 0, 0, 0 }, 8, "loopback (127.0.0.0/8)" },
	{ { 169, 254, 169, 254 }, 32, "cloud metadata (169.254.169.254)" },
	{ { 169, 254, 0, 0 }, 16, "link-local (169.254.0.0/16)" },
	{ { 172, 16, 0, 0 }, 12, "private (172.16.0.0/12)" },
	{ { 192, 0, 0, 0 }, 24, "IETF protocol assignments (192.0.0.0/24)" },
	{ { 192, 168, 0, 0 }, 16, "private (192.168.0.0/16)" },
	{ { 198, 18, 0, 0 }, 15, "benchmarking (198.18.0.0/15)" },
	{ { 224, 0, 0, 0 }, 4, "multicast (224.0.0.0/4)" },
	{ { 255, 255, 255, 255 }, 32, "broadcast (255.255.255.255)" },
	{ { 240, 0, 0, 0 }, 4, "reserved (240.0.0.0/4)" },
};

static const struct {
	uint8_t net[16];
	int bits;
	const char *what;
} denied_v6[] = {
	{ { 0 }, 128, "unspecified (::)" },
	{ { [15] = 1 }, 128, "loopback (::1)" },
	{ { 0xfc }, 7, "unique local (fc00::/7)" },
	{ { 0xfe, 0x80 }, 10, "link-local (fe80::/10)" },
	{ { 0xfe, 0xc0 }, 10, "site-local (fec0::/10)" },
	{ { 0xff }, 8, "multicast (ff00::/8)" },
	{ { 0x01, 0x00 }, 64, "discard-only (100::/64)" },
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32, "documentation (2001:db8::/32)" },
	/* IPv4-compatible (deprecated): never a real destination */
	{ { 0 }, 96, "IPv4-compatible IPv6 (::/96)" },
};

/* prefix_match: do the first bits of a and b agree? */
static bool
prefix_match(const uint8_t *a, const uint8_t *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

/* IPv6 forms that carry an IPv4 address: judge them as that address.
 * Returns true and sets v4 when addr is one. */
static bool
embedded_v4(const uint8_t addr[16], uint8_t v4[4])
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
	static const uint8_t sixtofour[2] = { 0x20, 0x02 };

	if (memcmp(addr, mapped, 12) == 0 || memcmp(addr, nat64, 12) == 0) {
		memcpy(v4, addr + 12, 4);
		return true;
	}
	if (memcmp(addr, sixtofour, 2) == 0) {
		memcpy(v4, addr + 2, 4);
		return true;
	}
	return false;
}

/* An allow-list entry: "ADDR", "ADDR/BITS" or a host name (resolved when
 * needed). Returns true when it covers the address (family, 4 or 16 bytes). */
static bool
allow_entry_covers(const char *entry, int family, const uint8_t *addr)
{
	char text[INET6_ADDRSTRLEN + 8];
	uint8_t net[16];
	const char *slash;
	int bits, len = family == AF_INET ? 4 : 16;

	if (strlen(entry) >= sizeof text)
		return false;
	strcpy(text, entry);
	slash = strchr(text, '/');
	if (slash != NULL) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (*end != '\0' || b < 0 || b > len * 8)
			return false;
		bits = (int)b;
		text[slash - text] = '\0';
	} else
		bits = len * 8;
	if (inet_pton(family, text, net) == 1)
		return prefix_match(addr, net, bits);
	if (slash != NULL || inet_pton(family == AF_INET ? AF_INET6 : AF_INET,
	    text, net) == 1)
		return false;

	/* A host name: the addresses it has now. */
	struct addrinfo hints = { .ai_family = family,
	    .ai_socktype = SOCK_STREAM }, *res, *ai;
	bool covered = false;
	if (getaddrinfo(text, NULL, &hints, &res) != 0)
		return false;
	for (ai = res; ai != NULL && !covered; ai = ai->ai_next) {
		const uint8_t *a = family == AF_INET ?
		    (const uint8_t *)&((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr :
		    (const uint8_t *)&((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr;
		covered = memcmp(a, addr, len) == 0;
	}
	freeaddrinfo(res);
	return covered;
}

static bool
allowed_by_conf(int family, const uint8_t *addr)
{
	for (int i = 0; i < conf.fetch_allow.n; i++)
		if (allow_entry_covers(conf.fetch_allow.item[i], family, addr))
			return true;
	return false;
}

static const char *
v4_denial(const uint8_t v4[4])
{
	for (size_t i = 0; i < sizeof denied_v4 / sizeof denied_v4[0]; i++)
		if (prefix_match(v4, denied_v4[i].net, denied_v4[i].bits))
			return denied_v4[i].what;
	return NULL;
}

bool
guard_allowed(const struct sockaddr *sa, char *why, size_t why_size)
{
	char text[INET6_ADDRSTRLEN] = "?";
	const char *what = NULL;
	uint8_t v4[4];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;
		memcpy(v4, &sin->sin_addr, 4);
		inet_ntop(AF_INET, v4, text, sizeof text);
		what = v4_denial(v4);
		if (what != NULL && allowed_by_conf(AF_INET, v4))
			what = NULL;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		const uint8_t *a = sin6->sin6_addr.s6_addr;
		inet_ntop(AF_INET6, a, text, sizeof text);
		if (embedded_v4(a, v4)) {
			what = v4_denial(v4);
			if (what != NULL && allowed_by_conf(AF_INET, v4))
				what = NULL;
		}
		for (size_t i = 0; what == NULL &&
		    i < sizeof denied_v6 / sizeof denied_v6[0]; i++)
			if (prefix_match(a, denied_v6[i].net, denied_v6[i].bits))
				what = denied_v6[i].what;
		if (what != NULL && allowed_by_conf(AF_INET6, a))
			what = NULL;
	} else
		what = "not an Internet address";

	if (what == NULL)
		return true;
	if (why != NULL && why_size > 0)
		snprintf(why, why_size, "address %s refused: %s, not in fetch_allow",
		    text, what);
	return false;
}

/* libcurl asks us for every socket it connects with. */
static curl_socket_t
guard_opensocket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct guard *g = arg;

	(void)purpose;
	/* The caller reports g->denied with the transfer's error. */
	if (!guard_allowed(&addr->addr, g->denied, sizeof g->denied))
		return CURL_SOCKET_BAD;
	return socket(addr->family, addr->socktype, addr->protocol);
}

int
guard_attach(CURL *easy, struct guard *g, const char *protocols)
{
	g->denied[0] = '\0';
	if (curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION,
	    guard_opensocket) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, g) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, protocols) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR,
	    protocols) != CURLE_OK ||
	    /* A proxy from the environment would be the address connected. */
	    curl_easy_setopt(easy, CURLOPT_PROXY, "") != CURLE_OK) {
		log_warnx("guard: libcurl refused an option (protocols \"%s\")",
		    protocols);
		return -1;
	}
	return 0;
}

bool
guard_url_scheme_ok(const char *url, const char *protocols)
{
	const char *colon = strstr(url, "://");
	const char *p = protocols;
	size_t scheme_len;

	if (colon == NULL || colon == url)
		return false;
	scheme_len = (size_t)(colon - url);
	while (*p != '\0') {
		size_t n = strcspn(p, ", ");
		if (n == scheme_len && strncasecmp(p, url, n) == 0)
			return true;
		p += n;
		p += strspn(p, ", ");
	}
	return false;
}
