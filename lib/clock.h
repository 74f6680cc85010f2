/*
 * clock.h — time as the spool records it: milliseconds since the epoch and
 * ISO 8601 UTC text ("2026-11-23T18:15:02.123Z"), as Plainly's dates are.
 */
#ifndef VR_CLOCK_H
#define VR_CLOCK_H

#include <stdint.h>
#include <stddef.h>

#define ISO8601_LEN 24

int64_t now_ms(void);        /* CLOCK_REALTIME */
int64_t mono_ms(void);       /* CLOCK_MONOTONIC, for deadlines */
/* iso8601: format ms since the epoch into out[ISO8601_LEN + 1]. */
void iso8601(int64_t ms, char out[ISO8601_LEN + 1]);
/* iso8601_parse: inverse of iso8601 (also accepts no fraction, "+00:00").
 * Returns 0 and sets *ms, or -1. */
int iso8601_parse(const char *s, int64_t *ms);

#endif
