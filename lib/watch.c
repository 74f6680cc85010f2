/*
 * watch.c — inotify on spool directories, with the scan that makes it
 * reliable (watch.h): watch first, then list, then events; a name is offered
 * once while present; overflow rescans.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "log.h"
#include <jv.h>

#include "watch.h"

#define WATCH_MAX 16

struct watched {
	int wd;        /* inotify watch descriptor, -1 when unused */
	int index;
	int dirfd;
	jv seen;       /* object: names offered and handled, while present */
};

struct watch {
	int ifd;
	watch_cb cb;
	void *arg;
	int n;
	struct watched dir[WATCH_MAX];
};

struct watch *
watch_new(watch_cb cb, void *arg)
{
	struct watch *w = calloc(1, sizeof *w);

	if (w == NULL)
		return NULL;
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ifd == -1) {
		free(w);
		return NULL;
	}
	w->cb = cb;
	w->arg = arg;
	return w;
}

void
watch_free(struct watch *w)
{
	int i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n; i++)
		jv_free(w->dir[i].seen);
	close(w->ifd);
	free(w);
}

int
watch_fd(const struct watch *w)
{
	return w->ifd;
}

/* offer: hand name to the callback unless it is already handled. */
static int
offer(struct watch *w, struct watched *wd, const char *name)
{
	jv key = jv_string(name);
	int rc;

	if (name[0] == '.' || jv_object_has(jv_copy(wd->seen), jv_copy(key))) {
		jv_free(key);
		return 0;
	}
	wd->seen = jv_object_set(wd->seen, jv_copy(key), jv_true());
	rc = w->cb(w->arg, wd->index, wd->dirfd, name);
	if (rc == 1)
		wd->seen = jv_object_delete(wd->seen, key);
	else
		jv_free(key);
	return 1;
}

/* scan: list the directory; forget names that left, offer new ones. */
static int
scan(struct watch *w, struct watched *wd)
{
	struct dirent *de;
	DIR *dp;
	int fd, calls = 0;
	jv present = jv_object();

	fd = openat(wd->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (dp = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		jv_free(present);
		return -1;
	}
	while ((de = readdir(dp)) != NULL)
		if (de->d_name[0] != '.')
			present = jv_object_set(present, jv_string(de->d_name),
			    jv_true());
	closedir(dp);
	/* Keep only seen names still present. (jv_object_foreach borrows
	 * its object and evaluates it repeatedly: iterate over a variable.) */
	jv seen = jv_copy(wd->seen);
	jv_object_foreach(seen, name, value) {
		jv_free(value);
		if (!jv_object_has(jv_copy(present), jv_copy(name)))
			wd->seen = jv_object_delete(wd->seen, name);
		else
			jv_free(name);
	}
	jv_free(seen);
	jv_object_foreach(present, name, value) {
		jv_free(value);
		calls += offer(w, wd, jv_string_value(name));
		jv_free(name);
	}
	jv_free(present);
	return calls;
}

int
watch_add(struct watch *w, int index, int dirfd, const char *path)
{
	struct watched *wd;

	if (w->n == WATCH_MAX) {
		errno = ENOSPC;
		return -1;
	}
	wd = &w->dir[w->n];
	wd->wd = inotify_add_watch(w->ifd, path, IN_MOVED_TO | IN_CLOSE_WRITE |
	    IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR);
	if (wd->wd == -1)
		return -1;
	wd->index = index;
	wd->dirfd = dirfd;
	wd->seen = jv_object();
	w->n++;
	return scan(w, wd) == -1 ? -1 : 0;
}

int
watch_rescan(struct watch *w)
{
	int i, n, calls = 0;

	for (i = 0; i < w->n; i++) {
		if ((n = scan(w, &w->dir[i])) == -1)
			return -1;
		calls += n;
	}
	return calls;
}

void
watch_forget(struct watch *w, int index, const char *name)
{
	int i;

	for (i = 0; i < w->n; i++)
		if (w->dir[i].index == index)
			w->dir[i].seen = jv_object_delete(w->dir[i].seen,
			    jv_string(name));
}

static struct watched *
by_wd(struct watch *w, int wd)
{
	int i;

	for (i = 0; i < w->n; i++)
		if (w->dir[i].wd == wd)
			return &w->dir[i];
	return NULL;
}

int
watch_dispatch(struct watch *w)
{
	char buf[64 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	struct watched *wd;
	ssize_t len;
	char *p;
	int calls = 0, n;

	for (;;) {
		len = read(w->ifd, buf, sizeof buf);
		if (len == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return calls;
			return -1;
		}
		for (p = buf; p < buf + len;
		    p += sizeof(struct inotify_event) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW) {
				if ((n = watch_rescan(w)) == -1)
					return -1;
				calls += n;
				continue;
			}
			if (ev->len == 0 || (wd = by_wd(w, ev->wd)) == NULL)
				continue;
			if (ev->mask & (IN_MOVED_FROM | IN_DELETE))
				wd->seen = jv_object_delete(wd->seen,
				    jv_string(ev->name));
			else if (ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE))
				calls += offer(w, wd, ev->name);
		}
	}
}

int
watch_wait(struct watch *w, int timeout_ms)
{
	struct pollfd pfd = { .fd = w->ifd, .events = POLLIN };
	int rc;

	rc = poll(&pfd, 1, timeout_ms);
	if (rc == -1)
		return errno == EINTR ? 0 : -1;
	if (rc == 0)
		return 0;
	return watch_dispatch(w);
}
