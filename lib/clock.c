/* clock.c — milliseconds and ISO 8601 UTC text (clock.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"

static int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

int64_t
mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

void
iso8601(int64_t ms, char out[ISO8601_LEN + 1])
{
	time_t secs = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, ISO8601_LEN + 1, "%Y-%m-%dT%H:%M:%S", &tm);
	out[19] = '.';
	out[20] = (char)('0' + frac / 100);
	out[21] = (char)('0' + frac / 10 % 10);
	out[22] = (char)('0' + frac % 10);
	out[23] = 'Z';
	out[24] = '\0';
}

int
iso8601_parse(const char *s, int64_t *ms)
{
	struct tm tm;
	const char *rest;
	int frac = 0, digits = 0;

	memset(&tm, 0, sizeof tm);
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest == NULL)
		return -1;
	if (*rest == '.') {
		for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
			if (digits < 3)
				frac = frac * 10 + (*rest - '0');
		for (; digits < 3; digits++)
			frac *= 10;
	}
	if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0 &&
	    strcmp(rest, "") != 0)
		return -1;
	*ms = (int64_t)timegm(&tm) * 1000 + frac;
	return 0;
}
