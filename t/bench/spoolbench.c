/*
 * spoolbench — spool throughput and hand-off latency (make bench).
 *   spoolbench moves N     N jobs pending → queued → in-progress → done,
 *                          fsync on: prints jobs/s
 *   spoolbench handoff N   N files renamed into queued/ one at a time,
 *                          a watcher process times rename → callback:
 *                          prints p50/p99 in microseconds
 * Uses $VR_CONF's spool, which it leaves empty.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "id.h"
#include "job.h"
#include "log.h"
#include "spool.h"
#include "watch.h"

static struct spool sp;

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
bench_moves(int n)
{
	char (*ids)[ID_LEN + 1] = calloc((size_t)n, sizeof *ids);
	char name[ID_LEN + 8];
	int64_t start, elapsed;
	int i;

	start = mono_us();
	for (i = 0; i < n; i++) {
		id_new(ids[i]);
		snprintf(name, sizeof name, "%s.json", ids[i]);
		if (spool_put(&sp, SD_PENDING, name, JV_OBJECT(jv_string("id"),
		    jv_string(ids[i]), jv_string("org"), jv_string("bench"))) == -1)
			fatal(EX_IOERR, "put");
		if (spool_move(&sp, ids[i], SD_PENDING, SD_QUEUED,
		    spool_get(&sp, SD_PENDING, ids[i]), "bench") == -1 ||
		    spool_claim(&sp, ids[i], SD_QUEUED, SD_IN_PROGRESS) == -1 ||
		    spool_move(&sp, ids[i], SD_IN_PROGRESS, SD_DONE,
		    spool_get(&sp, SD_IN_PROGRESS, ids[i]), "bench") == -1)
			fatal(EX_IOERR, "move");
	}
	elapsed = mono_us() - start;
	printf("spool moves: %d jobs pending→queued→in-progress→done in %.2f s: "
	    "%.0f jobs/s (fsync on)\n", n, elapsed / 1e6, n / (elapsed / 1e6));
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "%s.json", ids[i]);
		unlinkat(sp.fd[SD_DONE], name, 0);
	}
	free(ids);
}

/* The watcher side: the file's content is the monotonic time it was
 * renamed in; write the latency to the pipe. */
static int out_fd;

static int
on_file(void *arg, int index, int dirfd, const char *name)
{
	char buf[64];
	int64_t sent, now = mono_us();
	FILE *fp;
	int fd;

	(void)arg; (void)index;
	if ((fd = openat(dirfd, name, 0)) == -1 || (fp = fdopen(fd, "r")) == NULL)
		return 0;
	if (fgets(buf, sizeof buf, fp) != NULL) {
		sent = atoll(buf);
		dprintf(out_fd, "%lld\n", (long long)(now - sent));
	}
	fclose(fp);
	unlinkat(dirfd, name, 0);
	return 0;
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static void
bench_handoff(int n)
{
	int pipefd[2], ready[2], i;
	long long *lat = calloc((size_t)n, sizeof *lat);
	char path[4096], tmp_name[64], name[64], c;
	pid_t pid;
	FILE *in;

	if (pipe(pipefd) == -1 || pipe(ready) == -1)
		fatal(EX_OSERR, "pipe");
	if ((pid = fork()) == 0) {
		struct watch *w = watch_new(on_file, NULL);

		out_fd = pipefd[1];
		spool_path(&sp, SD_QUEUED, "", path, sizeof path);
		if (w == NULL || watch_add(w, 0, sp.fd[SD_QUEUED], path) == -1)
			fatal(EX_OSERR, "watch");
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			watch_wait(w, -1);
	}
	close(pipefd[1]);
	if (read(ready[0], &c, 1) != 1)
		fatal(EX_OSERR, "watcher did not start");
	in = fdopen(pipefd[0], "r");
	for (i = 0; i < n; i++) {
		FILE *fp;

		snprintf(tmp_name, sizeof tmp_name, "h%d", i);
		snprintf(name, sizeof name, "h%d.json", i);
		fp = fdopen(openat(sp.fd[SD_TMP], tmp_name, O_WRONLY | O_CREAT, 0600), "w");
		fprintf(fp, "%lld\n", (long long)mono_us());
		fclose(fp);
		renameat(sp.fd[SD_TMP], tmp_name, sp.fd[SD_QUEUED], name);
		if (fscanf(in, "%lld", &lat[i]) != 1)
			fatalx(EX_SOFTWARE, "watcher stopped");
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	qsort(lat, (size_t)n, sizeof *lat, cmp_ll);
	printf("inotify hand-off (rename in → callback): %d files, p50 %lld µs, "
	    "p99 %lld µs\n", n, lat[n / 2], lat[n * 99 / 100]);
	free(lat);
}

int
main(int argc, char *argv[])
{
	log_init(argv[0]);
	if (argc != 3)
		fatalx(EX_USAGE, "usage: spoolbench moves|handoff N");
	if (conf_load(NULL) == -1 || spool_open(&sp, conf.spool) == -1)
		return EX_CONFIG;
	if (strcmp(argv[1], "moves") == 0)
		bench_moves(atoi(argv[2]));
	else
		bench_handoff(atoi(argv[2]));
	spool_close(&sp);
	conf_free();
	return 0;
}
