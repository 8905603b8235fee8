/* SPDX-License-Identifier: MIT
 * store_auth.c: tenants, agents, sessions and API keys. Secrets are stored only as hashes:
 * session ids and API keys as SHA-256, passwords as argon2id strings made by the caller.
 */
#include "store_internal.h"

#include <stdio.h>

const char *sb_role_name(int role)
{
	switch (role) {
	case SB_ROLE_OWNER: return "owner";
	case SB_ROLE_ADMIN: return "admin";
	case SB_ROLE_AGENT: return "agent";
	}
	return "none";
}

int sb_role_parse(struct sb_str s)
{
	if (sb_str_eqz(s, "owner"))
		return SB_ROLE_OWNER;
	if (sb_str_eqz(s, "admin"))
		return SB_ROLE_ADMIN;
	if (sb_str_eqz(s, "agent"))
		return SB_ROLE_AGENT;
	return SB_EINVAL;
}

int sb_tx_tenant_create(struct sb_tx *tx, const char *name, int64_t *id_out)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO tenants(name, created_at) VALUES (?1, ?2)");
	store__bind_text(s, 1, name);
	sqlite3_bind_int64(s, 2, tx->now);
	int rc = store__exec_done(s, tx->db, "tenant_create");
	if (rc)
		return rc;
	*id_out = sqlite3_last_insert_rowid(tx->db);
	return 0;
}

int sb_store_tenant_exists(struct sb_store *st, int64_t tenant)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT 1 FROM tenants WHERE id = ?1");
	sqlite3_bind_int64(s, 1, tenant);
	int rc = sqlite3_step(s) == SQLITE_ROW ? 0 : SB_ENOTFOUND;
	sqlite3_reset(s);
	return rc;
}

int sb_store_tenant_settings(struct sb_store *st, int64_t tenant, struct sb_buf *json)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT settings, name FROM tenants WHERE id = ?1");
	sqlite3_bind_int64(s, 1, tenant);
	int rc = SB_ENOTFOUND;
	if (sqlite3_step(s) == SQLITE_ROW) {
		sb_buf_add(json, sqlite3_column_text(s, 0), (size_t)sqlite3_column_bytes(s, 0));
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}

int sb_tx_tenant_settings_set(struct sb_tx *tx, int64_t tenant, const char *json)
{
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE tenants SET settings = ?2 WHERE id = ?1");
	sqlite3_bind_int64(s, 1, tenant);
	store__bind_text(s, 2, json);
	int rc = store__exec_done(s, tx->db, "tenant_settings");
	if (!rc && !sqlite3_changes(tx->db))
		rc = SB_ENOTFOUND;
	store__config_changed(tx);
	return rc;
}

static void agent_auth_row(sqlite3_stmt *s, struct sb_agent_auth *out)
{
	memset(out, 0, sizeof *out);
	out->id = sqlite3_column_int64(s, 0);
	out->tenant = sqlite3_column_int64(s, 1);
	out->role = sqlite3_column_int(s, 2);
	out->active = sqlite3_column_int(s, 3) != 0;
	const char *h = (const char *)sqlite3_column_text(s, 4);
	if (h)
		snprintf(out->pw_hash, sizeof out->pw_hash, "%s", h);
	const char *n = (const char *)sqlite3_column_text(s, 5);
	snprintf(out->name, sizeof out->name, "%s", n ? n : "");
}

int sb_store_agent_by_email(struct sb_store *st, struct sb_str email, struct sb_agent_auth *out)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT id, tenant_id, role, active, pw_hash, name "
				      "FROM agents WHERE email = ?1");
	store__bind_str(s, 1, email);
	int rc = SB_ENOTFOUND;
	if (sqlite3_step(s) == SQLITE_ROW) {
		agent_auth_row(s, out);
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}

int sb_store_agent_get(struct sb_store *st, int64_t tenant, int64_t id, struct sb_agent_auth *out)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT id, tenant_id, role, active, pw_hash, name "
				      "FROM agents WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	int rc = SB_ENOTFOUND;
	if (sqlite3_step(s) == SQLITE_ROW) {
		agent_auth_row(s, out);
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}

int sb_tx_agent_create(struct sb_tx *tx, int64_t tenant, const char *email, const char *name,
		       int role, const char *pw_hash, const char *invite_hash, int64_t *id_out)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO agents(tenant_id, email, name, role, pw_hash, "
				      "invite_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	sqlite3_bind_int64(s, 1, tenant);
	store__bind_text(s, 2, email);
	store__bind_text(s, 3, name ? name : "");
	sqlite3_bind_int(s, 4, role);
	store__bind_text(s, 5, pw_hash);
	if (invite_hash)
		sqlite3_bind_blob(s, 6, invite_hash, 32, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 6);
	sqlite3_bind_int64(s, 7, tx->now);
	int rc = store__exec_done(s, tx->db, "agent_create");
	if (rc == SB_ECONFLICT) {
		/* the email is taken, or the tenant does not exist */
		sqlite3_stmt *t = TX_STMT(tx, "SELECT 1 FROM tenants WHERE id = ?1");
		sqlite3_bind_int64(t, 1, tenant);
		if (sqlite3_step(t) != SQLITE_ROW)
			rc = SB_ENOTFOUND;
		sqlite3_reset(t);
	}
	if (rc)
		return rc;
	*id_out = sqlite3_last_insert_rowid(tx->db);
	return 0;
}

#define AGENT_COLS "id, email, name, role, active, created_at, pw_hash IS NULL"

static void agent_json_row(struct sb_buf *b, sqlite3_stmt *s)
{
	bool f = true;
	sb_buf_addc(b, '{');
	store__json_col_int(b, &f, "id", s, 0);
	store__json_col(b, &f, "email", s, 1);
	store__json_col(b, &f, "name", s, 2);
	sb_json_kv_str(b, &f, "role", sb_role_name(sqlite3_column_int(s, 3)));
	sb_json_kv_bool(b, &f, "active", sqlite3_column_int(s, 4) != 0);
	store__json_col_time(b, &f, "created_at", s, 5);
	sb_json_kv_bool(b, &f, "invited", sqlite3_column_int(s, 6) != 0);
	sb_buf_addc(b, '}');
}

int sb_store_agents_json(struct sb_store *st, int64_t tenant, struct sb_buf *json)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT " AGENT_COLS " FROM agents WHERE tenant_id = ?1 "
				      "ORDER BY id");
	sqlite3_bind_int64(s, 1, tenant);
	sb_buf_adds(json, "{\"agents\":[");
	int n = 0;
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (n++)
			sb_buf_addc(json, ',');
		agent_json_row(json, s);
	}
	sqlite3_reset(s);
	sb_buf_adds(json, "]}");
	return 0;
}

static int agent_json(sqlite3 *db, struct store__cache *c, int64_t tenant, int64_t id,
		      struct sb_buf *json)
{
	sqlite3_stmt *s = store__stmt(db, c, "SELECT " AGENT_COLS " FROM agents "
					     "WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	int rc = SB_ENOTFOUND;
	if (sqlite3_step(s) == SQLITE_ROW) {
		agent_json_row(json, s);
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}

int sb_store_agent_json(struct sb_store *st, int64_t tenant, int64_t id, struct sb_buf *json)
{
	return agent_json(st->rdb, &st->rcache, tenant, id, json);
}

int sb_tx_agent_update(struct sb_tx *tx, int64_t tenant, int64_t id, int role, int active,
		       const char *name)
{
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE agents SET role = coalesce(?3, role), "
				      "active = coalesce(?4, active), name = coalesce(?5, name) "
				      "WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	if (role > 0)
		sqlite3_bind_int(s, 3, role);
	if (active >= 0)
		sqlite3_bind_int(s, 4, active);
	store__bind_text(s, 5, name);
	int rc = store__exec_done(s, tx->db, "agent_update");
	if (rc)
		return rc;
	store__config_changed(tx); /* a role or activity cached with its sessions (hub/auth.c) */
	if (!sqlite3_changes(tx->db))
		return SB_ENOTFOUND;
	if (active == 0) {
		rc = sb_tx_sessions_delete_agent(tx, tenant, id);
		if (rc)
			return rc;
		/* a deactivated agent keeps no conversations */
		s = TX_STMT(tx, "UPDATE conversations SET assignee_id = NULL "
				"WHERE tenant_id = ?1 AND assignee_id = ?2");
		sqlite3_bind_int64(s, 1, tenant);
		sqlite3_bind_int64(s, 2, id);
		if ((rc = store__exec_done(s, tx->db, "agent_unassign")))
			return rc;
	}
	struct sb_buf b;
	sb_buf_init(&b, 0);
	rc = agent_json(tx->db, tx->cache, tenant, id, &b);
	if (!rc)
		rc = store__event_buf(tx, tenant, "agent.updated", &b);
	sb_buf_free(&b);
	return rc;
}

int sb_tx_agent_set_password(struct sb_tx *tx, int64_t tenant, int64_t id, const char *pw_hash)
{
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE agents SET pw_hash = ?3, invite_hash = NULL "
				      "WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	store__bind_text(s, 3, pw_hash);
	int rc = store__exec_done(s, tx->db, "agent_password");
	if (!rc && !sqlite3_changes(tx->db))
		rc = SB_ENOTFOUND;
	return rc;
}

int sb_tx_agent_accept_invite(struct sb_tx *tx, const unsigned char hash[32], const char *pw_hash,
			      int64_t *tenant_out, int64_t *agent_out)
{
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE agents SET pw_hash = ?2, invite_hash = NULL "
				      "WHERE invite_hash = ?1 AND active = 1 "
				      "RETURNING tenant_id, id");
	sqlite3_bind_blob(s, 1, hash, 32, SQLITE_TRANSIENT);
	store__bind_text(s, 2, pw_hash);
	int rc = store__step_row(s, "accept_invite");
	if (!rc) {
		*tenant_out = sqlite3_column_int64(s, 0);
		*agent_out = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	return rc;
}

int sb_tx_session_create(struct sb_tx *tx, int64_t tenant, int64_t agent,
			 const unsigned char hash[32], const char *csrf, int64_t expires_at)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO sessions(id_hash, tenant_id, agent_id, csrf, "
				      "created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
	sqlite3_bind_blob(s, 1, hash, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, tenant);
	sqlite3_bind_int64(s, 3, agent);
	store__bind_text(s, 4, csrf);
	sqlite3_bind_int64(s, 5, tx->now);
	sqlite3_bind_int64(s, 6, expires_at);
	int rc = store__exec_done(s, tx->db, "session_create");
	if (rc)
		return rc;
	/* sweep this agent's expired sessions while we are here */
	s = TX_STMT(tx, "DELETE FROM sessions WHERE tenant_id = ?1 AND agent_id = ?2 "
			"AND expires_at < ?3");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, agent);
	sqlite3_bind_int64(s, 3, tx->now);
	return store__exec_done(s, tx->db, "session_sweep");
}

int sb_store_session_get(struct sb_store *st, const unsigned char hash[32],
			 struct sb_session_info *out)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT s.tenant_id, s.agent_id, a.role, s.csrf, "
				      "s.expires_at FROM sessions s JOIN agents a ON a.id = s.agent_id "
				      "AND a.tenant_id = s.tenant_id "
				      "WHERE s.id_hash = ?1 AND a.active = 1");
	sqlite3_bind_blob(s, 1, hash, 32, SQLITE_TRANSIENT);
	int rc = SB_ENOTFOUND;
	if (sqlite3_step(s) == SQLITE_ROW) {
		out->tenant = sqlite3_column_int64(s, 0);
		out->agent = sqlite3_column_int64(s, 1);
		out->role = sqlite3_column_int(s, 2);
		snprintf(out->csrf, sizeof out->csrf, "%s", (const char *)sqlite3_column_text(s, 3));
		out->expires_at = sqlite3_column_int64(s, 4);
		rc = out->expires_at > sb_wall_ms() ? 0 : SB_ENOTFOUND;
	}
	sqlite3_reset(s);
	return rc;
}

int sb_tx_session_delete(struct sb_tx *tx, int64_t tenant, const unsigned char hash[32])
{
	sqlite3_stmt *s = TX_STMT(tx, "DELETE FROM sessions WHERE tenant_id = ?1 AND id_hash = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_blob(s, 2, hash, 32, SQLITE_TRANSIENT);
	store__config_changed(tx); /* every worker's credential cache (hub/auth.c) */
	return store__exec_done(s, tx->db, "session_delete");
}

int sb_tx_sessions_delete_agent(struct sb_tx *tx, int64_t tenant, int64_t agent)
{
	sqlite3_stmt *s = TX_STMT(tx, "DELETE FROM sessions WHERE tenant_id = ?1 AND agent_id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, agent);
	store__config_changed(tx); /* every worker's credential cache (hub/auth.c) */
	return store__exec_done(s, tx->db, "sessions_delete_agent");
}

int sb_tx_apikey_create(struct sb_tx *tx, int64_t tenant, const unsigned char hash[32],
			const char *prefix, int64_t *id_out)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO api_keys(tenant_id, key_hash, prefix, created_at) "
				      "VALUES (?1, ?2, ?3, ?4)");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_blob(s, 2, hash, 32, SQLITE_TRANSIENT);
	store__bind_text(s, 3, prefix);
	sqlite3_bind_int64(s, 4, tx->now);
	int rc = store__exec_done(s, tx->db, "apikey_create");
	if (rc == SB_ECONFLICT)
		rc = SB_ENOTFOUND; /* no such tenant */
	if (rc)
		return rc;
	*id_out = sqlite3_last_insert_rowid(tx->db);
	return 0;
}

int sb_store_apikey_get(struct sb_store *st, const unsigned char hash[32], int64_t *tenant_out)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT tenant_id FROM api_keys WHERE key_hash = ?1 "
				      "AND revoked_at IS NULL");
	sqlite3_bind_blob(s, 1, hash, 32, SQLITE_TRANSIENT);
	int rc = SB_ENOTFOUND;
	if (sqlite3_step(s) == SQLITE_ROW) {
		*tenant_out = sqlite3_column_int64(s, 0);
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}
