/* SPDX-License-Identifier: MIT
 * sbload internals: options, the shared-memory slots through which forked workers
 * report to the parent, and the per-connection state (a flat array of ~150-byte structs
 * per worker, no heap per connection except while a frame or write is split).
 */
#ifndef SBLOAD_H
#define SBLOAD_H

#include <stdint.h>
#include <sys/types.h>

#include "bench_hist.h"
#include "bench_util.h"
#include "bench_ws.h"

#define SBLOAD_MAX_PER_PROC 19000	/* below the 20,000 open-file cap, with room */
#define SBLOAD_MAX_PROCS 64
#define SBLOAD_MAX_HEADERS 8
#define SBLOAD_MARKER_MAX 32
#define SBLOAD_MAX_FRAME (1u << 20)	/* frames above 1 MiB close the connection */

enum sbload_proto { PROTO_HUB, PROTO_MQTT, PROTO_NATS, PROTO_WS };
enum sbload_mode { MODE_HOLD, MODE_SUBSCRIBE, MODE_RECV };

/* Command-line options; filled once by the parent and inherited by every worker. */
struct sbload_opts {
	enum sbload_proto proto;
	enum sbload_mode mode;
	struct bench_url url;
	long conns;
	long procs;
	uint32_t src_base;		/* host order, in 127.0.0.0/8 */
	double connect_rate;		/* per second in all, 0 = only bounded by inflight */
	long inflight;			/* handshakes in flight per worker */
	double connect_timeout;
	double duration;
	double ping_interval;
	double drain;
	const char *cookie;
	char **cookies;			/* from --cookie-file, round-robin */
	int ncookies;
	const char *origin;
	const char *subprotocol;
	const char *headers[SBLOAD_MAX_HEADERS];
	int nheaders;
	const char *hello;
	const char *topic;
	char stamp_marker[SBLOAD_MARKER_MAX];
	char count_marker[SBLOAD_MARKER_MAX];
	double pub_rate;
	long messages;
	const char *pub_template;
	long pub_size;
	const char *pub_cmd;		/* external publisher run through sh -c, or NULL */
	int server_pids[8];
	int nserver_pids;
	long stall_every;		/* every K-th connection stops reading at go (0: none) */
	int quiet;
};

/* One worker's live counters and histograms. Written only by that worker (relaxed
 * atomic stores), read by the parent for progress and, after the worker exits, merged. */
struct sbload_slot {
	uint64_t opened;		/* connect() calls made */
	uint64_t open;			/* WebSocket established and not closed */
	uint64_t ready;			/* setup done (welcome / CONNACK / SUBACK / PONG) */
	uint64_t fail_connect;		/* TCP connect error */
	uint64_t fail_http;		/* handshake answered with a status other than 101 */
	uint64_t fail_accept;		/* wrong or missing Sec-WebSocket-Accept */
	uint64_t fail_timeout;		/* not ready within --connect-timeout */
	uint64_t fail_proto;		/* broken frame or protocol refusal */
	uint64_t closed_peer;		/* closed by the server after setup */
	uint64_t close_codes;		/* close frames received */
	uint64_t last_close_code;
	uint64_t last_http_status;
	uint64_t frames_rx;		/* data messages received */
	uint64_t counted;		/* messages matching the count marker or protocol message */
	uint64_t stamps;		/* latency samples recorded */
	uint64_t bytes_rx;
	uint64_t pongs;
	uint64_t pub_sent;		/* publisher: messages sent */
	uint64_t pub_last_ns;		/* publisher: time of the last scheduled send */
	uint64_t last_rx_ns;		/* time of the last stamped message */
	uint64_t stalled;		/* ready connections that stop reading at go */
	uint64_t stalled_cut;		/* of those, closed by the server (FIN/RST seen) */
	uint64_t setup_done;		/* every connection resolved (ready or failed) */
	uint64_t exited;
	struct bench_hist lat;		/* scheduled send -> receive */
	struct bench_hist hs;		/* connect() -> 101 */
};

/* The MAP_SHARED page set created before fork. go/stop are written by the parent only.
 * When the run has its own publisher, last_us follows the struct: for each slot, one
 * entry per message holding the latency of the slowest receiver in that worker, so the
 * parent can report the time for a message to reach its last subscriber. */
struct sbload_shared {
	uint64_t go;			/* publishers may start; value is the start time */
	uint64_t stop;
	uint64_t interval_ns;		/* publisher's schedule step */
	uint64_t nlast;			/* entries per slot in last_us (0: not tracked) */
	struct sbload_slot slot[SBLOAD_MAX_PROCS + 1];
	uint32_t last_us[];
};

enum sbload_role { ROLE_SUB, ROLE_PUB };

enum sbload_conn_state { CS_FREE, CS_CONNECTING, CS_HANDSHAKE, CS_OPEN, CS_DEAD };

/* Protocol parser state, one variant per adapter. */
union sbload_app {
	struct {
		uint32_t left;		/* MSG payload bytes (plus CRLF) still to come */
		uint32_t num;		/* last number seen on the current line */
		uint8_t verb[4];
		uint8_t vlen;
		uint8_t in_payload;
		uint8_t stage;		/* 0: waiting for INFO, 1: CONNECT sent */
	} nats;
	struct {
		uint32_t rem;		/* remaining length of the packet */
		uint32_t pos;		/* bytes of the body seen */
		uint32_t mult;
		uint8_t st;		/* 0 fixed header, 1 remaining length, 2 body */
		uint8_t type;
		uint8_t code;		/* CONNACK / SUBACK return code */
	} mqtt;
};

/* One connection. Lives in the worker's flat array for the whole run; the three heap
 * pointers are NULL except while a handshake answer, a control frame or a write is split
 * across system calls. */
struct sbload_conn {
	int fd;
	uint32_t idx;			/* position in the worker's array */
	uint8_t st;			/* enum sbload_conn_state */
	uint8_t ready;
	uint8_t resolved;		/* counted as ready or failed */
	uint8_t stamp_m;		/* stamp marker bytes matched */
	uint8_t count_m;		/* count marker bytes matched */
	uint8_t digits;			/* 0 none, 1 after the marker, 2 reading digits */
	uint8_t msg_flags;		/* SBLOAD_MF_* for the current message */
	uint8_t ctl_len;		/* control payload bytes gathered in ctl */
	uint8_t key[16];		/* Sec-WebSocket-Key nonce */
	uint64_t t0;			/* connect() time */
	uint64_t stamp;			/* digits read so far */
	struct bench_wsdec dec;
	union sbload_app app;
	uint8_t *part;			/* split handshake answer */
	uint8_t *ctl;			/* split control frame payload (<= 125 bytes) */
	uint8_t *wbuf;			/* unsent output */
	uint32_t part_len, wlen, woff;
};

#define SBLOAD_MF_STAMPED 1
#define SBLOAD_MF_COUNTED 2

/* A worker's context: shared by the loop (sbload_worker.c) and the protocol adapters
 * (sbload_proto.c). Lifetime: the worker process. */
struct sbload_ctx {
	const struct sbload_opts *o;
	struct sbload_shared *sh;
	struct sbload_slot *slot;
	uint32_t *last_us;		/* this worker's row, or NULL */
	enum sbload_role role;
	int proc;
	long gidx0;
	struct sbload_conn *conns;
	long nconns;
	uint8_t *out;			/* frame building buffer */
	size_t out_cap;
	uint64_t rng;
	uint8_t stamp_fail[SBLOAD_MARKER_MAX];
	uint8_t count_fail[SBLOAD_MARKER_MAX];
	uint8_t stamp_len, count_len;
	int stopping;
};

/* Worker services for the adapters (sbload_worker.c). */
int sbload__send(struct sbload_ctx *x, struct sbload_conn *c, const void *p, size_t len);
int sbload__send_frame(struct sbload_ctx *x, struct sbload_conn *c, unsigned opcode,
		       const void *p, size_t len);
void sbload__ready(struct sbload_ctx *x, struct sbload_conn *c);
/* --stall-every: this connection stops reading once the publisher starts */
static inline int sbload__stalls(const struct sbload_ctx *x, const struct sbload_conn *c)
{
	long k = x->o->stall_every;

	return k > 0 && (x->gidx0 + (long)c->idx) % k == k - 1;
}
/* Closes c, counting it under the given failure counter if it was not yet resolved. */
void sbload__fail(struct sbload_ctx *x, struct sbload_conn *c, uint64_t *counter);

/* Protocol adapters (sbload_proto.c). */
void sbload__kmp_init(const char *m, uint8_t *fail);
void sbload__proto_open(struct sbload_ctx *x, struct sbload_conn *c);
/* A chunk of a data message's payload; end is set on the message's last chunk. */
void sbload__proto_data(struct sbload_ctx *x, struct sbload_conn *c, const uint8_t *p, size_t n,
			int end);
void sbload__proto_ping(struct sbload_ctx *x, struct sbload_conn *c);
/* Builds one published message for seq n stamped t into x->out at off; returns its
 * length (a complete WebSocket frame), or 0 if it does not fit. */
size_t sbload__proto_publish(struct sbload_ctx *x, struct sbload_conn *c, size_t off, uint64_t n,
			     uint64_t t);

/* Runs one worker: nconns connections (first global index gidx0) from source address
 * src (host order). Never returns; exits the process. */
void sbload_worker(const struct sbload_opts *o, struct sbload_shared *sh, int proc, long gidx0,
		   long nconns, uint32_t src, enum sbload_role role);

/* Relaxed atomic helpers for the slot counters. */
#define SLOT_ADD(s, f, v) __atomic_fetch_add(&(s)->f, (v), __ATOMIC_RELAXED)
#define SLOT_SET(s, f, v) __atomic_store_n(&(s)->f, (v), __ATOMIC_RELAXED)
#define SLOT_GET(s, f) __atomic_load_n(&(s)->f, __ATOMIC_RELAXED)

#endif
