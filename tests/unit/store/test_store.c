/* SPDX-License-Identifier: MIT
 * test_store.c: the store on a real sqlite database in a temp dir: migrations, group commit
 * with per-job savepoints and seq order, replayable jobs (no savepoint; the batch run again
 * when one fails part-way), tenant isolation of every keyed lookup, inbound
 * dedupe, monotonic status, and the outbox's crash recovery.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/store.h"
#include "store/store_internal.h"

struct fx {
	char dir[64];
	char path[128];
	struct sb_store *st;
	int64_t ta, tb, ca, conv_a;
};

static int run_tenant(struct sb_tx *tx, void *arg)
{
	int64_t *id = arg;
	return sb_tx_tenant_create(tx, "t", id);
}

struct seed {
	int64_t tenant, contact, conv;
};

static int run_seed(struct sb_tx *tx, void *arg)
{
	struct seed *s = arg;
	struct sb_buf b;
	sb_buf_init(&b, 0);
	struct sb_contact_in ci = { .name = "Ada", .phone = "+14155550123" };
	int rc = sb_tx_contact_create(tx, s->tenant, &ci, &s->contact, &b);
	sb_buf_reset(&b);
	if (!rc)
		rc = sb_tx_conv_create(tx, s->tenant, s->contact, 0, &s->conv, &b);
	sb_buf_free(&b);
	return rc;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/sb-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	assert_int_equal(sb_store_open(f->path, &f->st), 0);
	assert_int_equal(sb_store_run_sync(f->st, run_tenant, &f->ta), 0);
	assert_int_equal(sb_store_run_sync(f->st, run_tenant, &f->tb), 0);
	struct seed s = { .tenant = f->ta };
	assert_int_equal(sb_store_run_sync(f->st, run_seed, &s), 0);
	f->ca = s.contact;
	f->conv_a = s.conv;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sb_store_close(f->st);
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return 1;
	free(f);
	return 0;
}

static void test_schema(void **state)
{
	struct fx *f = *state;
	assert_true(sb_store_schema_version(f->st) >= 2);
	assert_int_equal(sb_store_integrity(f->st), 0);
}

/* ---- group commit ---- */

/* A test job: writes a note, or fails before or after writing; counts its runs and sets its
 * answer (replayable when asked, as the writer may run it twice). */
enum job_mode { JOB_OK, JOB_FAIL_AFTER_WRITE, JOB_FAIL_BEFORE_WRITE };

struct test_job {
	struct sb_wjob job;
	int64_t tenant, conv;
	enum job_mode mode;
	int runs, rc;
	bool done;
	struct sb_buf out;
};

static int test_job_run(struct sb_tx *tx, void *arg)
{
	struct test_job *j = arg;
	j->runs++;
	sb_buf_reset(&j->out); /* outputs set, not added to */
	if (j->mode == JOB_FAIL_BEFORE_WRITE)
		return SB_EINVAL;
	int rc = sb_tx_note_create(tx, j->tenant, j->conv, 0, "job note", NULL, &j->out);
	return !rc && j->mode == JOB_FAIL_AFTER_WRITE ? SB_EINVAL : rc;
}

static void test_job_done(void *arg, int rc)
{
	struct test_job *j = arg;
	j->rc = rc;
	j->done = true;
}

static void test_job_init(struct test_job *j, struct fx *f, enum job_mode mode, bool replayable)
{
	memset(j, 0, sizeof *j);
	j->tenant = f->ta;
	j->conv = f->conv_a;
	j->mode = mode;
	sb_buf_init(&j->out, 0);
	j->job = (struct sb_wjob){ .run = test_job_run, .done = test_job_done, .arg = j,
				   .replayable = replayable };
}

/* Drains completions until jobs[0..n) are all done (5 s at most). */
static void wait_jobs(struct fx *f, struct test_job *jobs, int n)
{
	for (int spins = 0; spins < 5000; spins++) {
		sb_store_drain(f->st);
		int done = 0;
		for (int i = 0; i < n; i++)
			done += jobs[i].done;
		if (done == n)
			return;
		usleep(1000);
	}
	fail_msg("jobs not done within 5 s");
}

static int64_t seen[1000];
static int nseen, commits_multi;

static void on_event(void *ud, const struct sb_event *ev)
{
	(void)ud;
	if (nseen < 1000)
		seen[nseen++] = ev->seq;
	assert_memory_equal(ev->frame, "{\"type\":\"event\"", 15);
}

static void on_commit(void *ud, uint64_t us, int jobs)
{
	(void)ud;
	(void)us;
	if (jobs > 1)
		commits_multi++;
}

static void test_group_commit(void **state)
{
	struct fx *f = *state;
	struct sb_store_hooks hooks = { .on_event = on_event, .on_commit = on_commit };
	nseen = commits_multi = 0;
	assert_int_equal(sb_store_start(f->st, &hooks), 0);
	int64_t seq0 = sb_store_tenant_seq(f->st, f->ta);
	enum { N = 300 };
	struct test_job *jobs = calloc(N, sizeof *jobs);
	for (int i = 0; i < N; i++) {
		/* not replayable: each in its savepoint, which a failure after writing rolls back */
		test_job_init(&jobs[i], f, i % 10 == 5 ? JOB_FAIL_AFTER_WRITE : JOB_OK, false);
		sb_store_submit(f->st, &jobs[i].job);
	}
	wait_jobs(f, jobs, N);
	int ok = 0;
	for (int i = 0; i < N; i++) {
		assert_true(jobs[i].done);
		assert_int_equal(jobs[i].runs, 1);
		if (jobs[i].mode != JOB_OK)
			assert_int_equal(jobs[i].rc, SB_EINVAL);
		else {
			assert_int_equal(jobs[i].rc, 0);
			ok++;
		}
		sb_buf_free(&jobs[i].out);
	}
	free(jobs);
	/* events only for the jobs that kept their changes, in strict seq order, no gaps */
	assert_int_equal(nseen, ok);
	for (int i = 0; i < nseen; i++)
		assert_int_equal(seen[i], seq0 + 1 + i);
	assert_int_equal(sb_store_tenant_seq(f->st, f->ta), seq0 + ok);
	/* many jobs shared a commit */
	assert_true(commits_multi > 0);
	sb_store_stop(f->st);
	/* the failed jobs' notes are not there */
	struct sb_buf b;
	sb_buf_init(&b, 0);
	assert_int_equal(sb_store_messages_list(f->st, f->ta, f->conv_a, (struct sb_str){ 0 }, 200, &b), 0);
	int count = 0;
	for (const char *p = sb_buf_cstr(&b); (p = strstr(p, "\"kind\":\"note\"")); p++)
		count++;
	assert_int_equal(count, 200); /* limit: more exist */
	assert_non_null(strstr(sb_buf_cstr(&b), "\"next_cursor\":\""));
	sb_buf_free(&b);
}

/* ---- replayable jobs: no savepoint of their own, the batch run again on a part-way failure ---- */

/* A job that holds the writer until released, so that everything submitted meanwhile is
 * taken as one batch afterwards. */
static volatile int gate_in, gate_open;

static int gate_run(struct sb_tx *tx, void *arg)
{
	(void)tx;
	(void)arg;
	__atomic_store_n(&gate_in, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&gate_open, __ATOMIC_ACQUIRE))
		usleep(200);
	return 0;
}

static void gate_done(void *arg, int rc)
{
	(void)arg;
	(void)rc;
}

/* Runs jobs[0..n) as one batch; returns the replays it caused. */
static uint64_t run_one_batch(struct fx *f, struct test_job *jobs, int n)
{
	struct sb_wjob gate = { .run = gate_run, .done = gate_done };
	gate_in = gate_open = 0;
	uint64_t replays0 = sb_store_replays(f->st);
	sb_store_submit(f->st, &gate);
	while (!__atomic_load_n(&gate_in, __ATOMIC_ACQUIRE))
		usleep(200);
	for (int i = 0; i < n; i++)
		sb_store_submit(f->st, &jobs[i].job);
	__atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE);
	wait_jobs(f, jobs, n);
	return sb_store_replays(f->st) - replays0;
}

static int count_notes(struct fx *f, const char *body)
{
	struct sb_buf b;
	sb_buf_init(&b, 0);
	assert_int_equal(sb_store_messages_list(f->st, f->ta, f->conv_a, (struct sb_str){ 0 }, 200, &b), 0);
	char needle[64];
	snprintf(needle, sizeof needle, "\"body\":\"%s\"", body);
	int count = 0;
	for (const char *p = sb_buf_cstr(&b); (p = strstr(p, needle)); p++)
		count++;
	sb_buf_free(&b);
	return count;
}

static void test_replayable_jobs(void **state)
{
	struct fx *f = *state;
	struct sb_store_hooks hooks = { .on_event = on_event };
	nseen = 0;
	assert_int_equal(sb_store_start(f->st, &hooks), 0);
	int64_t seq0 = sb_store_tenant_seq(f->st, f->ta);
	enum { N = 40 };
	struct test_job *jobs = calloc(N, sizeof *jobs);

	/* 1. replayable jobs, some failing before they write: no replay, one run each */
	for (int i = 0; i < N; i++)
		test_job_init(&jobs[i], f, i % 7 == 3 ? JOB_FAIL_BEFORE_WRITE : JOB_OK, true);
	assert_int_equal(run_one_batch(f, jobs, N), 0);
	int ok1 = 0;
	for (int i = 0; i < N; i++) {
		assert_int_equal(jobs[i].runs, 1);
		assert_int_equal(jobs[i].rc, jobs[i].mode == JOB_OK ? 0 : SB_EINVAL);
		ok1 += jobs[i].mode == JOB_OK;
		sb_buf_free(&jobs[i].out);
	}
	assert_int_equal(count_notes(f, "job note"), ok1);

	/* 2. one fails after writing (job 20): the batch is rolled back and run again, each job
	 * in a savepoint; the jobs up to it ran twice, the rest once, and only its note is
	 * missing; every answer holds one note, not two */
	for (int i = 0; i < N; i++)
		test_job_init(&jobs[i], f, i == 20 ? JOB_FAIL_AFTER_WRITE : i == 5 ? JOB_FAIL_BEFORE_WRITE : JOB_OK,
			true);
	assert_int_equal(run_one_batch(f, jobs, N), 1);
	int ok2 = 0;
	for (int i = 0; i < N; i++) {
		assert_int_equal(jobs[i].runs, i <= 20 ? 2 : 1);
		assert_int_equal(jobs[i].rc, jobs[i].mode == JOB_OK ? 0 : SB_EINVAL);
		if (jobs[i].mode == JOB_OK) {
			ok2++;
			const char *o = sb_buf_cstr(&jobs[i].out);
			const char *a = strstr(o, "\"body\":\"job note\"");
			assert_non_null(a);
			assert_null(strstr(a + 1, "\"body\":\"job note\""));
		}
		sb_buf_free(&jobs[i].out);
	}
	assert_int_equal(count_notes(f, "job note"), ok1 + ok2);

	/* 3. a job that is not replayable (job 10) is never run twice: from it on, each job has
	 * its savepoint, so a later part-way failure (job 30) undoes that job alone */
	for (int i = 0; i < N; i++)
		test_job_init(&jobs[i], f, i == 30 ? JOB_FAIL_AFTER_WRITE : JOB_OK, i != 10);
	assert_int_equal(run_one_batch(f, jobs, N), 0);
	int ok3 = 0;
	for (int i = 0; i < N; i++) {
		assert_int_equal(jobs[i].runs, 1);
		assert_int_equal(jobs[i].rc, i == 30 ? SB_EINVAL : 0);
		ok3 += i != 30;
		sb_buf_free(&jobs[i].out);
	}
	assert_int_equal(count_notes(f, "job note"), ok1 + ok2 + ok3);

	/* events: one per kept note, in seq order, without gaps (the replay took its counters back) */
	assert_int_equal(nseen, ok1 + ok2 + ok3);
	for (int i = 0; i < nseen; i++)
		assert_int_equal(seen[i], seq0 + 1 + i);
	assert_int_equal(sb_store_tenant_seq(f->st, f->ta), seq0 + ok1 + ok2 + ok3);
	free(jobs);
	sb_store_stop(f->st);
	assert_int_equal(sb_store_integrity(f->st), 0);
}

/* ---- tenant isolation ---- */

static int run_note_b(struct sb_tx *tx, void *arg)
{
	struct fx *f = arg;
	struct sb_buf b;
	sb_buf_init(&b, 0);
	int rc = sb_tx_note_create(tx, f->tb, f->conv_a, 0, "x", NULL, &b);
	sb_buf_free(&b);
	return rc;
}

static int run_assign_b(struct sb_tx *tx, void *arg)
{
	struct fx *f = arg;
	struct sb_buf b;
	sb_buf_init(&b, 0);
	int rc = sb_tx_conv_set_status(tx, f->tb, f->conv_a, SB_CONV_CLOSED, 0, &b);
	sb_buf_free(&b);
	return rc;
}

static void test_isolation(void **state)
{
	struct fx *f = *state;
	struct sb_buf b;
	sb_buf_init(&b, 0);
	assert_int_equal(sb_store_conv_json(f->st, f->tb, 0, f->conv_a, &b), SB_ENOTFOUND);
	assert_int_equal(sb_store_contact_json(f->st, f->tb, f->ca, &b), SB_ENOTFOUND);
	assert_int_equal(sb_store_messages_list(f->st, f->tb, f->conv_a, (struct sb_str){ 0 }, 10, &b),
			 SB_ENOTFOUND);
	assert_int_equal(b.len, 0);
	struct sb_conv_filter flt = { .status = -1, .limit = 50 };
	assert_int_equal(sb_store_conv_list(f->st, f->tb, 0, &flt, &b), 0);
	assert_string_equal(sb_buf_cstr(&b), "{\"conversations\":[],\"next_cursor\":null}");
	sb_buf_reset(&b);
	assert_int_equal(sb_store_contacts_search(f->st, f->tb, SB_STR("Ada"), 10, (struct sb_str){ 0 }, &b), 0);
	assert_null(strstr(sb_buf_cstr(&b), "Ada"));
	sb_buf_free(&b);
	assert_int_equal(sb_store_run_sync(f->st, run_note_b, f), SB_ENOTFOUND);
	assert_int_equal(sb_store_run_sync(f->st, run_assign_b, f), SB_ENOTFOUND);
	assert_int_equal(sb_store_tenant_seq(f->st, f->tb), 0);
}

/* ---- inbound dedupe and status ---- */

struct chan_seed {
	int64_t tenant, channel, msg;
	int rc;
};

static int run_channel(struct sb_tx *tx, void *arg)
{
	struct chan_seed *c = arg;
	struct sb_channel_row row = { .config_len = 1 };
	snprintf(row.kind, sizeof row.kind, "sms");
	snprintf(row.name, sizeof row.name, "main");
	snprintf(row.sender, sizeof row.sender, "+15005550006");
	snprintf(row.key, sizeof row.key, "key-%lld", (long long)c->tenant);
	return sb_tx_channel_create(tx, c->tenant, &row, &c->channel);
}

static int run_inbound(struct sb_tx *tx, void *arg)
{
	struct chan_seed *c = arg;
	struct sb_inbound_msg m = { .channel = c->channel, .kind = "phone", .provider_id = "SM1",
				    .from = "+14155550999", .to = "+15005550006", .body = "hi",
				    .unified = true };
	c->rc = sb_tx_inbound_message(tx, c->tenant, &m, &c->msg);
	return c->rc < 0 ? c->rc : 0;
}

struct send_seed {
	int64_t tenant, channel, conv, msg;
	const char *status;
	int rc;
};

static int run_send(struct sb_tx *tx, void *arg)
{
	struct send_seed *s = arg;
	struct sb_buf b;
	sb_buf_init(&b, 0);
	struct sb_send_in in = { .conv = s->conv, .channel = s->channel, .body = "hello",
				 .client_id = "cid-1", .segments = 1 };
	int rc = sb_tx_message_send(tx, s->tenant, &in, &s->msg, NULL, &b);
	sb_buf_free(&b);
	return rc < 0 ? rc : 0;
}

static int run_mark(struct sb_tx *tx, void *arg)
{
	struct send_seed *s = arg;
	(void)s;
	return sb_tx_outbox_mark_sending(tx, s->tenant, 1);
}

static int run_recover(struct sb_tx *tx, void *arg)
{
	(void)arg;
	return sb_tx_outbox_recover(tx, sb_tx_now(tx));
}

static int run_status(struct sb_tx *tx, void *arg)
{
	struct send_seed *s = arg;
	return sb_tx_status_update(tx, s->tenant, s->channel, "SMout1", 1, s->status, NULL, NULL);
}

/* a status with the provider's id but no outbox id (s->msg: the outbox id to give, 0 none) */
static int run_status_by_sid(struct sb_tx *tx, void *arg)
{
	struct send_seed *s = arg;
	s->rc = sb_tx_status_update(tx, s->tenant, s->channel, s->status, s->msg, "read", NULL,
				    NULL);
	return 0;
}

static void due_count(void *ud, struct sb_outbox_row *row)
{
	int *n = ud;
	(*n)++;
	sb_outbox_row_free(row);
}

static void test_inbound_and_outbox(void **state)
{
	struct fx *f = *state;
	struct chan_seed c = { .tenant = f->ta };
	assert_int_equal(sb_store_run_sync(f->st, run_channel, &c), 0);
	assert_int_equal(sb_store_run_sync(f->st, run_inbound, &c), 0);
	assert_int_equal(c.rc, 0);
	int64_t seq = sb_store_tenant_seq(f->st, f->ta);
	assert_int_equal(sb_store_run_sync(f->st, run_inbound, &c), 0);
	assert_int_equal(c.rc, 1); /* a duplicate: nothing written */
	assert_int_equal(sb_store_tenant_seq(f->st, f->ta), seq);

	struct send_seed s = { .tenant = f->ta, .channel = c.channel, .conv = f->conv_a };
	assert_int_equal(sb_store_run_sync(f->st, run_send, &s), 0);
	int n = 0;
	sb_store_outbox_due(f->st, sb_wall_ms() + 1, 10, due_count, &n);
	assert_int_equal(n, 1);
	/* a crash while SENDING: recovered as RECONCILE, due again but never as a fresh send */
	assert_int_equal(sb_store_run_sync(f->st, run_mark, &s), 0);
	assert_int_equal(sb_store_run_sync(f->st, run_mark, &s), SB_ECONFLICT);
	assert_int_equal(sb_store_run_sync(f->st, run_recover, &s), 0);
	assert_int_equal(sb_store_run_sync(f->st, run_mark, &s), SB_ECONFLICT);
	/* statuses only move up: delivered, then a late "sent" changes nothing */
	s.status = "delivered";
	assert_int_equal(sb_store_run_sync(f->st, run_status, &s), 0);
	s.status = "sent";
	assert_int_equal(sb_store_run_sync(f->st, run_status, &s), 0);
	struct sb_buf b;
	sb_buf_init(&b, 0);
	sb_store_messages_list(f->st, f->ta, f->conv_a, (struct sb_str){ 0 }, 1, &b);
	assert_non_null(strstr(sb_buf_cstr(&b), "\"status\":\"delivered\""));
	sb_buf_free(&b);
	/* never found by the provider's id alone (no index on it: statuses carry our outbox
	 * id), not even the message's own; another channel's outbox id finds nothing either */
	int64_t msg_id = s.msg;
	s.msg = 0;
	s.status = "SMout1";
	assert_int_equal(sb_store_run_sync(f->st, run_status_by_sid, &s), 0);
	assert_int_equal(s.rc, SB_ENOTFOUND);
	s.msg = 1;
	s.channel = c.channel + 1000;
	assert_int_equal(sb_store_run_sync(f->st, run_status_by_sid, &s), 0);
	assert_int_equal(s.rc, SB_ENOTFOUND);
	sb_buf_init(&b, 0);
	sb_store_messages_list(f->st, f->ta, f->conv_a, (struct sb_str){ 0 }, 1, &b);
	assert_non_null(strstr(sb_buf_cstr(&b), "\"status\":\"delivered\""));
	sb_buf_free(&b);
	s.channel = c.channel;
	assert_int_equal(sb_store_run_sync(f->st, run_status_by_sid, &s), 0);
	assert_int_equal(s.rc, 0);
	s.msg = msg_id;
	sb_buf_init(&b, 0);
	sb_store_messages_list(f->st, f->ta, f->conv_a, (struct sb_str){ 0 }, 1, &b);
	assert_non_null(strstr(sb_buf_cstr(&b), "\"status\":\"read\""));
	sb_buf_free(&b);
	/* the status callback settled the outbox row */
	n = 0;
	sb_store_outbox_due(f->st, sb_wall_ms() + 1000000, 10, due_count, &n);
	assert_int_equal(n, 0);
	assert_int_equal(sb_status_rank("read"), 6);
	assert_int_equal(sb_status_rank("bogus"), -1);
}

/* ---- the dispatcher's walk: state by state, channel by channel ---- */

struct walk_fx {
	int64_t tenant, conv, ch[3];
	int64_t ids[3][2];  /* each channel's two sends */
	int64_t later;      /* a retry of ch[1] due in the future */
};

static int run_walk_seed(struct sb_tx *tx, void *arg)
{
	struct walk_fx *w = arg;
	for (int c = 0; c < 3; c++) {
		struct sb_channel_row row = { .config_len = 1 };
		snprintf(row.kind, sizeof row.kind, "sms");
		snprintf(row.name, sizeof row.name, "walk %d", c);
		snprintf(row.sender, sizeof row.sender, "+1500555000%d", c);
		snprintf(row.key, sizeof row.key, "walk-%d", c);
		int rc = sb_tx_channel_create(tx, w->tenant, &row, &w->ch[c]);
		if (rc)
			return rc;
	}
	/* sends in the order ch2, ch0, ch1, ch2, ch0, ch1: id order is not channel order */
	for (int i = 0; i < 6; i++) {
		int c = (i + 2) % 3;
		char cid[32];
		snprintf(cid, sizeof cid, "walk-%d", i);
		struct sb_send_in in = { .conv = w->conv, .channel = w->ch[c], .body = "w",
					 .client_id = cid, .segments = 1 };
		struct sb_buf b;
		sb_buf_init(&b, 0);
		int64_t msg;
		int rc = sb_tx_message_send(tx, w->tenant, &in, &msg, &w->ids[c][i / 3], &b);
		sb_buf_free(&b);
		if (rc < 0)
			return rc;
	}
	/* one more on ch1, waiting as a retry an hour from now */
	struct sb_send_in in = { .conv = w->conv, .channel = w->ch[1], .body = "later",
				 .client_id = "walk-later", .segments = 1 };
	struct sb_buf b;
	sb_buf_init(&b, 0);
	int64_t msg;
	int rc = sb_tx_message_send(tx, w->tenant, &in, &msg, &w->later, &b);
	sb_buf_free(&b);
	if (rc < 0)
		return rc;
	char sql[160];
	snprintf(sql, sizeof sql, "UPDATE outbox SET state = 2, next_at = %lld WHERE id = %lld",
		 (long long)(tx->now + 3600 * 1000), (long long)w->later);
	return sqlite3_exec(tx->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : SB_EDB;
}

struct walk_log {
	const struct walk_fx *w;
	int64_t skip_channel; /* want answers -2 for this channel's rows */
	int stop_after;       /* want answers -1 once this many were taken (0: never) */
	int64_t seen[16];
	int n_seen, taken;
	int64_t want_id; /* the row want was last asked about, and its state */
	int want_state;
};

static int walk_want(void *ud, int64_t tenant, int64_t channel, int64_t id, int state)
{
	struct walk_log *l = ud;
	assert_int_equal(tenant, l->w->tenant);
	l->want_id = id;
	l->want_state = state;
	if (l->n_seen < 16)
		l->seen[l->n_seen++] = id;
	if (channel == l->skip_channel)
		return -2;
	if (l->stop_after && l->taken == l->stop_after)
		return -1;
	l->taken++;
	return 1;
}

static void walk_row(void *ud, struct sb_outbox_row *row)
{
	struct walk_log *l = ud;
	/* want was told the state of the row fn now gets */
	assert_int_equal(row->id, l->want_id);
	assert_int_equal(row->state, l->want_state);
	sb_outbox_row_free(row);
}

static void test_due_walk(void **state)
{
	struct fx *f = *state;
	struct walk_fx w = { .tenant = f->ta, .conv = f->conv_a };
	assert_int_equal(sb_store_run_sync(f->st, run_walk_seed, &w), 0);
	int64_t now = sb_wall_ms() + 1, next = -1, cur;

	/* everything due, from the first channel: channel by channel, each channel's oldest
	 * first; the retry an hour away is passed over and is the next due time */
	struct walk_log l = { .w = &w };
	assert_int_equal(sb_store_outbox_due_filtered(f->st, now, 100, true, 0, (cur = 0, &cur), walk_want,
						      walk_row, &l, &next), 6);
	int64_t want_all[] = { w.ids[0][0], w.ids[0][1], w.ids[1][0], w.ids[1][1],
			       w.ids[2][0], w.ids[2][1] };
	assert_int_equal(l.n_seen, 6);
	assert_memory_equal(l.seen, want_all, sizeof want_all);
	assert_true(next > now + 3500 * 1000 && next <= now + 3600 * 1000);
	assert_int_equal(cur, 0); /* it went round */

	/* a channel that takes nothing is stepped over after its first row */
	l = (struct walk_log){ .w = &w, .skip_channel = w.ch[0] };
	assert_int_equal(sb_store_outbox_due_filtered(f->st, now, 100, true, 0, (cur = 0, &cur), walk_want,
						      walk_row, &l, &next), 4);
	int64_t want_skip[] = { w.ids[0][0], w.ids[1][0], w.ids[1][1], w.ids[2][0], w.ids[2][1] };
	assert_int_equal(l.n_seen, 5);
	assert_memory_equal(l.seen, want_skip, sizeof want_skip);
	assert_int_equal(next, now); /* it left due rows */

	/* after a walk cut in ch[1], the next starts with ch[2], then ch[0], then ch[1] */
	l = (struct walk_log){ .w = &w };
	assert_int_equal(sb_store_outbox_due_filtered(f->st, now, 100, true, 0, (cur = w.ch[1], &cur), walk_want,
						      walk_row, &l, &next), 6);
	int64_t want_rot[] = { w.ids[2][0], w.ids[2][1], w.ids[0][0], w.ids[0][1], w.ids[1][0],
			       w.ids[1][1] };
	assert_memory_equal(l.seen, want_rot, sizeof want_rot);

	/* two channels a walk: ch[1]'s retry (not due) and ch[0]'s sends; the next walk goes on
	 * after ch[0] (the retry again, then ch[1]'s sends), the one after that after ch[1] */
	int64_t want_part[3][2] = { { w.ids[0][0], w.ids[0][1] }, { w.ids[1][0], w.ids[1][1] },
				    { w.ids[2][0], w.ids[2][1] } };
	int64_t resume[3] = { w.ch[0], w.ch[1], w.ch[2] };
	cur = 0;
	for (int k = 0; k < 3; k++) {
		l = (struct walk_log){ .w = &w };
		assert_int_equal(sb_store_outbox_due_filtered(f->st, now, 100, true, 2, &cur,
							      walk_want, walk_row, &l, &next), 2);
		assert_int_equal(l.n_seen, 2);
		assert_memory_equal(l.seen, want_part[k], sizeof want_part[k]);
		assert_int_equal(cur, resume[k]);
		assert_int_equal(next, now);
	}

	/* -1 ends the walk where it is, with due rows left */
	l = (struct walk_log){ .w = &w, .stop_after = 3 };
	assert_int_equal(sb_store_outbox_due_filtered(f->st, now, 100, true, 0, (cur = 0, &cur), walk_want,
						      walk_row, &l, &next), 3);
	assert_int_equal(l.n_seen, 4);
	assert_int_equal(next, now);

	/* retries only: the one retry is not due yet; first sends are stored, so one is due */
	l = (struct walk_log){ .w = &w };
	assert_int_equal(sb_store_outbox_due_filtered(f->st, now, 100, false, 0, (cur = 0, &cur), walk_want,
						      walk_row, &l, &next), 0);
	assert_int_equal(l.n_seen, 0);
	assert_int_equal(next, now);
}

/* ---- a status of an attempt that an agent's retry replaced changes nothing ---- */

struct replaced {
	int64_t tenant, channel, conv, msg, first, second;
	const char *status;
	int64_t outbox;
	int rc;
};

static int run_replaced_send(struct sb_tx *tx, void *arg)
{
	struct replaced *x = arg;
	struct sb_send_in in = { .conv = x->conv, .channel = x->channel, .body = "again",
				 .client_id = "cid-replaced", .segments = 1 };
	struct sb_buf b;
	sb_buf_init(&b, 0);
	int rc = sb_tx_message_send(tx, x->tenant, &in, &x->msg, &x->first, &b);
	sb_buf_free(&b);
	return rc < 0 ? rc : 0;
}

static int run_replaced_status(struct sb_tx *tx, void *arg)
{
	struct replaced *x = arg;
	x->rc = sb_tx_status_update(tx, x->tenant, x->channel, NULL, x->outbox, x->status, NULL,
				    NULL);
	return 0;
}

static int run_replaced_retry(struct sb_tx *tx, void *arg)
{
	struct replaced *x = arg;
	struct sb_buf b;
	sb_buf_init(&b, 0);
	int rc = sb_tx_message_retry(tx, x->tenant, x->msg, &b);
	sb_buf_free(&b);
	return rc;
}

static void newest_due(void *ud, struct sb_outbox_row *row)
{
	int64_t *id = ud;
	if (row->id > *id)
		*id = row->id;
	sb_outbox_row_free(row);
}

static const char *replaced_status(struct fx *f, struct replaced *x)
{
	static char st[32];
	struct sb_buf b;
	sb_buf_init(&b, 0);
	sb_store_messages_list(f->st, x->tenant, x->conv, (struct sb_str){ 0 }, 1, &b);
	const char *p = strstr(sb_buf_cstr(&b), "\"status\":\"");
	assert_non_null(p);
	p += 10;
	snprintf(st, sizeof st, "%.*s", (int)strcspn(p, "\""), p);
	sb_buf_free(&b);
	return st;
}

static void test_status_of_replaced_attempt(void **state)
{
	struct fx *f = *state;
	struct chan_seed c = { .tenant = f->ta };
	assert_int_equal(sb_store_run_sync(f->st, run_channel, &c), 0);
	struct replaced x = { .tenant = f->ta, .channel = c.channel, .conv = f->conv_a };
	assert_int_equal(sb_store_run_sync(f->st, run_replaced_send, &x), 0);
	assert_true(x.first > 0);
	x.outbox = x.first;
	x.status = "undelivered";
	assert_int_equal(sb_store_run_sync(f->st, run_replaced_status, &x), 0);
	assert_int_equal(x.rc, 0);
	assert_string_equal(replaced_status(f, &x), "undelivered");
	/* the agent retries: a new outbox row, the message pending again */
	assert_int_equal(sb_store_run_sync(f->st, run_replaced_retry, &x), 0);
	sb_store_outbox_due(f->st, sb_wall_ms() + 1, 10, newest_due, &x.second);
	assert_true(x.second > x.first);
	assert_string_equal(replaced_status(f, &x), "pending");
	/* a late status of the first attempt finds nothing */
	x.status = "delivered";
	assert_int_equal(sb_store_run_sync(f->st, run_replaced_status, &x), 0);
	assert_int_equal(x.rc, SB_ENOTFOUND);
	assert_string_equal(replaced_status(f, &x), "pending");
	/* the new attempt's does */
	x.outbox = x.second;
	x.status = "sent";
	assert_int_equal(sb_store_run_sync(f->st, run_replaced_status, &x), 0);
	assert_int_equal(x.rc, 0);
	assert_string_equal(replaced_status(f, &x), "sent");
}

/* ---- client ids that sort by time: one commit's new entries share the index's last page ----
 * Three tenants send in turn, with ids of a millisecond clock and a counter (as the console
 * makes them). Led by the tenant, as before migration 9, each tenant's new entries went in
 * at the end of its own range, a page of its own in mid-tree: a commit of replies from
 * several tenants wrote that many index pages. Led by the id, they all go on the index's
 * last page. Counted here: the pages 20 consecutive commits of 30 replies (10 a tenant)
 * write, with the index led by the id and, on a copy of the same rows, led by the tenant. */

struct cid_fx {
	int64_t tenant[3], channel[3], conv[3];
	int from, n;  /* the sends this job makes: ids from..from+n-1 */
	bool by_tenant; /* first rebuild the index led by the tenant */
};

static int run_cid_sends(struct sb_tx *tx, void *arg)
{
	struct cid_fx *x = arg;
	if (x->by_tenant &&
	    sqlite3_exec(tx->db, "DROP INDEX messages_client; CREATE UNIQUE INDEX messages_client "
				 "ON messages(tenant_id, client_id) WHERE client_id IS NOT NULL",
			 NULL, NULL, NULL) != SQLITE_OK)
		return SB_EDB;
	for (int i = x->from; i < x->from + x->n; i++) {
		int t = i % 3;
		char cid[40];
		snprintf(cid, sizeof cid, "%012llx%020d", 0x1a24a21fbb2ull + (unsigned long long)i / 7, i);
		struct sb_send_in in = { .conv = x->conv[t], .channel = x->channel[t], .body = "c",
					 .client_id = cid, .segments = 1 };
		struct sb_buf b;
		sb_buf_init(&b, 0);
		int64_t msg;
		int rc = sb_tx_message_send(tx, x->tenant[t], &in, &msg, NULL, &b);
		sb_buf_free(&b);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Pages the writer connection wrote (to the WAL) in COMMITS consecutive commits of 30
 * replies each: a steady state, not one commit, which can fall either side of a leaf's
 * split (an index fed in ascending order is rebalanced with its siblings whenever its
 * right-edge leaf fills). */
#define COMMITS 20
static int commit_pages(struct fx *f, struct cid_fx *x)
{
	int cur = 0, hi = 0, sum = 0;
	sqlite3 *db = f->st->wdb;
	for (int k = 0; k < COMMITS; k++) {
		x->from = 1800 + 30 * k;
		x->n = 30;
		sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_WRITE, &cur, &hi, 1);
		assert_int_equal(sb_store_run_sync(f->st, run_cid_sends, x), 0);
		sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_WRITE, &cur, &hi, 0);
		sum += cur;
	}
	return sum;
}

static void seed_cid(struct fx *f, struct cid_fx *x)
{
	x->tenant[0] = f->ta;
	x->tenant[1] = f->tb;
	assert_int_equal(sb_store_run_sync(f->st, run_tenant, &x->tenant[2]), 0);
	x->conv[0] = f->conv_a; /* setup made it */
	for (int t = 0; t < 3; t++) {
		struct seed s = { .tenant = x->tenant[t] };
		if (t) {
			assert_int_equal(sb_store_run_sync(f->st, run_seed, &s), 0);
			x->conv[t] = s.conv;
		}
		struct chan_seed c = { .tenant = x->tenant[t] };
		assert_int_equal(sb_store_run_sync(f->st, run_channel, &c), 0);
		x->channel[t] = c.channel;
	}
	x->from = 0;
	x->n = 1800;
	assert_int_equal(sb_store_run_sync(f->st, run_cid_sends, x), 0);
}

static void test_client_ids_share_a_page(void **state)
{
	struct fx *f = *state;
	struct cid_fx x = { 0 };
	seed_cid(f, &x);
	int by_id = commit_pages(f, &x);
	/* the same rows and the same commit, on a second store (the same fixture) with the
	 * index led by the tenant */
	void *gs = NULL;
	assert_int_equal(setup(&gs), 0);
	struct cid_fx y = { .by_tenant = true };
	seed_cid(gs, &y);
	y.by_tenant = false;
	int by_tenant = commit_pages(gs, &y);
	assert_int_equal(teardown(&gs), 0);
	print_message("%d commits of three tenants' replies wrote %d pages, %d with the index led "
		      "by the tenant\n", COMMITS, by_id, by_tenant);
	if (by_id > by_tenant - COMMITS)
		fail_msg("%d commits of three tenants' replies wrote %d pages, %d with the index led by "
			 "the tenant", COMMITS, by_id, by_tenant);
}

/* ---- a status moves only up its ranks (sb_status_rank), for every pair of statuses, and
 * each change is one event ---- */

static const char *const all_statuses[] = { "pending", "accepted", "scheduled", "queued",
					    "sending", "sent", "delivered", "undelivered",
					    "failed", "canceled", "read", "bogus" };

struct pair_job {
	int64_t tenant, channel, conv, msg, outbox;
	const char *a, *b, *pid;
	int n;
};

static int run_pair(struct sb_tx *tx, void *arg)
{
	struct pair_job *p = arg;
	char cid[32];
	snprintf(cid, sizeof cid, "pair-%d", p->n);
	struct sb_send_in in = { .conv = p->conv, .channel = p->channel, .body = "x",
				 .client_id = cid, .segments = 1 };
	struct sb_buf b;
	sb_buf_init(&b, 0);
	int rc = sb_tx_message_send(tx, p->tenant, &in, &p->msg, &p->outbox, &b);
	sb_buf_free(&b);
	if (!rc)
		rc = sb_tx_status_update(tx, p->tenant, p->channel, p->pid, p->outbox, p->a, "30001",
					 "first");
	if (!rc)
		rc = sb_tx_status_update(tx, p->tenant, p->channel, NULL, p->outbox, p->b, NULL,
					 "second");
	return rc;
}

static void test_status_pairs(void **state)
{
	struct fx *f = *state;
	struct chan_seed c = { .tenant = f->ta };
	assert_int_equal(sb_store_run_sync(f->st, run_channel, &c), 0);
	size_t ns = sizeof all_statuses / sizeof all_statuses[0];
	int n = 0;
	for (size_t i = 0; i < ns; i++) {
		for (size_t k = 0; k < ns; k++, n++) {
			char pid[32];
			snprintf(pid, sizeof pid, "SMpair%d", n);
			struct pair_job p = { .tenant = f->ta, .channel = c.channel, .conv = f->conv_a,
					      .a = all_statuses[i], .b = all_statuses[k], .pid = pid,
					      .n = n };
			int64_t seq = sb_store_tenant_seq(f->st, f->ta);
			assert_int_equal(sb_store_run_sync(f->st, run_pair, &p), 0);
			/* what sb_status_rank's table says: up only, from "pending" */
			const char *want = "pending", *reason = NULL;
			if (sb_status_rank(p.a) > sb_status_rank(want)) {
				want = p.a;
				reason = "first";
			}
			bool second = sb_status_rank(p.b) > sb_status_rank(want);
			if (second) {
				want = p.b;
				reason = "second";
			}
			struct sb_buf b;
			sb_buf_init(&b, 0);
			assert_int_equal(sb_store_messages_list(f->st, f->ta, f->conv_a,
								(struct sb_str){ 0 }, 1, &b),
					 0);
			char exp[160];
			snprintf(exp, sizeof exp, "\"status\":\"%s\"", want);
			if (!strstr(sb_buf_cstr(&b), exp))
				fail_msg("%s then %s: want %s in %s", p.a, p.b, want, sb_buf_cstr(&b));
			snprintf(exp, sizeof exp, "\"provider_id\":\"%s\"", pid);
			assert_non_null(strstr(sb_buf_cstr(&b), exp));
			if (reason) {
				snprintf(exp, sizeof exp, "\"status_reason\":\"%s\"", reason);
				assert_non_null(strstr(sb_buf_cstr(&b), exp));
			} else {
				assert_non_null(strstr(sb_buf_cstr(&b), "\"status_reason\":null"));
			}
			sb_buf_free(&b);
			/* events: message.created, the first update (it always learns the id), and
			 * the second only when it moved the status */
			assert_int_equal(sb_store_tenant_seq(f->st, f->ta) - seq, 2 + second);
		}
	}
}

/* ---- a new message's event (and a send's answer) is the row as stored ---- */

static char created_frame[4096];

static void on_event_keep(void *ud, const struct sb_event *ev)
{
	(void)ud;
	if (strstr(ev->frame, "\"event\":\"message.created\""))
		snprintf(created_frame, sizeof created_frame, "%.*s", (int)ev->len, ev->frame);
}

struct new_msg_job {
	struct sb_wjob job;
	struct chan_seed *c;
	int64_t conv, agent; /* a send into conv when set, else an inbound message */
	struct sb_buf answer;
	bool done;
};

static int new_msg_job_run(struct sb_tx *tx, void *arg)
{
	struct new_msg_job *j = arg;
	if (j->conv) {
		struct sb_send_in in = { .conv = j->conv, .channel = j->c->channel, .agent = j->agent,
					 .body = "r\xc3\xa9ponse \"quoted\"\n\x01", .client_id = "cid-\xc3\xa9\"9",
					 .segments = 2 };
		sb_buf_reset(&j->answer);
		return sb_tx_message_send(tx, j->c->tenant, &in, &j->c->msg, NULL, &j->answer);
	}
	struct sb_inbound_msg m = { .channel = j->c->channel, .kind = "phone", .provider_id = "SM9",
				    .from = "+14155550998", .to = "+15005550006",
				    .body = "caf\xc3\xa9 \"quoted\"\n",
				    .media_json = "[{\"url\":\"https://x/y\",\"content_type\":\"image/png\"}]",
				    .unified = true };
	return sb_tx_inbound_message(tx, j->c->tenant, &m, &j->c->msg);
}

static void new_msg_job_done(void *arg, int rc)
{
	struct new_msg_job *j = arg;
	assert_int_equal(rc, 0);
	j->done = true;
}

static int run_agent(struct sb_tx *tx, void *arg)
{
	struct new_msg_job *j = arg;
	return sb_tx_agent_create(tx, j->c->tenant, "a@example.com", "A", 1, "x", NULL, &j->agent);
}

/* Submits job to the running writer and runs the loop's side (sb_store_drain: done
 * callbacks, events) until *done, for at most 5 s. */
static void submit_and_wait(struct fx *f, struct sb_wjob *job, const bool *done)
{
	sb_store_submit(f->st, job);
	for (int spins = 0; spins < 5000 && !*done; spins++) {
		sb_store_drain(f->st);
		usleep(1000);
	}
	assert_true(*done);
}

/* Runs the job through the writer (so that events are published) and checks the
 * message.created event's data against the row read back; returns the data's length. */
static size_t check_event_is_row(struct fx *f, struct new_msg_job *j)
{
	struct sb_store_hooks hooks = { .on_event = on_event_keep };
	created_frame[0] = '\0';
	assert_int_equal(sb_store_start(f->st, &hooks), 0);
	j->job = (struct sb_wjob){ .run = new_msg_job_run, .done = new_msg_job_done, .arg = j };
	submit_and_wait(f, &j->job, &j->done);
	sb_store_stop(f->st);
	/* the event's data, built from the values written, equals the row read back */
	const char *data = strstr(created_frame, ",\"data\":");
	assert_non_null(data);
	data += 8;
	struct sb_buf b;
	sb_buf_init(&b, 0);
	int64_t conv = 0, chan = 0;
	assert_int_equal(sb_store_message_conv(f->st, j->c->tenant, j->c->msg, &conv, &chan), 0);
	assert_int_equal(sb_store_messages_list(f->st, j->c->tenant, conv, (struct sb_str){ 0 }, 1, &b),
			 0);
	const char *row = strstr(sb_buf_cstr(&b), "[{");
	assert_non_null(row);
	row++;
	size_t n = strlen(data) - 1; /* the frame's closing brace */
	assert_true(strlen(row) > n);
	assert_memory_equal(row, data, n);
	assert_int_equal(row[n], ']');
	sb_buf_free(&b);
	return n;
}

static void test_inbound_event_is_the_row(void **state)
{
	struct fx *f = *state;
	struct chan_seed c = { .tenant = f->ta };
	assert_int_equal(sb_store_run_sync(f->st, run_channel, &c), 0);
	struct new_msg_job j = { .c = &c };
	sb_buf_init(&j.answer, 0);
	check_event_is_row(f, &j);
	sb_buf_free(&j.answer);
}

static void test_send_event_is_the_row(void **state)
{
	struct fx *f = *state;
	struct chan_seed c = { .tenant = f->ta };
	assert_int_equal(sb_store_run_sync(f->st, run_channel, &c), 0);
	struct new_msg_job j = { .c = &c, .conv = f->conv_a };
	sb_buf_init(&j.answer, 0);
	assert_int_equal(sb_store_run_sync(f->st, run_agent, &j), 0);
	size_t n = check_event_is_row(f, &j);
	/* the REST/socket answer is the same JSON as the event's */
	const char *data = strstr(created_frame, ",\"data\":") + 8;
	assert_int_equal(j.answer.len, n);
	assert_memory_equal(sb_buf_cstr(&j.answer), data, n);
	assert_non_null(strstr(data, "\"author_agent_id\":"));
	assert_null(strstr(data, "\"author_agent_id\":null"));
	/* the thread: its last message is the send, its channel the one sent on (it had none) */
	struct sb_buf b;
	sb_buf_init(&b, 0);
	assert_int_equal(sb_store_conv_json(f->st, f->ta, 0, f->conv_a, &b), 0);
	char want[96];
	snprintf(want, sizeof want, "\"channel_id\":%lld,", (long long)c.channel);
	assert_non_null(strstr(sb_buf_cstr(&b), want));
	snprintf(want, sizeof want, "\"last_message\":{\"id\":%lld,", (long long)c.msg);
	assert_non_null(strstr(sb_buf_cstr(&b), want));
	sb_buf_free(&b);
	sb_buf_free(&j.answer);
}

/* ---- a status change's event is the row as stored (made from values, or read back when an
 * old value is too long to keep) ---- */

static char updated_frame[4096];
static int updated_n;

static void on_event_updated(void *ud, const struct sb_event *ev)
{
	(void)ud;
	if (strstr(ev->frame, "\"event\":\"message.updated\"")) {
		snprintf(updated_frame, sizeof updated_frame, "%.*s", (int)ev->len, ev->frame);
		updated_n++;
	}
}

struct st_job {
	struct sb_wjob job;
	int64_t tenant, channel, msg, outbox;
	const char *pid, *status, *code, *reason;
	bool send, done;
	int rc;
};

static int st_job_run(struct sb_tx *tx, void *arg)
{
	struct st_job *j = arg;
	if (j->send) {
		/* before the send, msg holds the conversation to send into */
		struct sb_send_in in = { .conv = j->msg, .channel = j->channel, .body = "x",
					 .segments = 1 };
		struct sb_buf b;
		sb_buf_init(&b, 0);
		int rc = sb_tx_message_send(tx, j->tenant, &in, &j->msg, &j->outbox, &b);
		sb_buf_free(&b);
		return rc;
	}
	return sb_tx_status_update(tx, j->tenant, j->channel, j->pid, j->outbox, j->status, j->code,
				   j->reason);
}

static void st_job_done(void *arg, int rc)
{
	struct st_job *j = arg;
	j->rc = rc;
	j->done = true;
}

static void st_run(struct fx *f, struct st_job *j)
{
	j->done = false;
	j->job = (struct sb_wjob){ .run = st_job_run, .done = st_job_done, .arg = j };
	submit_and_wait(f, &j->job, &j->done);
	assert_int_equal(j->rc, 0);
}

/* Every "key":value of the last message.updated event's data appears in the row's JSON. */
static void check_updated_is_row(struct fx *f, int64_t tenant, int64_t conv, int64_t msg)
{
	const char *data = strstr(updated_frame, ",\"data\":");
	assert_non_null(data);
	data += 8;
	struct sb_buf b;
	sb_buf_init(&b, 0);
	assert_int_equal(sb_store_messages_list(f->st, tenant, conv, (struct sb_str){ 0 }, 10, &b),
			 0);
	char id[48];
	snprintf(id, sizeof id, "{\"id\":%lld,", (long long)msg);
	const char *row = strstr(sb_buf_cstr(&b), id);
	assert_non_null(row);
	const char *keys[] = { "\"id\":", ",\"conversation_id\":", ",\"status\":",
			       ",\"status_code\":", ",\"status_reason\":", ",\"provider_id\":" };
	size_t nk = sizeof keys / sizeof keys[0];
	for (size_t k = 0; k < nk; k++) {
		const char *a = strstr(data, keys[k]);
		assert_non_null(a);
		/* the last value (a provider id here) ends at the data's closing brace */
		const char *e = k + 1 < nk ? strstr(a, keys[k + 1]) : strchr(a, '}');
		assert_non_null(e);
		char pair[1200];
		const char *from = k == 0 ? a : a + 1; /* past the separating comma */
		snprintf(pair, sizeof pair, "%.*s", (int)(e - from), from);
		if (!strstr(row, pair))
			fail_msg("event has %s, the row %s", pair, row);
	}
	sb_buf_free(&b);
}

/* A new message given status "sent", code "c1" and reason; then only its provider id is new
 * (with a lower status and another code and reason): one event, equal to the row. */
static void id_only_change(struct fx *f, int64_t channel, const char *pid, const char *reason)
{
	struct st_job m = { .tenant = f->ta, .channel = channel, .msg = f->conv_a, .send = true };
	st_run(f, &m);
	m.send = false;
	m.status = "sent";
	m.code = "c1";
	m.reason = reason;
	st_run(f, &m);
	check_updated_is_row(f, f->ta, f->conv_a, m.msg);
	int before = updated_n;
	m.pid = pid;
	m.status = "queued";
	m.code = "c2";
	m.reason = "r2";
	st_run(f, &m);
	assert_int_equal(updated_n - before, 1);
	check_updated_is_row(f, f->ta, f->conv_a, m.msg);
}

static void test_status_event_is_the_row(void **state)
{
	struct fx *f = *state;
	struct chan_seed c = { .tenant = f->ta };
	assert_int_equal(sb_store_run_sync(f->st, run_channel, &c), 0);
	char long_reason[700];
	memset(long_reason, 'r', sizeof long_reason - 1);
	memcpy(long_reason, "caf\xc3\xa9 \"q\" ", 10);
	long_reason[sizeof long_reason - 1] = '\0';
	struct sb_store_hooks hooks = { .on_event = on_event_updated };
	assert_int_equal(sb_store_start(f->st, &hooks), 0);
	struct st_job m = { .tenant = f->ta, .channel = c.channel, .msg = f->conv_a, .send = true };
	st_run(f, &m);
	m.send = false;
	struct {
		const char *pid, *status, *code, *reason;
		bool event;
	} steps[] = {
		{ "SMev1", "queued", NULL, NULL, true },        /* status up, id learnt */
		{ NULL, "sent", "30001", "first \"one\"", true }, /* code and reason */
		{ "SMother", "queued", "1", "x", false },        /* neither moves: no event */
		/* a long new reason; the id stays the first one learnt */
		{ "SMother2", "undelivered", "30003", long_reason, true },
		{ NULL, "read", NULL, NULL, true }, /* the old reason is too long: read back */
	};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		int before = updated_n;
		m.pid = steps[i].pid;
		m.status = steps[i].status;
		m.code = steps[i].code;
		m.reason = steps[i].reason;
		st_run(f, &m);
		assert_int_equal(updated_n - before, steps[i].event ? 1 : 0);
		check_updated_is_row(f, f->ta, f->conv_a, m.msg);
	}
	assert_non_null(strstr(updated_frame, "\"status\":\"read\""));
	assert_non_null(strstr(updated_frame, "\"provider_id\":\"SMev1\""));
	/* only the provider's id is new: the old status, code and reason are carried over, from
	 * the values read, or read back when the old reason is too long to keep */
	id_only_change(f, c.channel, "SMev2", "r1");
	assert_non_null(strstr(updated_frame, "\"status\":\"sent\",\"status_code\":\"c1\","
					     "\"status_reason\":\"r1\",\"provider_id\":\"SMev2\""));
	id_only_change(f, c.channel, "SMev3", long_reason);
	assert_non_null(strstr(updated_frame, "rrrrrrrrrr\",\"provider_id\":\"SMev3\""));
	sb_store_stop(f->st);
}

/* ---- the configuration generation crosses processes (here: two handles) ---- */

static int run_settings(struct sb_tx *tx, void *arg)
{
	struct fx *f = arg;
	return sb_tx_tenant_settings_set(tx, f->ta, "{\"auto_reply\":\"hi\"}");
}

static void test_config_gen(void **state)
{
	struct fx *f = *state;
	struct sb_store *other;
	assert_int_equal(sb_store_open(f->path, &other), 0);
	uint64_t g0 = sb_store_config_gen(other);
	/* an ordinary write leaves it */
	struct seed s = { .tenant = f->tb };
	assert_int_equal(sb_store_run_sync(f->st, run_seed, &s), 0);
	assert_true(sb_store_config_gen(other) == g0);
	/* a settings change moves it for every handle on the database */
	assert_int_equal(sb_store_run_sync(f->st, run_settings, f), 0);
	assert_true(sb_store_config_gen(other) != g0);
	assert_true(sb_store_config_gen(f->st) == sb_store_config_gen(other));
	/* and so does a channel */
	uint64_t g1 = sb_store_config_gen(other);
	struct chan_seed c = { .tenant = f->ta };
	assert_int_equal(sb_store_run_sync(f->st, run_channel, &c), 0);
	assert_true(sb_store_config_gen(other) != g1);
	sb_store_close(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replayable_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_isolation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inbound_and_outbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inbound_event_is_the_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_event_is_the_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_pairs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_of_replaced_attempt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_ids_share_a_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_event_is_the_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_gen, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
