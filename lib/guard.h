/*
 * guard.h — the address guard for every outbound connection vr makes on a
 * client's behalf (asset fetches, webhooks, uploads). It is enforced at the
 * socket, through libcurl's CURLOPT_OPENSOCKETFUNCTION, so the address
 * actually connected is checked (not a name that may resolve differently),
 * on every connection including those made after a redirect. Refused:
 * loopback, RFC 1918 private, CGNAT, link-local (cloud metadata lives there),
 * unspecified, multicast, broadcast, IPv6 ULA/link-local, IPv4-mapped forms
 * of these. conf.fetch_allow lists addresses or CIDR ranges let through
 * (tests allow 127.0.0.1). Only the protocols named are allowed, also for
 * redirects.
 */
#ifndef VR_GUARD_H
#define VR_GUARD_H

#include <curl/curl.h>
#include <stdbool.h>
#include <sys/socket.h>

struct guard {
	char denied[160]; /* why the last connection was refused; "" if none */
};

/* guard_attach: install the guard on easy; protocols is libcurl's list
 * ("http,https"). g must live as long as the transfer. Returns 0 or -1. */
int guard_attach(CURL *easy, struct guard *g, const char *protocols);

/* guard_allowed: may we connect to sa? If not, writes why into why. */
bool guard_allowed(const struct sockaddr *sa, char *why, size_t why_size);

/* guard_url_scheme_ok: does url begin with one of the schemes in protocols
 * (a quick check before a job is accepted; the socket check still holds)? */
bool guard_url_scheme_ok(const char *url, const char *protocols);

#endif
