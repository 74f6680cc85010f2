/*
 * spoolctl — a test driver over libvr's spool, job and watch code, so the
 * bats suite can put the real functions under race, crash and flood.
 * Not installed.
 *   spoolctl new-id
 *   spoolctl put DIR ID < job.json       spool_put DIR/ID.json
 *   spoolctl create DIR ID < job.json    spool_create DIR/ID.json (new only)
 *   spoolctl create-loop DIR N           spool_create N new jobs in DIR
 *   spoolctl save-loop DIR ID N          rewrite DIR/ID.json N times
 *   spoolctl move ID FROM TO             spool_move (rewrite, rename)
 *   spoolctl move-loop ID A B N          move ID between A and B N times
 *   spoolctl claim-all FROM TO           claim every listed id; print wins
 *   spoolctl list DIR | find ID | get DIR ID
 *   spoolctl watch DIR COUNT SECONDS     print names as offered; exit after
 *                                        COUNT names (1 if SECONDS pass)
 *   spoolctl hold-lease ID               take the lease and wait for a signal
 *   spoolctl conf KEY                    print a loaded configuration value
 *   spoolctl bound | recount             the queue tally's bound (-1: none),
 *                                        or a recount (tally.h)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "id.h"
#include "job.h"
#include "log.h"
#include "spool.h"
#include "tally.h"
#include "watch.h"

static struct spool sp;

static enum sdir
dir_arg(const char *name)
{
	int d;

	for (d = 0; d < SD_COUNT; d++)
		if (strcmp(sdir_name(d), name) == 0)
			return d;
	fatalx(EX_USAGE, "%s: not a spool directory", name);
}

static jv
read_stdin(void)
{
	char buf[65536];
	size_t len = fread(buf, 1, sizeof buf, stdin);

	return job_parse(buf, len, 0);
}

static jv
load(enum sdir d, const char *id)
{
	jv job = spool_get(&sp, d, id);

	if (!jv_is_valid(job)) {
		jv msg = jv_invalid_get_msg(job);

		fatalx(errno == ENOENT ? EX_NOINPUT : EX_DATAERR, "%s",
		    jv_string_value(msg));
	}
	return job;
}

static int watch_left;

static int
print_name(void *arg, int index, int dirfd, const char *name)
{
	(void)arg; (void)index; (void)dirfd;
	printf("%s\n", name);
	watch_left--;
	return 0;
}

static int
cmd_watch(const char *dir, int count, int seconds)
{
	struct watch *w = watch_new(print_name, NULL);
	int64_t deadline = mono_ms() + seconds * 1000;
	enum sdir d = dir_arg(dir);
	char path[4096];

	watch_left = count;
	spool_path(&sp, d, "", path, sizeof path);
	if (w == NULL || watch_add(w, 0, spool_dirfd(&sp, d), path) == -1)
		fatal(EX_OSERR, "watch %s", path);
	fflush(stdout);
	while (watch_left > 0 && mono_ms() < deadline) {
		if (watch_wait(w, 100) == -1)
			fatal(EX_OSERR, "watch");
		fflush(stdout);
	}
	watch_free(w);
	return watch_left > 0;
}

int
main(int argc, char *argv[])
{
	char id[ID_LEN + 8];
	const char *cmd;
	int i, n;

	log_init(argv[0]);
	if (argc < 2)
		fatalx(EX_USAGE, "usage: see the comment at the top of t/spoolctl.c");
	if (conf_load(NULL) == -1)
		return EX_CONFIG;
	cmd = argv[1];
	if (strcmp(cmd, "conf") == 0 && argc == 3) {
		if (strcmp(argv[2], "spool") == 0) printf("%s\n", conf.spool);
		else if (strcmp(argv[2], "retention") == 0)
			printf("%lld\n", (long long)conf.retention_ms);
		else if (strcmp(argv[2], "job_max_size") == 0)
			printf("%lld\n", (long long)conf.job_max_size);
		else if (strcmp(argv[2], "fetch_allow") == 0)
			for (i = 0; i < conf.fetch_allow.n; i++)
				printf("%s\n", conf.fetch_allow.item[i]);
		else
			fatalx(EX_USAGE, "conf %s: not known to spoolctl", argv[2]);
		return 0;
	}
	if (spool_open(&sp, conf.spool) == -1)
		return EX_CANTCREAT;
	if (strcmp(cmd, "new-id") == 0) {
		if (id_new(id) == -1)
			fatal(EX_OSERR, "id_new");
		printf("%s\n", id);
	} else if (strcmp(cmd, "put") == 0 && argc == 4) {
		if (!id_valid(argv[3]))
			fatalx(EX_DATAERR, "%s: not a job id", argv[3]);
		snprintf(id, sizeof id, "%s.json", argv[3]);
		if (spool_put(&sp, dir_arg(argv[2]), id, read_stdin()) == -1)
			fatal(EX_IOERR, "put %s", id);
	} else if (strcmp(cmd, "create") == 0 && argc == 4) {
		if (!id_valid(argv[3]))
			fatalx(EX_DATAERR, "%s: not a job id", argv[3]);
		snprintf(id, sizeof id, "%s.json", argv[3]);
		if (spool_create(&sp, dir_arg(argv[2]), id, read_stdin()) == -1)
			fatal(errno == EEXIST ? EX_CANTCREAT : EX_IOERR, "create %s", id);
	} else if (strcmp(cmd, "create-loop") == 0 && argc == 4) {
		enum sdir d = dir_arg(argv[2]);
		char name[ID_LEN + 64], blob[4000];

		memset(blob, 'x', sizeof blob);
		n = atoi(argv[3]);
		for (i = 0; i < n; i++) {
			if (id_new(id) == -1)
				fatal(EX_OSERR, "id_new");
			snprintf(name, sizeof name, "%s.json", id);
			if (spool_create(&sp, d, name, jv_object_set(jv_object_set(
			    jv_object(), jv_string("id"), jv_string(id)),
			    jv_string("blob"), jv_string_sized(blob, sizeof blob))) == -1)
				fatal(EX_IOERR, "create %s", name);
		}
	} else if (strcmp(cmd, "save-loop") == 0 && argc == 5) {
		jv job = load(dir_arg(argv[2]), argv[3]);

		snprintf(id, sizeof id, "%s.json", argv[3]);
		n = atoi(argv[4]);
		for (i = 0; i < n; i++) {
			job = jv_object_set(job, jv_string("progress"), jv_number(i));
			if (spool_put(&sp, dir_arg(argv[2]), id, jv_copy(job)) == -1)
				fatal(EX_IOERR, "put %s", id);
		}
		jv_free(job);
	} else if (strcmp(cmd, "move") == 0 && argc == 5) {
		if (spool_move(&sp, argv[2], dir_arg(argv[3]), dir_arg(argv[4]),
		    load(dir_arg(argv[3]), argv[2]), "spoolctl") == -1)
			fatal(errno == ENOENT ? EX_NOINPUT : EX_IOERR, "move %s", argv[2]);
	} else if (strcmp(cmd, "move-loop") == 0 && argc == 6) {
		enum sdir a = dir_arg(argv[3]), b = dir_arg(argv[4]), t;

		n = atoi(argv[5]);
		for (i = 0; i < n; i++) {
			if (spool_move(&sp, argv[2], a, b, load(a, argv[2]),
			    "spoolctl") == -1)
				fatal(EX_IOERR, "move %s", argv[2]);
			t = a; a = b; b = t;
		}
	} else if (strcmp(cmd, "claim-all") == 0 && argc == 4) {
		enum sdir from = dir_arg(argv[2]), to = dir_arg(argv[3]);
		jv ids = spool_list(&sp, from);

		jv_array_foreach(ids, k, idv) {
			if (spool_claim(&sp, jv_string_value(idv), from, to) == 0)
				printf("%s\n", jv_string_value(idv));
			else if (errno != ENOENT)
				fatal(EX_IOERR, "claim %s", jv_string_value(idv));
			jv_free(idv);
		}
		jv_free(ids);
	} else if (strcmp(cmd, "list") == 0 && argc == 3) {
		jv ids = spool_list(&sp, dir_arg(argv[2]));

		jv_array_foreach(ids, k, idv) {
			printf("%s\n", jv_string_value(idv));
			jv_free(idv);
		}
		jv_free(ids);
	} else if (strcmp(cmd, "find") == 0 && argc == 3) {
		int d = spool_find(&sp, argv[2]);

		if (d == -1)
			fatal(EX_NOINPUT, "%s", argv[2]);
		printf("%s\n", sdir_name(d));
	} else if (strcmp(cmd, "get") == 0 && argc == 4) {
		jv job = load(dir_arg(argv[2]), argv[3]);

		jv_dumpf(job, stdout, 0);
		putchar('\n');
	} else if (strcmp(cmd, "watch") == 0 && argc == 5) {
		n = cmd_watch(argv[2], atoi(argv[3]), atoi(argv[4]));
		spool_close(&sp);
		conf_free();
		return n;
	} else if (strcmp(cmd, "bound") == 0 && argc == 2) {
		printf("%lld\n", (long long)tally_bound(&sp));
	} else if (strcmp(cmd, "recount") == 0 && argc == 2) {
		int64_t total = tally_recount(&sp);

		if (total == -1)
			fatal(EX_IOERR, "recount");
		printf("%lld\n", (long long)total);
	} else if (strcmp(cmd, "hold-lease") == 0 && argc == 3) {
		if (spool_lease(&sp, argv[2]) == -1)
			fatal(EX_TEMPFAIL, "lease %s", argv[2]);
		printf("holding\n");
		fflush(stdout);
		pause();
	} else {
		fatalx(EX_USAGE, "%s: unknown command or arguments", cmd);
	}
	spool_close(&sp);
	conf_free();
	return 0;
}
