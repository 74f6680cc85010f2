/*
 * watch.h — wait for files to arrive in spool directories (DESIGN.md §2.5).
 * The inotify watch is added first, then the directory is scanned, then
 * events are handled, so no file is missed. A name is handed to the callback
 * once while it stays in the directory (scan and event may both see it);
 * when it leaves, it is forgotten, so a file moved back is seen again.
 * IN_Q_OVERFLOW rescans. inotify is a hint; the directory is the truth.
 *
 * The callback gets the directory's index (as given to watch_add), its fd and
 * the file name; it returns 0 when the name is handled, or 1 to have it
 * offered again at the next watch_rescan (e.g. it could not be taken now).
 */
#ifndef VR_WATCH_H
#define VR_WATCH_H

typedef int (*watch_cb)(void *arg, int index, int dirfd, const char *name);

struct watch;

/* watch_new: an empty watcher calling cb(arg, ...). NULL on failure. */
struct watch *watch_new(watch_cb cb, void *arg);
void watch_free(struct watch *w);

/* watch_add: watch dirfd (path for inotify) as `index`; names arriving by
 * rename or close-after-write. Scans it at once. Returns 0 or -1. */
int watch_add(struct watch *w, int index, int dirfd, const char *path);

/* watch_fd: the inotify descriptor, for poll(2) beside other work. */
int watch_fd(const struct watch *w);

/* watch_dispatch: read pending events (non-blocking) and call back.
 * Returns the number of callbacks made, or -1 on error. */
int watch_dispatch(struct watch *w);

/* watch_wait: poll for up to timeout_ms (-1: forever) then dispatch. */
int watch_wait(struct watch *w, int timeout_ms);

/* watch_rescan: list every watched directory again and offer names that are
 * not yet handled (and those whose callback returned 1). */
int watch_rescan(struct watch *w);

/* watch_forget: let name in index be offered again when seen. */
void watch_forget(struct watch *w, int index, const char *name);

#endif
