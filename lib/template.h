/*
 * template.h — templates (doc/vr-template.5) and their parametrization,
 * shared by vr-validate (which resolves first and records the results) and
 * vr-render (which resolves again and draws).
 * A template is etc/templates/PROJECT/TEMPLATE.json. Loading compiles its jq
 * expressions once; tmpl_cache keeps loaded templates per process, reloaded
 * when the file changes (jq_compile costs ~19 ms: never per job).
 * Ownership: functions consume the jv they take; tmpl_json borrows.
 */
#ifndef VR_TEMPLATE_H
#define VR_TEMPLATE_H

#include <jv.h>
#include <stdbool.h>

struct tmpl;

/* tmpl_load: load and check dir/project/template.json (names checked with
 * name_valid). NULL with a message in err on failure. */
struct tmpl *tmpl_load(const char *dir, const char *project,
    const char *template_name, char *err, size_t err_size);
void tmpl_free(struct tmpl *t);

/* tmpl_cache_get: tmpl_load through a per-process cache (the cache owns
 * the result; do not free it). */
struct tmpl *tmpl_cache_get(const char *dir, const char *project,
    const char *template_name, char *err, size_t err_size);
void tmpl_cache_clear(void);

/* tmpl_json: the template document (borrowed). */
jv tmpl_json(const struct tmpl *t);

/* tmpl_resolve: apply params (an object) to the template. Returns
 * {ok: bool, layers: [resolved layer...], parametrizationResults: [...],
 *  media: [{layer, property, value, mediaType}...],  (what must be fetched)
 *  error: {code, message} when !ok}. */
jv tmpl_resolve(struct tmpl *t, jv params);

/* Additions (vr-render's engineer):
 * tmpl_resolve_flags: tmpl_resolve with flags; TMPL_LOCAL_MEDIA lets a
 * media parameter be a local file path (vr-render's preview mode only).
 * A resolved MEDIA layer has "srcKind": "url" (from the job's assets),
 * "project" (a file in the project folder) or "path" (local preview).
 * Every resolved layer has "visible" (false inside a hidden group). */
#define TMPL_LOCAL_MEDIA 1
jv tmpl_resolve_flags(struct tmpl *t, jv params, int flags);

/* tmpl_project_dir: the project's folder, where its static assets live
 * (borrowed). tmpl_color_valid: "#RRGGBB" or "#RRGGBBAA"? */
const char *tmpl_project_dir(const struct tmpl *t);
bool tmpl_color_valid(const char *s);

#endif
