/* SPDX-License-Identifier: MIT
 * config.c: one table of keys drives the JSON file, the SB_* environment and the flags, in
 * that order of precedence (flags win). Errors name the key and stop the start.
 */
#define _GNU_SOURCE
#include "hub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

enum ktype { K_STR, K_INT, K_BOOL, K_LOG, K_LISTEN };

struct key {
	const char *name;   /* JSON key and flag (--name, with _ as -) */
	const char *env;
	enum ktype type;
	size_t off;
	const char *help;
};

#define O(f) offsetof(struct sb_config, f)
static const struct key keys[] = {
	{ "listen", "SB_LISTEN", K_LISTEN, 0, "address:port to listen on (127.0.0.1:8080)" },
	{ "db", "SB_DB", K_STR, O(db_path), "sqlite database path (switchboard.db)" },
	{ "public_url", "SB_PUBLIC_URL", K_STR, O(public_url),
	  "URL browsers and providers use to reach the hub (http://127.0.0.1:8080)" },
	{ "web_root", "SB_WEB_ROOT", K_STR, O(web_root), "console files served at / (web)" },
	{ "log_level", "SB_LOG_LEVEL", K_LOG, O(log_level), "error|warn|info|debug (info)" },
	{ "pwhash", "SB_PWHASH", K_STR, O(pwhash),
	  "argon2id cost: interactive|moderate|min (interactive)" },
	{ "pwhash_threads", "SB_PWHASH_THREADS", K_INT, O(pwhash_threads),
	  "concurrent password hashes (2)" },
	{ "session_days", "SB_SESSION_DAYS", K_INT, O(session_days), "session lifetime (30)" },
	{ "demo_file", "SB_DEMO_FILE", K_STR, O(demo_file),
	  "where --demo keeps the demo login (<db>.demo)" },
	{ "demo", "SB_DEMO", K_BOOL, O(demo), "create a demo tenant on first start" },
	{ "bridge_dir", "SB_BRIDGE_DIR", K_STR, O(bridge_dir), "loadable bridge modules" },
	{ "secret_key", "SB_SECRET_KEY", K_STR, O(secret_key),
	  "64 hex chars; encrypts channel credentials at rest" },
	{ "workers", "SB_WORKERS", K_INT, O(workers), "worker processes sharing the port (1)" },
	{ "nats_url", "SB_NATS_URL", K_STR, O(nats_url),
	  "NATS server carrying events between workers (none: the store is polled)" },
	{ "provider_ca", "SB_PROVIDER_CA", K_STR, O(provider_ca),
	  "PEM file of CAs trusted for providers' https (the system's store)" },
	{ "provider_http2", "SB_PROVIDER_HTTP2", K_BOOL, O(provider_http2),
	  "offer HTTP/2 to https providers (off; see docs/INTERNALS.md)" },
	{ "worker_index", "SB_WORKER_INDEX", K_INT, O(worker_index),
	  "internal: set by the master process for each worker" },
};

static void die(const char *key, const char *why)
{
	fprintf(stderr, "hubd: config: %s: %s\n", key, why);
	exit(2);
}

static void set_str(char **dst, const char *v, size_t n)
{
	free(*dst);
	*dst = sb_strndup(v, n);
}

static void apply(struct sb_config *c, const struct key *k, const char *v, size_t n,
		  const char *where)
{
	char tmp[512];
	snprintf(tmp, sizeof tmp, "%.*s", (int)(n < 511 ? n : 511), v);
	switch (k->type) {
	case K_STR:
		set_str((char **)((char *)c + k->off), v, n);
		break;
	case K_INT: {
		char *end;
		errno = 0;
		long x = strtol(tmp, &end, 10);
		if (*end || errno || x < 0 || x > 1000000)
			die(where, "expects a whole number");
		*(int *)((char *)c + k->off) = (int)x;
		break;
	}
	case K_BOOL:
		if (!strcmp(tmp, "1") || !strcmp(tmp, "true") || !strcmp(tmp, "yes"))
			*(bool *)((char *)c + k->off) = true;
		else if (!strcmp(tmp, "0") || !strcmp(tmp, "false") || !strcmp(tmp, "no"))
			*(bool *)((char *)c + k->off) = false;
		else
			die(where, "expects true or false");
		break;
	case K_LOG: {
		int l = sb_log_level_parse(tmp);
		if (l < 0)
			die(where, "expects error, warn, info or debug");
		c->log_level = l;
		break;
	}
	case K_LISTEN: {
		char *colon = strrchr(tmp, ':');
		if (!colon)
			die(where, "expects host:port");
		*colon = '\0';
		char *end;
		long p = strtol(colon + 1, &end, 10);
		if (*end || p < 0 || p > 65535 || !*tmp)
			die(where, "expects host:port with a port from 0 to 65535");
		set_str(&c->listen_host, tmp, strlen(tmp));
		c->port = (int)p;
		break;
	}
	}
}

static void load_file(struct sb_config *c, const char *file)
{
	FILE *f = fopen(file, "rb");
	if (!f)
		die(file, strerror(errno));
	struct sb_buf b;
	sb_buf_init(&b, 0);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		sb_buf_add(&b, chunk, n);
		if (b.len > 1 << 20)
			die(file, "larger than 1 MiB");
	}
	fclose(f);
	struct sb_arena a = { 0 };
	struct sb_json *root = NULL;
	const char *err = "malformed JSON";
	if (sb_json_parse(&a, sb_buf_data(&b), b.len, &root, &err))
		die(file, err);
	if (root->type != SB_JSON_OBJECT)
		die(file, "must be a JSON object");
	for (const struct sb_json *m = root->child; m; m = m->next) {
		if ((m->type == SB_JSON_STRING && memchr(m->str.p, 0, m->str.len)) ||
		    memchr(m->key.p, 0, m->key.len)) {
			char where[300];
			snprintf(where, sizeof where, "%s: $.%.*s", file,
				 (int)strnlen(m->key.p, m->key.len), m->key.p);
			die(where, "contains a NUL character");
		}
		const struct key *k = NULL;
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
			if (sb_str_eqz(m->key, keys[i].name))
				k = &keys[i];
		char where[300];
		snprintf(where, sizeof where, "%s: $.%.*s", file, (int)m->key.len, m->key.p);
		if (!k)
			die(where, "unknown key");
		if (m->type == SB_JSON_STRING)
			apply(c, k, m->str.p, m->str.len, where);
		else if (k->type == K_STR || k->type == K_LOG || k->type == K_LISTEN)
			die(where, "expects a string");
		else if (m->type == SB_JSON_NUMBER || m->type == SB_JSON_BOOL) {
			const char *v = m->type == SB_JSON_BOOL ? (m->b ? "true" : "false") : m->str.p;
			apply(c, k, v, strlen(v), where);
		} else
			die(where, "expects a string, number or boolean");
	}
	sb_arena_free(&a);
	sb_buf_free(&b);
}

static void usage(void)
{
	fprintf(stderr, "hubd serve options (each also an SB_* variable or a config file key):\n"
			"  --config FILE   JSON config file (SB_CONFIG)\n");
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		fprintf(stderr, "  --%-14s %s (%s)\n", keys[i].name, keys[i].help, keys[i].env);
}

int sb_config_load(struct sb_config *c, const char *file, int argc, char **argv)
{
	memset(c, 0, sizeof *c);
	c->listen_host = sb_strdup("127.0.0.1");
	c->port = 8080;
	c->db_path = sb_strdup("switchboard.db");
	c->web_root = sb_strdup("web");
	c->log_level = SB_LOG_INFO;
	c->pwhash = sb_strdup("interactive");
	c->pwhash_threads = 2;
	c->session_days = 30;
	c->bridge_dir = NULL;
	c->workers = 1;

	/* --config may come as a flag */
	for (int i = 0; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--config"))
			file = argv[i + 1];
	if (!file)
		file = getenv("SB_CONFIG");
	if (file && *file)
		load_file(c, file);

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *v = getenv(keys[i].env);
		if (v)
			apply(c, &keys[i], v, strlen(v), keys[i].env);
	}
	const char *kf = getenv("SB_SECRET_KEY_FILE");
	if (kf && !c->secret_key) {
		FILE *f = fopen(kf, "r");
		char line[256] = "";
		if (!f || !fgets(line, sizeof line, f))
			die("SB_SECRET_KEY_FILE", "cannot read");
		fclose(f);
		line[strcspn(line, "\r\n")] = '\0';
		set_str(&c->secret_key, line, strlen(line));
	}

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage();
			exit(0);
		}
		if (strncmp(a, "--", 2)) {
			fprintf(stderr, "hubd: unexpected argument '%s'\n", a);
			usage();
			exit(2);
		}
		if (!strcmp(a, "--config")) {
			i++;
			continue;
		}
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const struct key *k = NULL;
		for (size_t j = 0; j < sizeof keys / sizeof keys[0]; j++) {
			const char *kn = keys[j].name;
			bool same = strlen(kn) == nlen;
			for (size_t q = 0; same && q < nlen; q++)
				same = kn[q] == name[q] || (kn[q] == '_' && name[q] == '-');
			if (same)
				k = &keys[j];
		}
		if (!k) {
			fprintf(stderr, "hubd: unknown option '%s'\n", a);
			usage();
			exit(2);
		}
		if (k->type == K_BOOL && !eq) {
			apply(c, k, "true", 4, a);
			continue;
		}
		const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!v)
			die(a, "needs a value");
		apply(c, k, v, strlen(v), a);
	}

	if (!c->public_url) {
		char u[300];
		snprintf(u, sizeof u, "http://%s:%d", c->listen_host, c->port);
		c->public_url = sb_strdup(u);
	}
	size_t ul = strlen(c->public_url);
	while (ul && c->public_url[ul - 1] == '/')
		c->public_url[--ul] = '\0';
	if (strncmp(c->public_url, "http://", 7) && strncmp(c->public_url, "https://", 8))
		die("public_url", "must start with http:// or https://");
	if (strcmp(c->pwhash, "interactive") && strcmp(c->pwhash, "moderate") &&
	    strcmp(c->pwhash, "min"))
		die("pwhash", "expects interactive, moderate or min");
	if (c->pwhash_threads < 1 || c->pwhash_threads > 64)
		die("pwhash_threads", "expects 1 to 64");
	if (c->session_days < 1)
		die("session_days", "expects at least 1");
	if (c->workers < 1 || c->workers > 64)
		die("workers", "expects 1 to 64");
	if (c->secret_key && strlen(c->secret_key) != 64)
		die("secret_key", "expects 64 hex characters (32 bytes)");
	if (!c->demo_file) {
		char d[1024];
		snprintf(d, sizeof d, "%s.demo", c->db_path);
		c->demo_file = sb_strdup(d);
	}
	sb_log_level_max = c->log_level;
	return 0;
}

void sb_config_free(struct sb_config *c)
{
	free(c->listen_host);
	free(c->db_path);
	free(c->public_url);
	free(c->web_root);
	free(c->pwhash);
	free(c->demo_file);
	free(c->bridge_dir);
	free(c->secret_key);
	free(c->nats_url);
	free(c->provider_ca);
	memset(c, 0, sizeof *c);
}

const char *sb_config_origin(const struct sb_config *c)
{
	static char origin[300];
	/* scheme://host[:port], no path */
	const char *p = strstr(c->public_url, "://");
	p = p ? p + 3 : c->public_url;
	size_t n = strcspn(p, "/?#");
	snprintf(origin, sizeof origin, "%.*s", (int)((p - c->public_url) + (long)n), c->public_url);
	return origin;
}

bool sb_config_https(const struct sb_config *c)
{
	return !strncmp(c->public_url, "https://", 8);
}
