/*
 * daemon.c — vr-render as a daemon: watch queued/, claim jobs for our
 * routing keys under their lease, render each in a child process with
 * rlimits, hear its progress on a pipe, and kill it when it stalls or runs
 * too long (the job then FAILS with WORKER_TIMEOUT). A child killed by
 * anything else leaves its job in in-progress/ with a free lease, to be
 * queued again (vr-sweep, or vr-render at start). SIGTERM/SIGINT: stop
 * taking jobs, ask the children to stop (their jobs go back to queued/),
 * wait for them, return.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "id.h"
#include "job.h"
#include "log.h"
#include "internal.h"
#include "spool.h"
#include "template.h"
#include "watch.h"

#define MAX_WORKERS 64

struct child {
	pid_t pid;
	char id[ID_LEN + 1];
	int progress_fd;         /* read end; -1 when closed */
	int64_t started_ms, heard_ms;
	const char *killed_for;  /* why the watchdog killed it, or NULL */
};

struct daemon {
	struct spool *sp;
	const struct conf_list *keys;
	struct watch *watch;
	struct child child[MAX_WORKERS];
	int workers, running;
};

static volatile sig_atomic_t stopping, child_stop;
static int wake_pipe[2] = { -1, -1 };

static void
on_stop(int sig)
{
	int saved = errno;
	ssize_t n;

	(void)sig;
	stopping = 1;
	n = write(wake_pipe[1], "s", 1);
	(void)n;
	errno = saved;
}

static void
on_child(int sig)
{
	int saved = errno;
	ssize_t n;

	(void)sig;
	n = write(wake_pipe[1], "c", 1);
	(void)n;
	errno = saved;
}

/* In the child: SIGTERM is a cancel, SIGUSR1/SIGINT a stop for restart. */
static void
on_child_signal(int sig)
{
	child_stop = sig == SIGTERM ? RENDER_CANCEL : RENDER_REQUEUE;
}

/* AddressSanitizer reserves terabytes of address space: no RLIMIT_AS. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static void
set_limits(void)
{
	struct rlimit rl;

#ifndef UNDER_ASAN
	if (conf.render_rlimit_as > 0) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)conf.render_rlimit_as;
		if (setrlimit(RLIMIT_AS, &rl) == -1)
			log_warn("setrlimit RLIMIT_AS");
	}
#endif
	if (conf.render_rlimit_cpu_ms > 0) {
		rl.rlim_cur = (rlim_t)((conf.render_rlimit_cpu_ms + 999) / 1000);
		rl.rlim_max = rl.rlim_cur + 5;
		if (setrlimit(RLIMIT_CPU, &rl) == -1)
			log_warn("setrlimit RLIMIT_CPU");
	}
}

/* heartbeat: while the render child works, that is while its CPU time
 * advances, tell the daemon's watchdog four times a second, even inside one
 * long call into libavfilter (a GIF's palette pass over a composition made
 * only of generated layers runs every frame in one call). A child blocked in
 * I/O uses no CPU and stays silent, so render_stall still catches it; one
 * that spins is bounded by render_timeout and RLIMIT_CPU. */
static void *
heartbeat(void *arg)
{
	int progress_fd = (int)(intptr_t)arg;
	const struct timespec tick = { 0, 250 * 1000 * 1000 };
	struct timespec cpu;
	int64_t cpu_ms, last_ms = -1;

	for (;;) {
		nanosleep(&tick, NULL);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
		cpu_ms = (int64_t)cpu.tv_sec * 1000 + cpu.tv_nsec / 1000000;
		/* at least a tenth of a core since the last tick */
		if (last_ms >= 0 && cpu_ms - last_ms >= 25 &&
		    write(progress_fd, "+", 1) == -1 && errno != EAGAIN)
			return NULL;
		last_ms = cpu_ms;
	}
}

static _Noreturn void
child_main(struct daemon *d, const char *id, int lease_fd, int progress_fd)
{
	pthread_t beat;
	struct sigaction sa = { .sa_handler = on_child_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGCHLD, SIG_DFL);
	close(wake_pipe[0]);
	close(wake_pipe[1]);
	for (int i = 0; i < d->workers; i++)
		if (d->child[i].pid > 0 && d->child[i].progress_fd >= 0)
			close(d->child[i].progress_fd);
	set_limits();
	if (pthread_create(&beat, NULL, heartbeat,
	    (void *)(intptr_t)progress_fd) != 0)
		log_warnx("%s: no heartbeat thread: long filter passes may be "
		    "taken for stalls", id);
	render_job(d->sp, id, lease_fd, &child_stop, progress_fd);
	/* exit, not _exit: leak checkers look at the child too */
	tmpl_cache_clear();
	exit(0);
}

static int
start(struct daemon *d, const char *id, int lease_fd)
{
	struct child *c = NULL;
	int fds[2];
	pid_t pid;

	for (int i = 0; i < d->workers; i++)
		if (d->child[i].pid == 0) {
			c = &d->child[i];
			break;
		}
	if (c == NULL || pipe2(fds, O_CLOEXEC) == -1) {
		log_warn("%s: cannot start a render", id);
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("%s: fork", id);
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(d, id, lease_fd, fds[1]);
	}
	/* the child holds the lease now: it ends when the child does */
	close(lease_fd);
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	c->pid = pid;
	snprintf(c->id, sizeof c->id, "%s", id);
	c->progress_fd = fds[0];
	c->started_ms = c->heard_ms = mono_ms();
	c->killed_for = NULL;
	d->running++;
	log_info("%s: rendering in process %d", id, (int)pid);
	return 0;
}

/* offer: the watcher's callback for a name in queued/. */
static int
offer(void *arg, int index, int dirfd, const char *name)
{
	struct daemon *d = arg;
	char id[ID_LEN + 1];
	const char *key;
	jv job;
	int lease, ours;

	(void)index;
	(void)dirfd;
	if (spool_name_id(name, id) == -1)
		return 0;
	if (stopping || d->running >= d->workers)
		return 1;
	job = spool_get(d->sp, SD_QUEUED, id);
	if (!jv_is_valid(job)) {
		int lost = errno == ENOENT;
		jv msg = jv_invalid_get_msg(job);
		if (!lost)
			log_warnx("%s", jv_get_kind(msg) == JV_KIND_STRING ?
			    jv_string_value(msg) : name);
		jv_free(msg);
		return 0;
	}
	key = job_str(job, "routingkey");
	ours = conf_list_has(d->keys, key ? key : "default");
	if (!ours) {
		jv_free(job);
		return 0;
	}
	render_preload(job);
	if ((lease = render_claim(d->sp, id)) == -1)
		return 0;
	if (start(d, id, lease) == -1) {
		/* give it back */
		if (spool_claim(d->sp, id, SD_IN_PROGRESS, SD_QUEUED) == -1)
			log_warn("%s: cannot queue again", id);
		spool_unlease(d->sp, id, lease);
		return 1;
	}
	return 0;
}

/* fail_dead: the child of job id is gone without finishing it. */
static void
fail_dead(struct daemon *d, const char *id, const char *code,
    const char *why)
{
	int lease = spool_lease(d->sp, id);
	jv job;

	if (lease == -1) {
		log_warn("%s: cannot take the lease back", id);
		return;
	}
	job = spool_get(d->sp, SD_IN_PROGRESS, id);
	if (jv_is_valid(job))
		render_fail_job(d->sp, id, job, code, why);
	else
		jv_free(job);     /* it had moved on: nothing to do */
	spool_unlease(d->sp, id, lease);
}

static void
reaped(struct daemon *d, struct child *c, int status)
{
	char why[160];

	if (c->progress_fd >= 0)
		close(c->progress_fd);
	c->progress_fd = -1;
	if (c->killed_for)
		fail_dead(d, c->id, "WORKER_TIMEOUT", c->killed_for);
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU)
		fail_dead(d, c->id, "WORKER_TIMEOUT", "the render used up its CPU "
		    "time (render_rlimit_cpu)");
	else if (WIFSIGNALED(status))
		log_warnx("%s: render process %d killed by signal %d; the job "
		    "waits in in-progress/ to be queued again", c->id, (int)c->pid,
		    WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0) {
		snprintf(why, sizeof why, "the render process exited with status "
		    "%d", WEXITSTATUS(status));
		fail_dead(d, c->id, "WORKER_FATAL_ERROR", why);
	}
	c->pid = 0;
	d->running--;
}

static void
reap(struct daemon *d)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (int i = 0; i < d->workers; i++)
			if (d->child[i].pid == pid) {
				reaped(d, &d->child[i], status);
				break;
			}
}

static void
watchdog(struct daemon *d)
{
	int64_t now = mono_ms();
	char buf[64];

	for (int i = 0; i < d->workers; i++) {
		struct child *c = &d->child[i];
		if (c->pid == 0)
			continue;
		if (c->progress_fd >= 0) {
			ssize_t n;
			while ((n = read(c->progress_fd, buf, sizeof buf)) > 0)
				c->heard_ms = now;
			if (n == 0) {
				close(c->progress_fd);
				c->progress_fd = -1;
			}
		}
		if (c->killed_for)
			continue;
		if (conf.render_stall_ms > 0 && now - c->heard_ms >
		    conf.render_stall_ms)
			c->killed_for = "the render made no progress for "
			    "render_stall";
		else if (conf.render_timeout_ms > 0 && now - c->started_ms >
		    conf.render_timeout_ms)
			c->killed_for = "the render took longer than render_timeout";
		if (c->killed_for) {
			log_warnx("%s: %s: killing process %d", c->id, c->killed_for,
			    (int)c->pid);
			kill(c->pid, SIGKILL);
		}
	}
}

static int
loop(struct daemon *d)
{
	struct pollfd pfd[MAX_WORKERS + 2];
	bool told = false;
	char buf[64];

	while (!stopping || d->running > 0) {
		int n = 0, timeout = 1000;
		if (stopping && !told) {
			for (int i = 0; i < d->workers; i++)
				if (d->child[i].pid > 0)
					kill(d->child[i].pid, SIGUSR1);
			told = true;
		}
		pfd[n++] = (struct pollfd){ .fd = wake_pipe[0], .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = watch_fd(d->watch),
		    .events = POLLIN };
		for (int i = 0; i < d->workers; i++)
			if (d->child[i].pid > 0 && d->child[i].progress_fd >= 0)
				pfd[n++] = (struct pollfd){
				    .fd = d->child[i].progress_fd, .events = POLLIN };
		if (conf.render_stall_ms > 0 && conf.render_stall_ms < 4000)
			timeout = (int)(conf.render_stall_ms / 4) + 1;
		if (poll(pfd, (nfds_t)n, timeout) == -1 && errno != EINTR)
			fatal(EX_OSERR, "poll");
		while (read(wake_pipe[0], buf, sizeof buf) > 0)
			;
		reap(d);
		watchdog(d);
		if (!stopping) {
			if (watch_dispatch(d->watch) == -1)
				log_warn("watching queued/");
			if (d->running < d->workers && watch_rescan(d->watch) == -1)
				log_warn("scanning queued/");
		}
	}
	return 0;
}

int
render_serve(struct spool *sp, int workers, const struct conf_list *keys)
{
	struct daemon d = { .sp = sp, .keys = keys };
	struct sigaction sa = { 0 };
	char path[4096];

	d.workers = workers < 1 ? 1 : workers > MAX_WORKERS ? MAX_WORKERS :
	    workers;
	if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal(EX_OSERR, "pipe");
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_child;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	render_requeue_orphans(sp);
	/* fontconfig's set-up, once, inherited by every child */
	font_file("DejaVu Sans", path, sizeof path);
	if ((d.watch = watch_new(offer, &d)) == NULL)
		fatal(EX_OSERR, "inotify");
	if (spool_path(sp, SD_QUEUED, "", path, sizeof path) == -1 ||
	    watch_add(d.watch, 0, spool_dirfd(sp, SD_QUEUED), path) == -1)
		fatal(EX_OSERR, "cannot watch queued/");
	log_info("serving %d worker%s, routing keys %s%s", d.workers,
	    d.workers == 1 ? "" : "s", keys->n > 0 ? keys->item[0] : "default",
	    keys->n > 1 ? " …" : "");
	loop(&d);
	watch_free(d.watch);
	close(wake_pipe[0]);
	close(wake_pipe[1]);
	return 0;
}
