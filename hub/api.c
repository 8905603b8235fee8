/* SPDX-License-Identifier: MIT
 * api.c: the REST router and handlers under /api/v1 (docs/API.md), plus /healthz, /readyz
 * and /metrics. A handler validates everything (types, sizes, unknown fields) before it
 * queues a write; reads answer at once from the loop's read connection. The tenant always
 * comes from the caller's session or key, never from the request.
 */
#include "hub.h"
#include "api_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>

/* ---- helpers shared by the handlers ---- */

bool api__fields_ok(struct sb_req *r, const char *const *allowed)
{
	for (const struct sb_json *m = r->json->child; m; m = m->next) {
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = sb_str_eqz(m->key, *a);
		if (!ok) {
			char msg[160];
			snprintf(msg, sizeof msg, "unknown field \"%.*s\"",
				 (int)(m->key.len > 64 ? 64 : m->key.len), m->key.p);
			sb_http_error(r, 400, "unknown_field", msg);
			return false;
		}
	}
	return true;
}

/* Optional string field: absent -> *out NULL; wrong type or too long -> answers 400. */
bool api__opt_str(struct sb_req *r, const char *key, size_t max, const char **out)
{
	*out = NULL;
	const struct sb_json *n = sb_json_get(r->json, key);
	if (!n || n->type == SB_JSON_NULL)
		return true;
	if (n->type != SB_JSON_STRING) {
		char msg[96];
		snprintf(msg, sizeof msg, "\"%s\" must be a string", key);
		sb_http_error(r, 400, "invalid", msg);
		return false;
	}
	if (sb_utf8_count(n->str.p, n->str.len) > max || memchr(n->str.p, 0, n->str.len)) {
		char msg[96];
		snprintf(msg, sizeof msg, "\"%s\" is longer than %zu characters", key, max);
		sb_http_error(r, 400, "too_long", msg);
		return false;
	}
	*out = n->str.p; /* NUL-terminated in the arena */
	return true;
}

bool api__req_str(struct sb_req *r, const char *key, size_t max, const char **out)
{
	if (!api__opt_str(r, key, max, out))
		return false;
	if (!*out || !**out) {
		char msg[96];
		snprintf(msg, sizeof msg, "\"%s\" is required", key);
		sb_http_error(r, 400, "invalid", msg);
		return false;
	}
	return true;
}

/* Optional id: absent or null -> 0; a positive integer otherwise. */
bool api__opt_id(struct sb_req *r, const char *key, int64_t *out)
{
	*out = 0;
	const struct sb_json *n = sb_json_get(r->json, key);
	if (!n || n->type == SB_JSON_NULL)
		return true;
	if (n->type != SB_JSON_NUMBER || !n->is_int || n->i <= 0) {
		char msg[96];
		snprintf(msg, sizeof msg, "\"%s\" must be a positive integer id", key);
		sb_http_error(r, 400, "invalid", msg);
		return false;
	}
	*out = n->i;
	return true;
}

bool api__parse_id(const char *s, int64_t *out)
{
	if (!s || !*s || strlen(s) > 18)
		return false;
	int64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (*p - '0');
	}
	*out = v;
	return v > 0;
}

struct api_ctx *api__ctx(struct sb_req *r)
{
	struct api_ctx *c = sb_arena_alloc(&r->arena, sizeof *c);
	memset(c, 0, sizeof *c);
	sb_buf_init(&c->out, 0);
	c->ok_status = 200;
	return c;
}

/* The generic completion: an error maps to its status, success answers c->out. */
void api__done_json(struct sb_req *r, int rc)
{
	struct api_ctx *c = r->ctx;
	if (rc < 0) {
		sb_buf_free(&c->out);
		sb_http_err(r, rc, rc == SB_ENOTFOUND ? c->notfound_msg
				   : rc == SB_ECONFLICT ? c->conflict_msg
				   : rc == SB_EINVAL    ? c->invalid_msg
							: NULL);
		return;
	}
	if (c->after)
		c->after(r);
	if (c->ok_status == 204) {
		sb_buf_free(&c->out);
		sb_http_respond(r, 204, NULL, NULL, 0);
		return;
	}
	sb_http_json(r, rc == 1 ? 200 : c->ok_status, &c->out);
}

static bool need_role(struct sb_req *r, int role)
{
	if (r->auth.role >= role)
		return true;
	sb_http_error(r, 403, "forbidden", "your role does not allow this");
	return false;
}

bool api__need_agent(struct sb_req *r)
{
	if (r->auth.agent)
		return true;
	sb_http_error(r, 400, "agent_required", "this route needs an agent's session, not an API key");
	return false;
}

/* ---- me ---- */

static void get_me(struct sb_req *r)
{
	struct sb_buf b;
	sb_buf_init(&b, 0);
	sb_buf_printf(&b, "{\"tenant_id\":%lld,\"agent\":", (long long)r->auth.tenant);
	if (r->auth.agent)
		sb_store_agent_json(sb_hub_store(), r->auth.tenant, r->auth.agent, &b);
	else
		sb_buf_adds(&b, "null");
	sb_buf_adds(&b, ",\"settings\":");
	if (sb_store_tenant_settings(sb_hub_store(), r->auth.tenant, &b))
		sb_buf_adds(&b, "{}");
	if (r->auth.has_sid) {
		struct sb_session_info si;
		if (!sb_store_session_get(sb_hub_store(), r->auth.sid_hash, &si)) {
			sb_buf_adds(&b, ",\"csrf_token\":");
			sb_json_escz(&b, si.csrf);
		}
		sodium_memzero(&si, sizeof si);
	}
	sb_buf_addc(&b, '}');
	sb_http_json(r, 200, &b);
}

/* ---- health and metrics ---- */

static void get_metrics(struct sb_req *r)
{
	struct sb_buf b;
	sb_buf_init(&b, 0);
	sb_metrics_render(&b);
	sb_http_respond(r, 200, "text/plain; version=0.0.4", sb_buf_data(&b), b.len);
	sb_buf_free(&b);
}

/* ---- the router ---- */

/* Splits "/a/b/c" into at most 8 segments in the arena. */
static int split(struct sb_req *r, const char *path, const char **seg, int max)
{
	int n = 0;
	const char *p = path;
	while (*p == '/')
		p++;
	while (*p && n < max) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		seg[n++] = sb_arena_strndup(&r->arena, p, len);
		if (!e)
			break;
		p = e + 1;
	}
	if (*p && n == max && strchr(p, '/'))
		return -1;
	return n;
}

static void set_route(struct sb_req *r, const char *label)
{
	free(r->route);
	r->route = sb_strdup(label);
}

static bool method_is_write(enum sb_method m)
{
	return m == SB_POST || m == SB_PUT || m == SB_PATCH || m == SB_DELETE;
}

static void not_allowed(struct sb_req *r)
{
	sb_http_error(r, 405, "method_not_allowed", "this route does not take that method");
}

void sb_api_route(struct sb_req *r)
{
	const char *seg[9];
	int n = split(r, r->path, seg, 9);
	enum sb_method m = r->method;

	if (n == 1 && !strcmp(seg[0], "healthz")) {
		set_route(r, "/healthz");
		sb_http_respond(r, 200, "text/plain", "ok\n", 3);
		return;
	}
	if (n == 1 && !strcmp(seg[0], "readyz")) {
		set_route(r, "/readyz");
		if (sb_hub_ready())
			sb_http_respond(r, 200, "text/plain", "ready\n", 6);
		else
			sb_http_respond(r, 503, "text/plain", "draining\n", 9);
		return;
	}
	if (n == 1 && !strcmp(seg[0], "metrics")) {
		set_route(r, "/metrics");
		get_metrics(r);
		return;
	}
	if (n >= 1 && !strcmp(seg[0], "sandbox")) {
		set_route(r, "/sandbox");
		sb_sandbox_route(r, seg + 1, n - 1);
		return;
	}
	if (n >= 1 && !strcmp(seg[0], "webhooks")) {
		set_route(r, "/webhooks");
		sb_webhook_route(r, seg + 1, n - 1);
		return;
	}
	if (n < 2 || strcmp(seg[0], "api") || strcmp(seg[1], "v1")) {
		set_route(r, "other");
		sb_http_error(r, 404, "not_found", "no such route");
		return;
	}
	seg[0] = seg[1] = NULL;
	const char **s = seg + 2;
	n -= 2;

	/* anonymous routes */
	if (n == 2 && !strcmp(s[0], "auth") && !strcmp(s[1], "login")) {
		set_route(r, "/api/v1/auth/login");
		if (m != SB_POST)
			return not_allowed(r);
		sb_auth_login(r);
		return;
	}
	if (n == 2 && !strcmp(s[0], "auth") && !strcmp(s[1], "accept-invite")) {
		set_route(r, "/api/v1/auth/accept-invite");
		if (m != SB_POST)
			return not_allowed(r);
		sb_auth_accept_invite(r);
		return;
	}

	sb_auth_resolve(r);
	/* a route label before any answer, so metrics group by route, not by id */
	char label[96];
	snprintf(label, sizeof label, "/api/v1/%s%s%s%s%s", n > 0 ? s[0] : "",
		 n > 1 ? "/:id" : "", n > 2 ? "/" : "", n > 2 ? s[2] : "", n > 3 ? "/..." : "");
	set_route(r, label);
	if (!r->auth.tenant) {
		sb_http_error(r, 401, "unauthenticated", "log in first");
		return;
	}
	if (method_is_write(m) && !r->auth.csrf_ok) {
		sb_http_error(r, 403, "csrf", "missing or wrong X-CSRF-Token header");
		return;
	}
	if (n == 2 && !strcmp(s[0], "auth") && !strcmp(s[1], "logout")) {
		if (m != SB_POST)
			return not_allowed(r);
		sb_auth_logout(r);
		return;
	}
	if (n == 1 && !strcmp(s[0], "me")) {
		if (m != SB_GET)
			return not_allowed(r);
		get_me(r);
		return;
	}
	if (n >= 1 && !strcmp(s[0], "contacts")) {
		api__contacts(r, s + 1, n - 1);
		return;
	}
	if (n >= 1 && !strcmp(s[0], "conversations")) {
		api__conversations(r, s + 1, n - 1);
		return;
	}
	if (n >= 1 && !strcmp(s[0], "canned-responses")) {
		if (method_is_write(m) && !need_role(r, SB_ROLE_ADMIN))
			return;
		api__canned(r, s + 1, n - 1);
		return;
	}
	if (n >= 1 && !strcmp(s[0], "agents")) {
		if (method_is_write(m) && !need_role(r, SB_ROLE_ADMIN))
			return;
		api__agents(r, s + 1, n - 1);
		return;
	}
	if (n >= 1 && !strcmp(s[0], "settings")) {
		if (method_is_write(m) && !need_role(r, SB_ROLE_ADMIN))
			return;
		api__settings(r, s + 1, n - 1);
		return;
	}
	if (n >= 1 && !strcmp(s[0], "events")) {
		api__events(r, s + 1, n - 1);
		return;
	}
	if (api__extra_route(r, s, n))
		return;
	sb_http_error(r, 404, "not_found", "no such route");
}
