/*
 * api/route.c — which API answers a request (api.h), by path prefix:
 * /api/v2 Plainly's API, /files and /public the outputs, /v2 the FX API
 * (fx.c). Another API is a line here and a sibling file.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/fx.h"
#include "log.h"

void
api_handle(void *arg, struct http_conn *c, struct http_request *req)
{
	struct api *a = arg;
	char *seg[API_SEGMENTS_MAX], *path;
	int n;

	a->c = c;
	a->req = req;
	memset(&a->key, 0, sizeof a->key);
	/* api_segments cuts the path it splits: keep req->path for errors */
	if ((path = strdup(req->path)) == NULL) {
		api_error(a, 500, "INTERNAL_ERROR", "out of memory");
		return;
	}
	if ((n = api_segments(path, "/api/v2", seg, API_SEGMENTS_MAX)) >= 0)
		plainly_route(a, seg, n);
	else if ((n = api_segments(path, "/files", seg, API_SEGMENTS_MAX)) >= 0)
		files_route(a, seg, n);
	else if ((n = api_segments(path, "/public", seg, API_SEGMENTS_MAX)) >= 0)
		public_route(a, seg, n);
	else if ((n = api_segments(path, "/v2", seg, API_SEGMENTS_MAX)) >= 0)
		fx_route(a, seg, n);
	else
		api_error(a, 404, "NOT_FOUND", "no such endpoint");
	free(path);
}
