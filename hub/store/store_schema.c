/* SPDX-License-Identifier: MIT
 * store_schema.c: numbered migrations, applied in order at start (and by `hubd migrate`),
 * each in its own transaction. A migration is never edited once released: add a new one.
 */
#include "store_internal.h"

#include <stdio.h>

static const char *const migrations[] = {
	/* 1: tenants, agents, auth, contacts, conversations, messages, canned, events */
	"CREATE TABLE tenants ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL,"
	" last_seq INTEGER NOT NULL DEFAULT 0,"
	" settings TEXT NOT NULL DEFAULT '{}',"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE agents ("
	" id INTEGER PRIMARY KEY,"
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" email TEXT NOT NULL COLLATE NOCASE UNIQUE,"
	" name TEXT NOT NULL DEFAULT '',"
	" role INTEGER NOT NULL CHECK (role IN (1,2,3)),"
	" pw_hash TEXT,"
	" invite_hash BLOB UNIQUE,"
	" active INTEGER NOT NULL DEFAULT 1,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX agents_tenant ON agents(tenant_id, id);"
	"CREATE TABLE sessions ("
	" id_hash BLOB PRIMARY KEY,"
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" agent_id INTEGER NOT NULL REFERENCES agents(id),"
	" csrf TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX sessions_agent ON sessions(tenant_id, agent_id);"
	"CREATE TABLE api_keys ("
	" id INTEGER PRIMARY KEY,"
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" key_hash BLOB NOT NULL UNIQUE,"
	" prefix TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" revoked_at INTEGER);"
	"CREATE TABLE contacts ("
	" id INTEGER PRIMARY KEY,"
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" name TEXT NOT NULL DEFAULT '',"
	" phone TEXT NOT NULL DEFAULT '',"
	" email TEXT NOT NULL DEFAULT '',"
	" notes TEXT NOT NULL DEFAULT '',"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"CREATE INDEX contacts_tenant ON contacts(tenant_id, id);"
	"CREATE TABLE contact_identities ("
	" id INTEGER PRIMARY KEY,"
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" contact_id INTEGER NOT NULL REFERENCES contacts(id),"
	" kind TEXT NOT NULL,"
	" address TEXT NOT NULL,"
	" UNIQUE (tenant_id, kind, address));"
	"CREATE INDEX identities_contact ON contact_identities(tenant_id, contact_id);"
	"CREATE TABLE conversations ("
	" id INTEGER PRIMARY KEY,"
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" contact_id INTEGER NOT NULL REFERENCES contacts(id),"
	" channel_id INTEGER,"
	" status INTEGER NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 3),"
	" snoozed_until INTEGER,"
	" assignee_id INTEGER REFERENCES agents(id),"
	" last_activity_at INTEGER NOT NULL,"
	" last_message_id INTEGER,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX conv_activity ON conversations(tenant_id, last_activity_at DESC, id DESC);"
	"CREATE INDEX conv_contact ON conversations(tenant_id, contact_id);"
	"CREATE INDEX conv_snooze ON conversations(snoozed_until) WHERE status = 2;"
	"CREATE TABLE conversation_reads ("
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" conversation_id INTEGER NOT NULL REFERENCES conversations(id),"
	" agent_id INTEGER NOT NULL REFERENCES agents(id),"
	" last_read_id INTEGER NOT NULL,"
	" PRIMARY KEY (conversation_id, agent_id)) WITHOUT ROWID;"
	"CREATE TABLE messages ("
	" id INTEGER PRIMARY KEY,"
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" conversation_id INTEGER NOT NULL REFERENCES conversations(id),"
	" kind INTEGER NOT NULL DEFAULT 0,"          /* 0 message, 1 note */
	" direction INTEGER NOT NULL DEFAULT 0,"     /* 0 in, 1 out */
	" body TEXT NOT NULL DEFAULT '',"
	" media TEXT,"
	" status TEXT,"
	" status_code TEXT,"
	" status_reason TEXT,"
	" channel_id INTEGER,"
	" provider_id TEXT,"
	" client_id TEXT,"
	" author_agent_id INTEGER,"
	" segments INTEGER,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"CREATE INDEX messages_conv ON messages(tenant_id, conversation_id, id);"
	"CREATE UNIQUE INDEX messages_client ON messages(tenant_id, client_id)"
	" WHERE client_id IS NOT NULL;"
	"CREATE TABLE canned_responses ("
	" id INTEGER PRIMARY KEY,"
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" shortcut TEXT NOT NULL,"
	" title TEXT NOT NULL DEFAULT '',"
	" body TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" UNIQUE (tenant_id, shortcut));"
	"CREATE TABLE events ("
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" seq INTEGER NOT NULL,"
	" type TEXT NOT NULL,"
	" frame TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" PRIMARY KEY (tenant_id, seq)) WITHOUT ROWID;",

	/* 2: channels, inbound dedupe, the outbox, the opt-out ledger, the sandbox's messages */
	"CREATE TABLE channels ("
	" id INTEGER PRIMARY KEY,"
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" kind TEXT NOT NULL,"
	" name TEXT NOT NULL,"
	" sender TEXT NOT NULL DEFAULT '',"
	" webhook_key TEXT NOT NULL UNIQUE,"
	" config BLOB NOT NULL,"
	" api_base TEXT NOT NULL DEFAULT '',"
	" sandbox INTEGER NOT NULL DEFAULT 0,"
	" active INTEGER NOT NULL DEFAULT 1,"
	" max_inflight INTEGER NOT NULL DEFAULT 16,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" last_inbound_at INTEGER,"
	" last_send_ok_at INTEGER,"
	" last_error TEXT,"
	" last_error_at INTEGER);"
	"CREATE INDEX channels_tenant ON channels(tenant_id, id);"
	"CREATE TABLE inbound_dedupe ("
	" channel_id INTEGER NOT NULL REFERENCES channels(id),"
	" provider_id TEXT NOT NULL,"
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" created_at INTEGER NOT NULL,"
	" PRIMARY KEY (channel_id, provider_id)) WITHOUT ROWID;"
	"CREATE TABLE outbox ("
	" id INTEGER PRIMARY KEY,"
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" message_id INTEGER NOT NULL REFERENCES messages(id),"
	" channel_id INTEGER NOT NULL REFERENCES channels(id),"
	" state INTEGER NOT NULL DEFAULT 0,"     /* see enum sb_outbox_state */
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_at INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"CREATE INDEX outbox_due ON outbox(state, next_at) WHERE state < 4;"
	"CREATE INDEX outbox_message ON outbox(tenant_id, message_id);"
	"CREATE INDEX messages_provider ON messages(channel_id, provider_id)"
	" WHERE provider_id IS NOT NULL;"
	"CREATE TABLE opt_outs ("
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" sender TEXT NOT NULL,"
	" customer TEXT NOT NULL,"
	" opted_out INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" PRIMARY KEY (tenant_id, sender, customer)) WITHOUT ROWID;"
	"CREATE TABLE sandbox_messages ("
	" id INTEGER PRIMARY KEY,"
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" channel_id INTEGER NOT NULL REFERENCES channels(id),"
	" sid TEXT NOT NULL UNIQUE,"
	" direction INTEGER NOT NULL,"
	" customer TEXT NOT NULL,"
	" body TEXT NOT NULL,"
	" status TEXT NOT NULL,"
	" error_code TEXT,"
	" status_callback TEXT,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"CREATE INDEX sandbox_customer ON sandbox_messages(tenant_id, channel_id, customer, id);",

	/* 3: a person's latest thread is found by (tenant, contact) in activity order, not by
	 * walking every conversation of the tenant */
	"DROP INDEX conv_contact;"
	"CREATE INDEX conv_contact ON conversations(tenant_id, contact_id, last_activity_at DESC,"
	" id DESC);",

	/* 4: the event log as a rowid table. Frames are hundreds of bytes; appended in rowid
	 * order they fill pages densely (sqlite's quick append), while as a WITHOUT ROWID
	 * b-tree every few appends rebalanced a page: the largest share of an inbound
	 * message's write. (tenant, seq) stays unique through its index. */
	"CREATE TABLE events_v4 ("
	" id INTEGER PRIMARY KEY,"
	" tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
	" seq INTEGER NOT NULL,"
	" type TEXT NOT NULL,"
	" frame TEXT NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"INSERT INTO events_v4(tenant_id, seq, type, frame, created_at)"
	" SELECT tenant_id, seq, type, frame, created_at FROM events ORDER BY created_at, tenant_id, seq;"
	"DROP TABLE events;"
	"ALTER TABLE events_v4 RENAME TO events;"
	"CREATE UNIQUE INDEX events_seq ON events(tenant_id, seq);",

	/* 5: only outbound messages are looked up by the provider's id (status callbacks);
	 * indexing every inbound MessageSid too put one more random leaf page in each inbound
	 * webhook's commit (inbound_dedupe already answers "seen before?") */
	"DROP INDEX messages_provider;"
	"CREATE INDEX messages_provider ON messages(channel_id, provider_id)"
	" WHERE direction = 1 AND provider_id IS NOT NULL;",

	/* 6: the simulator's list of a whole channel reads its latest rows in order instead of
	 * sorting every row of the channel (found by unit.store.plans) */
	"CREATE INDEX sandbox_channel ON sandbox_messages(tenant_id, channel_id, id);",

	/* 7: a status finds its message by our outbox id, which rides with the request (the
	 * status callback URL's o=, or a reference the provider echoes), never by the provider's
	 * id. Provider ids are random, so this index put one random leaf page in every send's
	 * settle: ~4 KiB of WAL and a quarter of the writer's time per reply (B5) */
	"DROP INDEX messages_provider;",

	/* 8: the due walk goes channel by channel, so that one channel's backlog is stepped
	 * over with one seek instead of walked through: in (state, next_at) order, another
	 * tenant's due rows behind it waited until that backlog was nearly sent. The same one
	 * index entry per row; a new row goes at the end of its channel's range. */
	"DROP INDEX outbox_due;"
	"CREATE INDEX outbox_due ON outbox(state, channel_id, next_at) WHERE state < 4;",

	/* 9: the dedupe index of client ids, led by the id: ids that sort by time (the
	 * console's, UUIDv7s) then all go in at the index's right edge, whichever the tenant,
	 * instead of at the end of each tenant's range in mid-tree, where each leaf that fills
	 * is split with its siblings and left half empty. The same uniqueness, per tenant. */
	"DROP INDEX messages_client;"
	"CREATE UNIQUE INDEX messages_client ON messages(client_id, tenant_id)"
	" WHERE client_id IS NOT NULL;",
};

int store__migrate(sqlite3 *db)
{
	char *err = NULL;
	if (sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
			     " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
			 NULL, NULL, &err) != SQLITE_OK) {
		sb_log(SB_LOG_ERR, "msg=migrate_failed err=\"%s\"", err);
		sqlite3_free(err);
		return SB_EDB;
	}
	int have = 0;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version),0) FROM schema_migrations", -1, &s,
			       NULL) != SQLITE_OK)
		return SB_EDB;
	if (sqlite3_step(s) == SQLITE_ROW)
		have = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);

	int n = (int)(sizeof migrations / sizeof migrations[0]);
	if (have > n) {
		sb_log(SB_LOG_ERR, "msg=schema_newer_than_binary have=%d know=%d", have, n);
		return SB_EDB;
	}
	for (int v = have + 1; v <= n; v++) {
		char sql[128];
		snprintf(sql, sizeof sql,
			 "INSERT INTO schema_migrations(version, applied_at) VALUES (%d, %lld)", v,
			 (long long)sb_wall_ms());
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK ||
		    sqlite3_exec(db, migrations[v - 1], NULL, NULL, &err) != SQLITE_OK ||
		    sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, &err) != SQLITE_OK) {
			sb_log(SB_LOG_ERR, "msg=migrate_failed version=%d err=\"%s\"", v,
			       err ? err : "?");
			sqlite3_free(err);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return SB_EDB;
		}
		sb_log(SB_LOG_INFO, "msg=migrated version=%d", v);
	}
	return 0;
}
