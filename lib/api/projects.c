/*
 * api/projects.c — projects and templates as the Plainly API shows them
 * (api.h), read from conf.templates: a project is a directory, a template
 * its TEMPLATE.json (vr-template(5)), project.json adds the project's own
 * fields. Template files are read as JSON (jv), never compiled here.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "conf.h"
#include "id.h"
#include "job.h"

bool
projects_default_template(const char *project, char *out, size_t size)
{
	struct dirent **names;
	char path[4096];
	const char *dflt;
	int i, n;
	jv meta;

	snprintf(path, sizeof path, "%s/%s/project.json", conf.templates,
	    project);
	meta = job_load(path);
	if (jv_is_valid(meta) && (dflt = job_str(meta, "defaultTemplateId")) &&
	    name_valid(dflt)) {
		snprintf(out, size, "%s", dflt);
		jv_free(meta);
		return true;
	}
	jv_free(meta);
	snprintf(path, sizeof path, "%s/%s", conf.templates, project);
	if ((n = scandir(path, &names, NULL, alphasort)) == -1)
		return false;
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		size_t len = strlen(names[i]->d_name);

		if (out[0] == '\0' && len > 5 && len - 5 < size &&
		    strcmp(names[i]->d_name + len - 5, ".json") == 0 &&
		    strcmp(names[i]->d_name, "project.json") != 0) {
			snprintf(out, size, "%.*s", (int)(len - 5),
			    names[i]->d_name);
			if (!name_valid(out))
				out[0] = '\0';
		}
		free(names[i]);
	}
	free(names);
	return out[0] != '\0';
}

/* template_doc: project/template.json as Plainly's template object. */
static jv
template_doc(const char *project, const char *name)
{
	char path[4096];
	jv doc;

	snprintf(path, sizeof path, "%s/%s/%s.json", conf.templates, project,
	    name);
	doc = job_load(path);
	if (!jv_is_valid(doc))
		return doc;
	if (job_str(doc, "id") == NULL)
		doc = jv_object_set(doc, jv_string("id"), jv_string(name));
	if (job_str(doc, "name") == NULL)
		doc = jv_object_set(doc, jv_string("name"), jv_string(name));
	return doc;
}

/* project_doc: a project directory as Plainly's project object, with its
 * templates; project.json (optional) adds name, description … */
static jv
project_doc(const char *project)
{
	struct dirent **names;
	char path[4096], dflt[128];
	jv doc, templates = jv_array();
	int i, n;

	snprintf(path, sizeof path, "%s/%s", conf.templates, project);
	if ((n = scandir(path, &names, NULL, alphasort)) == -1) {
		jv_free(templates);
		return jv_invalid();
	}
	for (i = 0; i < n; i++) {
		char *dot = strrchr(names[i]->d_name, '.');

		if (dot != NULL && strcmp(dot, ".json") == 0 &&
		    strcmp(names[i]->d_name, "project.json") != 0) {
			*dot = '\0';
			if (name_valid(names[i]->d_name)) {
				jv t = template_doc(project, names[i]->d_name);

				if (jv_is_valid(t))
					templates = jv_array_append(templates, t);
				else
					jv_free(t);
			}
		}
		free(names[i]);
	}
	free(names);
	snprintf(path, sizeof path, "%s/%s/project.json", conf.templates,
	    project);
	doc = job_load(path);
	if (!jv_is_valid(doc)) {
		jv_free(doc);
		doc = jv_object();
	}
	doc = jv_object_set(doc, jv_string("id"), jv_string(project));
	if (job_str(doc, "name") == NULL)
		doc = jv_object_set(doc, jv_string("name"), jv_string(project));
	if (projects_default_template(project, dflt, sizeof dflt))
		doc = jv_object_set(doc, jv_string("defaultTemplateId"),
		    jv_string(dflt));
	doc = jv_object_set(doc, jv_string("analyzed"), jv_true());
	doc = jv_object_set(doc, jv_string("uploaded"), jv_true());
	return jv_object_set(doc, jv_string("templates"), templates);
}

void
projects_route(struct api *a, char *seg[], int nseg)
{
	struct dirent **names;
	jv out, doc;
	int i, n;

	if (nseg == 1) {
		out = jv_array();
		n = scandir(conf.templates, &names, NULL, alphasort);
		for (i = 0; i < n; i++) {
			if (names[i]->d_type == DT_DIR &&
			    name_valid(names[i]->d_name)) {
				doc = project_doc(names[i]->d_name);
				if (jv_is_valid(doc))
					out = jv_array_append(out, doc);
				else
					jv_free(doc);
			}
			free(names[i]);
		}
		if (n >= 0)
			free(names);
		api_json(a, 200, out);
		return;
	}
	if (!name_valid(seg[1]) ||
	    !jv_is_valid(doc = project_doc(seg[1]))) {
		api_error(a, 404, "PROJECT_DOES_NOT_EXIST", "no project %.64s",
		    seg[1]);
		return;
	}
	if (nseg == 2) {
		api_json(a, 200, doc);
		return;
	}
	if (nseg == 3) {
		api_json(a, 200, jv_object_get(doc, jv_string("templates")));
		return;
	}
	jv_free(doc);
	if (!name_valid(seg[3]) ||
	    !jv_is_valid(doc = template_doc(seg[1], seg[3]))) {
		jv_free(doc);
		api_error(a, 404, "PROJECT_TEMPLATE_DOES_NOT_EXIST",
		    "no template %.64s in project %s", seg[3], seg[1]);
		return;
	}
	api_json(a, 200, doc);
}
