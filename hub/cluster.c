/* SPDX-License-Identifier: MIT
 * cluster.c: committed events crossing worker processes. Each worker publishes the events
 * it commits to NATS (subject sb.ev.<tenant>) and injects the ones other workers publish
 * into its own fan-out. NATS is never the only path: every worker also polls the store's
 * per-tenant seq for the tenants it has sockets for, so an outage costs latency, never an
 * event, and a socket that sees a gap reads it from the store (ws.c). Without --workers
 * and without a NATS URL, none of this runs.
 */
#include "hub.h"

#include <nats/nats.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define POLL_MS 25
#define POLL_SAFETY_MS 1000

static struct {
	natsConnection *nc;
	natsSubscription *sub;
	bool polling;
	_Atomic bool nats_up; /* written by the NATS client's threads */
	struct sb_timer poll_timer;
	uint64_t event_gen;
	char subject[64];
} cl;

struct injected {
	int64_t tenant, seq;
	size_t len;
	char frame[];
};

static void inject(void *arg)
{
	struct injected *in = arg;
	struct sb_event ev = { .tenant = in->tenant, .seq = in->seq, .frame = in->frame,
			       .len = in->len };
	sb_ws_on_event(&ev);
	sb_metrics_inc("sb_cluster_events_received_total", 1);
	free(in);
}

/* NATS's thread: parse the tenant and seq, hand the frame to the service thread. */
static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	(void)closure;
	const char *subj = natsMsg_GetSubject(msg), *data = natsMsg_GetData(msg);
	int len = natsMsg_GetDataLength(msg);
	long long tenant = 0, seq = 0;
	if (subj && sscanf(subj, "sb.ev.%lld", &tenant) == 1 && tenant > 0 && data && len > 24 &&
	    len < 1 << 20 && sscanf(data, "{\"type\":\"event\",\"seq\":%lld", &seq) == 1 && seq > 0) {
		struct injected *in = sb_malloc(sizeof *in + (size_t)len + 1);
		in->tenant = tenant;
		in->seq = seq;
		in->len = (size_t)len;
		memcpy(in->frame, data, (size_t)len);
		in->frame[len] = '\0';
		sb_loop_post(inject, in);
	}
	natsMsg_Destroy(msg);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	(void)closure;
	cl.nats_up = false;
	sb_log(SB_LOG_WARN, "msg=nats_disconnected fallback=store_poll");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	(void)closure;
	cl.nats_up = true;
	sb_log(SB_LOG_INFO, "msg=nats_connected");
}

void sb_cluster_publish(const struct sb_event *ev)
{
	if (!cl.nc)
		return;
	char subj[48];
	snprintf(subj, sizeof subj, "sb.ev.%lld", (long long)ev->tenant);
	/* buffered by the client; while disconnected it buffers up to its limit, then
	 * refuses: the other workers' polling covers what is lost here */
	if (natsConnection_Publish(cl.nc, subj, ev->frame, (int)ev->len) == NATS_OK)
		sb_metrics_inc("sb_cluster_events_published_total", 1);
}

static void poll_fire(struct sb_timer *t)
{
	(void)t;
	/* read the log only when some process committed events since the last look (one
	 * memory load; the generation moves after the commit, so reading it first misses
	 * nothing) */
	struct sb_store *st = sb_hub_store();
	uint64_t gen = sb_store_event_gen(st);
	if (!sb_store_gen_shared(st) || gen != cl.event_gen) {
		cl.event_gen = gen;
		sb_ws_resync_from_store();
	}
	/* with NATS up the poll is only the safety net: once a second; without it, the path */
	int ms = cl.nc && cl.nats_up ? POLL_SAFETY_MS : POLL_MS;
	sb_timer_after(&cl.poll_timer, poll_fire, (uint64_t)ms * 1000);
}

int sb_cluster_start(bool multi, const char *nats_url)
{
	if (multi) {
		cl.polling = true;
		sb_timer_after(&cl.poll_timer, poll_fire, (uint64_t)POLL_MS * 1000);
	}
	if (!nats_url || !*nats_url)
		return 0;
	natsOptions *o = NULL;
	if (natsOptions_Create(&o) != NATS_OK)
		return SB_ENOMEM;
	natsOptions_SetURL(o, nats_url);
	natsOptions_SetNoEcho(o, true);
	natsOptions_SetAllowReconnect(o, true);
	natsOptions_SetMaxReconnect(o, -1);
	natsOptions_SetReconnectWait(o, 250);
	natsOptions_SetTimeout(o, 2000);
	natsOptions_SetDisconnectedCB(o, on_disconnected, NULL);
	natsOptions_SetReconnectedCB(o, on_reconnected, NULL);
	natsOptions_SetRetryOnFailedConnect(o, true, on_reconnected, NULL);
	natsStatus s = natsConnection_Connect(&cl.nc, o);
	natsOptions_Destroy(o);
	if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
		sb_log(SB_LOG_ERR, "msg=nats_failed url=%s err=\"%s\"", nats_url, natsStatus_GetText(s));
		return SB_EINVAL;
	}
	cl.nats_up = s == NATS_OK;
	if (natsConnection_Subscribe(&cl.sub, cl.nc, "sb.ev.*", on_msg, NULL) != NATS_OK) {
		sb_log(SB_LOG_ERR, "msg=nats_subscribe_failed");
		return SB_EINVAL;
	}
	sb_log(SB_LOG_INFO, "msg=cluster nats=%s connected=%d poll_ms=%d", nats_url, cl.nats_up,
	       multi ? POLL_MS : 0);
	return 0;
}

void sb_cluster_stop(void)
{
	if (cl.polling)
		sb_timer_stop(&cl.poll_timer);
	cl.polling = false;
	if (cl.sub) {
		natsSubscription_Unsubscribe(cl.sub);
		natsSubscription_Destroy(cl.sub);
		cl.sub = NULL;
	}
	if (cl.nc) {
		natsConnection_Close(cl.nc);
		natsConnection_Destroy(cl.nc);
		cl.nc = NULL;
		nats_Close();
	}
}
