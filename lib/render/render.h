/*
 * render.h — vr-render's rendering library (lib/render/): a resolved
 * template (tmpl_resolve's layers) becomes one programmatically built
 * libavfilter graph fed by our own decoders and drained into encoders.
 *   render_run   the whole render of one composition into one output file
 *                (plus thumbnails), in this process
 *   render_job   one spool job, claimed by the caller: resolve, render,
 *                record the outputs, move it to its next state
 *   render_serve the daemon: watch queued/, claim under lease, one child
 *                process per job, watchdog
 * Ownership: functions consume the jv they take unless they say they borrow.
 */
#ifndef VR_RENDER_H
#define VR_RENDER_H

#include <jv.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "spool.h"

/* locate: where the media of a resolved layer is on disk. Writes the path,
 * or returns -1 with a message and a Plainly error code. */
typedef int (*render_locate_fn)(void *arg, jv layer, char *path, size_t size,
    char *err, size_t err_size, const char **code);
/* progress: frames encoded so far of total. */
typedef void (*render_progress_fn)(void *arg, int64_t done, int64_t total);

enum render_stop { RENDER_GO, RENDER_CANCEL, RENDER_REQUEUE };

struct render_spec {
	jv doc;                  /* the template document (borrowed) */
	jv layers;               /* resolved layers (borrowed) */
	const char *out_path;    /* file to write */
	const char *format;      /* "mp4", "webm", "gif" */
	bool fragmented;         /* mp4: frag_keyframe+empty_moov, streamable */
	bool draft;              /* half resolution */
	const char *x264_preset; /* NULL: "veryfast" */
	/* thumbnails: times in seconds, written as thumb_dir/thumbnail-N.ext */
	const double *thumb_at;
	int nthumb;
	const char *thumb_dir;
	const char *thumb_ext;   /* "png" or "jpg" */
	int thumb_quality;       /* jpg: 1 (worst) to 100 (best); 0: default */
	const char *project_dir;  /* fonts named by fontFile live here */
	render_locate_fn locate;
	void *locate_arg;
	render_progress_fn progress;
	void *progress_arg;
	volatile sig_atomic_t *stop;  /* enum render_stop, set by signals */
	/* a segment (parallel.c): encode only the video frames [frame_from,
	 * frame_to) (frame_to 0: the whole render), with an encoder of its
	 * own and no B-frames, so that segments join without re-encoding;
	 * no_audio leaves the audio out. */
	int64_t frame_from, frame_to;
	bool no_audio;
};

/* render_init: route libav's messages through log.h (errors only). */
void render_init(void);

/* render_run: 0, or -1 with a message and Plainly error code (code is
 * "CANCELLED" when stopped by *stop). */
int render_run(const struct render_spec *spec, char *err, size_t err_size,
    const char **code);

/* render_parallel: render_run split into n time segments rendered at once
 * by n child processes and joined without re-encoding (MP4 only; other
 * formats, and n <= 1, render whole). Same result as render_run. */
int render_parallel(const struct render_spec *spec, int n, char *err,
    size_t err_size, const char **code);

/* render_job: render job id, which the caller has claimed into in-progress/
 * and whose lease (lease_fd) it holds; moves it on (done/, uploading/,
 * failed/, cancelled/; queued/ when asked to stop for a restart). Returns
 * the directory it went to, or -1. */
int render_job(struct spool *sp, const char *id, int lease_fd,
    volatile sig_atomic_t *stop, int progress_fd);

/* render_fail_job: job id, in in-progress/ and ours, fails with Plainly's
 * error code and message: notify, move to failed/, drop partial outputs. */
int render_fail_job(struct spool *sp, const char *id, jv job,
    const char *code, const char *message);

/* render_preload: load the job's template into this process's cache (and
 * the fonts' configuration), so that children forked later inherit them
 * compiled. Errors are left for the render to report. */
void render_preload(jv job);

/* render_claim: take the lease on id and claim it from queued/ into
 * in-progress/. The lease fd, or -1 (lost the race, or an error: logged). */
int render_claim(struct spool *sp, const char *id);

/* render_requeue_orphans: requeue in-progress jobs whose lease is free
 * (their worker died). Returns how many. */
int render_requeue_orphans(struct spool *sp);

/* render_serve: the daemon loop: up to workers children, serving jobs
 * whose routingkey is one of keys. Returns when signalled to stop. */
int render_serve(struct spool *sp, int workers, const struct conf_list *keys);

#endif
