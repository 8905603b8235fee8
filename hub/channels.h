/* SPDX-License-Identifier: MIT
 * channels.h: the bridge host as the rest of hubd sees it: channels at run time (bridge,
 * decrypted per-channel state), the outbox dispatcher and the sandbox provider.
 */
#ifndef SB_CHANNELS_H
#define SB_CHANNELS_H

#include "hub.h"
#include "../bridges/bridge.h"

/* A channel ready to use. Lifetime: cached by id; replaced when the row's updated_at moves;
 * callers use it within one service-thread turn and keep no pointer. */
struct chan_rt {
	struct chan_rt *next;
	struct chan_rt *next_key; /* the chain by webhook key */
	uint64_t gen;             /* sb_store_config_gen() when the row was last read */
	struct sb_channel_row row;
	const struct sb_bridge *bridge;
	void *priv;
	int inflight;
	char account[64];   /* sandbox: the simulated account's sid and token */
	char token[80];
};

extern const struct sb_host sb_bridge_host;

/* The hub's event sink for one webhook (bridges see it as opaque). */
#define SB_HUB_MAX_EVENTS 64
struct sb_bridge_events {
	struct sb_bridge_event ev[SB_HUB_MAX_EVENTS];
	size_t n;
};

struct chan_rt *sb_chan_get(int64_t tenant, int64_t id);
#define SB_CHAN_MAX_INFLIGHT 1000
/* The channel's cap on requests in flight (max_inflight, 16 when unset; REST sets 1..1000).
 * Over HTTP/1.1 the hub has at most SB_PROVIDER_CONNS (512) connections to one host, so
 * above that in all the extra requests queue in libcurl; over HTTP/2 (https providers) they
 * share connections. */
static inline int sb_chan_cap(const struct chan_rt *c)
{
	return c->row.max_inflight > 0 ? c->row.max_inflight : 16;
}
/* May c take no more requests now? (NULL: a channel gone or disabled is not full) */
static inline bool sb_chan_full(const struct chan_rt *c)
{
	return c && c->inflight >= sb_chan_cap(c);
}
/* Free request slots summed over the cached channels (none cached: 0). */
int sb_chan_free_slots(void);
struct chan_rt *sb_chan_by_key(const char *key);
/* The base URL the hub uses to reach itself (sandbox API, simulator posts). */
const char *sb_chan_self_url(void);
void sb_chan_ctx(struct chan_rt *c, struct sb_arena *a, struct sb_bridge_ctx *ctx);

/* webhook.c: the status words stored on messages ("queued", "delivered"...); NULL for
 * statuses the hub does not store */
const char *sb_bridge_status_name(enum sb_bridge_status s);

/* outbox.c */
/* A row may be due that was not handed over with sb_outbox_take: the store is walked at the
 * end of this loop pass. (_chan: the same; the channel is not used.) */
void sb_outbox_kick(void);
/* A row just committed PENDING by this process, handed over whole (owned from the call on,
 * freed when it cannot be queued: the store's scan finds it then). */
void sb_outbox_take(struct sb_outbox_row *row);
int sb_outbox_start(void);
void sb_outbox_stop(void);

/* sandbox.c */
void sb_sandbox_route(struct sb_req *r, const char **s, int n);
void sb_sandbox_simulate(struct sb_req *r, struct chan_rt *c);
/* At a stop, after the HTTP client: frees the status-callback sequences waiting on a timer. */
void sb_sandbox_stop(void);

#endif
