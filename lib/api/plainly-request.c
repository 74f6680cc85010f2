/*
 * api/plainly-request.c — a POST /api/v2/renders body into a new job
 * (api.h): every field checked against Plainly's ProjectRenderDto and the
 * schemas it names (kinds, allowed values, unknown fields), the output
 * extension chosen from outputFormat.postEncoding, the default template
 * filled in. No I/O besides reading the project's directory.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "id.h"
#include "job.h"

#define K(kind) (1u << (kind))
#define K_STR K(JV_KIND_STRING)
#define K_BOOL (K(JV_KIND_TRUE) | K(JV_KIND_FALSE))
#define K_NUM K(JV_KIND_NUMBER)
#define K_OBJ K(JV_KIND_OBJECT)
#define K_ARR K(JV_KIND_ARRAY)
#define K_NULL K(JV_KIND_NULL)

/* One field of a request schema: its name, the JSON kinds allowed, and for
 * strings the values allowed (NULL: any). */
struct field {
	const char *name;
	unsigned kinds;
	const char *const *values;
};

static const char *const output_modules[] = {
	"H_264", "H_264_HIGH_BIT_RATE", "HQ", "HQ_ALPHA", NULL };
static const char *const settings_templates[] = {
	"BEST_SETTINGS", "DRAFT", NULL };
static const char *const post_encodings[] = {
	"default", "none", "custom", "smallest", "captions", "scale", NULL };
static const char *const encoding_formats[] = {
	"MP4", "GIF", "OGG", "WEBM", "MOV", "MP4_H265", "MXF", NULL };
static const char *const thumbnail_formats[] = { "PNG", "JPG", NULL };

static const struct field render_fields[] = {
	{ "projectId", K_STR, NULL },
	{ "templateId", K_STR | K_NULL, NULL },
	{ "parameters", K_OBJ | K_NULL, NULL },
	{ "attributes", K_OBJ | K_NULL, NULL },
	{ "options", K_OBJ | K_NULL, NULL },
	{ "outputFormat", K_OBJ | K_NULL, NULL },
	{ "webhook", K_OBJ | K_NULL, NULL },
	{ NULL, 0, NULL },
};
static const struct field options_fields[] = {
	{ "captions", K_OBJ | K_NULL, NULL },
	{ "integrations", K_OBJ | K_NULL, NULL },
	{ "projectFiles", K_OBJ | K_NULL, NULL },
	{ "thumbnails", K_OBJ | K_NULL, NULL },
	{ "watermark", K_OBJ | K_NULL, NULL },
	{ NULL, 0, NULL },
};
static const struct field thumbnails_fields[] = {
	{ "atSeconds", K_ARR | K_NULL, NULL },
	{ "format", K_STR | K_NULL, thumbnail_formats },
	{ "frequencySeconds", K_NUM | K_NULL, NULL },
	{ "fromEncodedVideo", K_BOOL | K_NULL, NULL },
	{ NULL, 0, NULL },
};
static const struct field output_format_fields[] = {
	{ "attachment", K_BOOL | K_NULL, NULL },
	{ "attachmentFileName", K_STR | K_NULL, NULL },
	{ "outputModule", K_STR | K_NULL, output_modules },
	{ "postEncoding", K_OBJ | K_NULL, NULL },
	{ "settingsTemplate", K_STR | K_NULL, settings_templates },
	{ NULL, 0, NULL },
};
static const struct field post_encoding_fields[] = {
	{ "type", K_STR, post_encodings },
	{ "encodingFormat", K_STR | K_NULL, encoding_formats },
	{ "encodingParamsLine", K_STR | K_NULL, NULL },
	{ "scalingPercentage", K_NUM | K_NULL, NULL },
	{ "baseEncoding", K_OBJ | K_NULL, NULL },
	{ "captionsPosition", K_STR | K_NULL, NULL },
	{ "captionsStyle", K_STR | K_NULL, NULL },
	{ "srtFileUrl", K_STR | K_NULL, NULL },
	{ NULL, 0, NULL },
};
static const struct field webhook_fields[] = {
	{ "url", K_STR, NULL },
	{ "passthrough", K_STR | K_NULL, NULL },
	{ "onFailure", K_BOOL | K_NULL, NULL },
	{ "onInvalid", K_BOOL | K_NULL, NULL },
	{ NULL, 0, NULL },
};

static const char *
kinds_text(unsigned kinds)
{
	kinds &= ~K_NULL;
	if (kinds == K_STR) return "a string";
	if (kinds == K_BOOL) return "a boolean";
	if (kinds == K_NUM) return "a number";
	if (kinds == K_OBJ) return "an object";
	if (kinds == K_ARR) return "an array";
	return "of another type";
}

/* check_object: every key of obj (borrowed) is a known field of the kind
 * it must be; where names obj in messages ("options"). */
static bool
check_object(jv obj, const char *where, const struct field *fields,
    struct api_fail *f)
{
	bool ok = true;
	int i;

	/* jv_object_foreach borrows obj (and evaluates it repeatedly) */
	jv_object_foreach(obj, key, value) {
		const struct field *fd = NULL;
		const char *name = jv_string_value(key);
		jv_kind kind = jv_get_kind(value);

		for (i = 0; ok && fields[i].name != NULL; i++)
			if (strcmp(fields[i].name, name) == 0)
				fd = &fields[i];
		if (!ok) {
			/* already failed: just release the rest */
		} else if (fd == NULL) {
			api_fail_set(f, 400, "REQUEST_UNKNOWN_FIELD",
			    "unknown field %s%s%.64s", where, *where ? "." : "",
			    name);
			ok = false;
		} else if (!(fd->kinds & K(kind))) {
			api_fail_set(f, 400, "REQUEST_INVALID_FIELD",
			    "%s%s%s must be %s", where, *where ? "." : "", name,
			    kinds_text(fd->kinds));
			ok = false;
		} else if (fd->values != NULL && kind == JV_KIND_STRING &&
		    !api_one_of(jv_string_value(value), fd->values)) {
			api_fail_set(f, 400, "REQUEST_INVALID_FIELD",
			    "%s%s%s: %.64s is not one of the values allowed",
			    where, *where ? "." : "", name,
			    jv_string_value(value));
			ok = false;
		}
		jv_free(key);
		jv_free(value);
	}
	for (i = 0; ok && fields[i].name != NULL; i++) {
		jv value;

		if (fields[i].kinds & K_NULL)
			continue;
		value = jv_object_get(jv_copy(obj), jv_string(fields[i].name));
		if (!jv_is_valid(value)) {
			api_fail_set(f, 400, "REQUEST_INVALID_FIELD",
			    "%s%s%s is required", where, *where ? "." : "",
			    fields[i].name);
			ok = false;
		}
		jv_free(value);
	}
	return ok;
}

/* get: obj's key when it is an object (borrows obj), else invalid. */
static jv
get_object(jv obj, const char *key)
{
	jv value = jv_object_get(jv_copy(obj), jv_string(key));

	if (jv_get_kind(value) == JV_KIND_OBJECT)
		return value;
	jv_free(value);
	return jv_invalid();
}

static bool
check_nested(jv body, const char *key, const struct field *fields,
    struct api_fail *f)
{
	jv obj = get_object(body, key);
	bool ok = !jv_is_valid(obj) || check_object(obj, key, fields, f);

	jv_free(obj);
	return ok;
}

static bool
keys_without_dots(jv body, const char *key, struct api_fail *f)
{
	jv obj = get_object(body, key);
	bool ok = true;

	if (!jv_is_valid(obj))
		return true;
	jv_object_foreach(obj, name, value) {
		if (ok && strchr(jv_string_value(name), '.') != NULL) {
			api_fail_set(f, 400, "REQUEST_INVALID_FIELD",
			    "%s: keys must not contain dots: %.64s", key,
			    jv_string_value(name));
			ok = false;
		}
		jv_free(name);
		jv_free(value);
	}
	jv_free(obj);
	return ok;
}

/* output_ext: the output's extension from outputFormat.postEncoding. */
static const char *
output_ext(jv body, struct api_fail *f)
{
	jv format = get_object(body, "outputFormat"), post;
	const char *ext = "mp4", *encoding;

	if (!jv_is_valid(format))
		return ext;
	post = get_object(format, "postEncoding");
	jv_free(format);
	if (!jv_is_valid(post))
		return ext;
	if (!check_object(post, "outputFormat.postEncoding",
	    post_encoding_fields, f)) {
		jv_free(post);
		return NULL;
	}
	encoding = job_str(post, "encodingFormat");
	if (encoding != NULL && strcmp(encoding, "WEBM") == 0)
		ext = "webm";
	else if (encoding != NULL && strcmp(encoding, "GIF") == 0)
		ext = "gif";
	else if (encoding != NULL && strcmp(encoding, "MP4") != 0) {
		api_fail_set(f, 400, "RENDER_OUTPUT_FORMAT_NOT_SUPPORTED",
		    "outputFormat.postEncoding.encodingFormat %s is not "
		    "supported: MP4, WEBM or GIF", encoding);
		ext = NULL;
	}
	jv_free(post);
	return ext;
}

static bool
check_webhook(jv body, struct api_fail *f)
{
	jv webhook = get_object(body, "webhook");
	const char *url;
	bool ok = true;

	if (!jv_is_valid(webhook))
		return true;
	if (!check_object(webhook, "webhook", webhook_fields, f))
		ok = false;
	else if ((url = job_str(webhook, "url")) == NULL ||
	    (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) || strlen(url) > 2048) {
		api_fail_set(f, 400, "REQUEST_INVALID_FIELD",
		    "webhook.url must be an http or https URL");
		ok = false;
	}
	jv_free(webhook);
	return ok;
}

static bool
check_thumbnails(jv body, struct api_fail *f)
{
	jv options = get_object(body, "options"), thumbnails;
	bool ok = true;

	if (!jv_is_valid(options))
		return true;
	thumbnails = get_object(options, "thumbnails");
	jv_free(options);
	if (!jv_is_valid(thumbnails))
		return true;
	if (!check_object(thumbnails, "options.thumbnails", thumbnails_fields,
	    f))
		ok = false;
	jv_free(thumbnails);
	return ok;
}

jv
plainly_render_job(jv body, const struct key *key, struct api_fail *f)
{
	static const char *const inputs[] = {
		"attributes", "options", "outputFormat", "webhook" };
	const char *project, *template, *ext;
	char dflt[128];
	jv job;
	size_t i;

	if (jv_get_kind(body) != JV_KIND_OBJECT) {
		jv_free(body);
		api_fail_set(f, 400, "REQUEST_MALFORMED_JSON",
		    "the body must be a JSON object");
		return jv_invalid();
	}
	if (!check_object(body, "", render_fields, f) ||
	    !check_nested(body, "options", options_fields, f) ||
	    !check_thumbnails(body, f) ||
	    !check_nested(body, "outputFormat", output_format_fields, f) ||
	    !check_webhook(body, f) ||
	    !keys_without_dots(body, "parameters", f) ||
	    !keys_without_dots(body, "attributes", f) ||
	    (ext = output_ext(body, f)) == NULL) {
		jv_free(body);
		return jv_invalid();
	}
	project = job_str(body, "projectId");
	template = job_str(body, "templateId");
	if (!name_valid(project)) {
		api_fail_set(f, 404, "PROJECT_DOES_NOT_EXIST",
		    "no project %.64s", project);
		jv_free(body);
		return jv_invalid();
	}
	if (template != NULL && !name_valid(template)) {
		api_fail_set(f, 404, "PROJECT_TEMPLATE_DOES_NOT_EXIST",
		    "no template %.64s in project %s", template, project);
		jv_free(body);
		return jv_invalid();
	}
	if (template == NULL) {
		if (!projects_default_template(project, dflt, sizeof dflt)) {
			api_fail_set(f, 404, "PROJECT_DOES_NOT_EXIST",
			    "no project %s with a template", project);
			jv_free(body);
			return jv_invalid();
		}
		template = dflt;
	}
	job = api_new_job(key->org, "plainly", f);
	if (!jv_is_valid(job)) {
		jv_free(body);
		return job;
	}
	job = jv_object_set(job, jv_string("projectId"), jv_string(project));
	job = jv_object_set(job, jv_string("templateId"), jv_string(template));
	job = jv_object_set(job, jv_string("parameters"), jv_object());
	job = api_copy_field(job, body, "parameters");
	for (i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
		job = api_copy_field(job, body, inputs[i]);
	job = jv_object_set(job, jv_string("ext"), jv_string(ext));
	jv_free(body);
	return job_record(job, "PENDING", "vr-accept");
}
