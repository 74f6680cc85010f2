/* id.c — UUIDv7 job ids and the strict name checks before paths (id.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"
#include "id.h"

static int
fill_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
id_new(char out[ID_LEN + 1])
{
	unsigned char b[16];
	uint64_t ms = (uint64_t)now_ms();
	int i;

	if (fill_random(b + 6, sizeof b - 6) == -1)
		return -1;
	for (i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));   /* version 7 */
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));   /* variant 10 */
	snprintf(out, ID_LEN + 1,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
	    b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

bool
id_valid(const char *s)
{
	int i;

	if (s == NULL || strlen(s) != ID_LEN)
		return false;
	for (i = 0; i < ID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f'))) {
			return false;
		}
	}
	return true;
}

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

bool
name_valid(const char *s)
{
	size_t i, len;

	if (s == NULL)
		return false;
	len = strlen(s);
	if (len == 0 || len > 64 || !is_alnum(s[0]))
		return false;
	for (i = 1; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

int
random_token(char *out, size_t len)
{
	unsigned char b[64];
	size_t i;

	if (len > sizeof b || fill_random(b, len) == -1)
		return -1;
	for (i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}
