/*
 * conf.h — etc/vr.conf: one "key = value" per line, '#' starts a comment.
 * Every key is known here, typed and defaulted; an unknown key or a bad
 * value is an error naming the file and line. Paths are taken relative to
 * the directory of the configuration file. Durations take a unit (ms, s, m,
 * h, d; bare numbers are seconds) and are kept in milliseconds; sizes take
 * K, M or G (powers of 1024) and are kept in bytes; booleans are yes/no;
 * lists are separated by blanks or commas.
 *
 * The file is found by: the -f option of each program, else $VR_CONF, else
 * VR_CONF_DEFAULT (compiled in). One global, `conf`, filled once at start.
 */
#ifndef VR_CONF_H
#define VR_CONF_H

#include <stdbool.h>
#include <stdint.h>

#define CONF_LIST_MAX 16

struct conf_list {
	int n;
	char *item[CONF_LIST_MAX];
};

struct conf {
	char *path;                 /* the file read */
	/* places */
	char *spool;                /* spool directory */
	char *templates;            /* etc/templates: PROJECT/TEMPLATE.json */
	char *keys;                 /* API keys file (vr-keygen) */
	char *credentials;          /* upload credential profiles: NAME files */
	char *secret;               /* file with the server's URL-signing secret */
	char *public_url;           /* base of output URLs, e.g. http://host:8080 */
	/* jobs and the spool */
	int max_attempts;           /* renders of one job before FAILED */
	int64_t job_max_size;       /* bytes of one job file */
	int64_t retention_ms;       /* outputs kept after DONE */
	int64_t tmp_max_age_ms;     /* vr-sweep removes older tmp/ files */
	/* vr-accept */
	int64_t max_header_size;
	int64_t max_body_size;
	int max_json_depth;
	int64_t idle_timeout_ms;    /* between bytes of a request */
	int64_t request_timeout_ms; /* whole connection */
	int64_t validate_wait_ms;   /* POST /renders waits this for vr-validate */
	int64_t url_ttl_ms;         /* signed output URLs */
	bool cancel_in_progress;    /* cancel stops a running render */
	int max_keepalive_requests;
	/* vr-validate and asset fetching */
	int64_t asset_max_size;
	int64_t asset_max_duration_ms;
	int asset_max_width;
	int asset_max_height;
	int64_t asset_cache_ttl_ms;
	int64_t fetch_connect_timeout_ms;
	int64_t fetch_timeout_ms;
	struct conf_list fetch_allow; /* hosts/addresses let past the guard */
	/* vr-render */
	int render_workers;         /* -j default */
	int64_t render_stall_ms;    /* watchdog: no progress for this long */
	int64_t render_timeout_ms;  /* whole render */
	int64_t render_rlimit_as;   /* bytes of address space per child */
	int64_t render_rlimit_cpu_ms;
	int max_video_duration_s;
	int max_width;
	int max_height;
	int parallel_max;           /* FX parallel: N */
	struct conf_list routing_keys; /* keys a job may ask for */
	struct conf_list anonymous_projects; /* FX projects open without auth */
	/* vr-upload */
	int upload_concurrency;
	int upload_attempts;
	int64_t upload_retry_initial_ms;
	int64_t upload_retry_max_ms;
	int64_t upload_part_size;
	int64_t upload_multipart_threshold;
	int64_t upload_timeout_ms;
	char *upload_s3_payload;    /* auto, signed or unsigned (s3.h) */
	/* vr-notify */
	int webhook_concurrency;
	int64_t webhook_timeout_ms;
	int64_t webhook_retry_initial_ms;
	int64_t webhook_retry_max_ms;
	int64_t webhook_give_up_ms;
};

extern struct conf conf;

/* conf_load: read path (NULL: $VR_CONF, else VR_CONF_DEFAULT) into `conf`.
 * On error prints one line "vr.conf:LINE: what" and returns -1. */
int conf_load(const char *path);
/* conf_free: release what conf_load allocated (for leak checkers). */
void conf_free(void);
/* conf_list_has: is s one of the list's items? */
bool conf_list_has(const struct conf_list *list, const char *s);

#endif
