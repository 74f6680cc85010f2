/*
 * vr-render — render queued jobs into videos (doc/vr-render.8).
 * As a daemon it watches queued/ and renders up to -j jobs at once, each in
 * a child process; --once renders one job file; --template renders a
 * template with parameters straight to a file, without the spool.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "id.h"
#include "job.h"
#include "log.h"
#include "render/render.h"
#include "spool.h"
#include "template.h"

static const char usage[] =
    "usage: vr-render [-f vr.conf] [-j N] [-k KEY]...\n"
    "       vr-render [-f vr.conf] --once FILE\n"
    "       vr-render --template FILE [--params FILE] [--draft] -o OUT\n"
    "       vr-render --template FILE [--params FILE] --resolve\n";

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	stop = sig == SIGTERM ? RENDER_CANCEL : RENDER_REQUEUE;
}

static void
catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

static int
preview_locate(void *arg, jv layer, char *path, size_t size, char *err,
    size_t err_size, const char **code)
{
	const char *kind = job_str(layer, "srcKind");
	const char *src = job_str(layer, "src");

	*code = "WORKER_DOWNLOAD_ASSET_FAILED";
	if (kind && src && strcmp(kind, "project") == 0)
		snprintf(path, size, "%s/%s", (const char *)arg, src);
	else if (kind && src && strcmp(kind, "path") == 0)
		snprintf(path, size, "%s", src);
	else {
		snprintf(err, err_size, "layer %s: a URL needs the spool (vr-validate"
		    " fetches it); give a local file", job_str(layer,
		    "layerName"));
		return -1;
	}
	return 0;
}

/* preview: render template file tpath with the parameters in ppath, or
 * (out NULL) print how they resolve, as the service would resolve them. */
static int
preview(const char *tpath, const char *ppath, bool draft, const char *out)
{
	char full[PATH_MAX], dir[PATH_MAX], proj[PATH_MAX], err[1024], *dot;
	const char *ext = out ? strrchr(out, '.') : NULL, *code;
	struct render_spec spec = { 0 };
	struct tmpl *t;
	jv params = jv_object(), res, msg;
	int rc;

	if (out && (ext == NULL || (strcmp(ext, ".mp4") && strcmp(ext, ".webm") &&
	    strcmp(ext, ".gif"))))
		fatalx(EX_USAGE, "%s: the output must end in .mp4, .webm or .gif",
		    out);
	if (realpath(tpath, full) == NULL)
		fatal(EX_NOINPUT, "%s", tpath);
	snprintf(proj, sizeof proj, "%s", full);
	snprintf(dir, sizeof dir, "%s", dirname(dirname(proj)));
	snprintf(proj, sizeof proj, "%s", full);
	if ((dot = strrchr(full, '.')) != NULL && strcmp(dot, ".json") == 0)
		*dot = '\0';
	t = tmpl_load(dir, basename(dirname(proj)), basename(full), err,
	    sizeof err);
	if (t == NULL)
		fatalx(EX_DATAERR, "%s", err);
	if (ppath) {
		jv_free(params);
		params = jv_load_file(ppath, 0);
		if (!jv_is_valid(params)) {
			msg = jv_invalid_get_msg(params);
			fatalx(EX_DATAERR, "%s: %s", ppath, jv_get_kind(msg) ==
			    JV_KIND_STRING ? jv_string_value(msg) : "not JSON");
		}
		params = jv_array_get(params, 0);
	}
	if (out == NULL) {
		res = tmpl_resolve(t, params);
		rc = jv_get_kind(jv_object_get(jv_copy(res), jv_string("ok"))) ==
		    JV_KIND_TRUE ? 0 : EX_DATAERR;
		jv_dumpf(res, stdout, JV_PRINT_PRETTY | JV_PRINT_SPACE1);
		putchar('\n');
		tmpl_free(t);
		return rc;
	}
	res = tmpl_resolve_flags(t, params, TMPL_LOCAL_MEDIA);
	if (jv_get_kind(jv_object_get(jv_copy(res), jv_string("ok"))) !=
	    JV_KIND_TRUE) {
		msg = jv_object_get(jv_object_get(res, jv_string("error")),
		    jv_string("message"));
		fatalx(EX_DATAERR, "%s", jv_string_value(msg));
	}
	spec.doc = tmpl_json(t);
	spec.layers = jv_object_get(res, jv_string("layers"));
	spec.out_path = out;
	spec.format = ext + 1;
	spec.draft = draft;
	spec.project_dir = tmpl_project_dir(t);
	spec.locate = preview_locate;
	spec.locate_arg = (void *)tmpl_project_dir(t);
	spec.stop = &stop;
	catch_signals();
	rc = render_run(&spec, err, sizeof err, &code);
	jv_free(spec.layers);
	tmpl_free(t);
	if (rc == -1)
		fatalx(EX_DATAERR, "%s: %s", code, err);
	return 0;
}

/* once: claim the queued job file and render it here. */
static int
once(struct spool *sp, const char *file)
{
	char path[PATH_MAX], id[ID_LEN + 1];
	int lease, to;

	snprintf(path, sizeof path, "%s", file);
	if (spool_name_id(basename(path), id) == -1)
		fatalx(EX_USAGE, "%s: not a job file name (ID.json)", file);
	if ((lease = render_claim(sp, id)) == -1)
		fatalx(EX_TEMPFAIL, "%s: cannot claim it from queued/ (taken, or "
		    "not queued)", id);
	catch_signals();
	to = render_job(sp, id, lease, &stop, -1);
	return to == SD_DONE || to == SD_UPLOADING ? 0 : to == SD_FAILED ?
	    EX_DATAERR : EX_TEMPFAIL;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },	/* --help: usage on stdout, exit 0 */
		{ "once", required_argument, NULL, 'O' },
		{ "template", required_argument, NULL, 'T' },
		{ "params", required_argument, NULL, 'P' },
		{ "draft", no_argument, NULL, 'D' },
		{ "resolve", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conf_path = NULL, *once_file = NULL, *tpath = NULL,
	    *ppath = NULL, *out = NULL;
	struct conf_list keys = { 0 };
	struct spool sp;
	bool draft = false, resolve = false;
	int ch, workers = 0, rc;

	log_init(argv[0]);
	render_init();
	while ((ch = getopt_long(argc, argv, "f:j:k:o:h", longopts, NULL)) != -1)
		switch (ch) {
		case 'f': conf_path = optarg; break;
		case 'j':
			workers = atoi(optarg);
			if (workers < 1 || workers > 64)
				fatalx(EX_USAGE, "-j: from 1 to 64");
			break;
		case 'k':
			if (!name_valid(optarg) || keys.n == CONF_LIST_MAX)
				fatalx(EX_USAGE, "-k %s: not a routing key, or too many",
				    optarg);
			keys.item[keys.n++] = optarg;
			break;
		case 'o': out = optarg; break;
		case 'O': once_file = optarg; break;
		case 'T': tpath = optarg; break;
		case 'P': ppath = optarg; break;
		case 'D': draft = true; break;
		case 'R': resolve = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return EX_USAGE;
		}
	if (optind != argc || (tpath && !out == !resolve) || (!tpath && (out ||
	    ppath || draft || resolve)) || (tpath && once_file) ||
	    (resolve && draft)) {
		fputs(usage, stderr);
		return EX_USAGE;
	}
	if (tpath)
		return preview(tpath, ppath, draft, out);
	if (conf_load(conf_path) == -1)
		return EX_CONFIG;
	if (spool_open(&sp, conf.spool) == -1)
		fatal(EX_OSERR, "%s", conf.spool);
	if (keys.n == 0)
		keys.item[keys.n++] = (char *)"default";
	if (once_file)
		rc = once(&sp, once_file);
	else
		rc = render_serve(&sp, workers ? workers : conf.render_workers,
		    &keys);
	tmpl_cache_clear();
	spool_close(&sp);
	conf_free();
	return rc;
}
