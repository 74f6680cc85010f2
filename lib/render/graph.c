/*
 * graph.c — the filter graph of one render, built programmatically from the
 * resolved layers: every filter is allocated with avfilter_graph_alloc_filter
 * and given its options one by one with av_opt_set, so no value from a job
 * ever passes through filter-graph syntax; text reaches drawtext through its
 * `text` option with expansion=none. Numbers we print ourselves (positions,
 * times) are the only things formatted into option values.
 *
 * Video: a base colour source at the composition's size and rate; each
 * visible layer in order either draws on the main chain (drawtext, drawbox)
 * or is overlaid (images, clips, animated solids). Audio: each sound is
 * trimmed, faded, delayed to its start and mixed, then padded or cut to the
 * composition's length.
 */
#include <libavfilter/buffersink.h>
#include <libavutil/opt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

#include "internal.h"
#include "template.h"

#define MAX_LINES 20

/* The chain being drawn on: the last filter and its output pad. */
struct pad {
	AVFilterContext *f;
	int pad;
};

static int
gfail(struct build *b, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->err, b->err_size, fmt, ap);
	va_end(ap);
	b->code = code;
	return -1;
}

/* fnew: filter `name` with options given as key, value pairs, NULL-ended. */
static AVFilterContext *
fnew(struct build *b, const char *name, ...)
{
	const AVFilter *filter = avfilter_get_by_name(name);
	AVFilterContext *f;
	const char *key, *value;
	char inst[32];
	va_list ap;
	int ret;

	snprintf(inst, sizeof inst, "%s%d", name, b->nfilters++);
	if (filter == NULL ||
	    (f = avfilter_graph_alloc_filter(b->graph, filter, inst)) == NULL) {
		gfail(b, "WORKER_FATAL_ERROR", "filter %s is not available", name);
		return NULL;
	}
	va_start(ap, name);
	while ((key = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if ((ret = av_opt_set(f, key, value, AV_OPT_SEARCH_CHILDREN)) < 0) {
			va_end(ap);
			av_err(b->err, b->err_size, "filter option", ret);
			b->code = "WORKER_FATAL_ERROR";
			return NULL;
		}
	}
	va_end(ap);
	if ((ret = avfilter_init_str(f, NULL)) < 0) {
		char what[96];
		snprintf(what, sizeof what, "cannot set up filter %s", name);
		av_err(b->err, b->err_size, what, ret);
		b->code = "WORKER_FATAL_ERROR";
		return NULL;
	}
	return f;
}

static int
flink(struct build *b, struct pad from, AVFilterContext *to, int to_pad)
{
	int ret = avfilter_link(from.f, (unsigned)from.pad, to, (unsigned)to_pad);

	if (ret < 0) {
		av_err(b->err, b->err_size, "cannot link filters", ret);
		b->code = "WORKER_FATAL_ERROR";
		return -1;
	}
	return 0;
}

/* then: append filter f (already made) to chain p; NULL-safe. */
static int
then(struct build *b, struct pad *p, AVFilterContext *f)
{
	if (f == NULL || flink(b, *p, f, 0) == -1)
		return -1;
	p->f = f;
	p->pad = 0;
	return 0;
}

/* ---- layer properties (borrowing) ---- */

static double
num(jv o, const char *key, double dflt)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : dflt;
	jv_free(v);
	return d;
}

static bool
has(jv o, const char *key)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	bool b = jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL;
	jv_free(v);
	return b;
}

static bool
flag(jv o, const char *key)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	bool b = jv_get_kind(v) == JV_KIND_TRUE;
	jv_free(v);
	return b;
}

static const char *
str(jv o, const char *key)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	const char *s = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) :
	    NULL;
	jv_free(v);      /* o still holds it */
	return s;
}

/* colour: "#RRGGBB[AA]" times opacity, as "0xRRGGBBAA". */
static int
colour(const char *hex, double opacity, char out[16])
{
	unsigned long v;
	unsigned a = 255;

	if (!tmpl_color_valid(hex))
		return -1;
	v = strtoul(hex + 1, NULL, 16);
	if (strlen(hex) == 9) {
		a = v & 0xff;
		v >>= 8;
	}
	a = (unsigned)lrint(a * fmin(fmax(opacity, 0), 1));
	snprintf(out, 16, "0x%06lx%02x", v & 0xffffff, a);
	return 0;
}

/* ---- time ---- */

struct timing {
	double start, end;       /* output seconds */
	double fade_in, fade_out;
	double opacity;
	jv keyframes;            /* borrowed array or null */
};

/* kf_expr: a property's keyframes (times from the layer's start), each
 * value times scale plus add, as a piecewise linear expression of var (the
 * output time) into out. False when the layer has none for it. */
static bool
kf_expr(const struct timing *tm, const char *prop,
    double scale, double add, const char *var, char *out, size_t size)
{
	double t[32], v[32];
	int n = 0;
	size_t len;

	if (jv_get_kind(tm->keyframes) != JV_KIND_ARRAY)
		return false;
	jv_array_foreach(tm->keyframes, i, kf) {
		if (n < 32 && jv_get_kind(kf) == JV_KIND_OBJECT && has(kf, prop)) {
			t[n] = tm->start + num(kf, "t", 0);
			v[n] = num(kf, prop, 0) * scale + add;
			n++;
		}
		jv_free(kf);
		(void)i;
	}
	if (n == 0)
		return false;
	len = (size_t)snprintf(out, size, "(if(lt(%s,%.6g),%.6g,", var, t[0],
	    v[0]);
	for (int i = 0; i + 1 < n && len < size; i++) {
		double dt = t[i + 1] - t[i];
		if (dt <= 0)
			continue;
		len += (size_t)snprintf(out + len, size - len,
		    "if(lt(%s,%.6g),%.6g+(%.6g)*(%s-%.6g)/%.6g,", var, t[i + 1],
		    v[i], v[i + 1] - v[i], var, t[i], dt);
	}
	if (len < size)
		len += (size_t)snprintf(out + len, size - len, "%.6g", v[n - 1]);
	for (int i = 0; i + 1 < n && len < size; i++)
		if (t[i + 1] - t[i] > 0)
			len += (size_t)snprintf(out + len, size - len, ")");
	if (len < size)
		len += (size_t)snprintf(out + len, size - len, "))");
	return len < size;
}

/* alpha_expr: opacity × fades × opacity keyframes, of var; false if 1. */
static bool
alpha_expr(const struct timing *tm, const char *var,
    char *out, size_t size)
{
	char kf[2048];
	size_t len = 0;
	bool any = false;

	out[0] = '\0';
	if (tm->opacity < 1) {
		len += (size_t)snprintf(out + len, size - len, "%.6g*", tm->opacity);
		any = true;
	}
	if (tm->fade_in > 0) {
		len += (size_t)snprintf(out + len, size - len,
		    "clip((%s-%.6g)/%.6g,0,1)*", var, tm->start, tm->fade_in);
		any = true;
	}
	if (tm->fade_out > 0) {
		len += (size_t)snprintf(out + len, size - len,
		    "clip((%.6g-%s)/%.6g,0,1)*", tm->end, var, tm->fade_out);
		any = true;
	}
	if (kf_expr(tm, "opacity", 1, 0, var, kf, sizeof kf)) {
		len += (size_t)snprintf(out + len, size - len, "clip(%s,0,1)*", kf);
		any = true;
	}
	if (len < size)
		snprintf(out + len, size - len, "1");
	return any && len < size;
}

static void
enable_expr(const struct build *b, const struct timing *tm, char *out,
    size_t size)
{
	out[0] = '\0';
	if (tm->start > 0 || tm->end < b->duration)
		snprintf(out, size, "gte(t,%.6g)*lt(t,%.6g)", tm->start, tm->end);
}

static int
timing_of(const struct build *b, jv layer, double offset, struct timing *tm)
{
	tm->start = offset + num(layer, "start", 0);
	tm->end = fmin(b->duration, tm->start + num(layer, "duration",
	    b->duration));
	tm->fade_in = num(layer, "fadeIn", 0);
	tm->fade_out = num(layer, "fadeOut", 0);
	tm->opacity = num(layer, "opacity", 1);
	tm->keyframes = jv_null();
	return tm->start < b->duration && tm->end > tm->start ? 0 : -1;
}

/* ---- video layers ---- */

/* wrap: text with line breaks put between words so that each line fits
 * width at size (a word wider than the width gets a line of its own).
 * Returns a malloc'ed string, or NULL. */
static char *
wrap(const char *font_path, double size, const char *text, double width)
{
	size_t n = strlen(text);
	char *out = malloc(n + 1), *line = malloc(n + 1);
	size_t o = 0, l = 0;

	if (out == NULL || line == NULL) {
		free(out);
		free(line);
		return NULL;
	}
	for (const char *p = text; ; ) {
		size_t w = strcspn(p, " \n");
		size_t keep = l;
		if (l > 0)
			line[l++] = ' ';
		memcpy(line + l, p, w);
		line[l + w] = '\0';
		if (keep > 0 && text_width(font_path, size, line) > width) {
			/* the word goes to the next line */
			memcpy(out + o, line, keep);
			o += keep;
			out[o++] = '\n';
			memmove(line, p, w);
			l = w;
		} else
			l += w;
		p += w;
		if (*p == '\n' || *p == '\0') {
			memcpy(out + o, line, l);
			o += l;
			l = 0;
			if (*p == '\0')
				break;
			out[o++] = '\n';
		}
		p++;
	}
	out[o] = '\0';
	free(line);
	return out;
}

static int
draw_text(struct build *b, struct pad *cur, jv layer, struct timing *tm)
{
	const char *text = str(layer, "text"), *align = str(layer, "align");
	const char *font = str(layer, "font"), *fontfile = str(layer, "fontFile");
	const char *fc = str(layer, "color"), *bc = str(layer, "boxColor");
	double k = b->k, size = num(layer, "fontSize", 32) * k;
	double x = num(layer, "x", 0) * k, y = num(layer, "y", 0) * k;
	double bw = has(layer, "width") ? num(layer, "width", 0) * k :
	    b->width - x;
	double lh = num(layer, "lineHeight", 1.25);
	char font_path[1100], fcol[16], bcol[16], xe[4200], ye[4200],
	    alpha[8192], enable[96], sz[32], border[32];
	char *copy, *line, *save = NULL, *wrapped = NULL;
	int nline = 0, rc = 0;
	double ascender = 0;
	bool multi;

	if (text == NULL || *text == '\0')
		return 0;
	if (fontfile != NULL) {
		if (b->spec->project_dir == NULL)
			return gfail(b, "WORKER_FATAL_ERROR", "layer %s: no project "
			    "folder for font %s", str(layer, "layerName"), fontfile);
		snprintf(font_path, sizeof font_path, "%s/%s",
		    b->spec->project_dir, fontfile);
		if (access(font_path, R_OK) == -1)
			return gfail(b, "WORKER_IMPORT_ASSET_FAILED", "layer %s: font "
			    "file %s: %s", str(layer, "layerName"), fontfile,
			    strerror(errno));
	} else if (font_file(font ? font : "DejaVu Sans", font_path,
	    sizeof font_path) == -1)
		return gfail(b, "WORKER_FATAL_ERROR", "layer %s: no font matches "
		    "\"%s\"", str(layer, "layerName"), font ? font : "DejaVu Sans");
	if (colour(fc ? fc : "#ffffff", 1, fcol) == -1 ||
	    (bc && colour(bc, 1, bcol) == -1))
		return gfail(b, "WORKER_FATAL_ERROR", "layer %s: bad colour",
		    str(layer, "layerName"));
	if (flag(layer, "wrap") && bw > 0) {
		if ((wrapped = wrap(font_path, size, text, bw)) == NULL)
			return gfail(b, "WORKER_FATAL_ERROR", "out of memory");
		text = wrapped;
	}
	if ((copy = strdup(text)) == NULL) {
		free(wrapped);
		return gfail(b, "WORKER_FATAL_ERROR", "out of memory");
	}
	if (flag(layer, "shrinkToFit") && bw > 0) {
		/* the widest line must fit the box: shrink the size to fit */
		double widest = 0;
		for (line = strtok_r(copy, "\n", &save); line;
		    line = strtok_r(NULL, "\n", &save))
			widest = fmax(widest, text_width(font_path, size, line));
		if (widest > bw)
			size = fmax(1, floor(size * bw / widest));
		strcpy(copy, text);
	}
	tm->keyframes = jv_object_get(jv_copy(layer), jv_string("keyframes"));
	alpha_expr(tm, "t", alpha, sizeof alpha);
	enable_expr(b, tm, enable, sizeof enable);
	snprintf(sz, sizeof sz, "%.6g", size);
	snprintf(border, sizeof border, "%d", (int)lrint(num(layer,
	    "boxPadding", 0) * k));
	multi = strchr(copy, '\n') != NULL;
	if (multi && (ascender = font_ascent(font_path, size)) < 0)
		ascender = size * 0.93;
	/* one drawtext per line, so each line can be aligned in the box */
	for (line = copy; line && nline < MAX_LINES && rc == 0; nline++) {
		char *nl = strchr(line, '\n'), xk[2048], yk[2048];
		const char *xpos;
		if (nl)
			*nl = '\0';
		if (*line == '\0') {
			line = nl ? nl + 1 : NULL;
			continue;
		}
		if (!kf_expr(tm, "x", k, 0, "t", xk, sizeof xk))
			snprintf(xk, sizeof xk, "%.6g", x);
		if (!kf_expr(tm, "y", k, 0, "t", yk, sizeof yk))
			snprintf(yk, sizeof yk, "%.6g", y);
		if (align && strcmp(align, "center") == 0)
			xpos = "%s+(%.6g-text_w)/2";
		else if (align && strcmp(align, "right") == 0)
			xpos = "%s+%.6g-text_w";
		else
			xpos = "%s+0*%.6g";
		snprintf(xe, sizeof xe, xpos, xk, bw);
		if (multi)
			/* lines of several on one baseline grid: drawtext puts
			 * a line's tallest glyph at y */
			snprintf(ye, sizeof ye, "%s+%.6g-ascent", yk, nline * size *
			    lh + ascender);
		else
			snprintf(ye, sizeof ye, "%s", yk);
		rc = then(b, cur, fnew(b, "drawtext", "fontfile", font_path,
		    "text", line, "expansion", "none", "fontsize", sz,
		    "fontcolor", fcol, "x", xe, "y", ye, "alpha", alpha,
		    "box", bc ? "1" : "0", "boxcolor", bc ? bcol : "black",
		    "boxborderw", border,
		    enable[0] ? "enable" : NULL, enable, NULL));
		line = nl ? nl + 1 : NULL;
	}
	free(copy);
	free(wrapped);
	jv_free(tm->keyframes);
	return rc;
}

/* overlay_at: overlay chain `layer_out` (frames already at output
 * times) on cur at x, y expressions. */
static int
overlay_at(struct build *b, struct pad *cur, struct pad layer_out,
    const char *x, const char *y, bool animated)
{
	AVFilterContext *f = fnew(b, "overlay", "x", x, "y", y,
	    "eof_action", "pass", "eval", animated ? "frame" : "init", NULL);

	if (f == NULL || flink(b, *cur, f, 0) == -1 ||
	    flink(b, layer_out, f, 1) == -1)
		return -1;
	cur->f = f;
	cur->pad = 0;
	return 0;
}

/* fades: alpha fades and keyframed opacity on an overlay chain. */
static int
fades(struct build *b, struct pad *p, const struct timing *tm)
{
	char st[32], du[32], kf[2048], a[2300];

	if (tm->fade_in > 0) {
		snprintf(st, sizeof st, "%.6g", tm->start);
		snprintf(du, sizeof du, "%.6g", tm->fade_in);
		if (then(b, p, fnew(b, "fade", "type", "in", "start_time", st,
		    "duration", du, "alpha", "1", NULL)) == -1)
			return -1;
	}
	if (tm->fade_out > 0) {
		snprintf(st, sizeof st, "%.6g", tm->end - tm->fade_out);
		snprintf(du, sizeof du, "%.6g", tm->fade_out);
		if (then(b, p, fnew(b, "fade", "type", "out", "start_time", st,
		    "duration", du, "alpha", "1", NULL)) == -1)
			return -1;
	}
	if (kf_expr(tm, "opacity", 1, 0, "T", kf, sizeof kf)) {
		snprintf(a, sizeof a, "alpha(X,Y)*clip(%s,0,1)", kf);
		if (then(b, p, fnew(b, "geq", "lum", "lum(X,Y)", "cb", "cb(X,Y)",
		    "cr", "cr(X,Y)", "a", a, NULL)) == -1)
			return -1;
	}
	return 0;
}

static int
solid(struct build *b, struct pad *cur, jv layer, struct timing *tm)
{
	double k = b->k;
	int x = (int)lrint(num(layer, "x", 0) * k);
	int y = (int)lrint(num(layer, "y", 0) * k);
	int w = (int)lrint(has(layer, "width") ? num(layer, "width", 0) * k :
	    b->width);
	int h = (int)lrint(has(layer, "height") ? num(layer, "height", 0) * k :
	    b->height);
	int radius = (int)lrint(fmin(num(layer, "radius", 0) * k, fmin(w, h) / 2.0));
	char col[16], xs[2048], ys[2048], ws[32], hs[32], enable[96], d[32],
	    pts[48];
	bool animated;
	struct pad p;

	if (w <= 0 || h <= 0)
		return 0;
	tm->keyframes = jv_object_get(jv_copy(layer), jv_string("keyframes"));
	animated = jv_get_kind(tm->keyframes) == JV_KIND_ARRAY;
	snprintf(ws, sizeof ws, "%d", w);
	snprintf(hs, sizeof hs, "%d", h);
	if (!animated && tm->fade_in <= 0 && tm->fade_out <= 0 && radius <= 0) {
		/* still: a box drawn on the main chain */
		enable_expr(b, tm, enable, sizeof enable);
		snprintf(xs, sizeof xs, "%d", x);
		snprintf(ys, sizeof ys, "%d", y);
		jv_free(tm->keyframes);
		if (colour(str(layer, "color"), tm->opacity, col) == -1)
			return gfail(b, "WORKER_FATAL_ERROR", "layer %s: bad colour",
			    str(layer, "layerName"));
		return then(b, cur, fnew(b, "drawbox", "x", xs, "y", ys, "w", ws,
		    "h", hs, "color", col, "t", "fill",
		    enable[0] ? "enable" : NULL, enable, NULL));
	}
	if (colour(str(layer, "color"), tm->opacity, col) == -1) {
		jv_free(tm->keyframes);
		return gfail(b, "WORKER_FATAL_ERROR", "layer %s: bad colour",
		    str(layer, "layerName"));
	}
	snprintf(d, sizeof d, "%.6g", tm->end - tm->start);
	snprintf(hs, sizeof hs, "%dx%d", w, h);
	snprintf(pts, sizeof pts, "PTS+%lld", (long long)llrint(tm->start *
	    b->fps));
	snprintf(ws, sizeof ws, "%d", b->fps);
	if (radius > 0) {
		/* rounded corners: one frame drawn with an alpha mask, repeated */
		char mask[512], frames[32], one[32], tb[32];
		snprintf(mask, sizeof mask, "alpha(X,Y)*lte(pow(max(max(%d-X-0.5,"
		    "X+0.5-(W-%d)),0),2)+pow(max(max(%d-Y-0.5,Y+0.5-(H-%d)),0),2),"
		    "%d)", radius, radius, radius, radius, radius * radius);
		snprintf(one, sizeof one, "%.6g", 1.0 / b->fps);
		snprintf(frames, sizeof frames, "%lld", (long long)llrint((tm->end -
		    tm->start) * b->fps) - 1);
		snprintf(tb, sizeof tb, "1/%d", b->fps);
		snprintf(pts, sizeof pts, "N+%lld", (long long)llrint(tm->start *
		    b->fps));
		p.f = fnew(b, "color", "color", col, "size", hs, "rate", ws,
		    "duration", one, NULL);
		p.pad = 0;
		if (p.f == NULL ||
		    then(b, &p, fnew(b, "format", "pix_fmts", "rgba", NULL)) == -1 ||
		    then(b, &p, fnew(b, "geq", "r", "r(X,Y)", "g", "g(X,Y)",
		    "b", "b(X,Y)", "a", mask, NULL)) == -1 ||
		    then(b, &p, fnew(b, "format", "pix_fmts", "yuva420p",
		    NULL)) == -1 ||
		    then(b, &p, fnew(b, "loop", "loop", frames, "size", "1",
		    NULL)) == -1 ||
		    then(b, &p, fnew(b, "settb", "expr", tb, NULL)) == -1) {
			jv_free(tm->keyframes);
			return -1;
		}
	} else {
		p.f = fnew(b, "color", "color", col, "size", hs, "rate", ws,
		    "duration", d, NULL);
		p.pad = 0;
		if (p.f == NULL || then(b, &p, fnew(b, "format", "pix_fmts",
		    "yuva420p", NULL)) == -1) {
			jv_free(tm->keyframes);
			return -1;
		}
	}
	if (then(b, &p, fnew(b, "setpts", "expr", pts, NULL)) == -1 ||
	    fades(b, &p, tm) == -1) {
		jv_free(tm->keyframes);
		return -1;
	}
	if (!kf_expr(tm, "x", k, 0, "t", xs, sizeof xs))
		snprintf(xs, sizeof xs, "%d", x);
	if (!kf_expr(tm, "y", k, 0, "t", ys, sizeof ys))
		snprintf(ys, sizeof ys, "%d", y);
	jv_free(tm->keyframes);
	return overlay_at(b, cur, p, xs, ys, animated);
}

static struct source *
add_source(struct build *b, jv layer, const char *path, enum AVMediaType type)
{
	struct source *s;

	if (b->nsrc >= MAX_SOURCES) {
		gfail(b, "WORKER_FATAL_ERROR", "more than %d media layers",
		    MAX_SOURCES);
		return NULL;
	}
	if ((s = calloc(1, sizeof *s)) == NULL) {
		gfail(b, "WORKER_FATAL_ERROR", "out of memory");
		return NULL;
	}
	b->src[b->nsrc++] = s;
	snprintf(s->path, sizeof s->path, "%s", path);
	snprintf(s->layer, sizeof s->layer, "%s", str(layer, "layerName"));
	s->type = type;
	return s;
}

static int
open_source(struct build *b, struct source *s)
{
	if (source_open(s, b->err, b->err_size) == -1 ||
	    source_buffer(s, b->graph, b->err, b->err_size) == -1) {
		b->code = "WORKER_IMPORT_ASSET_FAILED";
		return -1;
	}
	return 0;
}

static int
locate(struct build *b, jv layer, char *path, size_t size)
{
	const char *code = "WORKER_DOWNLOAD_ASSET_FAILED";

	if (b->spec->locate(b->spec->locate_arg, layer, path, size, b->err,
	    b->err_size, &code) == -1) {
		b->code = code;
		return -1;
	}
	return 0;
}

static int audio_chain(struct build *b, struct pad p, jv layer,
    const struct timing *tm);

/* upright: turn a picture as its EXIF orientation (or a clip's display
 * matrix) says, before anything else is done to it. */
static int
upright(struct build *b, struct pad *p, int orientation)
{
	static const char *const dir[] = { [5] = "cclock_flip", [6] = "clock",
	    [7] = "clock_flip", [8] = "cclock" };

	switch (orientation) {
	case 2:
		return then(b, p, fnew(b, "hflip", NULL));
	case 3:
		if (then(b, p, fnew(b, "hflip", NULL)) == -1)
			return -1;
		return then(b, p, fnew(b, "vflip", NULL));
	case 4:
		return then(b, p, fnew(b, "vflip", NULL));
	case 5: case 6: case 7: case 8:
		return then(b, p, fnew(b, "transpose", "dir", dir[orientation],
		    NULL));
	}
	return 0;
}

/* picture: an image or a clip, fitted into its box and overlaid. */
static int
picture(struct build *b, struct pad *cur, jv layer, struct timing *tm,
    bool clip)
{
	const char *fit = str(layer, "fit");
	double k = b->k;
	double bx = num(layer, "x", 0) * k, by = num(layer, "y", 0) * k;
	double bw = has(layer, "width") ? num(layer, "width", 0) * k : b->width;
	double bh = has(layer, "height") ? num(layer, "height", 0) * k :
	    b->height;
	char path[4096], sw[32], sh[32], xs[4200], ys[4200], e[64], kx[2048],
	    ky[2048], ks[2048];
	double r, ox = 0, oy = 0;
	int w, h, cw = 0, ch = 0, sw0, sh0;
	bool animated;
	struct source *s;
	struct pad p;

	if (locate(b, layer, path, sizeof path) == -1)
		return -1;
	if ((s = add_source(b, layer, path, AVMEDIA_TYPE_VIDEO)) == NULL)
		return -1;
	s->image = !clip;
	s->loop = flag(layer, "loop");
	s->trim_s = num(layer, "trimStart", 0);
	s->trim_end_s = num(layer, "trimEnd", 0);
	s->start_s = tm->start;
	s->end_s = tm->end;
	if (open_source(b, s) == -1)
		return -1;
	sw0 = s->orientation >= 5 ? s->height : s->width;
	sh0 = s->orientation >= 5 ? s->width : s->height;
	if (fit && strcmp(fit, "fill") == 0) {
		w = (int)lrint(bw);
		h = (int)lrint(bh);
	} else if (fit && strcmp(fit, "cover") == 0) {
		r = fmax(bw / sw0, bh / sh0);
		w = (int)ceil(sw0 * r);
		h = (int)ceil(sh0 * r);
		cw = (int)lrint(bw);
		ch = (int)lrint(bh);
	} else {   /* contain */
		r = fmin(bw / sw0, bh / sh0);
		w = (int)lrint(sw0 * r);
		h = (int)lrint(sh0 * r);
		ox = (bw - w) / 2;
		oy = (bh - h) / 2;
	}
	if (w < 1 || h < 1)
		return 0;
	p.f = s->buf;
	p.pad = 0;
	if (clip) {
		snprintf(e, sizeof e, "%d", b->fps);
		if (then(b, &p, fnew(b, "fps", "fps", e, NULL)) == -1)
			return -1;
	}
	if (upright(b, &p, s->orientation) == -1)
		return -1;
	snprintf(sw, sizeof sw, "%d", w);
	snprintf(sh, sizeof sh, "%d", h);
	if (then(b, &p, fnew(b, "scale", "w", sw, "h", sh, NULL)) == -1)
		return -1;
	if (cw > 0) {
		snprintf(sw, sizeof sw, "%d", cw);
		snprintf(sh, sizeof sh, "%d", ch);
		if (then(b, &p, fnew(b, "crop", "w", sw, "h", sh, NULL)) == -1)
			return -1;
		w = cw;
		h = ch;
	}
	if (tm->opacity < 1) {
		snprintf(e, sizeof e, "%.6g", tm->opacity);
		if (then(b, &p, fnew(b, "format", "pix_fmts", "rgba", NULL)) == -1 ||
		    then(b, &p, fnew(b, "colorchannelmixer", "aa", e, NULL)) == -1)
			return -1;
		tm->opacity = 1;
	}
	if (then(b, &p, fnew(b, "format", "pix_fmts", "yuva420p", NULL)) == -1)
		return -1;
	if (!clip) {
		/* decoded, scaled and converted once; repeated by reference */
		snprintf(e, sizeof e, "%lld", (long long)llrint((tm->end -
		    tm->start) * b->fps) - 1);
		if (then(b, &p, fnew(b, "loop", "loop", e, "size", "1", NULL)) == -1)
			return -1;
		snprintf(e, sizeof e, "1/%d", b->fps);
		if (then(b, &p, fnew(b, "settb", "expr", e, NULL)) == -1)
			return -1;
		snprintf(e, sizeof e, "N+%lld", (long long)llrint(tm->start *
		    b->fps));
		if (then(b, &p, fnew(b, "setpts", "expr", e, NULL)) == -1)
			return -1;
	} else if (flag(layer, "freeze")) {
		if (then(b, &p, fnew(b, "tpad", "stop", "-1", "stop_mode",
		    "clone", NULL)) == -1)
			return -1;
	}
	if (clip) {
		snprintf(e, sizeof e, "%.6g", tm->end);
		if (then(b, &p, fnew(b, "trim", "end", e, NULL)) == -1)
			return -1;
	}
	tm->keyframes = jv_object_get(jv_copy(layer), jv_string("keyframes"));
	animated = jv_get_kind(tm->keyframes) == JV_KIND_ARRAY;
	if (kf_expr(tm, "scale", 1, 0, "t", ks, sizeof ks)) {
		char we[2100], he[2100];
		snprintf(we, sizeof we, "max(2,%d*%s)", w, ks);
		snprintf(he, sizeof he, "max(2,%d*%s)", h, ks);
		if (then(b, &p, fnew(b, "scale", "w", we, "h", he, "eval", "frame",
		    NULL)) == -1) {
			jv_free(tm->keyframes);
			return -1;
		}
	}
	if (fades(b, &p, tm) == -1) {
		jv_free(tm->keyframes);
		return -1;
	}
	if (!kf_expr(tm, "x", k, 0, "t", kx, sizeof kx))
		snprintf(kx, sizeof kx, "%.6g", bx);
	if (!kf_expr(tm, "y", k, 0, "t", ky, sizeof ky))
		snprintf(ky, sizeof ky, "%.6g", by);
	jv_free(tm->keyframes);
	/* centred in the box: scale keyframes grow from the middle */
	snprintf(xs, sizeof xs, "%s+%.6g+(%d-w)/2", kx, ox, w);
	snprintf(ys, sizeof ys, "%s+%.6g+(%d-h)/2", ky, oy, h);
	if (overlay_at(b, cur, p, xs, ys, animated) == -1)
		return -1;
	if (clip && flag(layer, "audio") && strcmp(b->format, "gif") != 0) {
		struct source *a = add_source(b, layer, path, AVMEDIA_TYPE_AUDIO);
		if (a == NULL)
			return -1;
		a->loop = s->loop;
		a->trim_s = s->trim_s;
		a->trim_end_s = s->trim_end_s;
		a->end_s = tm->end - tm->start;
		if (source_open(a, b->err, b->err_size) == -1) {
			/* a clip without sound is not an error: it is silent */
			b->nsrc--;
			source_close(a);
			free(a);
			return 0;
		}
		if (source_buffer(a, b->graph, b->err, b->err_size) == -1) {
			b->code = "WORKER_IMPORT_ASSET_FAILED";
			return -1;
		}
		return audio_chain(b, (struct pad){ a->buf, 0 }, layer, tm);
	}
	return 0;
}

/* ---- audio ---- */

static int
audio_chain(struct build *b, struct pad p, jv layer, const struct timing *tm)
{
	double len = tm->end - tm->start, vol = num(layer, "volume", 1);
	double fi = num(layer, "audioFadeIn", tm->fade_in);
	double fo = num(layer, "audioFadeOut", tm->fade_out);
	char e[64], st[32];

	if (b->naudio >= MAX_SOURCES)
		return gfail(b, "WORKER_FATAL_ERROR", "too many sounds");
	if (then(b, &p, fnew(b, "aresample", "out_sample_rate", "48000",
	    NULL)) == -1 ||
	    then(b, &p, fnew(b, "aformat", "sample_fmts", "fltp",
	    "sample_rates", "48000", "channel_layouts", "stereo", NULL)) == -1)
		return -1;
	snprintf(e, sizeof e, "%.6g", len);
	if (then(b, &p, fnew(b, "atrim", "end", e, NULL)) == -1)
		return -1;
	if (vol != 1) {
		snprintf(e, sizeof e, "%.6g", vol);
		if (then(b, &p, fnew(b, "volume", "volume", e, NULL)) == -1)
			return -1;
	}
	if (fi > 0) {
		snprintf(e, sizeof e, "%.6g", fi);
		if (then(b, &p, fnew(b, "afade", "type", "in", "start_time", "0",
		    "duration", e, NULL)) == -1)
			return -1;
	}
	if (fo > 0) {
		snprintf(e, sizeof e, "%.6g", fo);
		snprintf(st, sizeof st, "%.6g", fmax(0, len - fo));
		if (then(b, &p, fnew(b, "afade", "type", "out", "start_time", st,
		    "duration", e, NULL)) == -1)
			return -1;
	}
	if (tm->start > 0) {
		snprintf(e, sizeof e, "%lld", (long long)llrint(tm->start * 1000));
		if (then(b, &p, fnew(b, "adelay", "delays", e, "all", "1",
		    NULL)) == -1)
			return -1;
	}
	b->audio_in[b->naudio++] = p.f;
	return 0;
}

static int
sound(struct build *b, jv layer, struct timing *tm)
{
	struct source *s;
	struct pad p;
	char path[4096], e[32], d[32];

	if (strcmp(b->format, "gif") == 0)
		return 0;          /* a GIF has no sound */
	if (has(layer, "tone")) {
		/* a generated sine tone (tests, the benchmark) */
		snprintf(e, sizeof e, "%.6g", num(layer, "tone", 440));
		snprintf(d, sizeof d, "%.6g", tm->end - tm->start);
		p.f = fnew(b, "sine", "frequency", e, "sample_rate", "48000",
		    "duration", d, NULL);
		p.pad = 0;
		if (p.f == NULL)
			return -1;
		return audio_chain(b, p, layer, tm);
	}
	if (locate(b, layer, path, sizeof path) == -1)
		return -1;
	if ((s = add_source(b, layer, path, AVMEDIA_TYPE_AUDIO)) == NULL)
		return -1;
	s->loop = flag(layer, "loop");
	s->trim_s = num(layer, "trimStart", 0);
	s->trim_end_s = num(layer, "trimEnd", 0);
	s->end_s = tm->end - tm->start;
	if (open_source(b, s) == -1)
		return -1;
	return audio_chain(b, (struct pad){ s->buf, 0 }, layer, tm);
}

/* ---- the layers ---- */

/* is_background: a still, opaque, full-frame solid for the whole time. */
static bool
is_background(const struct build *b, jv layer, const struct timing *tm)
{
	const char *type = str(layer, "layerType");

	return type && strcmp(type, "SOLID") == 0 && !has(layer, "x") &&
	    !has(layer, "y") && !has(layer, "width") && !has(layer, "height") &&
	    tm->start == 0 && tm->end >= b->duration && tm->fade_in <= 0 &&
	    tm->fade_out <= 0 && tm->opacity >= 1 && !has(layer, "keyframes") &&
	    tmpl_color_valid(str(layer, "color")) &&
	    strlen(str(layer, "color")) == 7;
}

/* background_colour: the base colour: the first visible layer's when it
 * is a background (it is then not drawn again), else black. */
static void
background_colour(const struct build *b, jv list, char col[16])
{
	snprintf(col, 16, "black");
	jv_array_foreach(list, i, layer) {
		struct timing tm;
		bool done = false;
		(void)i;
		if (flag(layer, "visible") && timing_of(b, layer, 0, &tm) == 0) {
			if (is_background(b, layer, &tm))
				colour(str(layer, "color"), 1, col);
			done = true;
		}
		jv_free(layer);
		if (done)
			break;
	}
	jv_free(list);
}

static int
layers(struct build *b, struct pad *cur, jv list, double offset, bool *base)
{
	int rc = 0;

	jv_array_foreach(list, i, layer) {
		const char *type = str(layer, "layerType");
		const char *mt = str(layer, "mediaType");
		struct timing tm;

		(void)i;
		if (rc || type == NULL || !flag(layer, "visible") ||
		    timing_of(b, layer, offset, &tm) == -1) {
			jv_free(layer);
			continue;
		}
		if (strcmp(type, "COMPOSITION") == 0) {
			*base = false;
			rc = layers(b, cur, jv_object_get(jv_copy(layer),
			    jv_string("layers")), tm.start, base);
		}
		else if (strcmp(type, "DATA") == 0)
			rc = draw_text(b, cur, layer, &tm);
		else if (strcmp(type, "SOLID") == 0) {
			/* the first full-frame solid is the background itself */
			if (!(*base && is_background(b, layer, &tm)))
				rc = solid(b, cur, layer, &tm);
		} else if (strcmp(type, "MEDIA") == 0 && mt &&
		    strcmp(mt, "audio") == 0) {
			if (has(layer, "src") || has(layer, "tone"))
				rc = sound(b, layer, &tm);
		}
		else if (strcmp(type, "MEDIA") == 0 && has(layer, "src"))
			rc = picture(b, cur, layer, &tm, mt && strcmp(mt, "video") == 0);
		*base = false;
		jv_free(layer);
	}
	jv_free(list);
	return rc;
}

static int
video_end(struct build *b, struct pad cur)
{
	static const enum AVPixelFormat yuv[] = { AV_PIX_FMT_YUV420P,
	    AV_PIX_FMT_NONE };
	static const enum AVPixelFormat pal[] = { AV_PIX_FMT_PAL8,
	    AV_PIX_FMT_NONE };
	bool gif = strcmp(b->format, "gif") == 0;
	int ret;

	if (gif) {
		AVFilterContext *split = fnew(b, "split", NULL);
		AVFilterContext *gen = fnew(b, "palettegen", "stats_mode", "full",
		    NULL);
		AVFilterContext *use = fnew(b, "paletteuse", "dither", "bayer",
		    NULL);
		if (split == NULL || gen == NULL || use == NULL ||
		    flink(b, cur, split, 0) == -1 ||
		    flink(b, (struct pad){ split, 0 }, use, 0) == -1 ||
		    flink(b, (struct pad){ split, 1 }, gen, 0) == -1 ||
		    flink(b, (struct pad){ gen, 0 }, use, 1) == -1)
			return -1;
		cur.f = use;
		cur.pad = 0;
	} else if (then(b, &cur, fnew(b, "format", "pix_fmts", "yuv420p",
	    NULL)) == -1)
		return -1;
	b->vout = avfilter_graph_alloc_filter(b->graph,
	    avfilter_get_by_name("buffersink"), "vout");
	if (b->vout == NULL)
		return gfail(b, "WORKER_FATAL_ERROR", "no buffersink");
	ret = av_opt_set_int_list(b->vout, "pix_fmts", gif ? pal : yuv,
	    AV_PIX_FMT_NONE, AV_OPT_SEARCH_CHILDREN);
	if (ret < 0 || avfilter_init_str(b->vout, NULL) < 0)
		return gfail(b, "WORKER_FATAL_ERROR", "cannot set up the video "
		    "output");
	return flink(b, cur, b->vout, 0);
}

static int
audio_end(struct build *b)
{
	bool opus = strcmp(b->format, "webm") == 0;
	struct pad p;
	char e[32];

	if (b->naudio == 0) {
		p.f = fnew(b, "anullsrc", "sample_rate", "48000", "channel_layout",
		    "stereo", NULL);
		p.pad = 0;
		if (p.f == NULL)
			return -1;
	} else if (b->naudio == 1) {
		p.f = b->audio_in[0];
		p.pad = 0;
	} else {
		snprintf(e, sizeof e, "%d", b->naudio);
		p.f = fnew(b, "amix", "inputs", e, "duration", "longest",
		    "normalize", "0", NULL);
		p.pad = 0;
		if (p.f == NULL)
			return -1;
		for (int i = 0; i < b->naudio; i++)
			if (flink(b, (struct pad){ b->audio_in[i], 0 }, p.f, i) == -1)
				return -1;
	}
	snprintf(e, sizeof e, "%.6g", b->duration);
	if (then(b, &p, fnew(b, "apad", NULL)) == -1 ||
	    then(b, &p, fnew(b, "atrim", "end", e, NULL)) == -1 ||
	    then(b, &p, fnew(b, "aformat", "sample_fmts", opus ? "flt" : "fltp",
	    "sample_rates", "48000", "channel_layouts", "stereo", NULL)) == -1)
		return -1;
	b->aout = fnew(b, "abuffersink", NULL);
	if (b->aout == NULL)
		return -1;
	return flink(b, p, b->aout, 0);
}

int
graph_build(struct build *b, char *err, size_t err_size, const char **code)
{
	const struct render_spec *spec = b->spec;
	jv res = jv_object_get(jv_copy(spec->doc), jv_string("resolution"));
	char size[32], rate[16], dur[32], bg[16];
	struct pad cur;
	bool base = true;
	int rc = -1;

	b->err = err;
	b->err_size = err_size;
	b->code = "WORKER_FATAL_ERROR";
	b->k = spec->draft ? 0.5 : 1;
	b->width = ((int)lrint(num(res, "width", 0) * b->k) + 1) & ~1;
	b->height = ((int)lrint(num(res, "height", 0) * b->k) + 1) & ~1;
	jv_free(res);
	b->fps = (int)num(spec->doc, "fps", 25);
	b->duration = num(spec->doc, "duration", 0);
	b->nframes = (int64_t)ceil(b->duration * b->fps - 1e-9);
	b->format = spec->format;
	if (b->width < 2 || b->height < 2 || b->fps < 1 || b->duration <= 0) {
		gfail(b, "WORKER_FATAL_ERROR", "template has no size, rate or "
		    "duration");
		goto out;
	}
	if ((b->graph = avfilter_graph_alloc()) == NULL) {
		gfail(b, "WORKER_FATAL_ERROR", "out of memory");
		goto out;
	}
	/* filters run in this thread; the encoders have the cores */
	b->graph->nb_threads = 1;
	snprintf(size, sizeof size, "%dx%d", b->width, b->height);
	snprintf(rate, sizeof rate, "%d", b->fps);
	snprintf(dur, sizeof dur, "%.6g", b->duration);
	background_colour(b, jv_copy(spec->layers), bg);
	cur.f = fnew(b, "color", "color", bg, "size", size, "rate", rate,
	    "duration", dur, NULL);
	cur.pad = 0;
	if (cur.f == NULL)
		goto out;
	if (layers(b, &cur, jv_copy(spec->layers), 0, &base) == -1)
		goto out;
	if (video_end(b, cur) == -1)
		goto out;
	if (strcmp(b->format, "gif") != 0 && audio_end(b) == -1)
		goto out;
	if ((rc = avfilter_graph_config(b->graph, NULL)) < 0) {
		av_err(err, err_size, "cannot configure the filter graph", rc);
		b->code = "WORKER_FATAL_ERROR";
		rc = -1;
		goto out;
	}
	if (b->aout)
		av_buffersink_set_frame_size(b->aout, strcmp(b->format, "webm")
		    == 0 ? 960 : 1024);
	rc = 0;
out:
	*code = b->code;
	return rc;
}

void
graph_free(struct build *b)
{
	for (int i = 0; i < b->nsrc; i++) {
		source_close(b->src[i]);
		free(b->src[i]);
	}
	b->nsrc = 0;
	avfilter_graph_free(&b->graph);
}
