/* SPDX-License-Identifier: MIT
 * outbox.c: the dispatcher. A due outbox row is first marked SENDING in a commit, and only
 * then does its request leave (through httpc), so a crash at any point leaves either a row
 * that was never sent (PENDING/RETRY: sent later) or one that may have been (SENDING:
 * reconciled at the next start, never resent blindly). The bridge classifies each answer:
 * ACCEPTED settles it; RETRY backs off with full jitter (honouring Retry-After) until the
 * maximum age; PERMANENT fails the message with the provider's code and a plain reason;
 * AMBIGUOUS waits for the status callback (our outbox id rides its URL) or a lookup.
 * Runs on the service thread; per-channel concurrency is capped by channel.max_inflight.
 *
 * Batches: the rows one scan picks are marked SENDING in one write job, and their requests
 * leave only once that job committed; the answers that arrive within one loop pass are
 * settled in one write job. A row whose mark finds it no longer due (another worker took
 * it, a retry closed it) is dropped alone; a job that fails marks or settles none of its
 * rows (its savepoint is rolled back): marks are picked up again by a later scan, settles
 * are redone one job per row, so one bad row cannot cost the others their outcome.
 */
#include "channels.h"
#include "httpc.h"
#include "idset.h"

#include <stdio.h>
#include <stdlib.h>

#define SCAN_LIMIT 512
#define BACKOFF_BASE_MS 1000
#define BACKOFF_CAP_MS 60000

#define FULL_SCAN_MS 100
#define REFILL_MS 5         /* a backlog walk, at most this often, when a queue ran dry */
#define FRESH_MAX 65536     /* rows queued in memory, all channels together */
#define PREFETCH_CHAN 1024  /* a full walk queues a channel's stored rows up to this many */
#define PREFETCH_WALK 4096  /* rows one full walk may take or queue */
#define WALK_SEEN_MAX 16384 /* rows one full walk looks at (behind a backlog: a few ms) */
#define WALK_CHANNELS 256   /* channels one walk looks at (an outage leaves retries on all) */
#define FRESH_BUCKETS 256

/* Rows this process just committed PENDING, per channel, in id order (commit order), so the
 * dispatcher sends them without reading them back. The store stays the truth: a row that
 * does not fit here, or that another process committed, is found by the store's scan, which
 * skips the rows queued here. Lifetime: the process (a queue is kept once made). */
struct fresh_q {
	struct fresh_q *next;
	int64_t tenant, channel;
	struct sb_outbox_row **ring;
	size_t head, n, cap;
	bool more; /* the last full walk left rows of this channel in the store */
	size_t n_before; /* rows queued when the running full walk began */
};

struct send_op;

/* A list of ops, grown by op_list_add. Lifetime: the dispatcher's, or a batch job's. */
struct op_list {
	struct send_op **op;
	size_t n, cap;
};

/* One write job over several rows (marks or settles). Lifetime: from submit to its done. */
struct op_batch {
	struct sb_wjob job;
	struct op_list l;
};

static struct {
	struct sb_timer timer, kick_timer, settle_timer;
	bool running, stopping, scan_again;
	bool kick_armed;   /* kick_timer is armed */
	bool settle_armed; /* settle_timer is armed */
	bool db_due;       /* the store may hold due rows that are not queued here */
	bool db_backlog;   /* rows did not fit the queues: walk the store until it is caught up */
	int64_t max_age_ms, reconcile_ms;
	struct fresh_q *fresh[FRESH_BUCKETS];
	size_t n_fresh;
	/* the running walk */
	int walk_seen, walk_foreign, walk_queued;
	int walk_max; /* WALK_SEEN_MAX, or SB_OUTBOX_WALK_ROWS */
	int64_t walk_after; /* the next walk starts after this channel (where the last stopped) */
	bool walk_full;
	bool refill; /* a queue whose channel has more rows in the store ran dry */
	int64_t last_full_ms; /* the last scan that walked past full channels to the limit */
	/* ids in flight on this process, so a row is never picked twice */
	struct sb_idset inflight;
	struct sb_wjob recover_job;
	struct op_list picked;   /* rows the running scan took: one mark job when it ends */
	struct op_list settling; /* answers waiting for the next settle job */
	int free_left;           /* the running scan: free slots left on cached channels */
} ob;

struct send_op {
	struct sb_wjob job; /* a settle of this row alone (after its batch failed) */
	struct sb_outbox_row *row;
	bool lookup;
	bool settle_after_mark; /* opted out: marked only so that it can be settled FAILED */
	int mark_rc;            /* this row's mark, in a batch that committed */
	/* the result, for the settle job */
	int state;
	int64_t next_at;
	char provider_id[64], status[16], code[32], reason[200];
	bool opt_out;
	bool unsent; /* its request never left (a stop): the attempt its mark counted is undone */
	char sender[64];
};

static void tick_fire(struct sb_timer *t);

static bool inflight_has(int64_t id)
{
	return sb_idset_has(&ob.inflight, id);
}

static void inflight_add(int64_t id)
{
	if (!sb_idset_add(&ob.inflight, id))
		sb_assert_fail("calloc", __FILE__, __LINE__); /* as sb_calloc does */
}

static void inflight_del(int64_t id)
{
	sb_idset_del(&ob.inflight, id);
}

static void op_list_add(struct op_list *l, struct send_op *op)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->op = sb_realloc(l->op, l->cap * sizeof *l->op);
	}
	l->op[l->n++] = op;
}

/* Moves the list's ops into a new batch job (the list is left empty). */
static struct op_batch *batch_take(struct op_list *l)
{
	struct op_batch *b = sb_calloc(1, sizeof *b);
	b->l = *l;
	*l = (struct op_list){ 0 };
	b->job.arg = b;
	return b;
}

static void batch_free(struct op_batch *b)
{
	free(b->l.op);
	free(b);
}

static void kick_fire(struct sb_timer *t);

/* The store's timer: due retries and reconciles, rows not queued here. */
static void schedule(int64_t at_ms)
{
	if (ob.stopping || !sb_hub_lws())
		return;
	int64_t wait = at_ms - sb_wall_ms();
	if (wait < 0)
		wait = 0;
	sb_timer_after(&ob.timer, tick_fire, (uint64_t)wait * 1000 + 100);
}

/* Dispatch at the end of this loop pass (once, however many kicks came). */
static void kick_soon(void)
{
	if (ob.running) {
		ob.scan_again = true;
		return;
	}
	if (ob.kick_armed || ob.stopping || !sb_hub_lws())
		return;
	ob.kick_armed = true;
	sb_timer_after(&ob.kick_timer, kick_fire, 0);
}

/* A slot was freed: queued rows can go. */
static void kick_freed(void)
{
	kick_soon();
}

void sb_outbox_kick(void)
{
	ob.db_due = true; /* a row committed that was not handed over (a retry, a duplicate) */
	kick_soon();
}

/* ---- rows queued in memory ---- */

static struct fresh_q *fresh_find(int64_t channel, bool make)
{
	struct fresh_q **pp = &ob.fresh[(uint64_t)channel % FRESH_BUCKETS];
	for (struct fresh_q *q = *pp; q; q = q->next)
		if (q->channel == channel)
			return q;
	if (!make)
		return NULL;
	struct fresh_q *q = sb_calloc(1, sizeof *q);
	q->channel = channel;
	q->next = *pp;
	*pp = q;
	return q;
}

static struct sb_outbox_row *fresh_at(const struct fresh_q *q, size_t i)
{
	return q->ring[(q->head + i) % q->cap];
}

/* Is row id queued here? (ids ascend along the queue) */
static bool fresh_has(int64_t channel, int64_t id)
{
	struct fresh_q *q = fresh_find(channel, false);
	if (!q || !q->n || id < fresh_at(q, 0)->id || id > fresh_at(q, q->n - 1)->id)
		return false;
	size_t lo = 0, hi = q->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int64_t v = fresh_at(q, mid)->id;
		if (v == id)
			return true;
		if (v < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Can a full walk queue no more of the store's rows on q (NULL: none yet)? */
static bool fresh_full(const struct fresh_q *q)
{
	return ob.stopping || ob.n_fresh >= FRESH_MAX || (q && q->n >= PREFETCH_CHAN);
}

/* May the store's row id join its channel's queue q (NULL: none yet), from a full walk?
 * (ids ascend along a queue) */
static bool fresh_room(const struct fresh_q *q, int64_t id)
{
	return !fresh_full(q) && (!q || !q->n || fresh_at(q, q->n - 1)->id < id);
}

/* May the store's row id go before every row queued on q (an older row: a retry that fell
 * due, a row a restart or an overflow left) so that a busy channel's queue never holds it
 * back for as long as new replies keep it from running dry? (ids ascend along a queue) */
static bool fresh_older(const struct fresh_q *q, int64_t id)
{
	return q && q->n && id < fresh_at(q, 0)->id && !ob.stopping && ob.n_fresh < FRESH_MAX;
}

static void fresh_grow(struct fresh_q *q)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		struct sb_outbox_row **ring = sb_malloc(cap * sizeof *ring);
		for (size_t i = 0; i < q->n; i++)
			ring[i] = fresh_at(q, i);
		free(q->ring);
		q->ring = ring;
		q->cap = cap;
		q->head = 0;
	}
}

/* Appends a row (its id above every queued one's) to q. */
static void fresh_push(struct fresh_q *q, struct sb_outbox_row *row)
{
	fresh_grow(q);
	q->ring[(q->head + q->n) % q->cap] = row;
	q->n++;
	q->tenant = row->tenant;
	ob.n_fresh++;
}

/* Puts a row (its id below every queued one's) at the head of q. */
static void fresh_push_front(struct fresh_q *q, struct sb_outbox_row *row)
{
	fresh_grow(q);
	q->head = (q->head + q->cap - 1) % q->cap;
	q->ring[q->head] = row;
	q->n++;
	q->tenant = row->tenant;
	ob.n_fresh++;
}

void sb_outbox_take(struct sb_outbox_row *row)
{
	struct fresh_q *q = ob.stopping ? NULL : fresh_find(row->channel, true);
	if (!q || ob.n_fresh >= FRESH_MAX || (q->n && fresh_at(q, q->n - 1)->id >= row->id)) {
		/* the store's scan finds it */
		sb_outbox_row_free(row);
		ob.db_backlog = true;
		kick_soon();
		return;
	}
	fresh_push(q, row);
	kick_soon();
}

static struct sb_outbox_row *fresh_pop(struct fresh_q *q)
{
	struct sb_outbox_row *r = q->ring[q->head];
	q->head = (q->head + 1) % q->cap;
	q->n--;
	ob.n_fresh--;
	return r;
}

static void fresh_free_all(void)
{
	for (size_t b = 0; b < FRESH_BUCKETS; b++)
		while (ob.fresh[b]) {
			struct fresh_q *q = ob.fresh[b];
			ob.fresh[b] = q->next;
			while (q->n)
				sb_outbox_row_free(fresh_pop(q));
			free(q->ring);
			free(q);
		}
}

static void op_free(struct send_op *op)
{
	sb_outbox_row_free(op->row);
	free(op);
}

static int64_t backoff_ms(int attempts)
{
	int64_t cap = BACKOFF_BASE_MS;
	for (int i = 1; i < attempts && cap < BACKOFF_CAP_MS; i++)
		cap *= 2;
	if (cap > BACKOFF_CAP_MS)
		cap = BACKOFF_CAP_MS;
	uint32_t r;
	sb_random(&r, sizeof r);
	return (int64_t)(r % (uint32_t)cap); /* full jitter */
}

/* ---- settle ---- */

static int settle_run(struct sb_tx *tx, void *arg)
{
	struct send_op *op = arg;
	int rc = sb_tx_outbox_settle(tx, op->row->tenant, op->row->id, op->state, op->next_at,
				     op->provider_id[0] ? op->provider_id : NULL,
				     op->status[0] ? op->status : NULL, op->code[0] ? op->code : NULL,
				     op->reason[0] ? op->reason : NULL);
	if (!rc && op->opt_out)
		rc = sb_tx_optout_set(tx, op->row->tenant, op->sender, op->row->to, true);
	if (!rc && op->unsent)
		rc = sb_tx_outbox_attempt_undo(tx, op->row->tenant, op->row->id);
	return rc;
}

/* The end of a row's trip: the settle committed (or failed for good). */
static void settled(struct send_op *op, int rc)
{
	if (rc)
		sb_log(SB_LOG_ERR, "msg=outbox_settle_failed tenant=%lld outbox=%lld err=\"%s\"",
		       (long long)op->row->tenant, (long long)op->row->id, sb_err_str(rc));
	inflight_del(op->row->id);
	op_free(op);
}

static void settle_one_done(void *arg, int rc)
{
	settled(arg, rc);
	ob.db_due = true;
	kick_freed();
}

static int settle_batch_run(struct sb_tx *tx, void *arg)
{
	struct op_batch *b = arg;
	for (size_t i = 0; i < b->l.n; i++) {
		int rc = settle_run(tx, b->l.op[i]);
		if (rc)
			return rc; /* the batch's savepoint is rolled back: none is settled */
	}
	return 0;
}

static void settle_batch_done(void *arg, int rc)
{
	struct op_batch *b = arg;
	for (size_t i = 0; i < b->l.n; i++) {
		struct send_op *op = b->l.op[i];
		if (rc && b->l.n > 1 && sb_store_running(sb_hub_store())) {
			/* one row (or the commit) failed the whole job: settle each alone, so the
			 * others keep their outcome and the failing one is logged by itself */
			op->job.run = settle_run;
			op->job.done = settle_one_done;
			op->job.arg = op;
			op->job.replayable = true;
			sb_store_submit(sb_hub_store(), &op->job);
			continue;
		}
		if (op->state == SB_OB_RETRY || op->state == SB_OB_RECONCILE)
			ob.db_due = true; /* a new next_at for the store's timer */
		settled(op, rc);
	}
	batch_free(b);
	kick_freed(); /* unsent ones (a request never built) freed their slot */
}

static void settle_flush(void)
{
	ob.settle_armed = false;
	sb_timer_stop(&ob.settle_timer);
	if (!ob.settling.n)
		return;
	struct op_batch *b = batch_take(&ob.settling);
	if (!sb_store_running(sb_hub_store())) {
		/* the writer stopped first: nothing can be written now. The rows stay as they
		 * are in the store (a send stays SENDING and is reconciled at the next start) */
		for (size_t i = 0; i < b->l.n; i++)
			settled(b->l.op[i], SB_EBUSY);
		batch_free(b);
		return;
	}
	b->job.run = settle_batch_run;
	b->job.done = settle_batch_done;
	b->job.replayable = true;
	sb_store_submit(sb_hub_store(), &b->job);
}

static void settle_timer_fire(struct sb_timer *t)
{
	(void)t;
	settle_flush();
}

/* Queues the row's outcome; every outcome queued in this loop pass commits in one job. */
static void settle(struct send_op *op)
{
	op_list_add(&ob.settling, op);
	if (ob.stopping || !sb_hub_lws()) {
		settle_flush();
		return;
	}
	if (!ob.settle_armed) {
		ob.settle_armed = true;
		sb_timer_after(&ob.settle_timer, settle_timer_fire, 0);
	}
}

/* ---- the provider's answer ---- */

/* sb_outbox_results_total{state}: what each provider answer made of its row */
static int result_counter(int state)
{
	static int slot[SB_OB_FAILED + 1];
	static const char *const names[SB_OB_FAILED + 1] = {
		[SB_OB_RETRY] = "retry", [SB_OB_RECONCILE] = "reconcile", [SB_OB_DONE] = "sent",
		[SB_OB_FAILED] = "failed",
	};
	if (state < 0 || state > SB_OB_FAILED || !names[state])
		return -1;
	return sb_metrics_counter_at(&slot[state], "sb_outbox_results_total{state=\"%s\"}",
				     names[state]);
}

static void classify(struct send_op *op, const struct sb_httpc_res *res)
{
	struct chan_rt *c = sb_chan_get(op->row->tenant, op->row->channel);
	if (c)
		c->inflight--;
	int64_t now = sb_wall_ms();
	struct sb_send_result sr = { 0 };
	sr.retry_after_ms = -1;
	struct sb_arena a = { 0 };
	if (!c) {
		sr.outcome = SB_SEND_AMBIGUOUS;
	} else if (!res->status) {
		/* a transport failure: before the request left it is safe to resend */
		sr.outcome = res->sent ? SB_SEND_AMBIGUOUS : SB_SEND_RETRY;
		snprintf(op->reason, sizeof op->reason, "Could not reach the provider: %s",
			 res->error);
	} else {
		struct sb_http_header h[1];
		size_t nh = 0;
		if (res->retry_after[0])
			h[nh++] = (struct sb_http_header){ SB_STR("Retry-After"),
							   SB_STRZ(res->retry_after) };
		struct sb_http_resp resp = { res->status, h, nh, { res->body, res->body_len } };
		struct sb_bridge_ctx ctx;
		sb_chan_ctx(c, &a, &ctx);
		if (op->lookup)
			c->bridge->lookup_parse(&ctx, &resp, &sr);
		else
			c->bridge->send_parse(&ctx, &resp, &sr);
	}
	switch (sr.outcome) {
	case SB_SEND_ACCEPTED: {
		op->state = SB_OB_DONE;
		snprintf(op->provider_id, sizeof op->provider_id, "%.*s", (int)sr.provider_id.len,
			 sr.provider_id.p);
		const char *st = sb_bridge_status_name(sr.status);
		snprintf(op->status, sizeof op->status, "%s", st ? st : "queued");
		op->reason[0] = '\0';
		break;
	}
	case SB_SEND_RETRY: {
		int64_t wait = backoff_ms(op->row->attempts);
		if (sr.retry_after_ms > wait)
			wait = sr.retry_after_ms;
		if (now + wait - op->row->created_at > ob.max_age_ms) {
			op->state = SB_OB_FAILED;
			snprintf(op->status, sizeof op->status, "failed");
			snprintf(op->code, sizeof op->code, "%.*s",
				 (int)(sr.code.len ? sr.code.len : 7), sr.code.len ? sr.code.p : "expired");
			snprintf(op->reason, sizeof op->reason,
				 "The provider kept refusing for now; gave up after %d attempts. "
				 "Retry when it recovers.",
				 op->row->attempts);
		} else {
			op->state = SB_OB_RETRY;
			op->next_at = now + wait;
		}
		break;
	}
	case SB_SEND_PERMANENT:
		if (op->lookup && (sr.flags & SB_SEND_F_NOT_FOUND)) {
			/* the provider never got it: safe to send again */
			op->state = SB_OB_RETRY;
			op->next_at = now;
			break;
		}
		op->state = SB_OB_FAILED;
		snprintf(op->status, sizeof op->status, "failed");
		snprintf(op->code, sizeof op->code, "%.*s", (int)sr.code.len, sr.code.p);
		snprintf(op->reason, sizeof op->reason, "%s",
			 sr.reason ? sr.reason : "The provider refused this message.");
		if ((sr.flags & SB_SEND_F_OPTED_OUT) && c) {
			op->opt_out = true;
			snprintf(op->sender, sizeof op->sender, "%s", c->row.sender);
		}
		break;
	default:
		/* may have been processed: wait for the status callback, then look it up */
		op->state = SB_OB_RECONCILE;
		op->next_at = now + (op->provider_id[0] || op->row->provider_id[0] ? 5000
										   : ob.reconcile_ms);
		op->reason[0] = '\0';
		break;
	}
	sb_arena_free(&a);
	sb_metrics_add(result_counter(op->state), 1);
	/* a send the provider accepted is routine: a line each at debug (at full rate it would
	 * be most of the log), counted in /metrics at any level; every other outcome is told */
	int lvl = op->state == SB_OB_DONE ? SB_LOG_DEBUG : SB_LOG_INFO;
	if (res->error[0])
		sb_log(lvl, "msg=outbox_result tenant=%lld outbox=%lld attempt=%d state=%d "
			    "http=0 sent=%d err=\"%s\"", (long long)op->row->tenant,
		       (long long)op->row->id, op->row->attempts, op->state, res->sent, res->error);
	else
		sb_log(lvl, "msg=outbox_result tenant=%lld outbox=%lld attempt=%d state=%d http=%d",
		       (long long)op->row->tenant, (long long)op->row->id, op->row->attempts,
		       op->state, res->status);
	settle(op);
}

/* At a stop, a send marked SENDING whose request never left (still queued for a connection,
 * or its mark committed after the stop began) goes back to RETRY, due at once: the next start
 * sends it instead of failing it "unconfirmed" (nothing to look it up by). Only while the
 * writer still commits; otherwise it stays SENDING, as any row in flight at a crash. */
static bool unsend(struct send_op *op)
{
	if (op->lookup || !sb_store_running(sb_hub_store()))
		return false;
	op->state = SB_OB_RETRY;
	op->next_at = sb_wall_ms();
	op->reason[0] = '\0';
	op->unsent = true;
	sb_log(SB_LOG_INFO, "msg=outbox_unsent tenant=%lld outbox=%lld state=retry",
	       (long long)op->row->tenant, (long long)op->row->id);
	settle(op);
	return true;
}

static void http_done(void *arg, const struct sb_httpc_res *res)
{
	struct send_op *op = arg;
	if (res->abandoned) {
		struct chan_rt *c = sb_chan_get(op->row->tenant, op->row->channel);
		if (!res->sent && c) {
			c->inflight--;
			if (unsend(op))
				return;
		}
		op_free(op); /* still SENDING (RECONCILE for a lookup): the next start decides */
		return;
	}
	classify(arg, res);
	kick_freed(); /* its slot is free: the next row can be marked while this one settles */
}

/* ---- sending ---- */

static void perform(struct send_op *op, struct chan_rt *c)
{
	struct sb_arena a = { 0 };
	struct sb_bridge_ctx ctx;
	sb_chan_ctx(c, &a, &ctx);
	struct sb_http_req req = { 0 };
	int rc;
	if (op->lookup) {
		struct sb_bridge_lookup lk = { .provider_id = SB_STRZ(op->row->provider_id),
					       .to = SB_STRZ(op->row->to) };
		rc = c->bridge->lookup_build(&ctx, &lk, &req);
	} else {
		char cb[600], ref[32];
		snprintf(cb, sizeof cb, "%s/webhooks/%s/%s/status?o=%lld", sb_hub_config()->public_url,
			 c->row.kind, c->row.key, (long long)op->row->id);
		snprintf(ref, sizeof ref, "%lld", (long long)op->row->id);
		struct sb_bridge_msg msg = {
			.to = SB_STRZ(op->row->to),
			.body = SB_STRZ(op->row->body),
			.client_ref = SB_STRZ(ref),
			.status_url = SB_STRZ(cb),
			.flags = SB_BRIDGE_MSGF_HUMAN,
		};
		rc = c->bridge->send_build(&ctx, &msg, &req);
	}
	if (rc) {
		/* cannot even be expressed to the provider: fail now, visibly */
		op->state = SB_OB_FAILED;
		snprintf(op->status, sizeof op->status, "failed");
		snprintf(op->code, sizeof op->code, op->lookup ? "unconfirmed" : "invalid");
		snprintf(op->reason, sizeof op->reason, "%s",
			 op->lookup ? "The provider never confirmed this message; it may not have "
				      "been sent. Check with the customer before retrying."
			 : rc == SB_ETOOBIG ? "The message is too long for this channel."
					    : "The message cannot be sent on this channel.");
		sb_arena_free(&a);
		settle(op);
		return;
	}
	char *hdrs[SB_HTTP_REQ_MAX_HEADERS];
	for (size_t i = 0; i < req.n_headers; i++) {
		hdrs[i] = sb_arena_alloc(&a, req.headers[i].name.len + req.headers[i].value.len + 3);
		sprintf(hdrs[i], "%.*s: %.*s", (int)req.headers[i].name.len, req.headers[i].name.p,
			(int)req.headers[i].value.len, req.headers[i].value.p);
	}
	char *url = sb_arena_strndup(&a, req.url.p, req.url.len);
	c->inflight++;
	if (sb_httpc_submit(req.method, url, (const char *const *)hdrs, req.n_headers, req.body.p,
			    req.body.len, req.timeout_ms, http_done, op)) {
		c->inflight--;
		struct sb_httpc_res res = { .sent = false };
		snprintf(res.error, sizeof res.error, "hub is stopping");
		sb_arena_free(&a);
		classify(op, &res);
		return;
	}
	sb_arena_free(&a);
}

static int mark_batch_run(struct sb_tx *tx, void *arg)
{
	struct op_batch *b = arg;
	for (size_t i = 0; i < b->l.n; i++) {
		struct send_op *op = b->l.op[i];
		op->mark_rc = sb_tx_outbox_mark_sending(tx, op->row->tenant, op->row->id);
		/* no longer due (taken by another worker, closed by a retry): that row only */
		if (op->mark_rc && op->mark_rc != SB_ECONFLICT)
			return op->mark_rc; /* the savepoint is rolled back: no row is marked */
		/* the customer said STOP after this was queued: it never leaves (asked here, in
		 * the transaction that marks it, so no STOP can slip in between) */
		op->settle_after_mark = !op->mark_rc &&
					sb_tx_optout_get(tx, op->row->tenant, op->sender, op->row->to) == 1;
	}
	return 0;
}

/* The marks committed (or none did): only now may the marked rows' requests leave. */
static void mark_batch_done(void *arg, int rc)
{
	struct op_batch *b = arg;
	bool freed = false;
	if (rc)
		sb_log(SB_LOG_WARN, "msg=outbox_mark_failed rows=%zu err=\"%s\"", b->l.n,
		       sb_err_str(rc));
	if (rc)
		ob.db_due = true; /* its rows are still due: the store's next walk finds them */
	for (size_t i = 0; i < b->l.n; i++) {
		struct send_op *op = b->l.op[i];
		struct chan_rt *c = sb_chan_get(op->row->tenant, op->row->channel);
		if (c)
			c->inflight--; /* the slot reserved while the mark committed */
		if (rc || op->mark_rc || !c) {
			inflight_del(op->row->id);
			op_free(op);
			freed = true;
			continue;
		}
		if (ob.stopping && !op->settle_after_mark) {
			if (!unsend(op)) { /* marked, and it will not leave now */
				inflight_del(op->row->id);
				op_free(op);
			}
			continue;
		}
		if (op->settle_after_mark) {
			op->state = SB_OB_FAILED;
			snprintf(op->status, sizeof op->status, "failed");
			snprintf(op->code, sizeof op->code, "opted_out");
			snprintf(op->reason, sizeof op->reason,
				 "The customer replied STOP to this number before it was sent.");
			op->opt_out = false;
			settle(op);
			continue;
		}
		op->row->attempts++;
		perform(op, c); /* counts the slot again while the request is out */
	}
	batch_free(b);
	if (freed && !rc)
		kick_freed(); /* a slot is free again (after a failed job: at the timer's pace) */
}

/* Takes a due row (owned from the call on): a lookup, a visible failure, or a slot reserved
 * and the row added to this pass's mark job. */
static void take_row(struct sb_outbox_row *row)
{
	if (inflight_has(row->id)) {
		sb_outbox_row_free(row);
		return;
	}
	struct chan_rt *c = sb_chan_get(row->tenant, row->channel);
	if (!c || sb_chan_full(c)) {
		sb_outbox_row_free(row); /* picked up again when a slot frees */
		return;
	}
	struct send_op *op = sb_calloc(1, sizeof *op);
	op->row = row;
	inflight_add(row->id);
	if (row->state == SB_OB_RECONCILE) {
		if (!row->provider_id[0] || !SB_BRIDGE_HAS(c->bridge, lookup_build)) {
			/* no callback came and nothing to look up by: fail visibly, never resend */
			op->state = SB_OB_FAILED;
			snprintf(op->status, sizeof op->status, "failed");
			snprintf(op->code, sizeof op->code, "unconfirmed");
			snprintf(op->reason, sizeof op->reason,
				 "The provider never confirmed this message; it may not have been "
				 "sent. Check with the customer before retrying.");
			settle(op);
			return;
		}
		/* a lookup leaves the row RECONCILE until its answer settles it */
		op->lookup = true;
		perform(op, c);
		return;
	}
	/* the mark job asks whether the customer opted out of this sender meanwhile */
	snprintf(op->sender, sizeof op->sender, "%s", c->row.sender);
	c->inflight++; /* reserve the slot while the mark commits */
	if (ob.free_left > 0)
		ob.free_left--;
	op_list_add(&ob.picked, op);
}

/* Where a full walk queues a due send of the store on its channel's queue q (NULL: none
 * yet): behind the queued rows when younger than all (and the channel full or rows queued),
 * before them when older than all while the channel is full, else nowhere (it is taken now,
 * or waits in the store). want_row and due_row both ask it, so a row want_row takes for a
 * queue is queued. */
enum { Q_NONE, Q_BACK, Q_FRONT };
static int queue_place(const struct chan_rt *c, const struct fresh_q *q, int64_t id)
{
	if (!c)
		return Q_NONE;
	if ((sb_chan_full(c) || (q && q->n)) && fresh_room(q, id))
		return Q_BACK;
	if (sb_chan_full(c) && fresh_older(q, id))
		return Q_FRONT;
	return Q_NONE;
}

static void due_row(void *ud, struct sb_outbox_row *row)
{
	(void)ud;
	/* A send (a first one or a due retry) of a channel that is full, or that has rows
	 * queued already, waits in its queue (in id order), so that each freed slot takes the
	 * next row from memory instead of the store's next walk: a backlog (rows of an earlier
	 * run, retries due after an outage, more than the queues held) drains as fast as rows
	 * sent from here. A lookup is never queued: it waits for a slot of its own. */
	if (ob.walk_full && (row->state == SB_OB_PENDING || row->state == SB_OB_RETRY)) {
		struct chan_rt *c = sb_chan_get(row->tenant, row->channel);
		struct fresh_q *q = fresh_find(row->channel, false);
		int at = queue_place(c, q, row->id);
		if (at != Q_NONE) {
			if (!q)
				q = fresh_find(row->channel, true);
			if (at == Q_FRONT)
				fresh_push_front(q, row);
			else
				fresh_push(q, row);
			ob.walk_queued++;
			return;
		}
	}
	take_row(row);
}

/* Before a due row of the store is read: only rows this process can send now and has not
 * queued in memory. The store offers them channel by channel, and a channel that can take
 * no more now is stepped over (-2) with the rest of its rows, so one tenant's backlog never
 * stands before another's due rows. Unless it is a full walk, the walk stops once no cached
 * channel has a free slot (the rest waits for a slot to free); a full walk, every
 * FULL_SCAN_MS, also queues rows of full channels (queue_place), and looks at WALK_SEEN_MAX
 * rows at most (SB_OUTBOX_WALK_ROWS). A walk cut short resumes at the next channel (walk_after). A
 * channel whose rows the walk left in the store is marked (more), so that its queue running
 * dry asks for the next walk. */
static int want_row(void *ud, int64_t tenant, int64_t channel, int64_t id, int state)
{
	(void)ud;
	if (ob.walk_full && ob.walk_seen >= ob.walk_max)
		return -1; /* the rest waits for a later walk */
	ob.walk_seen++;
	if (ob.free_left == 0 && (ob.free_left = sb_chan_free_slots()) == 0)
		return -1; /* every cached channel is full */
	if (inflight_has(id))
		return 0; /* already on its way */
	struct chan_rt *c = sb_chan_get(tenant, channel);
	struct fresh_q *q = fresh_find(channel, false);
	if (ob.walk_full && state != SB_OB_RECONCILE && queue_place(c, q, id) == Q_FRONT)
		return 1; /* older than all it queued: goes first (due_row) */
	/* a full walk may itself have queued rows here: only those before it count */
	if (sb_chan_full(c) && q && (ob.walk_full ? q->n_before : q->n)) {
		/* full, with rows queued here before this walk: its rows are stepped over, not
		 * read one by one to find each queued one again (behind a backlog of thousands,
		 * at every walk: most of the loop's time). Once the queue runs dry a walk
		 * (REFILL_MS) reads on from the store. */
		q->more = true;
		return -2;
	}
	if (fresh_has(channel, id))
		return 0; /* already on its way */
	ob.walk_foreign++;
	if (!c)
		return -2; /* gone or disabled: none of its rows can leave */
	if (!sb_chan_full(c))
		return 1;
	if (!ob.walk_full)
		return -2; /* full: its rows wait for a slot */
	if (!q)
		q = fresh_find(channel, true);
	if (queue_place(c, q, id) == Q_BACK)
		return 1; /* a send is queued behind the channel's others (due_row) */
	q->more = true;
	/* a full queue takes none of the channel's later rows either; a row older than the
	 * queue's last may be followed by younger ones that fit */
	return fresh_full(q) ? -2 : 0;
}

/* Queued rows of channels with free slots, oldest first per channel. */
static void dispatch_fresh(void)
{
	if (!ob.n_fresh)
		return;
	for (size_t b = 0; b < FRESH_BUCKETS; b++)
		for (struct fresh_q *q = ob.fresh[b]; q; q = q->next) {
			if (!q->n)
				continue;
			struct chan_rt *c = sb_chan_get(q->tenant, q->channel);
			if (!c) {
				/* the channel is gone: the store's walk decides about its rows */
				while (q->n)
					sb_outbox_row_free(fresh_pop(q));
				ob.db_due = true;
				continue;
			}
			while (q->n && !sb_chan_full(c))
				take_row(fresh_pop(q));
			if (!q->n && q->more)
				ob.refill = true; /* its next rows are in the store */
		}
}

/* Is a full walk of the store due? Every FULL_SCAN_MS, and sooner (REFILL_MS) while a
 * backlog that the last one left in the store is drained through the queues. */
static bool full_walk_due(int64_t now)
{
	return now - ob.last_full_ms >= FULL_SCAN_MS ||
	       (ob.refill && now - ob.last_full_ms >= REFILL_MS);
}

/* The store's walk: due reconciles and retries, and (first_sends) due first sends that are
 * not queued here. Sets the timer for the next due row. */
static void walk_store(bool first_sends)
{
	int64_t now = sb_wall_ms();
	bool full = full_walk_due(now);
	if (full) {
		ob.last_full_ms = now;
		ob.refill = false;
		for (size_t b = 0; b < FRESH_BUCKETS; b++)
			for (struct fresh_q *q = ob.fresh[b]; q; q = q->next) {
				q->more = false;
				q->n_before = q->n;
			}
	}
	ob.free_left = full ? -1 : sb_chan_free_slots();
	ob.walk_seen = ob.walk_foreign = ob.walk_queued = 0;
	ob.walk_full = full;
	int64_t next = now; /* no walk: rows may be due, look again soon */
	bool walked = full || ob.free_left > 0;
	if (walked)
		sb_store_outbox_due_filtered(sb_hub_store(), now, full ? PREFETCH_WALK : SCAN_LIMIT,
					     full || first_sends, WALK_CHANNELS, &ob.walk_after,
					     want_row, due_row, NULL, &next);
	static int rows_read;
	sb_metrics_add(sb_metrics_counter_at(&rows_read, "sb_outbox_walk_rows_total"),
		       (uint64_t)ob.walk_seen);
	/* caught up: the walk went round (walk_after is where one that stopped short goes on),
	 * and every due row of the store is queued here or on its way */
	if ((full || first_sends) && walked && !ob.walk_after && !ob.walk_foreign &&
	    ob.walk_seen < SCAN_LIMIT)
		ob.db_backlog = false;
	if (next)
		schedule(next < sb_wall_ms() + 20 ? sb_wall_ms() + 20 : next);
}

static void submit_marks(void)
{
	if (!ob.picked.n)
		return;
	/* every row this pass took: marked SENDING in one commit, sent after it */
	struct op_batch *b = batch_take(&ob.picked);
	b->job.run = mark_batch_run;
	b->job.done = mark_batch_done;
	b->job.replayable = true;
	sb_store_submit(sb_hub_store(), &b->job);
}

static void dispatch(bool timer)
{
	if (ob.stopping)
		return;
	ob.running = true;
	ob.scan_again = false;
	ob.free_left = -1;
	dispatch_fresh();
	bool first_sends = ob.db_due || ob.db_backlog;
	if (timer || first_sends || full_walk_due(sb_wall_ms())) {
		ob.db_due = false;
		walk_store(first_sends);
		if (ob.walk_queued)
			dispatch_fresh(); /* what the walk queued, into the slots still free */
	}
	ob.running = false;
	submit_marks();
	if (ob.scan_again)
		kick_soon();
}

static void kick_fire(struct sb_timer *t)
{
	(void)t;
	ob.kick_armed = false;
	dispatch(false);
}

static void tick_fire(struct sb_timer *t)
{
	(void)t;
	dispatch(true);
}

static int recover_run(struct sb_tx *tx, void *arg)
{
	(void)arg;
	/* give the provider's status callbacks (which it retries) the window to settle them */
	return sb_tx_outbox_recover(tx, sb_tx_now(tx) + ob.reconcile_ms);
}

static void recover_done(void *arg, int rc)
{
	(void)arg;
	if (rc)
		sb_log(SB_LOG_ERR, "msg=outbox_recover_failed err=\"%s\"", sb_err_str(rc));
	ob.db_due = true; /* rows of an earlier run */
	schedule(0);
}

int sb_outbox_start(void)
{
	const char *a = getenv("SB_SEND_MAX_AGE_MS"), *r = getenv("SB_RECONCILE_MS");
	ob.max_age_ms = a ? atoll(a) : 3600 * 1000LL;
	ob.reconcile_ms = r ? atoll(r) : 120 * 1000LL;
	/* rows a full walk looks at (SB_OUTBOX_WALK_ROWS: tests make it small) */
	const char *w = getenv("SB_OUTBOX_WALK_ROWS");
	ob.walk_max = w && atoi(w) > 0 ? atoi(w) : WALK_SEEN_MAX;
	ob.stopping = false;
	/* rows a crash left SENDING may have reached the provider: reconcile them */
	ob.recover_job.run = recover_run;
	ob.recover_job.done = recover_done;
	ob.recover_job.arg = NULL;
	sb_store_submit(sb_hub_store(), &ob.recover_job);
	return 0;
}

void sb_outbox_stop(void)
{
	ob.stopping = true;
	sb_timer_stop(&ob.timer);
	sb_timer_stop(&ob.kick_timer);
	ob.kick_armed = false;
	fresh_free_all(); /* still PENDING in the store: the next start sends them */
	settle_flush(); /* answers already in: the store commits them before it stops */
}
