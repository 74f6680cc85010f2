/*
 * template.c — templates (doc/vr-template.5): load and check
 * etc/templates/PROJECT/TEMPLATE.json, compile its jq expressions once into
 * one program, keep loaded templates in a per-process cache, and resolve a
 * job's parameters into drawable layers plus Plainly's
 * parametrizationResults. Shared by vr-validate and vr-render.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jq.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "id.h"
#include "template.h"

#define TMPL_MAX_SIZE (1024 * 1024)
#define TMPL_MAX_DEPTH 8        /* nested COMPOSITION layers */
#define TEXT_MAX_DEFAULT 1000   /* characters of one text value */
#define TEXT_MAX_LINES 20       /* lines of one text value */

struct tmpl {
	char *path;             /* the template file */
	char *project_dir;      /* its folder: the project's static assets */
	jv doc;
	jq_state *jq;           /* all expressions, one program; NULL if none */
	int nexpr;
	char jq_error[256];     /* last message from libjq */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/* The properties a parametrization may set, and what each one holds. */
enum ptype { PT_TEXT, PT_COLOR, PT_BOOL, PT_NUMBER, PT_SRC, PT_FONT };
static const struct {
	const char *name;
	enum ptype type;
	double min, max;
} properties[] = {
	{ "text", PT_TEXT, 0, 0 },
	{ "color", PT_COLOR, 0, 0 },
	{ "boxColor", PT_COLOR, 0, 0 },
	{ "visible", PT_BOOL, 0, 0 },
	{ "src", PT_SRC, 0, 0 },
	{ "font", PT_FONT, 0, 0 },
	{ "volume", PT_NUMBER, 0, 4 },
	{ "opacity", PT_NUMBER, 0, 1 },
	{ "fontSize", PT_NUMBER, 1, 1000 },
	{ "x", PT_NUMBER, -10000, 10000 },
	{ "y", PT_NUMBER, -10000, 10000 },
	{ "width", PT_NUMBER, 1, 10000 },
	{ "height", PT_NUMBER, 1, 10000 },
	{ "start", PT_NUMBER, 0, 36000 },
	{ "duration", PT_NUMBER, 0, 36000 },
};

static int
property_index(const char *name)
{
	for (size_t i = 0; i < sizeof properties / sizeof properties[0]; i++)
		if (strcmp(properties[i].name, name) == 0)
			return (int)i;
	return -1;
}

static const char *
default_property(const char *layer_type)
{
	if (strcmp(layer_type, "DATA") == 0)
		return "text";
	if (strcmp(layer_type, "MEDIA") == 0)
		return "src";
	if (strcmp(layer_type, "SOLID") == 0 ||
	    strcmp(layer_type, "SOLID_COLOR") == 0)
		return "color";
	if (strcmp(layer_type, "COMPOSITION") == 0)
		return "visible";
	return NULL;
}

/* Borrowing accessors on objects. */
static const char *
ostr(jv o, const char *key)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	const char *s = NULL;
	if (jv_get_kind(v) == JV_KIND_STRING)
		s = jv_string_value(v); /* o keeps the string alive */
	jv_free(v);
	return s;
}

static bool
obool(jv o, const char *key)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	bool b = jv_get_kind(v) == JV_KIND_TRUE;
	jv_free(v);
	return b;
}

/* obool_true_default: a boolean at key that is true unless false. */
static bool
obool_true_default(jv o, const char *key)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	bool b = jv_get_kind(v) != JV_KIND_FALSE;
	jv_free(v);
	return b;
}

static bool
onum(jv o, const char *key, double *out)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	bool ok = jv_get_kind(v) == JV_KIND_NUMBER;
	if (ok)
		*out = jv_number_value(v);
	jv_free(v);
	return ok;
}

bool
tmpl_color_valid(const char *s)
{
	size_t n;

	if (s == NULL || s[0] != '#')
		return false;
	n = strlen(s + 1);
	if (n != 6 && n != 8)
		return false;
	for (size_t i = 1; i <= n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool
font_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && strchr(" _.:-=", *p) == NULL)
			return false;
	return true;
}

/* A "#name.path" reference (letters, digits, '_' and '-' per segment). */
static bool
is_reference(const char *s)
{
	bool seg = false;

	if (s == NULL || s[0] != '#' || s[1] == '\0')
		return false;
	for (const char *p = s + 1; *p; p++) {
		if (*p == '.') {
			if (!seg)
				return false;
			seg = false;
		} else if (isalnum((unsigned char)*p) || *p == '_' || *p == '-')
			seg = true;
		else
			return false;
	}
	return seg;
}

/* ---- loading ---- */

struct load {
	struct tmpl *t;
	jv program;          /* the combined jq program being built */
	char *err;
	size_t err_size;
	jv names;            /* layer names seen */
};

static int
load_fail(struct load *ld, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ld->err, ld->err_size, fmt, ap);
	va_end(ap);
	return -1;
}

static jv
param_list(jv layer)
{
	jv p = jv_object_get(jv_copy(layer), jv_string("parametrization"));

	switch (jv_get_kind(p)) {
	case JV_KIND_OBJECT:
		return JV_ARRAY(p);
	case JV_KIND_ARRAY:
		return p;
	default:
		jv_free(p);
		return jv_array();
	}
}

static int
check_param(struct load *ld, const char *lname, const char *ltype, jv p)
{
	const char *prop, *value;
	jv v;

	if (jv_get_kind(p) != JV_KIND_OBJECT)
		return load_fail(ld, "layer %s: parametrization is not an object",
		    lname);
	prop = ostr(p, "property");
	if (prop == NULL)
		prop = default_property(ltype);
	if (prop == NULL || property_index(prop) < 0)
		return load_fail(ld, "layer %s: unknown property \"%s\"", lname,
		    prop ? prop : "");
	v = jv_object_get(jv_copy(p), jv_string("value"));
	if (jv_get_kind(v) != JV_KIND_STRING) {
		jv_free(v);
		return load_fail(ld, "layer %s: parametrization value must be a "
		    "string", lname);
	}
	value = jv_string_value(v);
	if (obool(p, "expression") && !is_reference(value)) {
		char piece[64];
		snprintf(piece, sizeof piece, "%s(try ([(\n", ld->t->nexpr ?
		    "," : "");
		ld->program = jv_string_concat(ld->program, jv_string(piece));
		ld->program = jv_string_concat(ld->program, jv_copy(v));
		ld->program = jv_string_concat(ld->program,
		    jv_string("\n)] | {v: .}) catch {e: .})\n"));
		ld->t->nexpr++;
	}
	jv_free(v);
	return 0;
}

static int
check_layers(struct load *ld, jv layers, int depth)
{
	static const char *const types[] = { "DATA", "MEDIA", "SOLID",
	    "SOLID_COLOR", "COMPOSITION" };
	int rc = 0;

	if (jv_get_kind(layers) != JV_KIND_ARRAY) {
		jv_free(layers);
		return load_fail(ld, "layers must be an array");
	}
	if (depth > TMPL_MAX_DEPTH) {
		jv_free(layers);
		return load_fail(ld, "compositions nested deeper than %d",
		    TMPL_MAX_DEPTH);
	}
	jv_array_foreach(layers, i, layer) {
		const char *lname, *ltype, *s;
		bool known = false;
		jv params;

		if (jv_get_kind(layer) != JV_KIND_OBJECT) {
			jv_free(layer);
			rc = load_fail(ld, "layer %d is not an object", i);
			break;
		}
		lname = ostr(layer, "layerName");
		ltype = ostr(layer, "layerType");
		if (lname == NULL || *lname == '\0') {
			jv_free(layer);
			rc = load_fail(ld, "layer %d has no layerName", i);
			break;
		}
		if (jv_object_has(jv_copy(ld->names), jv_string(lname))) {
			rc = load_fail(ld, "layer name %s is used twice", lname);
			jv_free(layer);
			break;
		}
		ld->names = jv_object_set(ld->names, jv_string(lname), jv_true());
		for (size_t k = 0; ltype && k < sizeof types / sizeof types[0]; k++)
			known |= strcmp(ltype, types[k]) == 0;
		if (!known) {
			rc = load_fail(ld, "layer %s: layerType must be DATA, MEDIA, "
			    "SOLID or COMPOSITION", lname);
			jv_free(layer);
			break;
		}
		if ((s = ostr(layer, "color")) && !tmpl_color_valid(s)) {
			rc = load_fail(ld, "layer %s: color \"%s\" is not #RRGGBB or "
			    "#RRGGBBAA", lname, s);
			jv_free(layer);
			break;
		}
		if (strcmp(ltype, "MEDIA") == 0) {
			s = ostr(layer, "mediaType");
			if (s == NULL || (strcmp(s, "image") && strcmp(s, "video") &&
			    strcmp(s, "audio"))) {
				rc = load_fail(ld, "layer %s: mediaType must be image, "
				    "video or audio", lname);
				jv_free(layer);
				break;
			}
			if ((s = ostr(layer, "src")) && !name_valid(s)) {
				rc = load_fail(ld, "layer %s: src \"%s\" is not a file "
				    "name of the project", lname, s);
				jv_free(layer);
				break;
			}
		}
		if ((s = ostr(layer, "fontFile")) && !name_valid(s)) {
			rc = load_fail(ld, "layer %s: fontFile \"%s\" is not a file "
			    "name of the project", lname, s);
			jv_free(layer);
			break;
		}
		params = param_list(layer);
		jv_array_foreach(params, k, p) {
			if (rc == 0)
				rc = check_param(ld, lname, ltype, p);
			jv_free(p);
			(void)k;
		}
		jv_free(params);
		if (rc == 0 && strcmp(ltype, "COMPOSITION") == 0)
			rc = check_layers(ld, jv_object_get(jv_copy(layer),
			    jv_string("layers")), depth + 1);
		jv_free(layer);
		if (rc)
			break;
	}
	jv_free(layers);
	return rc;
}

static void
jq_message(void *data, jv msg)
{
	struct tmpl *t = data;

	if (jv_get_kind(msg) == JV_KIND_STRING)
		snprintf(t->jq_error, sizeof t->jq_error, "%s",
		    jv_string_value(msg));
	else {
		jv s = jv_dump_string(msg, 0);
		snprintf(t->jq_error, sizeof t->jq_error, "%s",
		    jv_string_value(s));
		jv_free(s);
		return;
	}
	jv_free(msg);
}

static int
check_document(struct load *ld)
{
	jv doc = ld->t->doc;
	jv res;
	double w = 0, h = 0, fps = 0, dur = 0;

	if (jv_get_kind(doc) != JV_KIND_OBJECT)
		return load_fail(ld, "not a JSON object");
	if (!onum(doc, "duration", &dur) || !(dur > 0))
		return load_fail(ld, "duration must be a number of seconds > 0");
	if (conf.max_video_duration_s > 0 && dur > conf.max_video_duration_s)
		return load_fail(ld, "duration %g s is over the limit of %d s", dur,
		    conf.max_video_duration_s);
	if (!onum(doc, "fps", &fps) || fps < 1 || fps > 120 ||
	    fps != (int)fps)
		return load_fail(ld, "fps must be a whole number from 1 to 120");
	res = jv_object_get(jv_copy(doc), jv_string("resolution"));
	if (jv_get_kind(res) == JV_KIND_OBJECT) {
		onum(res, "width", &w);
		onum(res, "height", &h);
	}
	jv_free(res);
	if (w < 16 || h < 16 || w > 16384 || h > 16384 || w != (int)w ||
	    h != (int)h || (int)w % 2 || (int)h % 2)
		return load_fail(ld, "resolution must be {width, height}, even "
		    "whole numbers of at least 16");
	if ((conf.max_width > 0 && w > conf.max_width) ||
	    (conf.max_height > 0 && h > conf.max_height))
		return load_fail(ld, "resolution %gx%g is over the limit of %dx%d",
		    w, h, conf.max_width, conf.max_height);
	return check_layers(ld, jv_object_get(jv_copy(doc), jv_string("layers")),
	    0);
}

static char *
slurp(const char *path, size_t *len, char *err, size_t err_size,
    struct stat *st)
{
	char *buf = NULL;
	ssize_t n;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode)) {
		snprintf(err, err_size, "%s: not a regular file", path);
		goto fail;
	}
	if (st->st_size > TMPL_MAX_SIZE) {
		snprintf(err, err_size, "%s: over %d bytes", path, TMPL_MAX_SIZE);
		goto fail;
	}
	if ((buf = malloc((size_t)st->st_size + 1)) == NULL) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		goto fail;
	}
	while (got < (size_t)st->st_size &&
	    (n = read(fd, buf + got, (size_t)st->st_size - got)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, err_size, "%s: %s", path, strerror(errno));
			goto fail;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*len = got;
	close(fd);
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

struct tmpl *
tmpl_load(const char *dir, const char *project, const char *template_name,
    char *err, size_t err_size)
{
	struct load ld = { .err = err, .err_size = err_size };
	struct tmpl *t;
	struct stat st;
	size_t len;
	char *text;

	if (!name_valid(project) || !name_valid(template_name)) {
		snprintf(err, err_size, "%s/%s: not a valid project or template "
		    "name", project, template_name);
		return NULL;
	}
	if ((t = calloc(1, sizeof *t)) == NULL) {
		snprintf(err, err_size, "%s", strerror(errno));
		return NULL;
	}
	t->doc = jv_null();
	if (asprintf(&t->project_dir, "%s/%s", dir, project) == -1 ||
	    asprintf(&t->path, "%s/%s.json", t->project_dir, template_name)
	    == -1) {
		t->project_dir = t->path = NULL;
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	if ((text = slurp(t->path, &len, err, err_size, &st)) == NULL)
		goto fail;
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	t->size = st.st_size;
	t->mtime = st.st_mtim;
	jv_free(t->doc);
	t->doc = jv_parse_sized(text, (int)len);
	free(text);
	if (!jv_is_valid(t->doc)) {
		jv msg = jv_invalid_get_msg(t->doc);
		snprintf(err, err_size, "%s: not JSON: %s", t->path,
		    jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) :
		    "?");
		jv_free(msg);
		t->doc = jv_null();
		goto fail;
	}
	ld.t = t;
	ld.program = jv_string("[\n");
	ld.names = jv_object();
	if (check_document(&ld) == -1) {
		char why[512];
		snprintf(why, sizeof why, "%s", err);
		snprintf(err, err_size, "%s: %s", t->path, why);
		jv_free(ld.program);
		jv_free(ld.names);
		goto fail;
	}
	jv_free(ld.names);
	ld.program = jv_string_concat(ld.program, jv_string("]"));
	if (t->nexpr > 0) {
		if ((t->jq = jq_init()) == NULL) {
			snprintf(err, err_size, "%s: cannot start jq", t->path);
			jv_free(ld.program);
			goto fail;
		}
		jq_set_error_cb(t->jq, jq_message, t);
		if (!jq_compile(t->jq, jv_string_value(ld.program))) {
			snprintf(err, err_size, "%s: an expression does not compile: "
			    "%s", t->path, t->jq_error);
			jv_free(ld.program);
			goto fail;
		}
	}
	jv_free(ld.program);
	return t;
fail:
	tmpl_free(t);
	return NULL;
}

void
tmpl_free(struct tmpl *t)
{
	if (t == NULL)
		return;
	if (t->jq)
		jq_teardown(&t->jq);
	jv_free(t->doc);
	free(t->path);
	free(t->project_dir);
	free(t);
}

jv
tmpl_json(const struct tmpl *t)
{
	return t->doc;
}

const char *
tmpl_project_dir(const struct tmpl *t)
{
	return t->project_dir;
}

/* ---- the cache ---- */

struct cached {
	struct cached *next;
	struct tmpl *t;
};
static struct cached *cache;

struct tmpl *
tmpl_cache_get(const char *dir, const char *project, const char *template_name,
    char *err, size_t err_size)
{
	struct cached **pp, *c;
	struct stat st;
	struct tmpl *t;
	char *path;

	if (!name_valid(project) || !name_valid(template_name)) {
		snprintf(err, err_size, "%s/%s: not a valid project or template "
		    "name", project, template_name);
		return NULL;
	}
	if (asprintf(&path, "%s/%s/%s.json", dir, project, template_name) == -1) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	for (pp = &cache; (c = *pp) != NULL; pp = &c->next) {
		if (strcmp(c->t->path, path) != 0)
			continue;
		if (stat(path, &st) == 0 && st.st_ino == c->t->ino &&
		    st.st_dev == c->t->dev && st.st_size == c->t->size &&
		    st.st_mtim.tv_sec == c->t->mtime.tv_sec &&
		    st.st_mtim.tv_nsec == c->t->mtime.tv_nsec) {
			free(path);
			return c->t;
		}
		*pp = c->next;        /* changed or gone: load it again */
		tmpl_free(c->t);
		free(c);
		break;
	}
	free(path);
	if ((t = tmpl_load(dir, project, template_name, err, err_size)) == NULL)
		return NULL;
	if ((c = malloc(sizeof *c)) == NULL) {
		snprintf(err, err_size, "out of memory");
		tmpl_free(t);
		return NULL;
	}
	c->t = t;
	c->next = cache;
	cache = c;
	return t;
}

void
tmpl_cache_clear(void)
{
	struct cached *c;

	while ((c = cache) != NULL) {
		cache = c->next;
		tmpl_free(c->t);
		free(c);
	}
}

/* ---- resolution ---- */

struct resolve {
	struct tmpl *t;
	jv params;
	jv exprs;            /* results of the combined program, or null */
	int expr_next;
	int flags;
	bool ok;
	jv error;            /* first error {code, message}, or null */
	jv results;          /* parametrizationResults */
	jv media;
};

static void
resolve_error(struct resolve *rs, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	rs->ok = false;
	if (jv_get_kind(rs->error) == JV_KIND_NULL)
		rs->error = JV_OBJECT(jv_string("code"), jv_string(code),
		    jv_string("message"), jv_string(msg));
	else
		jv_free(jv_string(msg));
}

/* lookup: params at a dotted path ("product.title"); null when absent. */
static jv
lookup(jv params, const char *path)
{
	jv cur = jv_copy(params);
	char seg[256];

	while (*path) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof seg) {
			jv_free(cur);
			return jv_null();
		}
		memcpy(seg, path, n);
		seg[n] = '\0';
		path += n + (path[n] == '.');
		if (jv_get_kind(cur) == JV_KIND_OBJECT)
			cur = jv_object_get(cur, jv_string(seg));
		else if (jv_get_kind(cur) == JV_KIND_ARRAY &&
		    seg[strspn(seg, "0123456789")] == '\0' && n < 9)
			cur = jv_array_get(cur, atoi(seg));
		else {
			jv_free(cur);
			return jv_null();
		}
		if (!jv_is_valid(cur)) {
			jv_free(cur);
			return jv_null();
		}
	}
	return cur;
}

/* run_value: the raw value of one parametrization, null when unresolved
 * (why, if any, into why). */
static jv
run_value(struct resolve *rs, jv p, char *why, size_t why_size)
{
	const char *value = ostr(p, "value");
	bool expr = obool(p, "expression");
	jv out, r;

	why[0] = '\0';
	if (value == NULL)
		return jv_null();
	if (is_reference(value))
		return lookup(rs->params, value + 1);
	if (!expr)
		return jv_string(value);
	r = jv_array_get(jv_copy(rs->exprs), rs->expr_next++);
	if (jv_get_kind(r) != JV_KIND_OBJECT) {
		jv_free(r);
		snprintf(why, why_size, "expression could not be run");
		return jv_null();
	}
	if (jv_object_has(jv_copy(r), jv_string("e"))) {
		jv e = jv_object_get(r, jv_string("e"));
		if (jv_get_kind(e) == JV_KIND_STRING)
			snprintf(why, why_size, "expression failed: %s",
			    jv_string_value(e));
		else {
			jv s = jv_dump_string(jv_copy(e), 0);
			snprintf(why, why_size, "expression failed: %s",
			    jv_string_value(s));
			jv_free(s);
		}
		jv_free(e);
		return jv_null();
	}
	out = jv_array_get(jv_object_get(r, jv_string("v")), 0);
	if (!jv_is_valid(out)) {
		jv_free(out);
		return jv_null();
	}
	return out;
}

static bool
number_of(jv v, double *d)
{
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		*d = jv_number_value(v);
		return true;
	}
	if (jv_get_kind(v) == JV_KIND_STRING) {
		const char *s = jv_string_value(v);
		char *end;
		if (*s == '\0')
			return false;
		*d = strtod(s, &end);
		return *end == '\0';
	}
	return false;
}

static bool
is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* coerce: check and convert a resolved value for its property. Consumes v.
 * Returns the value, or an invalid with the reason. */
static jv
coerce(struct resolve *rs, jv layer, int pi, jv v)
{
	char msg[256];
	double d;

	switch (properties[pi].type) {
	case PT_TEXT: {
		double max = TEXT_MAX_DEFAULT;
		int n;
		if (jv_get_kind(v) == JV_KIND_NUMBER ||
		    jv_get_kind(v) == JV_KIND_TRUE ||
		    jv_get_kind(v) == JV_KIND_FALSE)
			v = jv_dump_string(v, 0);
		if (jv_get_kind(v) != JV_KIND_STRING) {
			jv_free(v);
			return jv_invalid_with_msg(jv_string("text must be a string"));
		}
		if (strlen(jv_string_value(v)) != (size_t)jv_string_length_bytes(
		    jv_copy(v))) {
			jv_free(v);
			return jv_invalid_with_msg(jv_string(
			    "text contains a NUL character"));
		}
		{
			int lines = 1;
			for (const char *c = jv_string_value(v); *c; c++)
				lines += *c == '\n';
			if (lines > TEXT_MAX_LINES) {
				jv_free(v);
				snprintf(msg, sizeof msg, "text has %d lines, over the "
				    "limit of %d", lines, TEXT_MAX_LINES);
				return jv_invalid_with_msg(jv_string(msg));
			}
		}
		onum(layer, "maxLength", &max);
		if ((n = jv_string_length_codepoints(jv_copy(v))) > max) {
			jv_free(v);
			snprintf(msg, sizeof msg, "text is %d characters, over the "
			    "limit of %g", n, max);
			return jv_invalid_with_msg(jv_string(msg));
		}
		return v;
	}
	case PT_COLOR:
		if (jv_get_kind(v) != JV_KIND_STRING ||
		    !tmpl_color_valid(jv_string_value(v))) {
			jv_free(v);
			return jv_invalid_with_msg(jv_string(
			    "colour must be #RRGGBB or #RRGGBBAA"));
		}
		return v;
	case PT_BOOL:
		switch (jv_get_kind(v)) {
		case JV_KIND_TRUE:
		case JV_KIND_FALSE:
			return v;
		case JV_KIND_NUMBER:
			d = jv_number_value(v);
			jv_free(v);
			return jv_bool(d != 0);
		case JV_KIND_STRING: {
			const char *s = jv_string_value(v);
			int b = -1;
			if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1"))
				b = 1;
			else if (!strcmp(s, "false") || !strcmp(s, "no") ||
			    !strcmp(s, "0") || !strcmp(s, ""))
				b = 0;
			jv_free(v);
			if (b >= 0)
				return jv_bool(b);
			break;
		}
		default:
			jv_free(v);
		}
		return jv_invalid_with_msg(jv_string("visibility must be true or "
		    "false"));
	case PT_NUMBER:
		if (!number_of(v, &d) || d < properties[pi].min ||
		    d > properties[pi].max || d != d) {
			jv_free(v);
			snprintf(msg, sizeof msg, "%s must be a number from %g to %g",
			    properties[pi].name, properties[pi].min,
			    properties[pi].max);
			return jv_invalid_with_msg(jv_string(msg));
		}
		jv_free(v);
		return jv_number(d);
	case PT_FONT:
		if (jv_get_kind(v) != JV_KIND_STRING ||
		    !font_name_valid(jv_string_value(v))) {
			jv_free(v);
			return jv_invalid_with_msg(jv_string("font must be a font "
			    "name of letters, digits, spaces and _.:-="));
		}
		return v;
	case PT_SRC:
		if (jv_get_kind(v) != JV_KIND_STRING ||
		    jv_string_length_bytes(jv_copy(v)) == 0) {
			jv_free(v);
			return jv_invalid_with_msg(jv_string("media must be a URL"));
		}
		if (is_url(jv_string_value(v)) ||
		    (rs->flags & TMPL_LOCAL_MEDIA))
			return v;
		jv_free(v);
		return jv_invalid_with_msg(jv_string("media must be an http or "
		    "https URL"));
	}
	jv_free(v);
	return jv_invalid_with_msg(jv_string("unknown property"));
}

static const char *
asset_type(const char *ltype, int pi, jv layer)
{
	if (strcmp(properties[pi].name, "src") == 0) {
		const char *mt = ostr(layer, "mediaType");
		return mt ? mt : "image";
	}
	(void)ltype;
	return "data";
}

/* resolve_param: one parametrization p (borrowed) of layer; returns the
 * layer updated and appends an asset to *assets. */
static jv
resolve_param(struct resolve *rs, jv layer, const char *lname,
    const char *ltype, jv p, jv *assets, jv *result)
{
	char why[320];
	const char *prop = ostr(p, "property");
	const char *ref = ostr(p, "value");
	bool mandatory = obool(p, "mandatory");
	bool resolved = false;
	int pi;
	jv v, dflt;

	if (prop == NULL)
		prop = default_property(ltype);
	pi = property_index(prop);
	v = run_value(rs, p, why, sizeof why);
	if (jv_get_kind(v) != JV_KIND_NULL)
		resolved = true;
	else if (jv_is_valid(dflt = jv_object_get(jv_copy(p),
	    jv_string("defaultValue"))) && jv_get_kind(dflt) != JV_KIND_NULL) {
		jv_free(v);
		v = dflt;
		resolved = true;
	} else
		jv_free(dflt);
	if (why[0])
		*result = jv_object_set(*result, jv_string("errorMessage"),
		    jv_string(why));
	if (!resolved) {
		jv_free(v);
		if (mandatory) {
			*result = jv_object_set(*result,
			    jv_string("mandatoryNotResolved"), jv_true());
			resolve_error(rs, "RENDER_MANDATORY_PARAMETER_NOT_RESOLVED",
			    "layer %s: %s %s is mandatory and was not given%s%s",
			    lname, prop, ref ? ref : "", why[0] ? ": " : "", why);
		}
		return layer;
	}
	v = coerce(rs, layer, pi, v);
	if (!jv_is_valid(v)) {
		jv msg = jv_invalid_get_msg(v);
		const char *code = properties[pi].type == PT_COLOR ?
		    "RENDER_INPUT_SOLID_COLOR_NOT_VALID" :
		    "RENDER_PARAMETER_NOT_VALID";
		resolve_error(rs, code, "layer %s: %s: %s", lname, prop,
		    jv_string_value(msg));
		*result = jv_object_set(*result, jv_string("fatalError"), jv_true());
		*result = jv_object_set(*result, jv_string("errorMessage"),
		    jv_string_fmt("%s: %s", prop, jv_string_value(msg)));
		jv_free(msg);
		return layer;
	}
	if (properties[pi].type == PT_SRC) {
		const char *src = jv_string_value(v);
		layer = jv_object_set(layer, jv_string("srcKind"),
		    jv_string(is_url(src) ? "url" : "path"));
		*assets = jv_array_append(*assets, JV_OBJECT(
		    jv_string("type"), jv_string(asset_type(ltype, pi, layer)),
		    jv_string("layerName"), jv_string(lname),
		    jv_string("src"), jv_copy(v)));
	} else
		*assets = jv_array_append(*assets, JV_OBJECT(
		    jv_string("type"), jv_string("data"),
		    jv_string("layerName"), jv_string(lname),
		    jv_string("property"), jv_string(prop),
		    jv_string("value"), jv_copy(v)));
	return jv_object_set(layer, jv_string(prop), v);
}

static jv resolve_layers(struct resolve *rs, jv layers, const char *comp,
    bool visible);

static jv
resolve_layer(struct resolve *rs, jv layer, const char *comp, bool visible)
{
	char lname[256], ltype[32];
	jv params, assets = jv_array(), result;
	const char *s;
	int nparams;

	snprintf(lname, sizeof lname, "%s", ostr(layer, "layerName"));
	snprintf(ltype, sizeof ltype, "%s", ostr(layer, "layerType"));
	if (strcmp(ltype, "SOLID_COLOR") == 0) {
		snprintf(ltype, sizeof ltype, "SOLID");
		layer = jv_object_set(layer, jv_string("layerType"),
		    jv_string("SOLID"));
	}
	result = JV_OBJECT(jv_string("layerName"), jv_string(lname),
	    jv_string("composition"), jv_string(comp),
	    jv_string("mandatoryNotResolved"), jv_false(),
	    jv_string("fatalError"), jv_false());
	params = param_list(layer);
	nparams = jv_array_length(jv_copy(params));
	jv_array_foreach(params, i, p) {
		layer = resolve_param(rs, layer, lname, ltype, p, &assets, &result);
		jv_free(p);
		(void)i;
	}
	/* the results name the first parametrization, as Plainly has one */
	if (nparams > 0) {
		result = jv_object_set(result, jv_string("parametrization"),
		    jv_array_get(jv_copy(params), 0));
		result = jv_object_set(result, jv_string("assets"), assets);
		rs->results = jv_array_append(rs->results, result);
	} else {
		jv_free(assets);
		jv_free(result);
	}
	jv_free(params);
	if (!obool_true_default(layer, "visible"))
		visible = false;
	else
		layer = jv_object_set(layer, jv_string("visible"),
		    jv_bool(visible));
	if (strcmp(ltype, "MEDIA") == 0 && (s = ostr(layer, "src")) != NULL) {
		if (!jv_object_has(jv_copy(layer), jv_string("srcKind")))
			layer = jv_object_set(layer, jv_string("srcKind"),
			    jv_string("project"));
		s = ostr(layer, "src");
		if (visible && is_url(s) &&
		    strcmp(ostr(layer, "srcKind"), "url") == 0)
			rs->media = jv_array_append(rs->media, JV_OBJECT(
			    jv_string("layer"), jv_string(lname),
			    jv_string("property"), jv_string("src"),
			    jv_string("value"), jv_string(s),
			    jv_string("mediaType"), jv_string(ostr(layer,
			    "mediaType"))));
	}
	if (strcmp(ltype, "COMPOSITION") == 0)
		layer = jv_object_set(layer, jv_string("layers"),
		    resolve_layers(rs, jv_object_get(jv_copy(layer),
		    jv_string("layers")), lname, visible));
	return layer;
}

static jv
resolve_layers(struct resolve *rs, jv layers, const char *comp, bool visible)
{
	jv out = jv_array();

	if (jv_get_kind(layers) != JV_KIND_ARRAY) {
		jv_free(layers);
		return out;
	}
	jv_array_foreach(layers, i, layer) {
		out = jv_array_append(out, resolve_layer(rs, layer, comp, visible));
		(void)i;
	}
	jv_free(layers);
	return out;
}

jv
tmpl_resolve_flags(struct tmpl *t, jv params, int flags)
{
	struct resolve rs = { .t = t, .flags = flags, .ok = true };
	const char *comp = ostr(t->doc, "renderingComposition");
	jv layers, out;

	if (jv_get_kind(params) == JV_KIND_NULL) {
		jv_free(params);
		params = jv_object();
	}
	if (jv_get_kind(params) != JV_KIND_OBJECT) {
		jv_free(params);
		return JV_OBJECT(jv_string("ok"), jv_false(),
		    jv_string("layers"), jv_array(),
		    jv_string("parametrizationResults"), jv_array(),
		    jv_string("media"), jv_array(),
		    jv_string("error"), JV_OBJECT(jv_string("code"),
		    jv_string("RENDER_PARAMETER_NOT_VALID"), jv_string("message"),
		    jv_string("parameters must be a JSON object")));
	}
	rs.params = params;
	rs.error = jv_null();
	rs.results = jv_array();
	rs.media = jv_array();
	rs.exprs = jv_null();
	if (t->jq) {
		jv r;
		t->jq_error[0] = '\0';
		jq_start(t->jq, jv_copy(params), 0);
		r = jq_next(t->jq);
		if (jv_get_kind(r) == JV_KIND_ARRAY)
			rs.exprs = r;
		else
			jv_free(r);
		/* the program yields one array; drain in case it did not */
		while (jv_is_valid(r = jq_next(t->jq)))
			jv_free(r);
		jv_free(r);
	}
	layers = resolve_layers(&rs, jv_object_get(jv_copy(t->doc),
	    jv_string("layers")), comp ? comp : "main", true);
	out = JV_OBJECT(jv_string("ok"), jv_bool(rs.ok),
	    jv_string("layers"), layers,
	    jv_string("parametrizationResults"), rs.results,
	    jv_string("media"), rs.media);
	if (!rs.ok)
		out = jv_object_set(out, jv_string("error"), rs.error);
	else
		jv_free(rs.error);
	jv_free(rs.exprs);
	jv_free(rs.params);
	return out;
}

jv
tmpl_resolve(struct tmpl *t, jv params)
{
	return tmpl_resolve_flags(t, params, 0);
}
