/*
 * sign.h — signed, expiring output URLs, made by whoever writes them
 * (vr-render into the job, vr-notify into payloads) and checked by vr-accept,
 * which serves them:
 *   PUBLIC_URL/files/ID/NAME?expires=UNIX_SECONDS&sig=HEX
 * sig = HMAC-SHA256(secret, "ID/NAME:expires") as lower-case hex, where the
 * secret is the contents of conf.secret. HMAC comes from OpenSSL's libcrypto,
 * initialised without loading its configuration (vr-accept's start-up).
 */
#ifndef VR_SIGN_H
#define VR_SIGN_H

#include <stdbool.h>
#include <stdint.h>

/* sign_url: a signed URL for out/ID/NAME, malloc'ed; NULL on error
 * (logged: no secret, name not valid). */
char *sign_url(const char *id, const char *name, int64_t expires_s);

/* sign_check: is sig_hex the signature of ID/NAME:expires (constant time)?
 * Expiry is the caller's to compare. */
bool sign_check(const char *id, const char *name, int64_t expires_s,
    const char *sig_hex);

#endif
