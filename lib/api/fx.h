/*
 * api/fx.h — the Impossible-FX-style API under /v2 (doc/api.md, "The FX
 * API"): what fx.c (routes, POST /v2/render, tokens and their jobs) and
 * fx-serve.c (GET /v2/MODE/TOKEN.EXT: whole, streamed, paced, HLS, one
 * frame) share.
 *
 * A token is the id of a check job: the POST's request as a job with
 * "validateOnly": true, which vr-validate checks like any other (every
 * movie of the hash, assets, upload tasks, routing key) and moves to done/
 * when it is valid, invalid/ when not. Each (token, extension) render is
 * then a job of its own, made on first demand, named in spool/fx/ by a
 * symbolic link created with symlinkat(2), which fails when the name
 * exists: two requests racing for one render make one job.
 *   spool/fx/TOKEN.mp4 -> JOBID          the mp4 (and m3u8) render
 *   spool/fx/TOKEN.f12.png -> JOBID      frame 12 as PNG
 * Ownership as in libjq: functions consume the jv they take.
 */
#ifndef VR_API_FX_H
#define VR_API_FX_H

#include <jv.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "id.h"

#define FX_DIR "fx"
#define FX_LINK_MAX 96

/* What a GET asks for: TOKEN.EXT (and ?frame=N for jpg/png). */
struct fx_want {
	char token[ID_LEN + 1];
	char ext[8];            /* mp4 webm gif jpg png m3u8 */
	int64_t frame;          /* jpg/png: the frame; -1 for videos */
	int quality;            /* jpg: 1..100 (q=), 0 when not given */
};

/* fx.c */
void fx_route(struct api *a, char *seg[], int nseg);
/* fx_error: answer {"error": message} with status. */
void fx_error(struct api *a, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* fx_token: the token's check job, when it was found valid. An invalid
 * (answered 404) otherwise. */
jv fx_token(struct api *a, const char *token);
/* fx_render_job: the id (into id) of the render w asks for of the token's
 * check job (borrowed), made and submitted when there is none yet. false
 * when it could not be had (answered). */
bool fx_render_job(struct api *a, jv check, const struct fx_want *w,
    char id[ID_LEN + 1]);
/* fx_template_timing: duration (s) and fps of PROJECT/TEMPLATE. */
bool fx_template_timing(const char *project, const char *template_name,
    double *duration, double *fps);
/* fx_wait_final: wait until job id is in a final directory, up to
 * deadline (mono ms); the directory, or -1 (timed out, or gone). */
int fx_wait_final(struct api *a, const char *id, int64_t deadline_ms);

/* fx-serve.c: GET /v2/{render,get,play}/TOKEN.EXT, /v2/progress/TOKEN */
void fx_serve(struct api *a, const char *mode, const char *file);
void fx_progress(struct api *a, const char *token);

#endif
