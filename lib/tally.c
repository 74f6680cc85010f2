/*
 * tally.c — spool/queue.tally, the O(1) upper bound of the jobs waiting in
 * pending/, throttled/ and queued/ (tally.h says why it is never low).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "id.h"
#include "log.h"
#include "tally.h"
#include "util.h"

#define HEADER 64
#define NAME "queue.tally"

/* boot_s: when this boot began, in seconds since the epoch (within a
 * second or so: it moves with the wall clock's steps). */
static int64_t
boot_s(void)
{
	struct timespec real, up;

	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_BOOTTIME, &up);
	return (int64_t)real.tv_sec - (int64_t)up.tv_sec;
}

/* check: FNV-1a of the header's text before its CHECK field. */
static uint32_t
check(const char *text, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)text[i]) * 16777619u;
	return h;
}

/* header: the header of a tally counting count (-1: being counted). */
static void
header(char out[HEADER], int64_t count)
{
	char text[HEADER + 1];
	int n = snprintf(text, sizeof text, "vrq1 %" PRId64 " %" PRId64 " %" PRId64,
	    count, boot_s(), (int64_t)time(NULL));

	n += snprintf(text + n, sizeof text - (size_t)n, " %08" PRIx32,
	    check(text, (size_t)n));
	memset(text + n, ' ', HEADER - (size_t)n);
	text[HEADER - 1] = '\n';
	memcpy(out, text, HEADER);
}

/* header_count: the count a header holds, or -1 when it is not whole, not
 * of this boot, or too old. */
static int64_t
header_count(const char *h)
{
	char text[HEADER + 1];
	int64_t count, boot, made, now = (int64_t)time(NULL), this_boot;
	uint32_t sum;
	int end;

	memcpy(text, h, HEADER);
	text[HEADER] = '\0';
	if (sscanf(text, "vrq1 %" SCNd64 " %" SCNd64 " %" SCNd64 "%n",
	    &count, &boot, &made, &end) != 3 ||
	    sscanf(text + end, " %" SCNx32, &sum) != 1 ||
	    sum != check(text, (size_t)end))
		return -1;
	this_boot = boot_s();
	if (count < 0 || boot < this_boot - 2 || boot > this_boot + 2 ||
	    made > now + 1 || (now - made) * 1000 > TALLY_MAX_AGE_MS)
		return -1;
	return count;
}

int64_t
tally_bound(struct spool *sp)
{
	char h[HEADER];
	struct stat st;
	int64_t count = -1;
	int fd;

	if ((fd = openat(sp->root_fd, NAME, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (pread(fd, h, HEADER, 0) == HEADER && fstat(fd, &st) == 0 &&
	    st.st_size >= HEADER && st.st_size - HEADER <= TALLY_MAX_ENTRIES)
		count = header_count(h);
	close(fd);
	return count < 0 ? -1 : count + (st.st_size - HEADER);
}

/* count_names: the job files in dir, from names alone. */
static int64_t
count_names(struct spool *sp, enum sdir dir)
{
	char id[ID_LEN + 1];
	struct dirent *de;
	int64_t n = 0;
	DIR *dp;
	int fd;

	if ((fd = openat(spool_dirfd(sp, dir), ".",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	errno = 0;
	while ((de = readdir(dp)) != NULL)
		if (spool_name_id(de->d_name, id) == 0)
			n++;
	if (errno != 0)
		n = -1;
	closedir(dp);
	return n;
}

int64_t
tally_recount(struct spool *sp)
{
	char tmp[64], h[HEADER];
	int64_t total = 0, n;
	int tmp_fd = spool_dirfd(sp, SD_TMP), fd;
	size_t i;

	snprintf(tmp, sizeof tmp, NAME ".%d", (int)getpid());
	/* the fresh tally goes in place first, marked as being counted:
	 * whatever enters from now on is appended to it */
	header(h, -1);
	unlinkat(tmp_fd, tmp, 0);
	if ((fd = openat(tmp_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	if (write_all(fd, h, HEADER) == -1 ||
	    renameat(tmp_fd, tmp, sp->root_fd, NAME) == -1) {
		int saved = errno;

		close(fd);
		unlinkat(tmp_fd, tmp, 0);
		errno = saved;
		return -1;
	}
	for (i = 0; i < SD_NWAITING; i++) {
		if ((n = count_names(sp, sdir_waiting[i])) == -1) {
			int saved = errno;

			close(fd);
			unlinkat(sp->root_fd, NAME, 0);
			errno = saved;
			return -1;
		}
		total += n;
	}
	header(h, total);
	if (pwrite(fd, h, HEADER, 0) != HEADER) {
		log_warn("%s/" NAME, sp->root);
		unlinkat(sp->root_fd, NAME, 0);
	}
	close(fd);
	return total;
}

void
tally_entered(struct spool *sp)
{
	int fd = openat(sp->root_fd, NAME, O_WRONLY | O_APPEND | O_CLOEXEC);

	if (fd == -1) {
		if (errno != ENOENT)
			unlinkat(sp->root_fd, NAME, 0);
		return;
	}
	if (write_all(fd, "+", 1) == -1) {
		log_warn("%s/" NAME ": the tally missed an entry; recounting",
		    sp->root);
		unlinkat(sp->root_fd, NAME, 0);
	}
	close(fd);
}
