/* SPDX-License-Identifier: MIT
 * bridge.h: the one plugin interface between hubd and its provider bridges, and the host
 * services the hub lends a bridge. A bridge is a pure translator (webhook -> events,
 * message -> HTTP request, HTTP answer -> outcome): no I/O, no threads, no globals.
 * Versioned: abi_major must match exactly; fields are only ever appended, and a slot of
 * struct sb_bridge is read only when it lies within the bridge's declared `size`.
 */

/* How the hub drives a bridge (every call gets a struct sb_bridge_ctx: host, arena, priv):
 *
 *  setup     sb_bridge_check (static table) or sb_bridge_load (module); per channel,
 *            allocate priv_size zeroed bytes and call channel_init(host, priv, cfg).
 *  inbound   webhook(req) -> 0 with events added through host->event_add and a default
 *            answer; SB_EAUTH -> 403, SB_EINVAL -> 400. Commit the events in one transaction
 *            (dedupe MESSAGE on (channel, provider_id)); if an auto-reply is wanted and the
 *            bridge has CAP_REPLY, webhook_reply(text) rewrites the answer; then send it.
 *            CAP_ROUTED: the webhook runs with the endpoint channel's priv (app secret) and
 *            each event's route_id names the tenant channel. A handshake is a webhook that
 *            adds no events and answers the challenge.
 *  outbound  policy (CAP_POLICY) -> verdict; send_build(msg) -> sb_http_req; perform it;
 *            send_parse(resp) -> ACCEPTED / RETRY (retry_after_ms) / AMBIGUOUS / PERMANENT.
 *            AMBIGUOUS is reconciled (status callback, or lookup_build/lookup_parse), never
 *            resent blindly.
 *  teardown  channel_fini(priv), then free priv. Free the arena after each request.
 */
#ifndef SB_BRIDGE_H
#define SB_BRIDGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Types only (struct sb_str, enum sb_err, log levels, struct sb_json): a bridge calls
 * none of the hub functions declared there; it reaches the hub through struct sb_host. */
#include "../hub/sb.h"
#include "../hub/json.h"

#define SB_BRIDGE_ABI_MAJOR 1
#define SB_BRIDGE_ABI_MINOR 0

/* ---- shared vocabulary ---------------------------------------------------------------- */

/* One HTTP header. Names compare case-insensitively. */
struct sb_http_header {
	struct sb_str name;
	struct sb_str value;
};

/* A webhook request as it reached the hub. Lifetime: borrowed for the call. */
struct sb_http_in {
	struct sb_str method;                 /* "POST", "GET" */
	struct sb_str url;                    /* full public URL: the channel's public origin as
					       * configured (scheme://host[:port], never rebuilt
					       * from Host) + the request target as received
					       * (/path?query, providers may add query params) */
	const struct sb_http_header *headers; /* as received, any order */
	size_t n_headers;
	struct sb_str body;                   /* raw bytes, not NUL-terminated */
};

/* The answer the hub sends to a webhook. Written by the bridge; the hub zeroes it first.
 * Lifetime: body and content_type point into the call's arena or static storage. */
struct sb_http_answer {
	int status;                /* 200 ... */
	const char *content_type;  /* "text/xml", "text/plain"; NULL for none */
	struct sb_str body;
};

#define SB_HTTP_REQ_MAX_HEADERS 8

/* An outbound HTTP request for the hub to perform. Written by the bridge (the hub zeroes
 * it first); strings live in the call's arena. The hub adds Content-Length, Host and its
 * own User-Agent, applies timeout_ms (0: the hub's default) and follows no redirects. */
struct sb_http_req {
	const char *method;  /* "POST", "GET" (static storage) */
	struct sb_str url;
	struct sb_http_header headers[SB_HTTP_REQ_MAX_HEADERS];
	size_t n_headers;
	struct sb_str body;
	uint32_t timeout_ms;
};

/* A provider's HTTP answer to a request built by a bridge. Lifetime: borrowed for the call. */
struct sb_http_resp {
	int status;
	const struct sb_http_header *headers;
	size_t n_headers;
	struct sb_str body;
};

/* Case-insensitive header lookup; returns the first match or an empty slice {NULL, 0}. */
static inline struct sb_str sb_http_header_get(const struct sb_http_header *h, size_t n,
					       const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < n; i++) {
		if (h[i].name.len != nl)
			continue;
		size_t k = 0;
		for (; k < nl; k++) {
			unsigned char a = (unsigned char)h[i].name.p[k], b = (unsigned char)name[k];
			if (a >= 'A' && a <= 'Z')
				a = (unsigned char)(a + 32);
			if (b >= 'A' && b <= 'Z')
				b = (unsigned char)(b + 32);
			if (a != b)
				break;
		}
		if (k == nl)
			return h[i].value;
	}
	return (struct sb_str){ NULL, 0 };
}

/* Delivery status of an outbound message, the same for every provider. */
enum sb_bridge_status {
	SB_BRIDGE_ST_UNKNOWN = 0,  /* not reported, or a value this ABI does not know */
	SB_BRIDGE_ST_ACCEPTED,     /* taken by a sender pool, no sender chosen yet */
	SB_BRIDGE_ST_SCHEDULED,
	SB_BRIDGE_ST_QUEUED,
	SB_BRIDGE_ST_SENDING,
	SB_BRIDGE_ST_SENT,         /* handed to the carrier / platform */
	SB_BRIDGE_ST_DELIVERED,
	SB_BRIDGE_ST_UNDELIVERED,
	SB_BRIDGE_ST_FAILED,       /* never left the provider */
	SB_BRIDGE_ST_READ,
	SB_BRIDGE_ST_CANCELED,
	SB_BRIDGE_ST_RECEIVED,     /* an inbound message (not an outbound lifecycle step) */
};

/* Rank for monotonic status updates: apply an update only when its rank is greater than
 * the stored one (callbacks arrive duplicated and out of order). accepted/scheduled 1 <
 * queued 2 < sending 3 < sent 4 < delivered|undelivered|failed|canceled 5 < read 6;
 * unknown and received are 0 and never replace anything. */
static inline int sb_bridge_status_rank(enum sb_bridge_status s)
{
	switch (s) {
	case SB_BRIDGE_ST_ACCEPTED:
	case SB_BRIDGE_ST_SCHEDULED:
		return 1;
	case SB_BRIDGE_ST_QUEUED:
		return 2;
	case SB_BRIDGE_ST_SENDING:
		return 3;
	case SB_BRIDGE_ST_SENT:
		return 4;
	case SB_BRIDGE_ST_DELIVERED:
	case SB_BRIDGE_ST_UNDELIVERED:
	case SB_BRIDGE_ST_FAILED:
	case SB_BRIDGE_ST_CANCELED:
		return 5;
	case SB_BRIDGE_ST_READ:
		return 6;
	default:
		return 0;
	}
}

/* A media attachment (in or out). Frozen layout: never extended. */
struct sb_bridge_media {
	struct sb_str url;
	struct sb_str content_type;  /* may be empty */
	struct sb_str filename;      /* may be empty */
};

/* ---- inbound: normalized events -------------------------------------------------------- */

enum sb_bridge_event_kind {
	SB_BRIDGE_EV_NONE = 0,
	SB_BRIDGE_EV_MESSAGE,    /* a customer's message: body and/or media */
	SB_BRIDGE_EV_STATUS,     /* status of one of our messages (provider_id, status, code) */
	SB_BRIDGE_EV_OPT_OUT,    /* the customer unsubscribed (from -> to); follows its MESSAGE */
	SB_BRIDGE_EV_OPT_IN,     /* the customer resubscribed */
	SB_BRIDGE_EV_HELP,       /* the customer asked for help (HELP/INFO) */
	SB_BRIDGE_EV_DELIVERY,   /* all our messages up to watermark_ms (and/or ids) delivered */
	SB_BRIDGE_EV_READ,       /* all our messages up to watermark_ms (and/or ids) read */
	SB_BRIDGE_EV_TYPING,     /* the customer is typing (live only, never stored) */
	SB_BRIDGE_EV_ECHO,       /* a message the business sent from elsewhere (Messenger echo) */
	SB_BRIDGE_EV_POSTBACK,   /* a button/suggestion tap: payload, body = its title */
};

/* event flags */
#define SB_BRIDGE_EVF_PROVIDER_HANDLED 0x1u /* the provider already acted (blocked, replied) */

/* One normalized event. Storage is the hub's (see sb_host.event_add): the hub zeroes it and
 * its size is the hub's, so a bridge fills only the fields it knows. All slices point into
 * the request or the call's arena. Lifetime: until the hub frees the call's arena. */
struct sb_bridge_event {
	enum sb_bridge_event_kind kind;
	uint32_t flags;
	struct sb_str route_id;     /* provider-side routing id (Page id, RBM agent id, Twilio
				     * AccountSid); the hub maps it to a channel when the bridge
				     * has SB_BRIDGE_CAP_ROUTED, otherwise it is informational */
	struct sb_str provider_id;  /* MESSAGE/ECHO/POSTBACK: the provider's id of this message
				     * (dedupe key with the channel); STATUS: the id of our
				     * outbound message the status is about */
	struct sb_str event_id;     /* a provider delivery id for dedupe when the provider has
				     * one beyond provider_id (RBM eventId,
				     * I-Twilio-Idempotency-Token) */
	struct sb_str client_ref;   /* our own reference echoed by the provider, if it echoes one */
	struct sb_str service_id;   /* provider-side sender pool of the business address
				     * (Twilio MessagingServiceSid), empty when none; opt-outs
				     * apply to the whole pool */
	struct sb_str from;         /* customer address for inbound kinds, business for STATUS */
	struct sb_str to;
	struct sb_str body;         /* UTF-8 text (validated by the bridge) */
	const struct sb_bridge_media *media;
	size_t n_media;
	enum sb_bridge_status status;  /* STATUS */
	struct sb_str error_code;   /* STATUS: provider's error code as text ("30003"), or empty */
	int64_t ts_ms;              /* provider's timestamp, ms since the epoch; 0 when absent */
	int64_t watermark_ms;       /* DELIVERY/READ */
	const struct sb_str *ids;   /* DELIVERY/READ: explicit message ids, if listed */
	size_t n_ids;
	struct sb_str payload;      /* POSTBACK / quick reply payload */
	struct sb_str reply_to;     /* provider id of the message this one replies to */
	int segments;               /* MESSAGE: provider-reported part count, 0 when absent */
};

/* The hub's event sink. Opaque to bridges: they add events only through host->event_add. */
struct sb_bridge_events;

/* ---- outbound ------------------------------------------------------------------------ */

/* message flags */
#define SB_BRIDGE_MSGF_HUMAN 0x1u  /* authored by a human agent (not automation) */

/* A message to send. Built by the hub; borrowed for the call. */
struct sb_bridge_msg {
	struct sb_str to;           /* customer address (E.164, PSID...) */
	struct sb_str from;         /* sender override; empty: the channel's configured sender */
	struct sb_str body;         /* UTF-8 */
	const struct sb_bridge_media *media;
	size_t n_media;
	struct sb_str client_ref;   /* our outbox id, for providers that take or echo one */
	struct sb_str status_url;   /* absolute URL for status callbacks (the hub puts its outbox
				     * id in it), or empty for none */
	struct sb_str tag;          /* policy tag from the policy op's verdict, or empty */
	uint32_t flags;             /* SB_BRIDGE_MSGF_* */
};

enum sb_bridge_action_kind {
	SB_BRIDGE_ACT_TYPING_ON = 1,
	SB_BRIDGE_ACT_TYPING_OFF,
	SB_BRIDGE_ACT_MARK_READ,    /* message_id: the customer's message we have read */
};

/* A non-message action toward a customer. Borrowed for the call. */
struct sb_bridge_action {
	enum sb_bridge_action_kind kind;
	struct sb_str to;
	struct sb_str message_id;
	struct sb_str client_ref;   /* idempotency id for providers that take one */
};

/* What the hub knows about a message to reconcile. Borrowed for the call. */
struct sb_bridge_lookup {
	struct sb_str provider_id;  /* the provider's id, when the send answer carried it */
	struct sb_str client_ref;   /* our outbox id (providers with agent-chosen ids) */
	struct sb_str to;
};

enum sb_send_outcome {
	SB_SEND_NONE = 0,     /* not classified (a bridge bug; the hub treats it as ambiguous) */
	SB_SEND_ACCEPTED,     /* the provider took it: provider_id (and status) set */
	SB_SEND_RETRY,        /* not processed; resend after retry_after_ms (-1: hub backoff) */
	SB_SEND_AMBIGUOUS,    /* may have been processed: reconcile, never resend blindly */
	SB_SEND_PERMANENT,    /* refused for good: code and reason set */
};

/* send result flags: what the hub should do beyond failing the message */
#define SB_SEND_F_OPTED_OUT   0x01u /* record an opt-out for (sender, recipient); never retry */
#define SB_SEND_F_CREDENTIALS 0x02u /* the channel's credentials are wrong: alert the owner */
#define SB_SEND_F_CONFIG      0x04u /* the channel's sender/config is wrong: alert the owner */
#define SB_SEND_F_FALLBACK    0x08u /* recipient unreachable on this channel: try another */
#define SB_SEND_F_WINDOW      0x10u /* outside the provider's messaging window */
#define SB_SEND_F_NOT_FOUND   0x20u /* lookup: the provider has no such message */

/* A provider's answer, classified. Hub-owned and zeroed before the call; strings live in the
 * call's arena or static storage. Lifetime: until the hub frees the call's arena. */
struct sb_send_result {
	enum sb_send_outcome outcome;
	uint32_t flags;               /* SB_SEND_F_* */
	struct sb_str provider_id;    /* ACCEPTED */
	enum sb_bridge_status status; /* ACCEPTED, and lookups */
	int64_t retry_after_ms;       /* RETRY: delay asked by the provider; -1 when none */
	struct sb_str code;           /* provider's error code as text ("21610", "10/2018278") */
	const char *reason;           /* plain sentence an agent understands (static storage) */
	struct sb_str detail;         /* provider's own message (may hold numbers: don't log) */
};

/* Policy hooks (Messenger's 24 h window). Facts the hub knows; borrowed for the call. */
struct sb_bridge_policy_in {
	int64_t now_ms;
	int64_t last_inbound_ms;    /* the customer's last message on this channel; 0: never */
	bool human;                 /* authored by a human agent */
};

/* A verdict; hub-owned, zeroed before the call. */
struct sb_bridge_verdict {
	bool allow;
	struct sb_str tag;          /* copy into sb_bridge_msg.tag when sending (static storage) */
	const char *reason;         /* plain sentence when refused (static storage) */
	int64_t until_ms;           /* when this verdict stops holding; 0: no limit */
};

/* ---- configuration ---------------------------------------------------------------------- */

/* A channel's configuration as key/value strings (secrets already decrypted). Borrowed for
 * the call: channel_init copies what it keeps into priv. */
struct sb_bridge_kv {
	const char *key;
	const char *value;
};

struct sb_bridge_config {
	const struct sb_bridge_kv *kv;
	size_t n;
};

/* A config key the bridge understands, for validation, masking and the console form. */
#define SB_BRIDGE_KEY_REQUIRED 0x1u
#define SB_BRIDGE_KEY_SECRET   0x2u  /* mask when shown or logged */
struct sb_bridge_key {
	const char *name;
	uint32_t flags;
	const char *help;
};

/* Returns the value for key, or NULL. */
static inline const char *sb_bridge_config_get(const struct sb_bridge_config *c,
					       const char *key)
{
	for (size_t i = 0; c && i < c->n; i++)
		if (c->kv[i].key && strcmp(c->kv[i].key, key) == 0)
			return c->kv[i].value;
	return NULL;
}

/* ---- host services ---------------------------------------------------------------------- */

/* Services the hub lends a bridge. Lifetime: static in the hub, valid until exit. All of
 * them are safe on any thread. A bridge built for a newer minor than host->abi_minor must
 * not use host slots, or read/write struct fields, marked "since 1.N" with N greater. */
struct sb_host {
	uint32_t size;         /* sizeof(struct sb_host) as the hub built it */
	uint16_t abi_major;
	uint16_t abi_minor;

	/* One log line, key=value; never bodies, tokens or phone numbers at >= info. */
	void (*log)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	int64_t (*wall_ms)(void);

	/* Scratch in the call's arena (16-byte aligned, zeroed); aborts on OOM, never NULL.
	 * Freed by the hub when the request ends. */
	void *(*alloc)(struct sb_arena *a, size_t n);
	/* Appends a zeroed event to out and returns it, or NULL when the per-request event cap
	 * is reached (the bridge then returns SB_ETOOBIG). */
	struct sb_bridge_event *(*event_add)(struct sb_bridge_events *out);

	/* Crypto. Keys and messages of any length. */
	void (*hmac_sha1)(const void *key, size_t klen, const void *msg, size_t mlen,
			  unsigned char out[20]);
	void (*hmac_sha256)(const void *key, size_t klen, const void *msg, size_t mlen,
			    unsigned char out[32]);
	void (*hmac_sha512)(const void *key, size_t klen, const void *msg, size_t mlen,
			    unsigned char out[64]);
	void (*sha256)(const void *msg, size_t mlen, unsigned char out[32]);
	/* Constant-time equality of two n-byte buffers. */
	bool (*mem_eq)(const void *a, const void *b, size_t n);
	/* Standard base64 with padding into out, NUL-terminated; returns the length written
	 * (without the NUL), or 0 when outlen < 4 * ceil(n / 3) + 1. */
	size_t (*base64_encode)(const void *p, size_t n, char *out, size_t outlen);
	/* Standard base64 (padding optional) into out; returns the byte count or -1 on bad
	 * input or when out is too small. */
	long (*base64_decode)(const char *p, size_t n, void *out, size_t outlen);

	/* Untrusted JSON into a tree in the arena (depth and node caps). 0, SB_EINVAL or
	 * SB_ETOOBIG. Walk the tree with sb_bridge_json_get below. */
	int (*json_parse)(struct sb_arena *a, const char *p, size_t n, struct sb_json **out);
};

/* Member lookup in a tree from host->json_parse; NULL when absent (no hub call). */
static inline const struct sb_json *sb_bridge_json_get(const struct sb_json *obj,
						       const char *key)
{
	if (!obj || obj->type != SB_JSON_OBJECT)
		return NULL;
	size_t kl = strlen(key);
	for (const struct sb_json *c = obj->child; c; c = c->next)
		if (c->key.len == kl && memcmp(c->key.p, key, kl) == 0)
			return c;
	return NULL;
}

/* ---- the bridge ------------------------------------------------------------------------- */

/* Everything a bridge op needs besides its inputs. Hub-owned; borrowed for the call. */
struct sb_bridge_ctx {
	const struct sb_host *host;
	struct sb_arena *arena;   /* outputs go here; freed by the hub after the request */
	void *priv;               /* the channel's state: priv_size bytes, filled by channel_init */
	int64_t now_ms;           /* wall clock for this call (tests pin it) */
};

/* bridge classes (bits) */
#define SB_BRIDGE_CLASS_MESSAGING 0x1u
#define SB_BRIDGE_CLASS_REVIEWS   0x2u

/* capability bits: each names the ops it makes mandatory */
#define SB_BRIDGE_CAP_INBOUND   0x001u /* webhook */
#define SB_BRIDGE_CAP_OUTBOUND  0x002u /* send_build, send_parse */
#define SB_BRIDGE_CAP_LOOKUP    0x004u /* lookup_build, lookup_parse */
#define SB_BRIDGE_CAP_REPLY     0x008u /* webhook_reply: an auto-reply rides the webhook answer */
#define SB_BRIDGE_CAP_POLICY    0x010u /* policy */
#define SB_BRIDGE_CAP_ACTIONS   0x020u /* action_build (typing, mark read); send_parse parses */
#define SB_BRIDGE_CAP_ROUTED    0x040u /* one endpoint for many channels: route by route_id */
#define SB_BRIDGE_CAP_BATCHED   0x080u /* one webhook body may carry many events */
#define SB_BRIDGE_CAP_HANDSHAKE 0x100u /* webhook answers verification handshakes itself */
#define SB_BRIDGE_CAP_MEDIA_OUT 0x200u /* sb_bridge_msg.media is sent */

#define SB_BRIDGE_MAX_PRIV (64u * 1024u)

/* A bridge. Exported as `const struct sb_bridge sb_bridge_<name>` (static build) and through
 * `sb_bridge_entry()` (module). Lifetime: static storage of the bridge, never freed.
 * Every op runs on whatever thread the hub chooses; ops touch only their arguments, so
 * calls on different channels (or arenas) may run concurrently. Unless stated, an op
 * returns 0 or a negative enum sb_err and writes only its out-params. */
struct sb_bridge {
	/* ---- frozen prefix: identical in every major version ---- */
	const char *name;        /* [a-z0-9_]+; the module file is sb_bridge_<name>.so */
	uint32_t bridge_class;   /* SB_BRIDGE_CLASS_* ("class" in the design; renamed so that
				  * C++ fuzz drivers can include this header) */
	uint16_t abi_major;      /* SB_BRIDGE_ABI_MAJOR the bridge was built with */
	uint16_t abi_minor;
	uint32_t size;           /* sizeof(struct sb_bridge) the bridge was built with */

	/* ---- 1.0 ---- */
	uint32_t caps;           /* SB_BRIDGE_CAP_* */
	uint32_t priv_size;      /* per-channel state the hub allocates (zeroed), <= MAX_PRIV */
	const struct sb_bridge_key *config_keys; /* terminated by { NULL }; may be NULL */

	/* Mandatory. Validates cfg and fills priv (priv_size zeroed bytes, hub-owned; the bridge
	 * copies what it keeps, secrets included, and keeps no pointer into cfg). On error
	 * writes a one-line reason naming the key into err and returns SB_EINVAL. */
	int (*channel_init)(const struct sb_host *host, void *priv,
			    const struct sb_bridge_config *cfg, char *err, size_t errlen);
	/* Optional. Releases what channel_init acquired beyond priv and wipes secrets; the hub
	 * frees priv afterwards. */
	void (*channel_fini)(void *priv);

	/* CAP_INBOUND. Verifies req (signature over the raw bytes or the exact URL) with the
	 * channel's secrets, translates it into events via host->event_add, and writes the
	 * answer for success (e.g. an empty TwiML document; a handshake's echo with no events).
	 * Returns 0, SB_EAUTH (bad or missing signature: answer 403, add nothing), SB_EINVAL
	 * (malformed: answer 400) or SB_ETOOBIG. Events are valid only when it returns 0. */
	int (*webhook)(const struct sb_bridge_ctx *c, const struct sb_http_in *req,
		       struct sb_bridge_events *out, struct sb_http_answer *answer);
	/* CAP_REPLY. Replaces *answer (from webhook) with one that also sends text to the
	 * customer who wrote (TwiML <Message>, escaped). The hub calls it after committing. */
	int (*webhook_reply)(const struct sb_bridge_ctx *c, struct sb_str text,
			     struct sb_http_answer *answer);

	/* CAP_POLICY. Says whether msg may be sent now (windows, tags). Returns 0 and a verdict. */
	int (*policy)(const struct sb_bridge_ctx *c, const struct sb_bridge_msg *msg,
		      const struct sb_bridge_policy_in *in, struct sb_bridge_verdict *out);

	/* CAP_OUTBOUND. Builds the provider request for msg. SB_ETOOBIG (body or media over the
	 * provider's limit), SB_EINVAL (missing address or sender). */
	int (*send_build)(const struct sb_bridge_ctx *c, const struct sb_bridge_msg *msg,
			  struct sb_http_req *req);
	/* CAP_OUTBOUND. Classifies the provider's answer to a send (or action) request. Returns
	 * 0 and the outcome as data, always: a malformed answer is SB_SEND_AMBIGUOUS. Transport
	 * failures never reach it: the hub classifies a failed connect as RETRY and a timeout
	 * or reset after the request was written as AMBIGUOUS. */
	int (*send_parse)(const struct sb_bridge_ctx *c, const struct sb_http_resp *resp,
			  struct sb_send_result *res);

	/* CAP_LOOKUP. Builds a request fetching a message's current state, to reconcile an
	 * ambiguous outcome or a missing callback. SB_EINVAL when lk lacks what the provider
	 * needs. */
	int (*lookup_build)(const struct sb_bridge_ctx *c, const struct sb_bridge_lookup *lk,
			    struct sb_http_req *req);
	/* CAP_LOOKUP. ACCEPTED with provider_id and status when the provider knows the message;
	 * PERMANENT with SB_SEND_F_NOT_FOUND when it does not (the send never happened); RETRY
	 * or AMBIGUOUS when the lookup itself failed. Returns 0. */
	int (*lookup_parse)(const struct sb_bridge_ctx *c, const struct sb_http_resp *resp,
			    struct sb_send_result *res);

	/* CAP_ACTIONS. Builds a typing/read request; its answer goes through send_parse. */
	int (*action_build)(const struct sb_bridge_ctx *c, const struct sb_bridge_action *a,
			    struct sb_http_req *req);
	/* Appended fields go below, each marked "since 1.N"; bump SB_BRIDGE_ABI_MINOR. */
};

/* The smallest size a bridge of this major may declare: every 1.0 field. */
#define SB_BRIDGE_SIZE_1_0                                                                 \
	(offsetof(struct sb_bridge, action_build) + sizeof(((struct sb_bridge *)0)->action_build))

/* True when b declares the slot and fills it. Read a slot only through this. */
#define SB_BRIDGE_HAS(b, slot)                                                             \
	(offsetof(struct sb_bridge, slot) + sizeof((b)->slot) <= (b)->size && (b)->slot != NULL)

/* The initializer prefix every bridge table starts with. */
#define SB_BRIDGE_HEADER(nm, cls)                                                          \
	.name = (nm), .bridge_class = (cls), .abi_major = SB_BRIDGE_ABI_MAJOR,             \
	.abi_minor = SB_BRIDGE_ABI_MINOR, .size = sizeof(struct sb_bridge)

/* A module exports this one symbol; it returns the bridge's static table. */
#define SB_BRIDGE_ENTRY_SYMBOL "sb_bridge_entry"
#define SB_BRIDGE_EXPORT __attribute__((visibility("default")))
/* In a module source: SB_BRIDGE_MODULE(sb_bridge_sms) */
#define SB_BRIDGE_MODULE(sym)                                                              \
	SB_BRIDGE_EXPORT const struct sb_bridge *sb_bridge_entry(void);                    \
	const struct sb_bridge *sb_bridge_entry(void)                                      \
	{                                                                                  \
		return &(sym);                                                             \
	}

/* ---- hub side (bridges/bridge_load.c; the hub links it, bridges never do) -------------- */

/* Checks a bridge table (static or loaded): major version, size, name, priv_size, and that
 * every op its caps require is present within size. Returns 0, or SB_EINVAL with a
 * one-line reason in err ("bridge sms: abi_major 2, hub supports 1"). */
int sb_bridge_check(const struct sb_bridge *b, char *err, size_t errlen);

/* Loads <dir>/sb_bridge_<name>.so, calls its sb_bridge_entry and checks the table with
 * sb_bridge_check (and that its name equals `name`). On success *out points at the table,
 * and the module stays loaded until exit. Returns 0; SB_ENOTFOUND (no file or no entry
 * symbol), SB_EINVAL (refused by the checks; the module is unloaded). err gets one line. */
int sb_bridge_load(const char *dir, const char *name, const struct sb_bridge **out, char *err,
		   size_t errlen);

#endif
