/* SPDX-License-Identifier: MIT
 * store_chan.c: channels, the inbound path (dedupe kept forever, contact by address, one
 * thread per person, reopened when closed), the opt-out ledger, monotonic status updates,
 * outbound messages with their outbox rows, and the sandbox provider's own records.
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- channels ---- */

#define CHAN_COLS                                                                              \
	"id, tenant_id, kind, name, sender, webhook_key, config, api_base, sandbox, active, "     \
	"max_inflight, updated_at"

static void copyz(char *dst, size_t cap, sqlite3_stmt *s, int i)
{
	const char *v = (const char *)sqlite3_column_text(s, i);
	snprintf(dst, cap, "%s", v ? v : "");
}

static void chan_row(sqlite3_stmt *s, struct sb_channel_row *c)
{
	memset(c, 0, sizeof *c);
	c->id = sqlite3_column_int64(s, 0);
	c->tenant = sqlite3_column_int64(s, 1);
	copyz(c->kind, sizeof c->kind, s, 2);
	copyz(c->name, sizeof c->name, s, 3);
	copyz(c->sender, sizeof c->sender, s, 4);
	copyz(c->key, sizeof c->key, s, 5);
	size_t n = (size_t)sqlite3_column_bytes(s, 6);
	if (n <= sizeof c->config) {
		memcpy(c->config, sqlite3_column_blob(s, 6), n);
		c->config_len = n;
	}
	copyz(c->api_base, sizeof c->api_base, s, 7);
	c->sandbox = sqlite3_column_int(s, 8) != 0;
	c->active = sqlite3_column_int(s, 9) != 0;
	c->max_inflight = sqlite3_column_int(s, 10);
	c->updated_at = sqlite3_column_int64(s, 11);
}

static int chan_one(sqlite3_stmt *s, struct sb_channel_row *out)
{
	int rc = SB_ENOTFOUND;
	if (sqlite3_step(s) == SQLITE_ROW) {
		chan_row(s, out);
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}

int sb_store_channel_by_key(struct sb_store *st, const char *key, struct sb_channel_row *out)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT " CHAN_COLS " FROM channels WHERE webhook_key = ?1");
	store__bind_text(s, 1, key);
	return chan_one(s, out);
}

int sb_store_channel_get(struct sb_store *st, int64_t tenant, int64_t id,
			 struct sb_channel_row *out)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT " CHAN_COLS " FROM channels "
				      "WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	return chan_one(s, out);
}

int sb_store_channels_json(struct sb_store *st, int64_t tenant, const char *public_url,
			   int64_t only_id, struct sb_buf *json)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT id, kind, name, sender, webhook_key, api_base, "
				      "sandbox, active, created_at, updated_at, last_inbound_at, "
				      "last_send_ok_at, last_error, last_error_at, max_inflight "
				      "FROM channels WHERE tenant_id = ?1 AND (?2 = 0 OR id = ?2) "
				      "ORDER BY id");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, only_id);
	if (!only_id)
		sb_buf_adds(json, "{\"channels\":[");
	int n = 0;
	while (sqlite3_step(s) == SQLITE_ROW) {
		bool f = true;
		if (n++)
			sb_buf_addc(json, ',');
		sb_buf_addc(json, '{');
		store__json_col_int(json, &f, "id", s, 0);
		store__json_col(json, &f, "kind", s, 1);
		store__json_col(json, &f, "name", s, 2);
		store__json_col(json, &f, "sender", s, 3);
		store__json_col(json, &f, "api_base", s, 5);
		sb_json_kv_bool(json, &f, "sandbox", sqlite3_column_int(s, 6) != 0);
		sb_json_kv_bool(json, &f, "active", sqlite3_column_int(s, 7) != 0);
		store__json_col_int(json, &f, "max_inflight", s, 14);
		store__json_col_time(json, &f, "created_at", s, 8);
		store__json_col_time(json, &f, "updated_at", s, 9);
		const char *kind = (const char *)sqlite3_column_text(s, 1);
		const char *key = (const char *)sqlite3_column_text(s, 4);
		sb_json_key(json, &f, "webhook_urls");
		sb_buf_printf(json, "{\"inbound\":\"%s/webhooks/%s/%s\",\"status\":"
				    "\"%s/webhooks/%s/%s/status\"}",
			      public_url, kind, key, public_url, kind, key);
		sb_json_key(json, &f, "health");
		{
			bool g = true;
			sb_buf_addc(json, '{');
			store__json_col_time(json, &g, "last_inbound_at", s, 10);
			store__json_col_time(json, &g, "last_send_ok_at", s, 11);
			store__json_col(json, &g, "last_error", s, 12);
			store__json_col_time(json, &g, "last_error_at", s, 13);
			sb_buf_addc(json, '}');
		}
		sb_buf_addc(json, '}');
	}
	sqlite3_reset(s);
	if (!only_id)
		sb_buf_adds(json, "]}");
	return only_id && !n ? SB_ENOTFOUND : 0;
}

int sb_tx_channel_create(struct sb_tx *tx, int64_t tenant, const struct sb_channel_row *c,
			 int64_t *id_out)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO channels(tenant_id, kind, name, sender, "
				      "webhook_key, config, api_base, sandbox, active, max_inflight, "
				      "created_at, updated_at) "
				      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?10, ?10)");
	sqlite3_bind_int64(s, 1, tenant);
	store__bind_text(s, 2, c->kind);
	store__bind_text(s, 3, c->name);
	store__bind_text(s, 4, c->sender);
	store__bind_text(s, 5, c->key);
	sqlite3_bind_blob(s, 6, c->config, (int)c->config_len, SQLITE_TRANSIENT);
	store__bind_text(s, 7, c->api_base);
	sqlite3_bind_int(s, 8, c->sandbox);
	sqlite3_bind_int(s, 9, c->max_inflight > 0 ? c->max_inflight : 16);
	sqlite3_bind_int64(s, 10, tx->now);
	int rc = store__exec_done(s, tx->db, "channel_create");
	if (rc)
		return rc;
	store__config_changed(tx);
	*id_out = sqlite3_last_insert_rowid(tx->db);
	return 0;
}

int sb_tx_channel_update(struct sb_tx *tx, int64_t tenant, int64_t id, const char *name,
			 const char *sender, const unsigned char *config, size_t config_len,
			 const char *api_base, int sandbox, int active, int max_inflight)
{
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE channels SET name = coalesce(?3, name), "
				      "sender = coalesce(?4, sender), config = coalesce(?5, config), "
				      "api_base = coalesce(?6, api_base), "
				      "sandbox = coalesce(?7, sandbox), active = coalesce(?8, active), "
				      "max_inflight = coalesce(?10, max_inflight), "
				      "updated_at = ?9 WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	store__bind_text(s, 3, name);
	store__bind_text(s, 4, sender);
	if (config_len)
		sqlite3_bind_blob(s, 5, config, (int)config_len, SQLITE_TRANSIENT);
	store__bind_text(s, 6, api_base);
	if (sandbox >= 0)
		sqlite3_bind_int(s, 7, sandbox);
	if (active >= 0)
		sqlite3_bind_int(s, 8, active);
	sqlite3_bind_int64(s, 9, tx->now);
	if (max_inflight > 0)
		sqlite3_bind_int(s, 10, max_inflight);
	int rc = store__exec_done(s, tx->db, "channel_update");
	if (!rc && !sqlite3_changes(tx->db))
		rc = SB_ENOTFOUND;
	store__config_changed(tx);
	return rc;
}

int sb_tx_channel_health(struct sb_tx *tx, int64_t tenant, int64_t id, bool ok_send, bool inbound,
			 const char *error)
{
	/* a health stamp is written at most once a second per channel: the statement checks the
	 * row, and the writer remembers its own stamps so that it need not run the statement
	 * in between (a stamp lost with a rolled-back job is written a second later) */
	if (!error && tx->st && tx->db == tx->st->wdb) {
		struct store__health *h =
			&tx->st->health[(uint64_t)id % (sizeof tx->st->health / sizeof tx->st->health[0])];
		if (h->channel != id)
			*h = (struct store__health){ .channel = id };
		bool send_fresh = tx->now >= h->send_ok_at && tx->now - h->send_ok_at < 1000;
		bool in_fresh = tx->now >= h->inbound_at && tx->now - h->inbound_at < 1000;
		if ((!ok_send || send_fresh) && (!inbound || in_fresh))
			return 0;
		if (ok_send)
			h->send_ok_at = tx->now;
		if (inbound)
			h->inbound_at = tx->now;
	}
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE channels SET "
				      "last_send_ok_at = CASE WHEN ?3 THEN ?6 ELSE last_send_ok_at END, "
				      "last_inbound_at = CASE WHEN ?4 THEN ?6 ELSE last_inbound_at END, "
				      "last_error = coalesce(?5, last_error), "
				      "last_error_at = CASE WHEN ?5 IS NULL THEN last_error_at ELSE ?6 END "
				      "WHERE tenant_id = ?1 AND id = ?2 AND (?5 IS NOT NULL "
				      "OR (?3 AND coalesce(last_send_ok_at, 0) < ?6 - 1000) "
				      "OR (?4 AND coalesce(last_inbound_at, 0) < ?6 - 1000))");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	sqlite3_bind_int(s, 3, ok_send);
	sqlite3_bind_int(s, 4, inbound);
	store__bind_text(s, 5, error);
	sqlite3_bind_int64(s, 6, tx->now);
	return store__exec_done(s, tx->db, "channel_health");
}

/* ---- inbound ---- */

static int contact_for(struct sb_tx *tx, int64_t tenant, const char *kind, const char *address,
		       int64_t *contact_out, bool *created)
{
	sqlite3_stmt *s = TX_STMT(tx, "SELECT contact_id FROM contact_identities "
				      "WHERE tenant_id = ?1 AND kind = ?2 AND address = ?3");
	sqlite3_bind_int64(s, 1, tenant);
	store__bind_text(s, 2, kind);
	store__bind_text(s, 3, address);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*contact_out = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		*created = false;
		return 0;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__err(tx->db, rc, "identity_find");
	s = TX_STMT(tx, "INSERT INTO contacts(tenant_id, phone, created_at, updated_at) "
			"VALUES (?1, ?2, ?3, ?3)");
	sqlite3_bind_int64(s, 1, tenant);
	store__bind_text(s, 2, !strcmp(kind, "phone") ? address : "");
	sqlite3_bind_int64(s, 3, tx->now);
	if ((rc = store__exec_done(s, tx->db, "contact_auto")))
		return rc;
	int64_t id = sqlite3_last_insert_rowid(tx->db);
	s = TX_STMT(tx, "INSERT INTO contact_identities(tenant_id, contact_id, kind, address) "
			"VALUES (?1, ?2, ?3, ?4)");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	store__bind_text(s, 3, kind);
	store__bind_text(s, 4, address);
	if ((rc = store__exec_done(s, tx->db, "identity_auto")))
		return rc;
	*contact_out = id;
	*created = true;
	return 0;
}

int sb_tx_inbound_message(struct sb_tx *tx, int64_t tenant, struct sb_inbound_msg *m,
			  int64_t *msg_out)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO inbound_dedupe(channel_id, provider_id, "
				      "tenant_id, created_at) VALUES (?1, ?2, ?3, ?4) "
				      "ON CONFLICT DO NOTHING");
	sqlite3_bind_int64(s, 1, m->channel);
	store__bind_text(s, 2, m->provider_id);
	sqlite3_bind_int64(s, 3, tenant);
	sqlite3_bind_int64(s, 4, tx->now);
	int rc = store__exec_done(s, tx->db, "dedupe");
	if (rc)
		return rc;
	if (!sqlite3_changes(tx->db))
		return 1; /* delivered before: change nothing */

	int64_t contact = 0;
	bool new_contact;
	if ((rc = contact_for(tx, tenant, m->kind, m->from, &contact, &new_contact)))
		return rc;
	struct sb_buf b;
	sb_buf_init(&b, 0);
	if (new_contact) {
		rc = store__contact_json(tx->db, tx->cache, tenant, contact, &b);
		if (!rc)
			rc = store__event_buf(tx, tenant, "contact.created", &b);
		sb_buf_reset(&b);
		if (rc)
			goto out;
	}
	/* the person's latest thread (on this channel unless threads are unified) */
	s = TX_STMT(tx, "SELECT id, status FROM conversations WHERE tenant_id = ?1 "
			"AND contact_id = ?2 AND (?3 OR channel_id = ?4 OR channel_id IS NULL) "
			"ORDER BY last_activity_at DESC, id DESC LIMIT 1");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, contact);
	sqlite3_bind_int(s, 3, m->unified);
	sqlite3_bind_int64(s, 4, m->channel);
	int64_t conv = 0;
	int status = 0;
	if (sqlite3_step(s) == SQLITE_ROW) {
		conv = sqlite3_column_int64(s, 0);
		status = sqlite3_column_int(s, 1);
	}
	sqlite3_reset(s);
	bool conv_created = false;
	if (!conv) {
		s = TX_STMT(tx, "INSERT INTO conversations(tenant_id, contact_id, channel_id, "
				"last_activity_at, created_at) VALUES (?1, ?2, ?3, ?4, ?4)");
		sqlite3_bind_int64(s, 1, tenant);
		sqlite3_bind_int64(s, 2, contact);
		sqlite3_bind_int64(s, 3, m->channel);
		sqlite3_bind_int64(s, 4, tx->now);
		if ((rc = store__exec_done(s, tx->db, "conv_auto")))
			goto out;
		conv = sqlite3_last_insert_rowid(tx->db);
		conv_created = true;
		m->new_conv = true;
	}
	s = TX_STMT(tx, "INSERT INTO messages(tenant_id, conversation_id, kind, direction, body, "
			"media, status, channel_id, provider_id, created_at, updated_at) "
			"VALUES (?1, ?2, 0, 0, ?3, ?4, 'received', ?5, ?6, ?7, ?7)");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, conv);
	store__bind_text(s, 3, m->body ? m->body : "");
	store__bind_text(s, 4, m->media_json);
	sqlite3_bind_int64(s, 5, m->channel);
	store__bind_text(s, 6, m->provider_id);
	sqlite3_bind_int64(s, 7, tx->now);
	if ((rc = store__exec_done(s, tx->db, "inbound_insert")))
		goto out;
	int64_t msg = sqlite3_last_insert_rowid(tx->db);
	if (msg_out)
		*msg_out = msg;
	/* one update for the thread: the channel the customer last wrote on is where replies
	 * go; the activity; the last message, which is the row just inserted (a new rowid is
	 * the table's largest, so it is also the largest of the conversation); reopened */
	s = TX_STMT(tx, "UPDATE conversations SET channel_id = ?3, last_activity_at = ?4, "
			"last_message_id = ?5, status = 0, snoozed_until = NULL "
			"WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, conv);
	sqlite3_bind_int64(s, 3, m->channel);
	sqlite3_bind_int64(s, 4, tx->now);
	sqlite3_bind_int64(s, 5, msg);
	if ((rc = store__exec_done(s, tx->db, "conv_inbound")))
		goto out;
	store__new_message_json(tx,
				&(struct store__new_msg){ .id = msg, .conv = conv, .channel = m->channel,
							  .body = m->body, .media_json = m->media_json,
							  .status = "received",
							  .provider_id = m->provider_id },
				&b);
	if ((rc = store__event_buf(tx, tenant, "message.created", &b)))
		goto out;
	sb_buf_reset(&b);
	/* a new or reopened thread is announced whole; for an open one the message.created
	 * event says all that changed (its last message and activity), and every frame here
	 * is multiplied by the tenant's sockets */
	if (conv_created || status != SB_CONV_OPEN) {
		if ((rc = store__conv_json(tx->db, tx->cache, tenant, 0, conv, &b)))
			goto out;
		rc = store__event_buf(tx, tenant,
				      conv_created ? "conversation.created" : "conversation.updated", &b);
		if (rc)
			goto out;
	}
	if (!rc)
		rc = sb_tx_channel_health(tx, tenant, m->channel, false, true, NULL);
out:
	sb_buf_free(&b);
	return rc;
}

int sb_tx_optout_set(struct sb_tx *tx, int64_t tenant, const char *sender, const char *customer,
		     bool opted_out)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO opt_outs(tenant_id, sender, customer, opted_out, "
				      "updated_at) VALUES (?1, ?2, ?3, ?4, ?5) "
				      "ON CONFLICT (tenant_id, sender, customer) DO UPDATE SET "
				      "opted_out = excluded.opted_out, updated_at = excluded.updated_at");
	sqlite3_bind_int64(s, 1, tenant);
	store__bind_text(s, 2, sender);
	store__bind_text(s, 3, customer);
	sqlite3_bind_int(s, 4, opted_out);
	sqlite3_bind_int64(s, 5, tx->now);
	return store__exec_done(s, tx->db, "optout_set");
}

#define SQL_OPTOUT_GET \
	"SELECT opted_out FROM opt_outs WHERE tenant_id = ?1 AND sender = ?2 AND customer = ?3"

/* The ledger's answer through s (the loop's read connection or the writer's). */
static int optout_get(sqlite3_stmt *s, int64_t tenant, const char *sender, const char *customer)
{
	sqlite3_bind_int64(s, 1, tenant);
	store__bind_text(s, 2, sender);
	store__bind_text(s, 3, customer);
	int v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
	sqlite3_reset(s);
	return v;
}

int sb_store_optout_get(struct sb_store *st, int64_t tenant, const char *sender,
			const char *customer)
{
	return optout_get(RD_STMT(st, SQL_OPTOUT_GET), tenant, sender, customer);
}

int sb_tx_optout_get(struct sb_tx *tx, int64_t tenant, const char *sender, const char *customer)
{
	return optout_get(TX_STMT(tx, SQL_OPTOUT_GET), tenant, sender, customer);
}

int sb_status_rank(const char *st)
{
	static const struct {
		const char *name;
		int rank;
	} ranks[] = {
		{ "pending", 0 },     { "accepted", 1 },    { "scheduled", 1 }, { "queued", 2 },
		{ "sending", 3 },     { "sent", 4 },        { "delivered", 5 }, { "undelivered", 5 },
		{ "failed", 5 },      { "canceled", 5 },    { "read", 6 },
	};
	if (!st)
		return -1;
	for (size_t i = 0; i < sizeof ranks / sizeof ranks[0]; i++)
		if (!strcmp(ranks[i].name, st))
			return ranks[i].rank;
	return -1;
}

/* The message.updated event, from the values the row now holds. */
static int message_status_event_of(struct sb_tx *tx, int64_t tenant, int64_t msg, int64_t conv,
				   const char *status, const char *code, const char *reason,
				   const char *provider_id)
{
	struct sb_buf b;
	sb_buf_init(&b, 0);
	bool f = true;
	sb_buf_addc(&b, '{');
	sb_json_kv_int(&b, &f, "id", msg);
	sb_json_kv_int(&b, &f, "conversation_id", conv);
	sb_json_kv_str(&b, &f, "status", status); /* NULL: null */
	sb_json_kv_str(&b, &f, "status_code", code);
	sb_json_kv_str(&b, &f, "status_reason", reason);
	sb_json_kv_str(&b, &f, "provider_id", provider_id);
	sb_buf_addc(&b, '}');
	int rc = store__event_buf(tx, tenant, "message.updated", &b);
	sb_buf_free(&b);
	return rc;
}

/* The message.updated event, from the row read back. */
static int message_status_event(struct sb_tx *tx, int64_t tenant, int64_t msg)
{
	sqlite3_stmt *s = TX_STMT(tx, "SELECT conversation_id, status, status_code, "
				      "status_reason, provider_id FROM messages "
				      "WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, msg);
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_reset(s);
		return SB_ENOTFOUND;
	}
	int rc = message_status_event_of(tx, tenant, msg, sqlite3_column_int64(s, 0),
					 (const char *)sqlite3_column_text(s, 1),
					 (const char *)sqlite3_column_text(s, 2),
					 (const char *)sqlite3_column_text(s, 3),
					 (const char *)sqlite3_column_text(s, 4));
	sqlite3_reset(s);
	return rc;
}

/* Copies column i (NULL stays NULL) into buf; false when it does not fit. */
static bool col_copy(sqlite3_stmt *s, int i, char *buf, size_t size, const char **out)
{
	const char *z = (const char *)sqlite3_column_text(s, i);
	*out = NULL;
	if (!z)
		return true;
	size_t n = (size_t)sqlite3_column_bytes(s, i);
	if (n >= size)
		return false;
	memcpy(buf, z, n + 1);
	*out = buf;
	return true;
}

/* Sets status (if it ranks higher), code, reason and provider id on msg; emits the event
 * when anything changed. The event is made from the values read before the update and the
 * ones written (the row is read once), unless an old value is too long to keep here. */
static int message_set_status(struct sb_tx *tx, int64_t tenant, int64_t msg, const char *provider_id,
			      const char *status, const char *code, const char *reason)
{
	sqlite3_stmt *s = TX_STMT(tx, "SELECT conversation_id, status, status_code, status_reason, "
				      "provider_id FROM messages WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, msg);
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_reset(s);
		return SB_ENOTFOUND;
	}
	int64_t conv = sqlite3_column_int64(s, 0);
	bool has_pid = sqlite3_column_type(s, 4) != SQLITE_NULL; /* before any conversion */
	int cur = sb_status_rank((const char *)sqlite3_column_text(s, 1));
	char o_status[32], o_code[64], o_reason[512], o_pid[128];
	const char *old_status, *old_code, *old_reason, *old_pid;
	bool kept = col_copy(s, 1, o_status, sizeof o_status, &old_status) &
		    col_copy(s, 2, o_code, sizeof o_code, &old_code) &
		    col_copy(s, 3, o_reason, sizeof o_reason, &old_reason) &
		    col_copy(s, 4, o_pid, sizeof o_pid, &old_pid);
	sqlite3_reset(s);
	bool set_status = status && sb_status_rank(status) > cur;
	bool set_pid = provider_id && *provider_id && !has_pid;
	if (!set_status && !set_pid)
		return 0;
	const char *new_code = code && *code ? code : NULL;
	const char *new_pid = provider_id && *provider_id ? provider_id : NULL;
	s = TX_STMT(tx, "UPDATE messages SET status = CASE WHEN ?3 THEN ?4 ELSE status END, "
			"status_code = CASE WHEN ?3 THEN ?5 ELSE status_code END, "
			"status_reason = CASE WHEN ?3 THEN ?6 ELSE status_reason END, "
			"provider_id = coalesce(provider_id, ?7), updated_at = ?8 "
			"WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, msg);
	sqlite3_bind_int(s, 3, set_status);
	store__bind_text(s, 4, status);
	store__bind_text(s, 5, new_code);
	store__bind_text(s, 6, reason);
	store__bind_text(s, 7, new_pid);
	sqlite3_bind_int64(s, 8, tx->now);
	int rc = store__exec_done(s, tx->db, "message_status");
	if (rc)
		return rc;
	if (!kept)
		return message_status_event(tx, tenant, msg);
	return message_status_event_of(tx, tenant, msg, conv, set_status ? status : old_status,
				       set_status ? new_code : old_code,
				       set_status ? reason : old_reason,
				       has_pid ? old_pid : new_pid);
}

int sb_tx_status_update(struct sb_tx *tx, int64_t tenant, int64_t channel, const char *provider_id,
			int64_t outbox_id, const char *status, const char *code,
			const char *reason)
{
	if (!outbox_id)
		return SB_ENOTFOUND;
	/* the row the status is about, and whether it is still its message's latest attempt: a
	 * late status of an attempt that an agent's retry replaced belongs to no message now */
	sqlite3_stmt *s = TX_STMT(tx, "SELECT o.message_id, o.state, o.id = (SELECT max(l.id) "
				      "FROM outbox l WHERE l.tenant_id = ?1 AND l.message_id = "
				      "o.message_id) FROM outbox o WHERE o.tenant_id = ?1 AND o.id = ?2 "
				      "AND o.channel_id = ?3");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, outbox_id);
	sqlite3_bind_int64(s, 3, channel);
	int64_t msg = 0;
	int state = -1;
	bool latest = false;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		msg = sqlite3_column_int64(s, 0);
		state = sqlite3_column_int(s, 1);
		latest = sqlite3_column_int(s, 2) != 0;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store__err(tx->db, rc, "status_outbox_get");
	if (!msg || !latest)
		return SB_ENOTFOUND;
	if (state == SB_OB_SENDING || state == SB_OB_RECONCILE) {
		/* the provider has it: the outcome is settled, never resend */
		s = TX_STMT(tx, "UPDATE outbox SET state = 4, updated_at = ?3 "
				"WHERE tenant_id = ?1 AND id = ?2");
		sqlite3_bind_int64(s, 1, tenant);
		sqlite3_bind_int64(s, 2, outbox_id);
		sqlite3_bind_int64(s, 3, tx->now);
		if ((rc = store__exec_done(s, tx->db, "outbox_settle_cb")))
			return rc;
	}
	return message_set_status(tx, tenant, msg, provider_id, status, code, reason);
}

/* ---- outbound ---- */

static int outbox_insert(struct sb_tx *tx, int64_t tenant, int64_t msg, int64_t channel)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO outbox(tenant_id, message_id, channel_id, "
				      "next_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4, ?4)");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, msg);
	sqlite3_bind_int64(s, 3, channel);
	sqlite3_bind_int64(s, 4, tx->now);
	return store__exec_done(s, tx->db, "outbox_insert");
}

int sb_tx_message_send(struct sb_tx *tx, int64_t tenant, const struct sb_send_in *in,
		       int64_t *msg_out, int64_t *outbox_out, struct sb_buf *json)
{
	if (outbox_out)
		*outbox_out = 0;
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO messages(tenant_id, conversation_id, kind, "
				      "direction, body, status, channel_id, client_id, "
				      "author_agent_id, segments, created_at, updated_at) "
				      "SELECT ?1, id, 0, 1, ?3, 'pending', ?4, ?5, ?6, ?7, ?8, ?8 "
				      "FROM conversations WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, in->conv);
	store__bind_text(s, 3, in->body);
	sqlite3_bind_int64(s, 4, in->channel);
	store__bind_text(s, 5, in->client_id);
	if (in->agent)
		sqlite3_bind_int64(s, 6, in->agent);
	sqlite3_bind_int(s, 7, in->segments);
	sqlite3_bind_int64(s, 8, tx->now);
	int rc = store__exec_done(s, tx->db, "message_send");
	if (rc == SB_ECONFLICT && in->client_id) {
		/* the same client id again: one message, answered as it is */
		s = TX_STMT(tx, "SELECT id FROM messages WHERE tenant_id = ?1 AND client_id = ?2");
		sqlite3_bind_int64(s, 1, tenant);
		store__bind_text(s, 2, in->client_id);
		int64_t id = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
		sqlite3_reset(s);
		if (!id)
			return SB_ECONFLICT;
		*msg_out = id;
		rc = store__message_json(tx->db, tx->cache, tenant, id, json);
		return rc ? rc : 1;
	}
	if (rc)
		return rc;
	if (!sqlite3_changes(tx->db))
		return SB_ENOTFOUND;
	int64_t msg = sqlite3_last_insert_rowid(tx->db);
	*msg_out = msg;
	if ((rc = outbox_insert(tx, tenant, msg, in->channel)))
		return rc;
	if (outbox_out)
		*outbox_out = sqlite3_last_insert_rowid(tx->db);
	/* one update for the thread, as for an inbound message: its channel if it had none, the
	 * activity, and the last message, which is the row just inserted (a new rowid is the
	 * table's largest) */
	s = TX_STMT(tx, "UPDATE conversations SET channel_id = coalesce(channel_id, ?3), "
			"last_activity_at = ?4, last_message_id = ?5 WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, in->conv);
	sqlite3_bind_int64(s, 3, in->channel);
	sqlite3_bind_int64(s, 4, tx->now);
	sqlite3_bind_int64(s, 5, msg);
	if ((rc = store__exec_done(s, tx->db, "conv_send")))
		return rc;
	store__new_message_json(tx,
				&(struct store__new_msg){ .id = msg, .conv = in->conv,
							  .channel = in->channel, .agent = in->agent,
							  .outbound = true, .has_segments = true,
							  .segments = in->segments, .body = in->body,
							  .status = "pending",
							  .client_id = in->client_id },
				json);
	return store__event_buf(tx, tenant, "message.created", json);
}

int sb_tx_message_retry(struct sb_tx *tx, int64_t tenant, int64_t msg, struct sb_buf *json)
{
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE messages SET status = 'pending', status_code = NULL, "
				      "status_reason = NULL, provider_id = NULL, updated_at = ?3 "
				      "WHERE tenant_id = ?1 AND id = ?2 AND direction = 1 AND kind = 0 "
				      "AND status IN ('failed', 'undelivered') RETURNING channel_id");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, msg);
	sqlite3_bind_int64(s, 3, tx->now);
	int rc = sqlite3_step(s);
	int64_t channel = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			return store__err(tx->db, rc, "message_retry");
		/* a message of this tenant that cannot be retried, or none at all */
		s = TX_STMT(tx, "SELECT 1 FROM messages WHERE tenant_id = ?1 AND id = ?2");
		sqlite3_bind_int64(s, 1, tenant);
		sqlite3_bind_int64(s, 2, msg);
		int found = sqlite3_step(s) == SQLITE_ROW;
		sqlite3_reset(s);
		return found ? SB_ECONFLICT : SB_ENOTFOUND;
	}
	/* any earlier outbox row of this message is finished for good */
	s = TX_STMT(tx, "UPDATE outbox SET state = 5 WHERE tenant_id = ?1 AND message_id = ?2 "
			"AND state < 4");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, msg);
	if ((rc = store__exec_done(s, tx->db, "outbox_close")) ||
	    (rc = outbox_insert(tx, tenant, msg, channel)))
		return rc;
	if ((rc = message_status_event(tx, tenant, msg)))
		return rc;
	return store__message_json(tx->db, tx->cache, tenant, msg, json);
}

void sb_outbox_row_free(struct sb_outbox_row *r)
{
	if (r) {
		free(r->body);
		free(r);
	}
}

/* The row's details for the dispatcher (one due row, found by the scan below). */
static struct sb_outbox_row *outbox_row_get(struct sb_store *st, int64_t id)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT o.id, o.tenant_id, o.message_id, o.channel_id, "
				      "o.state, o.attempts, o.next_at, o.created_at, m.body, "
				      "m.provider_id, ct.phone FROM outbox o "
				      "JOIN messages m ON m.id = o.message_id AND m.tenant_id = o.tenant_id "
				      "JOIN conversations c ON c.id = m.conversation_id "
				      "AND c.tenant_id = o.tenant_id "
				      "JOIN contacts ct ON ct.id = c.contact_id AND ct.tenant_id = o.tenant_id "
				      "WHERE o.id = ?1");
	sqlite3_bind_int64(s, 1, id);
	struct sb_outbox_row *r = NULL;
	if (sqlite3_step(s) == SQLITE_ROW) {
		r = sb_calloc(1, sizeof *r);
		r->id = sqlite3_column_int64(s, 0);
		r->tenant = sqlite3_column_int64(s, 1);
		r->message = sqlite3_column_int64(s, 2);
		r->channel = sqlite3_column_int64(s, 3);
		r->state = sqlite3_column_int(s, 4);
		r->attempts = sqlite3_column_int(s, 5);
		r->next_at = sqlite3_column_int64(s, 6);
		r->created_at = sqlite3_column_int64(s, 7);
		r->body = sb_strdup((const char *)sqlite3_column_text(s, 8));
		copyz(r->provider_id, sizeof r->provider_id, s, 9);
		copyz(r->to, sizeof r->to, s, 10);
	}
	sqlite3_reset(s);
	return r;
}

int sb_store_outbox_due_filtered(struct sb_store *st, int64_t now, int limit, bool first_sends,
				 int max_channels, int64_t *cursor,
				 int (*want)(void *ud, int64_t tenant, int64_t channel, int64_t id,
						     int state),
				 void (*fn)(void *ud, struct sb_outbox_row *row), void *ud,
				 int64_t *next_at)
{
	/* One state at a time (lookups of unconfirmed sends, then retries, then first sends),
	 * and within a state one channel at a time, each channel's rows in next_at order, all
	 * from the partial index outbox_due (state, channel_id, next_at). The first statement
	 * finds the next channel with rows in the state and its earliest next_at (one seek); the
	 * second reads that channel's due rows. So a channel whose rows the caller does not
	 * want now (want: -2) is stepped over at the cost of one seek, however long its backlog,
	 * and another tenant's due rows are never behind it. Channels come in id order from
	 * the cursor, then from the first up to it, so that a walk cut short resumes with the
	 * next channel rather than the one it stopped in. Looking at max_channels channels at
	 * most keeps a walk's cost bounded when thousands of channels hold retries not yet due
	 * (an outage at the provider): the next walk goes on from there. Only the rows taken are joined with
	 * their message and contact. "state < 4" is repeated word for word so that sqlite 3.40
	 * uses the partial index (unit.store.plans fails otherwise). */
	static const char next_sql[] =
		"SELECT channel_id, next_at FROM outbox WHERE state = ?1 AND state < 4 "
		"AND channel_id > ?2 AND channel_id <= ?3 ORDER BY channel_id, next_at LIMIT 1";
	static const char rows_sql[] =
		"SELECT id, tenant_id, next_at FROM outbox WHERE state = ?1 AND state < 4 "
		"AND channel_id = ?2 ORDER BY next_at";
	static const int states[] = { SB_OB_RECONCILE, SB_OB_RETRY, SB_OB_PENDING };
	int n = 0, visits = 0;
	bool stop = false, left_due = false;
	int64_t soonest = 0, after_channel = cursor ? *cursor : 0, resume = 0;
	size_t ns = sizeof states / sizeof states[0] - (first_sends ? 0 : 1);
	for (size_t k = 0; k < ns && !stop && n < limit; k++) {
		for (int lap = 0; lap < 2 && !stop && n < limit; lap++) {
			int64_t ch = lap ? INT64_MIN : after_channel;
			int64_t hi = lap ? after_channel : INT64_MAX;
			for (;;) {
				sqlite3_stmt *s = RD_STMT(st, next_sql);
				sqlite3_bind_int(s, 1, states[k]);
				sqlite3_bind_int64(s, 2, ch);
				sqlite3_bind_int64(s, 3, hi);
				int64_t first = 0;
				bool found = sqlite3_step(s) == SQLITE_ROW;
				if (found) {
					ch = sqlite3_column_int64(s, 0);
					first = sqlite3_column_int64(s, 1);
				}
				sqlite3_reset(s);
				if (!found)
					break;
				if (max_channels && ++visits > max_channels) {
					left_due = stop = true; /* this channel and the rest: next walk */
					break;
				}
				resume = ch;
				if (first > now) {
					if (!soonest || first < soonest)
						soonest = first;
					continue;
				}
				if (n >= limit) {
					left_due = true;
					break;
				}
				/* read as far as needed: up to the first row not yet due */
				s = RD_STMT(st, rows_sql);
				sqlite3_bind_int(s, 1, states[k]);
				sqlite3_bind_int64(s, 2, ch);
				while (sqlite3_step(s) == SQLITE_ROW) {
					int64_t id = sqlite3_column_int64(s, 0);
					int64_t at = sqlite3_column_int64(s, 2);
					if (at > now) {
						if (!soonest || at < soonest)
							soonest = at;
						break;
					}
					int w = want ? want(ud, sqlite3_column_int64(s, 1), ch, id, states[k])
						     : 1;
					if (w < 0 || n >= limit) {
						left_due = true; /* this row at least is still due */
						stop = w == -1 || n >= limit;
						break;
					}
					if (!w) {
						left_due = true;
						continue;
					}
					struct sb_outbox_row *r = outbox_row_get(st, id);
					if (!r)
						continue;
					fn(ud, r);
					n++;
				}
				sqlite3_reset(s);
				if (stop)
					break;
			}
		}
	}
	if (stop || n >= limit)
		left_due = true;
	if (cursor)
		*cursor = stop || n >= limit ? resume : 0;
	if (next_at && !first_sends && !left_due) {
		/* first sends were not looked at: one stored is due (its next_at is when it was
		 * written), whether queued in memory or not */
		sqlite3_stmt *s = RD_STMT(st, "SELECT 1 FROM outbox WHERE state = 0 AND state < 4 "
					      "LIMIT 1");
		left_due = sqlite3_step(s) == SQLITE_ROW;
		sqlite3_reset(s);
	}
	if (next_at)
		*next_at = left_due ? now : soonest;
	return n;
}

int sb_store_outbox_due(struct sb_store *st, int64_t now, int limit,
			void (*fn)(void *ud, struct sb_outbox_row *row), void *ud)
{
	return sb_store_outbox_due_filtered(st, now, limit, true, 0, NULL, NULL, fn, ud, NULL);
}

int sb_tx_outbox_mark_sending(struct sb_tx *tx, int64_t tenant, int64_t id)
{
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE outbox SET state = 1, attempts = attempts + 1, "
				      "updated_at = ?3 WHERE tenant_id = ?1 AND id = ?2 "
				      "AND state IN (0, 2)");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	sqlite3_bind_int64(s, 3, tx->now);
	int rc = store__exec_done(s, tx->db, "outbox_sending");
	if (!rc && !sqlite3_changes(tx->db))
		rc = SB_ECONFLICT;
	return rc;
}

int sb_tx_outbox_attempt_undo(struct sb_tx *tx, int64_t tenant, int64_t id)
{
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE outbox SET attempts = attempts - 1 "
				      "WHERE tenant_id = ?1 AND id = ?2 AND attempts > 0");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	return store__exec_done(s, tx->db, "outbox_attempt_undo");
}

int sb_tx_outbox_settle(struct sb_tx *tx, int64_t tenant, int64_t id, int state, int64_t next_at,
			const char *provider_id, const char *status, const char *code,
			const char *reason)
{
	/* only a row still in flight may be settled: a status callback may have done it. A
	 * lookup and a plain UPDATE: sqlite runs RETURNING through its trigger machinery, which
	 * cost twice as much as both (callgrind) */
	sqlite3_stmt *s = TX_STMT(tx, "SELECT message_id, channel_id, state FROM outbox "
				      "WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	int rc = sqlite3_step(s);
	int64_t msg = 0, channel = 0;
	int cur = -1;
	if (rc == SQLITE_ROW) {
		msg = sqlite3_column_int64(s, 0);
		channel = sqlite3_column_int64(s, 1);
		cur = sqlite3_column_int(s, 2);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store__err(tx->db, rc, "outbox_settle_get");
	if (!msg)
		return SB_ENOTFOUND;
	if (cur != SB_OB_SENDING && cur != SB_OB_RECONCILE)
		/* settled already (a callback won the race): still learn the provider id */
		return message_set_status(tx, tenant, msg, provider_id, NULL, NULL, NULL);
	s = TX_STMT(tx, "UPDATE outbox SET state = ?3, next_at = ?4, updated_at = ?5 "
			"WHERE tenant_id = ?1 AND id = ?2");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, id);
	sqlite3_bind_int(s, 3, state);
	sqlite3_bind_int64(s, 4, next_at);
	sqlite3_bind_int64(s, 5, tx->now);
	if ((rc = store__exec_done(s, tx->db, "outbox_settle")))
		return rc;
	rc = message_set_status(tx, tenant, msg, provider_id, status, code, reason);
	if (rc)
		return rc;
	if (state == SB_OB_DONE)
		return sb_tx_channel_health(tx, tenant, channel, true, false, NULL);
	/* a failure, or a send that will be retried (provider unreachable, TLS refused, 429):
	 * the channel's health shows the latest error at once, not only when a message fails */
	if ((state == SB_OB_FAILED || state == SB_OB_RETRY) && reason && *reason)
		return sb_tx_channel_health(tx, tenant, channel, false, false, reason);
	return 0;
}

int sb_tx_outbox_recover(struct sb_tx *tx, int64_t next_at)
{
	/* "state < 4" for the partial index, as in the due walk */
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE outbox SET state = 3, next_at = ?1, updated_at = ?2 "
				      "WHERE state = 1 AND state < 4");
	sqlite3_bind_int64(s, 1, next_at);
	sqlite3_bind_int64(s, 2, tx->now);
	int rc = store__exec_done(s, tx->db, "outbox_recover");
	if (!rc && sqlite3_changes(tx->db))
		sb_log(SB_LOG_WARN, "msg=outbox_recovered rows=%d state=reconcile",
		       sqlite3_changes(tx->db));
	return rc;
}

/* ---- sandbox ---- */

int sb_tx_sandbox_record(struct sb_tx *tx, int64_t tenant, int64_t channel, const char *sid,
			 int direction, const char *customer, const char *body, const char *status,
			 const char *error_code, const char *status_callback)
{
	sqlite3_stmt *s = TX_STMT(tx, "INSERT INTO sandbox_messages(tenant_id, channel_id, sid, "
				      "direction, customer, body, status, error_code, status_callback, "
				      "created_at, updated_at) "
				      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, channel);
	store__bind_text(s, 3, sid);
	sqlite3_bind_int(s, 4, direction);
	store__bind_text(s, 5, customer);
	store__bind_text(s, 6, body);
	store__bind_text(s, 7, status);
	store__bind_text(s, 8, error_code);
	store__bind_text(s, 9, status_callback);
	sqlite3_bind_int64(s, 10, tx->now);
	return store__exec_done(s, tx->db, "sandbox_record");
}

int sb_tx_sandbox_status(struct sb_tx *tx, const char *sid, const char *status)
{
	sqlite3_stmt *s = TX_STMT(tx, "UPDATE sandbox_messages SET status = ?2, updated_at = ?3 "
				      "WHERE sid = ?1");
	store__bind_text(s, 1, sid);
	store__bind_text(s, 2, status);
	sqlite3_bind_int64(s, 3, tx->now);
	return store__exec_done(s, tx->db, "sandbox_status");
}

static void sandbox_row(struct sb_buf *b, sqlite3_stmt *s)
{
	bool f = true;
	sb_buf_addc(b, '{');
	store__json_col(b, &f, "sid", s, 0);
	sb_json_kv_str(b, &f, "direction", sqlite3_column_int(s, 1) ? "to_customer" : "from_customer");
	store__json_col(b, &f, "customer", s, 2);
	store__json_col(b, &f, "body", s, 3);
	store__json_col(b, &f, "status", s, 4);
	store__json_col(b, &f, "error_code", s, 5);
	store__json_col_time(b, &f, "created_at", s, 6);
	store__json_col_time(b, &f, "updated_at", s, 7);
	sb_buf_addc(b, '}');
}

int sb_store_sandbox_json(struct sb_store *st, int64_t tenant, int64_t channel,
			  const char *customer, struct sb_buf *json)
{
	/* the latest 200, oldest first; one statement per index, so that each reads 200 rows in
	 * index order instead of sorting all of the channel's (one "customer IS NULL OR" form
	 * could use neither index's order) */
	sqlite3_stmt *s =
		customer ? RD_STMT(st, "SELECT sid, direction, customer, body, status, error_code, "
				       "created_at, updated_at FROM (SELECT * FROM sandbox_messages "
				       "WHERE tenant_id = ?1 AND channel_id = ?2 AND customer = ?3 "
				       "ORDER BY id DESC LIMIT 200) ORDER BY id")
			 : RD_STMT(st, "SELECT sid, direction, customer, body, status, error_code, "
				       "created_at, updated_at FROM (SELECT * FROM sandbox_messages "
				       "WHERE tenant_id = ?1 AND channel_id = ?2 "
				       "ORDER BY id DESC LIMIT 200) ORDER BY id");
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, channel);
	if (customer)
		store__bind_text(s, 3, customer);
	sb_buf_adds(json, "{\"messages\":[");
	for (int n = 0; sqlite3_step(s) == SQLITE_ROW; n++) {
		if (n)
			sb_buf_addc(json, ',');
		sandbox_row(json, s);
	}
	sqlite3_reset(s);
	sb_buf_adds(json, "]}");
	return 0;
}

int sb_store_sandbox_get(struct sb_store *st, const char *sid, struct sb_buf *json)
{
	sqlite3_stmt *s = RD_STMT(st, "SELECT sid, direction, customer, body, status, error_code, "
				      "created_at, updated_at FROM sandbox_messages WHERE sid = ?1");
	store__bind_text(s, 1, sid);
	int rc = SB_ENOTFOUND;
	if (sqlite3_step(s) == SQLITE_ROW) {
		sandbox_row(json, s);
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}

#define SQL_CONV_TARGET                                                                            \
	"SELECT c.channel_id, ct.phone FROM conversations c "                                      \
	"JOIN contacts ct ON ct.id = c.contact_id AND ct.tenant_id = c.tenant_id "                 \
	"WHERE c.tenant_id = ?1 AND c.id = ?2"

static int conv_target(sqlite3_stmt *s, int64_t tenant, int64_t conv, int64_t *channel, char *to,
		       size_t tolen)
{
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, conv);
	int rc = store__step_row(s, "conv_target");
	if (!rc) {
		*channel = sqlite3_column_int64(s, 0);
		copyz(to, tolen, s, 1);
	}
	sqlite3_reset(s);
	return rc;
}

int sb_store_conv_target(struct sb_store *st, int64_t tenant, int64_t conv, int64_t *channel,
			 char *to, size_t tolen)
{
	return conv_target(RD_STMT(st, SQL_CONV_TARGET), tenant, conv, channel, to, tolen);
}

int sb_tx_conv_target(struct sb_tx *tx, int64_t tenant, int64_t conv, int64_t *channel, char *to,
		      size_t tolen)
{
	return conv_target(TX_STMT(tx, SQL_CONV_TARGET), tenant, conv, channel, to, tolen);
}

int sb_tx_send_channel(struct sb_tx *tx, int64_t tenant, int64_t channel, int64_t *id,
		       bool *active, char *sender, size_t senderlen)
{
	sqlite3_stmt *s =
		channel ? TX_STMT(tx, "SELECT id, active, sender FROM channels "
				      "WHERE tenant_id = ?1 AND id = ?2")
			: TX_STMT(tx, "SELECT id, active, sender FROM channels WHERE tenant_id = ?1 "
				      "AND kind = 'sms' AND active = 1 ORDER BY id LIMIT 1");
	sqlite3_bind_int64(s, 1, tenant);
	if (channel)
		sqlite3_bind_int64(s, 2, channel);
	int rc = store__step_row(s, "send_channel");
	if (!rc) {
		*id = sqlite3_column_int64(s, 0);
		*active = sqlite3_column_int(s, 1) != 0;
		copyz(sender, senderlen, s, 2);
	}
	sqlite3_reset(s);
	return rc;
}

#define SQL_MESSAGE_CONV                                                                           \
	"SELECT conversation_id, channel_id FROM messages WHERE tenant_id = ?1 AND id = ?2"

static int message_conv(sqlite3_stmt *s, int64_t tenant, int64_t msg, int64_t *conv,
			int64_t *channel)
{
	sqlite3_bind_int64(s, 1, tenant);
	sqlite3_bind_int64(s, 2, msg);
	int rc = store__step_row(s, "message_conv");
	if (!rc) {
		*conv = sqlite3_column_int64(s, 0);
		*channel = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	return rc;
}

int sb_store_message_conv(struct sb_store *st, int64_t tenant, int64_t msg, int64_t *conv,
			  int64_t *channel)
{
	return message_conv(RD_STMT(st, SQL_MESSAGE_CONV), tenant, msg, conv, channel);
}

int sb_tx_message_conv(struct sb_tx *tx, int64_t tenant, int64_t msg, int64_t *conv,
		       int64_t *channel)
{
	return message_conv(TX_STMT(tx, SQL_MESSAGE_CONV), tenant, msg, conv, channel);
}
