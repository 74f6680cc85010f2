/*
 * util.h — two small helpers several parts of libvr need, kept once:
 * writing a whole buffer to a descriptor, and trimming a line.
 */
#ifndef VR_UTIL_H
#define VR_UTIL_H

#include <stddef.h>

/* write_all: write len bytes of data to fd, retrying after EINTR and short
 * writes. 0, or -1 with errno set. */
int write_all(int fd, const void *data, size_t len);

/* str_trim: s without leading and trailing white space (cut in place). */
char *str_trim(char *s);

#endif
