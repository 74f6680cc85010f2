/*
 * id.h — job ids and the names that reach paths.
 * Ids are UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, 74 random
 * bits from getrandom(2); lower-case text, so sorting names sorts by time.
 * Every id, project, template or other name taken from a request is checked
 * here before it is used in a path.
 */
#ifndef VR_ID_H
#define VR_ID_H

#include <stdbool.h>
#include <stddef.h>

#define ID_LEN 36 /* "0193d2c4-8a1b-7c3d-9e4f-0a1b2c3d4e5f" */

/* id_new: write a fresh UUIDv7 and its NUL into out[ID_LEN + 1].
 * Returns 0, or -1 with errno set when no randomness could be had. */
int id_new(char out[ID_LEN + 1]);

/* id_valid: a lower-case canonical UUID of any version (36 chars). */
bool id_valid(const char *s);

/* name_valid: a project, template, profile or routing-key name:
 * 1..64 of [A-Za-z0-9._-], first char alphanumeric (so never "." or ".."). */
bool name_valid(const char *s);

/* random_token: len random bytes as lower-case hex into out[2*len + 1]. */
int random_token(char *out, size_t len);

#endif
