/* SPDX-License-Identifier: MIT
 * store_conv.c: contacts, conversations, messages, notes and canned responses. Reads emit
 * the JSON shapes of docs/API.md directly from the rows; writes append the matching event
 * in the same transaction, so an agent's socket sees exactly what was committed.
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const status_names[] = { "open", "pending", "snoozed", "closed" };

const char *sb_conv_status_name(int s)
{
	return s >= 0 && s <= 3 ? status_names[s] : "unknown";
}

int sb_conv_status_parse(struct sb_str s)
{
	for (int i = 0; i < 4; i++)
		if (sb_str_eqz(s, status_names[i]))
			return i;
	return SB_EINVAL;
}

/* LIKE pattern "%q%" with % _ and \ escaped (ESCAPE '\'). */
static char *like_pattern(struct sb_str q)
{
	struct sb_buf b;
	sb_buf_init(&b, 0);
	sb_buf_addc(&b, '%');
	for (size_t i = 0; i < q.len; i++) {
		if (q.p[i] == '%' || q.p[i] == '_' || q.p[i] == '\\')
			sb_buf_addc(&b, '\\');
		sb_buf_addc(&b, q.p[i]);
	}
	sb_buf_addc(&b, '%');
	return sb_buf_steal(&b, NULL);
}

/* ---- contacts ---- */

int store__contact_json(sqlite3 *db, struct store__cache *c, int64_t tenant, int64_t id,
			struct sb_buf *json)
{
	sqlite3_stmt *s = store__stmt(db, c, "SELECT id, name, phone, email, notes, created_at, "
					     "updated_at FROM contacts WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_reset(s);
		return SB_ENOTFOUND;
	}
	bool f = true;
	sb_buf_addc(json, '{');
	store__json_col_int(json, &f, "id", s, 0);
	store__json_col(json, &f, "name", s, 1);
	store__json_col(json, &f, "phone", s, 2);
	store__json_col(json, &f, "email", s, 3);
	store__json_col(json, &f, "notes", s, 4);
	store__json_col_time(json, &f, "created_at", s, 5);
	store__json_col_time(json, &f, "updated_at", s, 6);
	sqlite3_reset(s);

	s = store__stmt(db, c, "SELECT kind, address FROM contact_identities "
			       "WHERE tenant_id = ?1 AND contact_id = ?2 ORDER BY id");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	sb_json_key(json, &f, "identities");
	sb_buf_addc(json, '[');
	for (int n = 0; sqlite3_step(s) == SQLITE_ROW; n++) {
		bool g = true;
		sb_buf_adds(json, n ? ",{" : "{");
		store__json_col(json, &g, "kind", s, 0);
		store__json_col(json, &g, "address", s, 1);
		sb_buf_addc(json, '}');
	}
	sqlite3_reset(s);
	sb_buf_addc(json, ']');

	s = store__stmt(db, c, "SELECT id, status, last_activity_at, channel_id FROM conversations "
			       "WHERE tenant_id = ?1 AND contact_id = ?2 "
			       "ORDER BY last_activity_at DESC, id DESC LIMIT 20");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	sb_json_key(json, &f, "conversations");
	sb_buf_addc(json, '[');
	for (int n = 0; sqlite3_step(s) == SQLITE_ROW; n++) {
		bool g = true;
		sb_buf_adds(json, n ? ",{" : "{");
		store__json_col_int(json, &g, "id", s, 0);
		sb_json_kv_str(json, &g, "status", sb_conv_status_name(sqlite3_column_int(s, 1)));
		store__json_col_time(json, &g, "last_activity_at", s, 2);
		store__json_col_int(json, &g, "channel_id", s, 3);
		sb_buf_addc(json, '}');
	}
	sqlite3_reset(s);
	sb_buf_adds(json, "]}");
	return 0;
}

int sb_store_contact_json(struct sb_store *st, int64_t tenant, int64_t id, struct sb_buf *json)
{
	return store__contact_json(st->rdb, &st->rcache, tenant, id, json);
}

static int identity_add(struct sb_tx *tx, int64_t tenant, int64_t contact, const char *kind,
			const char *address)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO contact_identities(tenant_id, contact_id, kind, "
				      "address) VALUES (?1, ?2, ?3, ?4)");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, contact);
	store__bind_text(s, 3, kind);
	store__bind_text(s, 4, address);
	return store__exec_done(s, tx->db, "identity_add");
}

int sb_tx_contact_create(struct sb_tx *tx, int64_t tenant, const struct sb_contact_in *in,
			 int64_t *id_out, struct sb_buf *json)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO contacts(tenant_id, name, phone, email, notes, "
				      "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)");
	sqlite3_bind_int64(s, 1, tenant);
	store__bind_text(s, 2, in->name ? in->name : "");
	store__bind_text(s, 3, in->phone ? in->phone : "");
	store__bind_text(s, 4, in->email ? in->email : "");
	store__bind_text(s, 5, in->notes ? in->notes : "");
	sqlite3_bind_int64(s, 6, tx->now);
	int rc = store__exec_done(s, tx->db, "contact_create");
	if (rc)
		return rc;
	int64_t id = sqlite3_last_insert_rowid(tx->db);
	if (in->phone && *in->phone && (rc = identity_add(tx, tenant, id, "phone", in->phone)))
		return rc; /* SB_ECONFLICT: that phone already belongs to a contact */
	*id_out = id;
	rc = store__contact_json(tx->db, tx->cache, tenant, id, json);
	if (!rc)
		rc = store__event_buf(tx, tenant, "contact.created", json);
	return rc;
}

int sb_tx_contact_update(struct sb_tx *tx, int64_t tenant, int64_t id,
			 const struct sb_contact_in *in, struct sb_buf *json)
{
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE contacts SET name = coalesce(?3, name), "
				      "phone = coalesce(?4, phone), email = coalesce(?5, email), "
				      "notes = coalesce(?6, notes), updated_at = ?7 "
				      "WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	store__bind_text(s, 3, in->name);
	store__bind_text(s, 4, in->phone);
	store__bind_text(s, 5, in->email);
	store__bind_text(s, 6, in->notes);
	sqlite3_bind_int64(s, 7, tx->now);
	int rc = store__exec_done(s, tx->db, "contact_update");
	if (rc)
		return rc;
	if (!sqlite3_changes(tx->db))
		return SB_ENOTFOUND;
	if (in->phone && *in->phone) {
		/* the phone identity follows the contact's phone */
		s = TX_STMT(tx, "DELETE FROM contact_identities WHERE tenant_id = ?1 "
				"AND contact_id = ?2 AND kind = 'phone'");
		sqlite3_bind_int64(s, 1, tenant);
		sqlite3_bind_int64(s, 2, id);
		if ((rc = store__exec_done(s, tx->db, "identity_clear")) ||
		    (rc = identity_add(tx, tenant, id, "phone", in->phone)))
			return rc;
	}
	rc = store__contact_json(tx->db, tx->cache, tenant, id, json);
	if (!rc)
		rc = store__event_buf(tx, tenant, "contact.updated", json);
	return rc;
}

int sb_store_contacts_search(struct sb_store *st, int64_t tenant, struct sb_str q, int limit,
			     struct sb_str cursor, struct sb_buf *json)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT id FROM contacts WHERE tenant_id = ?1 "
				      "AND (?2 IS NULL OR name LIKE ?2 ESCAPE '\\' "
				      "OR phone LIKE ?2 ESCAPE '\\' OR email LIKE ?2 ESCAPE '\\') "
				      "AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4");
	char *pat = q.len ? like_pattern(q) : NULL;
	sqlite3_bind_int64(s, 1, tenant);
	store__bind_text(s, 2, pat);
	int64_t ids[201];
	int n = 0;
	if (limit > 200)
		limit = 200;
	if (cursor.len) {
		char tmp[32];
		snprintf(tmp, sizeof tmp, "%.*s", (int)(cursor.len < 31 ? cursor.len : 31), cursor.p);
		sqlite3_bind_int64(s, 3, strtoll(tmp, NULL, 10));
	}
	sqlite3_bind_int(s, 4, limit + 1);
	while (n <= limit && sqlite3_step(s) == SQLITE_ROW)
		ids[n++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	free(pat);
	bool more = n > limit;
	if (more)
		n = limit;
	sb_buf_adds(json, "{\"contacts\":[");
	for (int i = 0; i < n; i++) {
		if (i)
			sb_buf_addc(json, ',');
		store__contact_json(st->rdb, &st->rcache, tenant, ids[i], json);
	}
	sb_buf_adds(json, "],\"next_cursor\":");
	if (more)
		sb_buf_printf(json, "\"%lld\"}", (long long)ids[n - 1]);
	else
		sb_buf_adds(json, "null}");
	return 0;
}

/* ---- conversations ---- */

#define CONV_COLS                                                                              \
	"SELECT c.id, c.contact_id, ct.name, ct.phone, c.channel_id, c.status, c.snoozed_until, " \
	"c.assignee_id, c.last_activity_at, c.created_at, m.id, m.body, m.direction, m.kind, "    \
	"m.created_at, "
#define CONV_FROM                                                                              \
	"FROM conversations c JOIN contacts ct ON ct.id = c.contact_id AND ct.tenant_id = c.tenant_id " \
	"LEFT JOIN messages m ON m.id = c.last_message_id AND m.tenant_id = c.tenant_id "
/* with the agent's unread count (?2 is the agent) */
#define CONV_SELECT                                                                            \
	CONV_COLS "(SELECT count(*) FROM messages u WHERE u.tenant_id = c.tenant_id "            \
	"AND u.conversation_id = c.id AND u.direction = 0 AND u.kind = 0 AND u.id > "            \
	"coalesce((SELECT last_read_id FROM conversation_reads r WHERE r.conversation_id = c.id " \
	"AND r.agent_id = ?2), 0)) " CONV_FROM
/* for events, which every agent shares: no per-agent count (?2 unused) */
#define CONV_SELECT_SHARED CONV_COLS "?2 " CONV_FROM

static void conv_row_json(struct sb_buf *b, sqlite3_stmt *s, bool with_unread)
{
	bool f = true;
	sb_buf_addc(b, '{');
	store__json_col_int(b, &f, "id", s, 0);
	sb_json_key(b, &f, "contact");
	{
		bool g = true;
		sb_buf_addc(b, '{');
		store__json_col_int(b, &g, "id", s, 1);
		store__json_col(b, &g, "name", s, 2);
		store__json_col(b, &g, "phone", s, 3);
		sb_buf_addc(b, '}');
	}
	store__json_col_int(b, &f, "channel_id", s, 4);
	sb_json_kv_str(b, &f, "status", sb_conv_status_name(sqlite3_column_int(s, 5)));
	store__json_col_time(b, &f, "snoozed_until", s, 6);
	store__json_col_int(b, &f, "assignee_id", s, 7);
	store__json_col_time(b, &f, "last_activity_at", s, 8);
	store__json_col_time(b, &f, "created_at", s, 9);
	sb_json_key(b, &f, "last_message");
	if (sqlite3_column_type(s, 10) == SQLITE_NULL) {
		sb_buf_adds(b, "null");
	} else {
		bool g = true;
		sb_buf_addc(b, '{');
		store__json_col_int(b, &g, "id", s, 10);
		/* a preview only: at most 140 bytes, cut on a UTF-8 boundary */
		const char *body = (const char *)sqlite3_column_text(s, 11);
		size_t n = (size_t)sqlite3_column_bytes(s, 11);
		if (n > 140) {
			n = 140;
			while (n && ((unsigned char)body[n] & 0xc0) == 0x80)
				n--;
		}
		sb_json_kv_strn(b, &g, "body", body, n);
		sb_json_kv_str(b, &g, "direction", sqlite3_column_int(s, 12) ? "out" : "in");
		sb_json_kv_str(b, &g, "kind", sqlite3_column_int(s, 13) ? "note" : "message");
		store__json_col_time(b, &g, "created_at", s, 14);
		sb_buf_addc(b, '}');
	}
	if (with_unread)
		store__json_col_int(b, &f, "unread", s, 15);
	sb_buf_addc(b, '}');
}

int store__conv_json(sqlite3 *db, struct store__cache *c, int64_t tenant, int64_t agent, int64_t id,
		     struct sb_buf *json)
{
	sqlite3_stmt *s = agent ? store__stmt(db, c, CONV_SELECT "WHERE c.tenant_id = ?1 AND c.id = ?3")
				: store__stmt(db, c, CONV_SELECT_SHARED
						     "WHERE c.tenant_id = ?1 AND c.id = ?3");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, agent);
	sqlite3_bind_int64(s, 3, id);
	int rc = SB_ENOTFOUND;
	if (sqlite3_step(s) == SQLITE_ROW) {
		conv_row_json(json, s, agent != 0);
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}

int sb_store_conv_json(struct sb_store *st, int64_t tenant, int64_t agent, int64_t id,
		       struct sb_buf *json)
{
	return store__conv_json(st->rdb, &st->rcache, tenant, agent, id, json);
}

int sb_store_conv_list(struct sb_store *st, int64_t tenant, int64_t agent,
		       const struct sb_conv_filter *f, struct sb_buf *json)
{
	sqlite3_stmt *s = RD_STMT(
		st, CONV_SELECT
		"WHERE c.tenant_id = ?1 AND (?3 < 0 OR c.status = ?3) "
		"AND (?4 = 0 OR (?4 IN (1, 3) AND c.assignee_id = ?5) "
		"     OR (?4 = 2 AND c.assignee_id IS NULL)) "
		"AND (?6 = 0 OR c.channel_id = ?6) "
		"AND (?7 IS NULL OR ct.name LIKE ?7 ESCAPE '\\' OR ct.phone LIKE ?7 ESCAPE '\\' "
		"     OR ct.email LIKE ?7 ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages q "
		"     WHERE q.tenant_id = ?1 AND q.conversation_id = c.id "
		"     AND q.body LIKE ?7 ESCAPE '\\')) "
		"AND (?8 IS NULL OR c.last_activity_at < ?8 "
		"     OR (c.last_activity_at = ?8 AND c.id < ?9)) "
		"ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ?10");
	char *pat = f->q.len ? like_pattern(f->q) : NULL;
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, agent);
	sqlite3_bind_int(s, 3, f->status);
	sqlite3_bind_int(s, 4, f->assignee_mode);
	sqlite3_bind_int64(s, 5, f->assignee_mode == 1 ? agent : f->assignee);
	sqlite3_bind_int64(s, 6, f->channel);
	store__bind_text(s, 7, pat);
	if (f->cursor.len) {
		/* "<last_activity_ms>.<id>", as written below */
		char tmp[64];
		long long at = 0, cid = 0;
		snprintf(tmp, sizeof tmp, "%.*s", (int)(f->cursor.len < 63 ? f->cursor.len : 63),
			 f->cursor.p);
		if (sscanf(tmp, "%lld.%lld", &at, &cid) != 2) {
			sqlite3_reset(s);
			free(pat);
			return SB_EINVAL;
		}
		sqlite3_bind_int64(s, 8, at);
		sqlite3_bind_int64(s, 9, cid);
	}
	sqlite3_bind_int(s, 10, f->limit + 1);
	sb_buf_adds(json, "{\"conversations\":[");
	int n = 0;
	long long last_at = 0, last_id = 0;
	bool more = false;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == f->limit) {
			more = true;
			break;
		}
		if (n++)
			sb_buf_addc(json, ',');
		conv_row_json(json, s, true);
		last_at = sqlite3_column_int64(s, 8);
		last_id = sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	free(pat);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store__err(st->rdb, rc, "conv_list");
	sb_buf_adds(json, "],\"next_cursor\":");
	if (more)
		sb_buf_printf(json, "\"%lld.%lld\"}", last_at, last_id);
	else
		sb_buf_adds(json, "null}");
	return 0;
}

static int conv_event(struct sb_tx *tx, int64_t tenant, int64_t id, const char *type,
		      struct sb_buf *json)
{
	int rc = store__conv_json(tx->db, tx->cache, tenant, 0, id, json);
	if (!rc)
		rc = store__event_buf(tx, tenant, type, json);
	return rc;
}

int sb_tx_conv_create(struct sb_tx *tx, int64_t tenant, int64_t contact, int64_t channel,
		      int64_t *id_out, struct sb_buf *json)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO conversations(tenant_id, contact_id, channel_id, "
				      "last_activity_at, created_at) "
				      "SELECT ?1, id, ?3, ?4, ?4 FROM contacts "
				      "WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, contact);
	if (channel)
		sqlite3_bind_int64(s, 3, channel);
	sqlite3_bind_int64(s, 4, tx->now);
	int rc = store__exec_done(s, tx->db, "conv_create");
	if (rc)
		return rc;
	if (!sqlite3_changes(tx->db))
		return SB_ENOTFOUND; /* no such contact in this tenant */
	*id_out = sqlite3_last_insert_rowid(tx->db);
	return conv_event(tx, tenant, *id_out, "conversation.created", json);
}

int sb_tx_conv_assign(struct sb_tx *tx, int64_t tenant, int64_t id, int64_t assignee,
		      struct sb_buf *json)
{
	if (assignee) {
		sqlite3_stmt *a = TX_STMT(tx, "SELECT 1 FROM agents WHERE tenant_id = ?1 AND id = ?2 "
					      "AND active = 1");
		sqlite3_bind_int64(a, 1, tenant);
		sqlite3_bind_int64(a, 2, assignee);
		int found = sqlite3_step(a) == SQLITE_ROW;
		sqlite3_reset(a);
		if (!found)
			return SB_EINVAL;
	}
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE conversations SET assignee_id = ?3 "
				      "WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	if (assignee)
		sqlite3_bind_int64(s, 3, assignee);
	int rc = store__exec_done(s, tx->db, "conv_assign");
	if (rc)
		return rc;
	if (!sqlite3_changes(tx->db))
		return SB_ENOTFOUND;
	return conv_event(tx, tenant, id, "conversation.updated", json);
}

int sb_tx_conv_set_status(struct sb_tx *tx, int64_t tenant, int64_t id, int status,
			  int64_t snoozed_until, struct sb_buf *json)
{
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE conversations SET status = ?3, snoozed_until = ?4 "
				      "WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	sqlite3_bind_int(s, 3, status);
	if (status == SB_CONV_SNOOZED)
		sqlite3_bind_int64(s, 4, snoozed_until);
	int rc = store__exec_done(s, tx->db, "conv_status");
	if (rc)
		return rc;
	if (!sqlite3_changes(tx->db))
		return SB_ENOTFOUND;
	return conv_event(tx, tenant, id, "conversation.updated", json);
}

int sb_tx_conv_mark_read(struct sb_tx *tx, int64_t tenant, int64_t id, int64_t agent)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO conversation_reads(tenant_id, conversation_id, "
				      "agent_id, last_read_id) SELECT ?1, c.id, ?3, "
				      "coalesce((SELECT max(id) FROM messages m WHERE m.tenant_id = ?1 "
				      "AND m.conversation_id = c.id), 0) FROM conversations c "
				      "WHERE c.tenant_id = ?1 AND c.id = ?2 "
				      "ON CONFLICT (conversation_id, agent_id) "
				      "DO UPDATE SET last_read_id = excluded.last_read_id");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	sqlite3_bind_int64(s, 3, agent);
	int rc = store__exec_done(s, tx->db, "conv_read");
	if (rc)
		return rc;
	if (!sqlite3_changes(tx->db))
		return SB_ENOTFOUND;
	char data[96];
	int n = snprintf(data, sizeof data, "{\"conversation_id\":%lld,\"agent_id\":%lld}",
			 (long long)id, (long long)agent);
	return sb_tx_event(tx, tenant, "conversation.read", data, (size_t)n);
}

int sb_tx_conv_wake_due(struct sb_tx *tx, int64_t now_ms, int64_t *next_out)
{
	/* at most 256 a batch; the caller comes back at once while more are due */
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE conversations SET status = 0, snoozed_until = NULL "
				      "WHERE id IN (SELECT id FROM conversations WHERE status = 2 "
				      "AND snoozed_until <= ?1 LIMIT 256) "
				      "RETURNING tenant_id, id");
	sqlite3_bind_int64(s, 1, now_ms);
	int64_t woke[256][2];
	int n = 0, rc;
	while (n < 256 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		woke[n][0] = sqlite3_column_int64(s, 0);
		woke[n][1] = sqlite3_column_int64(s, 1);
		n++;
	}
	sqlite3_reset(s);
	for (int i = 0; i < n; i++) {
		struct sb_buf b;
		sb_buf_init(&b, 0);
		rc = conv_event(tx, woke[i][0], woke[i][1], "conversation.updated", &b);
		sb_buf_free(&b);
		if (rc)
			return rc;
	}
	s = TX_STMT(tx, "SELECT min(snoozed_until) FROM conversations WHERE status = 2");
	*next_out = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return 0;
}

int64_t sb_store_conv_next_snooze(struct sb_store *st)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT min(snoozed_until) FROM conversations WHERE status = 2");
	int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return v;
}

int store__conv_touch(struct sb_tx *tx, int64_t tenant, int64_t conv, bool reopen)
{
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE conversations SET last_activity_at = ?3, "
				      "last_message_id = (SELECT max(id) FROM messages m "
				      "WHERE m.tenant_id = ?1 AND m.conversation_id = ?2), "
				      "status = CASE WHEN ?4 THEN 0 ELSE status END, "
				      "snoozed_until = CASE WHEN ?4 THEN NULL ELSE snoozed_until END "
				      "WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, conv);
	sqlite3_bind_int64(s, 3, tx->now);
	sqlite3_bind_int(s, 4, reopen);
	return store__exec_done(s, tx->db, "conv_touch");
}

/* ---- messages ---- */

#define MSG_COLS                                                                               \
	"id, conversation_id, kind, direction, body, media, status, status_code, status_reason, " \
	"channel_id, provider_id, client_id, author_agent_id, segments, created_at, updated_at"

static void msg_row_json(struct sb_buf *b, sqlite3_stmt *s)
{
	bool f = true;
	sb_buf_addc(b, '{');
	store__json_col_int(b, &f, "id", s, 0);
	store__json_col_int(b, &f, "conversation_id", s, 1);
	sb_json_kv_str(b, &f, "kind", sqlite3_column_int(s, 2) ? "note" : "message");
	sb_json_kv_str(b, &f, "direction", sqlite3_column_int(s, 3) ? "out" : "in");
	store__json_col(b, &f, "body", s, 4);
	sb_json_key(b, &f, "media");
	if (sqlite3_column_type(s, 5) == SQLITE_NULL)
		sb_buf_adds(b, "[]");
	else /* written by the store as a JSON array */
		sb_buf_add(b, sqlite3_column_text(s, 5), (size_t)sqlite3_column_bytes(s, 5));
	store__json_col(b, &f, "status", s, 6);
	store__json_col(b, &f, "status_code", s, 7);
	store__json_col(b, &f, "status_reason", s, 8);
	store__json_col_int(b, &f, "channel_id", s, 9);
	store__json_col(b, &f, "provider_id", s, 10);
	store__json_col(b, &f, "client_id", s, 11);
	store__json_col_int(b, &f, "author_agent_id", s, 12);
	store__json_col_int(b, &f, "segments", s, 13);
	store__json_col_time(b, &f, "created_at", s, 14);
	store__json_col_time(b, &f, "updated_at", s, 15);
	sb_buf_addc(b, '}');
}

void store__new_message_json(struct sb_tx *tx, const struct store__new_msg *m, struct sb_buf *b)
{
	/* msg_row_json's fields in its order; unit.store's "event is the row" tests compare the
	 * two for an inbound message and for a send */
	bool f = true;
	sb_buf_addc(b, '{');
	sb_json_kv_int(b, &f, "id", m->id);
	sb_json_kv_int(b, &f, "conversation_id", m->conv);
	sb_buf_adds(b, m->outbound ? ",\"kind\":\"message\",\"direction\":\"out\""
				   : ",\"kind\":\"message\",\"direction\":\"in\"");
	sb_json_kv_str(b, &f, "body", m->body ? m->body : "");
	sb_json_key(b, &f, "media");
	sb_buf_adds(b, m->media_json ? m->media_json : "[]");
	sb_json_kv_str(b, &f, "status", m->status); /* NULL strings: null */
	sb_buf_adds(b, ",\"status_code\":null,\"status_reason\":null");
	sb_json_kv_int(b, &f, "channel_id", m->channel); /* bound in both paths, never NULL */
	sb_json_kv_str(b, &f, "provider_id", m->provider_id);
	sb_json_kv_str(b, &f, "client_id", m->client_id);
	sb_json_key(b, &f, "author_agent_id");
	if (m->agent)
		sb_buf_add_i64(b, m->agent);
	else
		sb_buf_adds(b, "null");
	sb_json_key(b, &f, "segments");
	if (m->has_segments)
		sb_buf_add_i64(b, m->segments);
	else
		sb_buf_adds(b, "null");
	const char *ts = store__tx_time(tx);
	sb_buf_adds(b, ",\"created_at\":\"");
	sb_buf_adds(b, ts);
	sb_buf_adds(b, "\",\"updated_at\":\"");
	sb_buf_adds(b, ts);
	sb_buf_adds(b, "\"}");
}

int store__message_json(sqlite3 *db, struct store__cache *c, int64_t tenant, int64_t id,
			struct sb_buf *json)
{
	sqlite3_stmt *s = store__stmt(db, c, "SELECT " MSG_COLS " FROM messages "
					     "WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	int rc = SB_ENOTFOUND;
	if (sqlite3_step(s) == SQLITE_ROW) {
		msg_row_json(json, s);
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}

int sb_store_messages_list(struct sb_store *st, int64_t tenant, int64_t conv, struct sb_str before,
			   int limit, struct sb_buf *json)
{
	sqlite3_stmt *c = RD_STMT(st, "SELECT 1 FROM conversations WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(c, 1, tenant);
	sqlite3_bind_int64(c, 2, conv);
	int found = sqlite3_step(c) == SQLITE_ROW;
	sqlite3_reset(c);
	if (!found)
		return SB_ENOTFOUND;

	int64_t before_id = 0;
	if (before.len) {
		char tmp[32];
		char *end;
		snprintf(tmp, sizeof tmp, "%.*s", (int)(before.len < 31 ? before.len : 31), before.p);
		before_id = strtoll(tmp, &end, 10);
		if (*end || before_id <= 0)
			return SB_EINVAL;
	}
	/* "id < ?3" always (the first page is before INT64_MAX): the index seeks to the page,
	 * where "?3 = 0 OR id < ?3" walked down from the newest message to it */
	sqlite3_stmt *s = RD_STMT(st, "SELECT * FROM (SELECT " MSG_COLS " FROM messages "
				      "WHERE tenant_id = ?1 AND conversation_id = ?2 "
				      "AND id < ?3 ORDER BY id DESC LIMIT ?4) "
				      "ORDER BY id ASC");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, conv);
	sqlite3_bind_int64(s, 3, before_id ? before_id : INT64_MAX);
	sqlite3_bind_int(s, 4, limit);
	sb_buf_adds(json, "{\"messages\":[");
	int n = 0;
	int64_t oldest = 0;
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (n++)
			sb_buf_addc(json, ',');
		else
			oldest = sqlite3_column_int64(s, 0);
		msg_row_json(json, s);
	}
	sqlite3_reset(s);
	bool more = false;
	if (n) {
		c = RD_STMT(st, "SELECT 1 FROM messages WHERE tenant_id = ?1 AND conversation_id = ?2 "
				"AND id < ?3 LIMIT 1");
		sqlite3_bind_int64(c, 1, tenant);
		sqlite3_bind_int64(c, 2, conv);
		sqlite3_bind_int64(c, 3, oldest);
		more = sqlite3_step(c) == SQLITE_ROW;
		sqlite3_reset(c);
	}
	sb_buf_adds(json, "],\"next_cursor\":");
	if (more)
		sb_buf_printf(json, "\"%lld\"}", (long long)oldest);
	else
		sb_buf_adds(json, "null}");
	return 0;
}

int sb_tx_note_create(struct sb_tx *tx, int64_t tenant, int64_t conv, int64_t agent,
		      const char *body, const char *client_id, struct sb_buf *json)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO messages(tenant_id, conversation_id, kind, "
				      "direction, body, client_id, author_agent_id, created_at, "
				      "updated_at) SELECT ?1, id, 1, 1, ?3, ?4, ?5, ?6, ?6 "
				      "FROM conversations WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, conv);
	store__bind_text(s, 3, body);
	store__bind_text(s, 4, client_id);
	sqlite3_bind_int64(s, 5, agent);
	sqlite3_bind_int64(s, 6, tx->now);
	int rc = store__exec_done(s, tx->db, "note_create");
	if (rc == SB_ECONFLICT && client_id) {
		/* the same client id again: answer with the note it created, change nothing */
		s = TX_STMT(tx, "SELECT id FROM messages WHERE tenant_id = ?1 AND client_id = ?2 "
				"AND conversation_id = ?3");
		sqlite3_bind_int64(s, 1, tenant);
		store__bind_text(s, 2, client_id);
		sqlite3_bind_int64(s, 3, conv);
		int64_t id = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
		sqlite3_reset(s);
		if (!id)
			return SB_ECONFLICT;
		rc = store__message_json(tx->db, tx->cache, tenant, id, json);
		return rc ? rc : 1; /* 1: existed */
	}
	if (rc)
		return rc;
	if (!sqlite3_changes(tx->db))
		return SB_ENOTFOUND;
	int64_t id = sqlite3_last_insert_rowid(tx->db);
	if ((rc = store__conv_touch(tx, tenant, conv, false)))
		return rc;
	rc = store__message_json(tx->db, tx->cache, tenant, id, json);
	if (!rc)
		rc = store__event_buf(tx, tenant, "message.created", json);
	return rc;
}

/* ---- canned responses ---- */

static void canned_row_json(struct sb_buf *b, sqlite3_stmt *s)
{
	bool f = true;
	sb_buf_addc(b, '{');
	store__json_col_int(b, &f, "id", s, 0);
	store__json_col(b, &f, "shortcut", s, 1);
	store__json_col(b, &f, "title", s, 2);
	store__json_col(b, &f, "body", s, 3);
	store__json_col_time(b, &f, "created_at", s, 4);
	sb_buf_addc(b, '}');
}

int sb_store_canned_list(struct sb_store *st, int64_t tenant, struct sb_buf *json)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT id, shortcut, title, body, created_at "
				      "FROM canned_responses WHERE tenant_id = ?1 ORDER BY shortcut");
	sqlite3_bind_int64(s, 1, tenant);
	sb_buf_adds(json, "{\"canned_responses\":[");
	for (int n = 0; sqlite3_step(s) == SQLITE_ROW; n++) {
		if (n)
			sb_buf_addc(json, ',');
		canned_row_json(json, s);
	}
	sqlite3_reset(s);
	sb_buf_adds(json, "]}");
	return 0;
}

static int canned_json(struct sb_tx *tx, int64_t tenant, int64_t id, struct sb_buf *json)
{
	sqlite3_stmt *s = TX_STMT(tx, "SELECT id, shortcut, title, body, created_at "
				      "FROM canned_responses WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	int rc = SB_ENOTFOUND;
	if (sqlite3_step(s) == SQLITE_ROW) {
		canned_row_json(json, s);
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}

int sb_tx_canned_create(struct sb_tx *tx, int64_t tenant, const char *shortcut, const char *title,
			const char *body, struct sb_buf *json)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO canned_responses(tenant_id, shortcut, title, "
				      "body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)");
	sqlite3_bind_int64(s, 1, tenant);
	store__bind_text(s, 2, shortcut);
	store__bind_text(s, 3, title ? title : "");
	store__bind_text(s, 4, body);
	sqlite3_bind_int64(s, 5, tx->now);
	int rc = store__exec_done(s, tx->db, "canned_create");
	if (rc)
		return rc;
	return canned_json(tx, tenant, sqlite3_last_insert_rowid(tx->db), json);
}

int sb_tx_canned_update(struct sb_tx *tx, int64_t tenant, int64_t id, const char *shortcut,
			const char *title, const char *body, struct sb_buf *json)
{
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE canned_responses SET shortcut = coalesce(?3, shortcut), "
				      "title = coalesce(?4, title), body = coalesce(?5, body) "
				      "WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	store__bind_text(s, 3, shortcut);
	store__bind_text(s, 4, title);
	store__bind_text(s, 5, body);
	int rc = store__exec_done(s, tx->db, "canned_update");
	if (rc)
		return rc;
	if (!sqlite3_changes(tx->db))
		return SB_ENOTFOUND;
	return canned_json(tx, tenant, id, json);
}

int sb_tx_canned_delete(struct sb_tx *tx, int64_t tenant, int64_t id)
{
	sqlite3_stmt *s = TX_STMT(tx, "DELETE FROM canned_responses WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	int rc = store__exec_done(s, tx->db, "canned_delete");
	if (!rc && !sqlite3_changes(tx->db))
		rc = SB_ENOTFOUND;
	return rc;
}
