/* SPDX-License-Identifier: MIT
 * RFC 6455 framing for the load tools: an encoder (client frames are masked, server
 * frames are not) and a streaming decoder whose whole state is 32 bytes, so a load
 * client can hold one per connection and feed it whatever each read returned, even a
 * byte at a time. Payload bytes are handed back in place (unmasked in place when masked).
 */
#ifndef BENCH_WS_H
#define BENCH_WS_H

#include <stddef.h>
#include <stdint.h>

enum {
	BENCH_WS_CONT = 0x0,
	BENCH_WS_TEXT = 0x1,
	BENCH_WS_BINARY = 0x2,
	BENCH_WS_CLOSE = 0x8,
	BENCH_WS_PING = 0x9,
	BENCH_WS_PONG = 0xa,
};

/* Largest header: 2 bytes, 8 bytes of 64-bit length, 4 bytes of mask. */
#define BENCH_WS_HDR_MAX 14

/* Header length for a payload of len bytes, masked (client) or not (server). */
size_t bench_ws_hdr_len(uint64_t len, int masked);

/* Writes one frame to out (header, then payload masked with mask if mask is not NULL).
 * Returns the bytes written, or 0 if cap is too small. payload may be NULL when len is 0.
 * payload and out must not overlap. */
size_t bench_ws_encode(uint8_t *out, size_t cap, unsigned opcode, int fin, const void *payload,
		       size_t len, const uint8_t *mask);

/* XORs buf with mask, starting at mask offset pos (0..3). */
void bench_ws_mask(uint8_t *buf, size_t len, const uint8_t mask[4], unsigned pos);

/* Streaming decoder. Zero-initialised (or bench_wsdec_init) before the first byte. */
struct bench_wsdec {
	uint64_t left;		/* payload bytes still to come in this frame */
	uint64_t max_len;	/* frames longer than this are an error (0: no limit) */
	uint8_t hdr[BENCH_WS_HDR_MAX];
	uint8_t hlen;		/* header bytes collected */
	uint8_t opcode;		/* of the current frame */
	uint8_t fin;
	uint8_t masked;
	uint8_t mpos;		/* mask offset of the next payload byte */
	uint8_t in_payload;
	uint8_t pad[2];
};

enum bench_ws_ev_kind {
	BENCH_WS_EV_NONE,	/* input consumed into the header; feed more */
	BENCH_WS_EV_HEADER,	/* a frame header is complete; end is set if it has no payload */
	BENCH_WS_EV_DATA,	/* a chunk of payload; end is set on the frame's last chunk */
	BENCH_WS_EV_ERROR,	/* a protocol error: close the connection */
};

/* What one decoder step found. data points into the caller's buffer. */
struct bench_ws_ev {
	enum bench_ws_ev_kind kind;
	unsigned opcode;
	int fin;
	int end;
	uint64_t frame_len;
	uint8_t *data;
	size_t len;
};

void bench_wsdec_init(struct bench_wsdec *d, uint64_t max_len);

/* Consumes a prefix of buf[0..len) and reports one event. Returns the bytes consumed
 * (possibly 0 only for an event that needs no input, such as a header-only frame end
 * reported earlier); call again with the rest while bytes remain. */
size_t bench_wsdec_step(struct bench_wsdec *d, uint8_t *buf, size_t len, struct bench_ws_ev *ev);

#endif
