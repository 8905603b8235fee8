/* SPDX-License-Identifier: MIT
 * api_conv.c: REST handlers for contacts, conversations, messages, notes, canned responses,
 * agents, tenant settings and the event log. Each write validates first, then queues one
 * store job whose run function does the SQL on the writer thread.
 */
#include "api_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

static void not_allowed(struct sb_req *r)
{
	sb_http_error(r, 405, "method_not_allowed", "this route does not take that method");
}

static int limit_param(struct sb_req *r, int def, int max)
{
	const char *l = sb_http_qparam(r, "limit");
	int64_t v;
	if (!l)
		return def;
	if (!api__parse_id(l, &v) || v > max)
		return -1;
	return (int)v;
}

/* ---- contacts ---- */

static const char *const contact_fields[] = { "name", "phone", "email", "notes", NULL };

static bool contact_in(struct sb_req *r, struct sb_contact_in *ci)
{
	if (!api__fields_ok(r, contact_fields) || !api__opt_str(r, "name", 200, &ci->name) ||
	    !api__opt_str(r, "phone", 32, &ci->phone) || !api__opt_str(r, "email", 254, &ci->email) ||
	    !api__opt_str(r, "notes", 5000, &ci->notes))
		return false;
	if (ci->phone && *ci->phone) {
		/* E.164: + and 8 to 15 digits */
		const char *p = ci->phone;
		size_t n = strlen(p);
		bool ok = p[0] == '+' && n >= 9 && n <= 16;
		for (size_t i = 1; ok && i < n; i++)
			ok = p[i] >= '0' && p[i] <= '9';
		if (!ok) {
			sb_http_error(r, 400, "invalid", "\"phone\" must be E.164, like +14155550123");
			return false;
		}
	}
	if (ci->email && *ci->email && !strchr(ci->email, '@')) {
		sb_http_error(r, 400, "invalid", "\"email\" is not an email address");
		return false;
	}
	return true;
}

static int contact_create_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	return sb_tx_contact_create(tx, c->tenant, &c->ci, &c->id, &c->out);
}

static int contact_update_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	return sb_tx_contact_update(tx, c->tenant, c->id, &c->ci, &c->out);
}

void api__contacts(struct sb_req *r, const char **s, int n)
{
	struct sb_store *st = sb_hub_store();
	int64_t tenant = r->auth.tenant, id;
	if (n == 0) {
		if (r->method == SB_GET) {
			const char *q = sb_http_qparam(r, "q"), *cur = sb_http_qparam(r, "cursor");
			int limit = limit_param(r, 50, 200);
			if (limit < 0)
				return sb_http_error(r, 400, "invalid", "limit must be 1 to 200");
			struct sb_buf b;
			sb_buf_init(&b, 0);
			sb_store_contacts_search(st, tenant, SB_STRZ(q ? q : ""), limit,
						 SB_STRZ(cur ? cur : ""), &b);
			return sb_http_json(r, 200, &b);
		}
		if (r->method != SB_POST)
			return not_allowed(r);
		if (!sb_http_body_json(r))
			return;
		struct api_ctx *c = api__ctx(r);
		if (!contact_in(r, &c->ci))
			return;
		c->tenant = tenant;
		c->ok_status = 201;
		c->conflict_msg = "a contact with this phone number exists";
		return sb_http_write(r, contact_create_run, api__done_json, c);
	}
	if (n != 1 || !api__parse_id(s[0], &id))
		return sb_http_error(r, 404, "not_found", "no such contact");
	if (r->method == SB_GET) {
		struct sb_buf b;
		sb_buf_init(&b, 0);
		if (sb_store_contact_json(st, tenant, id, &b)) {
			sb_buf_free(&b);
			return sb_http_error(r, 404, "not_found", "no such contact");
		}
		return sb_http_json(r, 200, &b);
	}
	if (r->method != SB_PATCH)
		return not_allowed(r);
	if (!sb_http_body_json(r))
		return;
	struct api_ctx *c = api__ctx(r);
	if (!contact_in(r, &c->ci))
		return;
	c->tenant = tenant;
	c->id = id;
	c->notfound_msg = "no such contact";
	c->conflict_msg = "another contact has this phone number";
	sb_http_write(r, contact_update_run, api__done_json, c);
}

/* ---- conversations ---- */

static int conv_create_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	return sb_tx_conv_create(tx, c->tenant, c->id2, c->t1, &c->id, &c->out);
}

static int conv_assign_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	return sb_tx_conv_assign(tx, c->tenant, c->id, c->id2, &c->out);
}

static int conv_status_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	return sb_tx_conv_set_status(tx, c->tenant, c->id, c->i1, c->t1, &c->out);
}

static int conv_read_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	return sb_tx_conv_mark_read(tx, c->tenant, c->id, c->agent);
}

static int note_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	return sb_tx_note_create(tx, c->tenant, c->id, c->agent, c->s1, c->s2, &c->out);
}

static void snooze_after(struct sb_req *r)
{
	(void)r;
	sb_hub_snooze_kick();
}

static void conv_list(struct sb_req *r)
{
	struct sb_conv_filter f = { .status = -1, .assignee_mode = 0 };
	const char *status = sb_http_qparam(r, "status"), *assignee = sb_http_qparam(r, "assignee"),
		   *channel = sb_http_qparam(r, "channel"), *q = sb_http_qparam(r, "q"),
		   *cursor = sb_http_qparam(r, "cursor");
	if (status && strcmp(status, "all")) {
		f.status = sb_conv_status_parse(SB_STRZ(status));
		if (f.status < 0)
			return sb_http_error(r, 400, "invalid",
					     "status must be open, pending, snoozed, closed or all");
	}
	if (assignee && strcmp(assignee, "all")) {
		if (!strcmp(assignee, "me")) {
			if (!api__need_agent(r))
				return;
			f.assignee_mode = 1;
		} else if (!strcmp(assignee, "unassigned")) {
			f.assignee_mode = 2;
		} else if (api__parse_id(assignee, &f.assignee)) {
			f.assignee_mode = 3;
		} else {
			return sb_http_error(r, 400, "invalid",
					     "assignee must be me, unassigned, all or an agent id");
		}
	}
	if (channel && !api__parse_id(channel, &f.channel))
		return sb_http_error(r, 400, "invalid", "channel must be a channel id");
	if (q && strlen(q) > 200)
		return sb_http_error(r, 400, "invalid", "q is longer than 200 characters");
	f.q = SB_STRZ(q ? q : "");
	f.cursor = SB_STRZ(cursor ? cursor : "");
	f.limit = limit_param(r, 50, 200);
	if (f.limit < 0)
		return sb_http_error(r, 400, "invalid", "limit must be 1 to 200");
	struct sb_buf b;
	sb_buf_init(&b, 0);
	int rc = sb_store_conv_list(sb_hub_store(), r->auth.tenant, r->auth.agent, &f, &b);
	if (rc) {
		sb_buf_free(&b);
		return sb_http_err(r, rc, rc == SB_EINVAL ? "bad cursor" : NULL);
	}
	sb_http_json(r, 200, &b);
}

void api__conversations(struct sb_req *r, const char **s, int n)
{
	int64_t tenant = r->auth.tenant, id;
	struct sb_store *st = sb_hub_store();
	if (n == 0) {
		if (r->method == SB_GET)
			return conv_list(r);
		if (r->method != SB_POST)
			return not_allowed(r);
		if (!sb_http_body_json(r))
			return;
		static const char *const f[] = { "contact_id", "channel_id", NULL };
		struct api_ctx *c = api__ctx(r);
		if (!api__fields_ok(r, f) || !api__opt_id(r, "contact_id", &c->id2) ||
		    !api__opt_id(r, "channel_id", &c->t1))
			return;
		if (!c->id2)
			return sb_http_error(r, 400, "invalid", "\"contact_id\" is required");
		c->tenant = tenant;
		c->ok_status = 201;
		c->notfound_msg = "no such contact";
		return sb_http_write(r, conv_create_run, api__done_json, c);
	}
	if (!api__parse_id(s[0], &id))
		return sb_http_error(r, 404, "not_found", "no such conversation");
	if (n == 1) {
		if (r->method != SB_GET)
			return not_allowed(r);
		struct sb_buf b;
		sb_buf_init(&b, 0);
		if (sb_store_conv_json(st, tenant, r->auth.agent, id, &b)) {
			sb_buf_free(&b);
			return sb_http_error(r, 404, "not_found", "no such conversation");
		}
		return sb_http_json(r, 200, &b);
	}
	if (n != 2)
		return sb_http_error(r, 404, "not_found", "no such route");
	const char *what = s[1];
	struct api_ctx *c;
	if (!strcmp(what, "messages") && r->method == SB_GET) {
		const char *before = sb_http_qparam(r, "before");
		int limit = limit_param(r, 50, 200);
		if (limit < 0)
			return sb_http_error(r, 400, "invalid", "limit must be 1 to 200");
		struct sb_buf b;
		sb_buf_init(&b, 0);
		int rc = sb_store_messages_list(st, tenant, id, SB_STRZ(before ? before : ""), limit,
						&b);
		if (rc) {
			sb_buf_free(&b);
			return sb_http_err(r, rc,
					   rc == SB_ENOTFOUND ? "no such conversation" : "bad cursor");
		}
		return sb_http_json(r, 200, &b);
	}
	if (!strcmp(what, "messages") && r->method == SB_POST) {
		if (!api__extra_route(r, s, n))
			sb_http_error(r, 404, "not_found", "no such route");
		return;
	}
	if (r->method != SB_POST)
		return not_allowed(r);
	if (!strcmp(what, "read")) {
		if (!api__need_agent(r))
			return;
		c = api__ctx(r);
		c->tenant = tenant;
		c->id = id;
		c->agent = r->auth.agent;
		c->ok_status = 204;
		c->notfound_msg = "no such conversation";
		return sb_http_write(r, conv_read_run, api__done_json, c);
	}
	if (!sb_http_body_json(r))
		return;
	c = api__ctx(r);
	c->tenant = tenant;
	c->id = id;
	c->agent = r->auth.agent;
	c->notfound_msg = "no such conversation";
	if (!strcmp(what, "assign")) {
		static const char *const f[] = { "agent_id", NULL };
		if (!api__fields_ok(r, f) || !api__opt_id(r, "agent_id", &c->id2))
			return;
		if (!sb_json_get(r->json, "agent_id"))
			return sb_http_error(r, 400, "invalid",
					     "\"agent_id\" is required (null to unassign)");
		c->invalid_msg = "no such active agent in this tenant";
		return sb_http_write(r, conv_assign_run, api__done_json, c);
	}
	if (!strcmp(what, "status")) {
		static const char *const f[] = { "status", "snoozed_until", NULL };
		const char *status, *until;
		if (!api__fields_ok(r, f) || !api__req_str(r, "status", 16, &status) ||
		    !api__opt_str(r, "snoozed_until", 40, &until))
			return;
		c->i1 = sb_conv_status_parse(SB_STRZ(status));
		if (c->i1 < 0)
			return sb_http_error(r, 400, "invalid",
					     "status must be open, pending, snoozed or closed");
		if (c->i1 == SB_CONV_SNOOZED) {
			if (!until || sb_time_parse(SB_STRZ(until), &c->t1))
				return sb_http_error(r, 400, "invalid",
						     "snoozing needs \"snoozed_until\" as an "
						     "RFC 3339 time");
			if (c->t1 <= sb_wall_ms())
				return sb_http_error(r, 400, "invalid",
						     "\"snoozed_until\" must be in the future");
			c->after = snooze_after;
		} else if (until) {
			return sb_http_error(r, 400, "invalid",
					     "\"snoozed_until\" only goes with status snoozed");
		}
		return sb_http_write(r, conv_status_run, api__done_json, c);
	}
	if (!strcmp(what, "notes")) {
		static const char *const f[] = { "body", "client_id", NULL };
		if (!api__fields_ok(r, f) || !api__req_str(r, "body", 10000, &c->s1) ||
		    !api__opt_str(r, "client_id", 64, &c->s2))
			return;
		c->ok_status = 201;
		return sb_http_write(r, note_run, api__done_json, c);
	}
	sb_http_error(r, 404, "not_found", "no such route");
}

/* ---- canned responses ---- */

static int canned_create_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	return sb_tx_canned_create(tx, c->tenant, c->s1, c->s2, c->s3, &c->out);
}

static int canned_update_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	return sb_tx_canned_update(tx, c->tenant, c->id, c->s1, c->s2, c->s3, &c->out);
}

static int canned_delete_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	return sb_tx_canned_delete(tx, c->tenant, c->id);
}

static bool shortcut_ok(struct sb_req *r, const char *s)
{
	if (!s)
		return true;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_')) {
			sb_http_error(r, 400, "invalid",
				      "\"shortcut\" takes lowercase letters, digits, - and _");
			return false;
		}
	return true;
}

void api__canned(struct sb_req *r, const char **s, int n)
{
	static const char *const f[] = { "shortcut", "title", "body", NULL };
	struct api_ctx *c;
	if (n == 0) {
		if (r->method == SB_GET) {
			struct sb_buf b;
			sb_buf_init(&b, 0);
			sb_store_canned_list(sb_hub_store(), r->auth.tenant, &b);
			return sb_http_json(r, 200, &b);
		}
		if (r->method != SB_POST)
			return not_allowed(r);
		if (!sb_http_body_json(r))
			return;
		c = api__ctx(r);
		if (!api__fields_ok(r, f) || !api__req_str(r, "shortcut", 32, &c->s1) ||
		    !api__opt_str(r, "title", 100, &c->s2) || !api__req_str(r, "body", 2000, &c->s3) ||
		    !shortcut_ok(r, c->s1))
			return;
		c->tenant = r->auth.tenant;
		c->ok_status = 201;
		c->conflict_msg = "a canned response with this shortcut exists";
		return sb_http_write(r, canned_create_run, api__done_json, c);
	}
	int64_t id;
	if (n != 1 || !api__parse_id(s[0], &id))
		return sb_http_error(r, 404, "not_found", "no such canned response");
	c = api__ctx(r);
	c->tenant = r->auth.tenant;
	c->id = id;
	c->notfound_msg = "no such canned response";
	if (r->method == SB_DELETE) {
		c->ok_status = 204;
		return sb_http_write(r, canned_delete_run, api__done_json, c);
	}
	if (r->method != SB_PATCH)
		return not_allowed(r);
	if (!sb_http_body_json(r))
		return;
	if (!api__fields_ok(r, f) || !api__opt_str(r, "shortcut", 32, &c->s1) ||
	    !api__opt_str(r, "title", 100, &c->s2) || !api__opt_str(r, "body", 2000, &c->s3) ||
	    !shortcut_ok(r, c->s1))
		return;
	if ((c->s1 && !*c->s1) || (c->s3 && !*c->s3))
		return sb_http_error(r, 400, "invalid", "shortcut and body cannot be empty");
	c->conflict_msg = "a canned response with this shortcut exists";
	sb_http_write(r, canned_update_run, api__done_json, c);
}

/* ---- agents ---- */

static int agent_invite_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	unsigned char h[32];
	sb_auth_sid_hash(c->s4, strlen(c->s4), h);
	int rc = sb_tx_agent_create(tx, c->tenant, c->s1, c->s2, c->i1, NULL, (const char *)h,
				    &c->id);
	if (rc)
		return rc;
	sb_buf_adds(&c->out, "{\"agent\":");
	sb_buf_printf(&c->out, "{\"id\":%lld}", (long long)c->id);
	sb_buf_adds(&c->out, ",\"invite_token\":");
	sb_json_escz(&c->out, c->s4);
	sb_buf_addc(&c->out, '}');
	return 0;
}

static void invite_after(struct sb_req *r)
{
	/* answer with the full agent as the loop reads it now that it is committed */
	struct api_ctx *c = r->ctx;
	sb_buf_reset(&c->out);
	sb_buf_adds(&c->out, "{\"agent\":");
	sb_store_agent_json(sb_hub_store(), c->tenant, c->id, &c->out);
	sb_buf_adds(&c->out, ",\"invite_token\":");
	sb_json_escz(&c->out, c->s4);
	sb_buf_addc(&c->out, '}');
}

static int agent_update_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	/* an owner can neither demote nor deactivate themselves (checked before), so a tenant
	 * always keeps an owner */
	return sb_tx_agent_update(tx, c->tenant, c->id, c->i1, c->i2, c->s1);
}

static void agent_update_after(struct sb_req *r)
{
	struct api_ctx *c = r->ctx;
	if (c->i2 == 0)
		sb_ws_close_agent(c->tenant, c->id, 4003);
	sb_buf_reset(&c->out);
	sb_store_agent_json(sb_hub_store(), c->tenant, c->id, &c->out);
}

void api__agents(struct sb_req *r, const char **s, int n)
{
	struct api_ctx *c;
	if (n == 0) {
		if (r->method == SB_GET) {
			struct sb_buf b;
			sb_buf_init(&b, 0);
			sb_store_agents_json(sb_hub_store(), r->auth.tenant, &b);
			return sb_http_json(r, 200, &b);
		}
		if (r->method != SB_POST)
			return not_allowed(r);
		if (!sb_http_body_json(r))
			return;
		static const char *const f[] = { "email", "name", "role", NULL };
		const char *role;
		c = api__ctx(r);
		if (!api__fields_ok(r, f) || !api__req_str(r, "email", 254, &c->s1) ||
		    !api__opt_str(r, "name", 100, &c->s2) || !api__req_str(r, "role", 8, &role))
			return;
		if (!strchr(c->s1, '@'))
			return sb_http_error(r, 400, "invalid", "\"email\" is not an email address");
		c->i1 = sb_role_parse(SB_STRZ(role));
		if (c->i1 < 0)
			return sb_http_error(r, 400, "invalid", "role must be owner, admin or agent");
		if (c->i1 == SB_ROLE_OWNER && r->auth.role < SB_ROLE_OWNER)
			return sb_http_error(r, 403, "forbidden", "only an owner can add an owner");
		char *tok = sb_arena_alloc(&r->arena, 64);
		sb_token(32, tok, 64);
		c->s4 = tok;
		c->tenant = r->auth.tenant;
		c->ok_status = 201;
		c->after = invite_after;
		c->conflict_msg = "an agent with this email exists";
		return sb_http_write(r, agent_invite_run, api__done_json, c);
	}
	int64_t id;
	if (n != 1 || !api__parse_id(s[0], &id))
		return sb_http_error(r, 404, "not_found", "no such agent");
	if (r->method == SB_GET) {
		struct sb_buf b;
		sb_buf_init(&b, 0);
		if (sb_store_agent_json(sb_hub_store(), r->auth.tenant, id, &b)) {
			sb_buf_free(&b);
			return sb_http_error(r, 404, "not_found", "no such agent");
		}
		return sb_http_json(r, 200, &b);
	}
	if (r->method != SB_PATCH)
		return not_allowed(r);
	if (!sb_http_body_json(r))
		return;
	static const char *const f[] = { "role", "active", "name", NULL };
	const char *role = NULL;
	c = api__ctx(r);
	c->i1 = 0;
	c->i2 = -1;
	if (!api__fields_ok(r, f) || !api__opt_str(r, "role", 8, &role) ||
	    !api__opt_str(r, "name", 100, &c->s1))
		return;
	const struct sb_json *act = sb_json_get(r->json, "active");
	if (act) {
		if (act->type != SB_JSON_BOOL)
			return sb_http_error(r, 400, "invalid", "\"active\" must be true or false");
		c->i2 = act->b ? 1 : 0;
	}
	if (role) {
		c->i1 = sb_role_parse(SB_STRZ(role));
		if (c->i1 < 0)
			return sb_http_error(r, 400, "invalid", "role must be owner, admin or agent");
	}
	struct sb_agent_auth target;
	if (sb_store_agent_get(sb_hub_store(), r->auth.tenant, id, &target))
		return sb_http_error(r, 404, "not_found", "no such agent");
	sodium_memzero(target.pw_hash, sizeof target.pw_hash);
	/* only an owner may touch an owner or make one */
	if ((target.role == SB_ROLE_OWNER || c->i1 == SB_ROLE_OWNER) &&
	    r->auth.role < SB_ROLE_OWNER)
		return sb_http_error(r, 403, "forbidden", "only an owner can change an owner");
	if (id == r->auth.agent && (c->i2 == 0 || (c->i1 && c->i1 < r->auth.role)))
		return sb_http_error(r, 409, "conflict",
				     "you cannot deactivate or demote yourself; ask another owner");
	c->tenant = r->auth.tenant;
	c->id = id;
	c->after = agent_update_after;
	c->notfound_msg = "no such agent";
	sb_http_write(r, agent_update_run, api__done_json, c);
}

/* ---- settings ---- */

static int settings_run(struct sb_tx *tx, void *arg)
{
	struct sb_req *r = arg;
	struct api_ctx *c = r->ctx;
	int rc = sb_tx_tenant_settings_set(tx, c->tenant, c->s1);
	if (!rc)
		sb_buf_adds(&c->out, c->s1);
	return rc;
}

void api__settings(struct sb_req *r, const char **s, int n)
{
	(void)s;
	if (n != 0)
		return sb_http_error(r, 404, "not_found", "no such route");
	if (r->method == SB_GET) {
		struct sb_buf b;
		sb_buf_init(&b, 0);
		if (sb_store_tenant_settings(sb_hub_store(), r->auth.tenant, &b))
			sb_buf_adds(&b, "{}");
		return sb_http_json(r, 200, &b);
	}
	if (r->method != SB_PUT)
		return not_allowed(r);
	if (!sb_http_body_json(r))
		return;
	static const char *const f[] = { "sms_help_text", "auto_reply", "unified_threads", NULL };
	const char *help, *auto_reply;
	if (!api__fields_ok(r, f) || !api__opt_str(r, "sms_help_text", 320, &help) ||
	    !api__opt_str(r, "auto_reply", 320, &auto_reply))
		return;
	bool unified = true;
	const struct sb_json *u = sb_json_get(r->json, "unified_threads");
	if (u && u->type != SB_JSON_BOOL)
		return sb_http_error(r, 400, "invalid", "\"unified_threads\" must be true or false");
	if (u)
		unified = u->b;
	struct api_ctx *c = api__ctx(r);
	struct sb_buf b;
	sb_buf_init(&b, 0);
	bool first = true;
	sb_buf_addc(&b, '{');
	sb_json_kv_str(&b, &first, "sms_help_text", help ? help : "");
	sb_json_kv_str(&b, &first, "auto_reply", auto_reply ? auto_reply : "");
	sb_json_kv_bool(&b, &first, "unified_threads", unified);
	sb_buf_addc(&b, '}');
	c->s1 = sb_arena_strndup(&r->arena, sb_buf_data(&b), b.len);
	sb_buf_free(&b);
	c->tenant = r->auth.tenant;
	sb_http_write(r, settings_run, api__done_json, c);
}

/* ---- the event log (polling, for integrations and debugging) ---- */

static void event_json(void *ud, int64_t seq, const char *frame, size_t len)
{
	struct sb_buf *b = ud;
	(void)seq;
	if (b->len && sb_buf_data(b)[b->len - 1] != '[')
		sb_buf_addc(b, ',');
	sb_buf_add(b, frame, len);
}

void api__events(struct sb_req *r, const char **s, int n)
{
	(void)s;
	if (n != 0)
		return sb_http_error(r, 404, "not_found", "no such route");
	if (r->method != SB_GET)
		return not_allowed(r);
	const char *after = sb_http_qparam(r, "after");
	int64_t a = 0;
	if (after && strcmp(after, "0") && !api__parse_id(after, &a))
		return sb_http_error(r, 400, "invalid", "after must be a seq number");
	int limit = limit_param(r, 100, 1000);
	if (limit < 0)
		return sb_http_error(r, 400, "invalid", "limit must be 1 to 1000");
	struct sb_buf b;
	sb_buf_init(&b, 0);
	sb_buf_printf(&b, "{\"seq\":%lld,\"events\":[",
		      (long long)sb_store_tenant_seq(sb_hub_store(), r->auth.tenant));
	sb_store_events_since(sb_hub_store(), r->auth.tenant, a, limit, event_json, &b);
	sb_buf_adds(&b, "]}");
	sb_http_json(r, 200, &b);
}
