/*
 * tally.h — spool/queue.tally: an upper bound of the jobs waiting in
 * pending/, throttled/ and queued/ together, read in O(1), so that a create
 * far from every queue limit needs neither the spool lock nor a listing of
 * those directories (which grow with the backlog).
 *
 * The file is a 64-byte header, "vrq1 COUNT BOOT MADE CHECK", then one
 * byte for every job that entered those directories from outside them
 * since COUNT was taken (spool.c appends it after the rename that makes the
 * job visible). The bound is COUNT plus the bytes after the header: entries
 * are counted, departures are not, so it only ever errs high. A recount
 * puts a fresh file in place before it lists the directories, so each
 * entry is seen by the listing, or appended to the fresh file, or both.
 * The file is never synced: one from an earlier boot (BOOT), older than
 * TALLY_MAX_AGE_MS (MADE), torn (CHECK) or absent gives no bound, and the
 * caller recounts.
 */
#ifndef VR_TALLY_H
#define VR_TALLY_H

#include <stdint.h>

#include "spool.h"

#define TALLY_MAX_AGE_MS (60 * 1000)
#define TALLY_MAX_ENTRIES (1 << 20)   /* then recount: the file stays small */

/* tally_bound: at least as many jobs as pending/, throttled/ and queued/
 * hold, or -1 when there is no usable tally (recount). */
int64_t tally_bound(struct spool *sp);

/* tally_recount: the jobs in pending/, throttled/ and queued/ now, counted
 * from names; restarts the tally from that count. Callers serialise their
 * recounts (vr-accept holds the spool lock). -1 with errno on failure. */
int64_t tally_recount(struct spool *sp);

/* tally_entered: a job has just entered pending/, throttled/ or queued/
 * from outside them. No tally: nothing to do. A failed append removes the
 * tally, so that nobody trusts a bound that missed it. */
void tally_entered(struct spool *sp);

#endif
