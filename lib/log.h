/*
 * log.h — diagnostics on stderr, one line each, program name first
 * (after OpenSMTPD's log.h). The families are named for errno:
 *   fatal(ex, ...)   message + ": " + strerror(errno), then exit(ex)
 *   fatalx(ex, ...)  message only, then exit(ex)
 *   log_warn(...)    message + strerror(errno)
 *   log_warnx(...)   message only
 *   log_info(...)    what a daemon did, for the sysadmin (stderr too)
 * Exit codes are sysexits(3) values. errno is preserved by log_warn*.
 */
#ifndef VR_LOG_H
#define VR_LOG_H

#include <sysexits.h>

/* log_init: remember the program name (basename of argv0) for every line. */
void log_init(const char *argv0);
const char *log_progname(void);

_Noreturn void fatal(int exit_code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
_Noreturn void fatalx(int exit_code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
