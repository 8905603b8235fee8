/* SPDX-License-Identifier: MIT
 * RFC 6455 frame encoder and streaming decoder. The decoder keeps only the header bytes
 * of a frame in progress; payload is never copied, which is what lets a load client keep
 * its per-connection state near 200 bytes.
 */
#include "bench_ws.h"

#include <string.h>

size_t bench_ws_hdr_len(uint64_t len, int masked)
{
	size_t n = 2;

	if (len > 65535)
		n += 8;
	else if (len > 125)
		n += 2;
	return n + (masked ? 4 : 0);
}

void bench_ws_mask(uint8_t *buf, size_t len, const uint8_t mask[4], unsigned pos)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] ^= mask[(pos + i) & 3];
}

size_t bench_ws_encode(uint8_t *out, size_t cap, unsigned opcode, int fin, const void *payload,
		       size_t len, const uint8_t *mask)
{
	size_t h = bench_ws_hdr_len(len, mask != NULL);
	size_t o = 0;
	int i;

	if (cap < h || cap - h < len)
		return 0;
	out[o++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len > 65535) {
		out[o++] = (mask ? 0x80 : 0) | 127;
		for (i = 7; i >= 0; i--)
			out[o++] = (uint8_t)((uint64_t)len >> (8 * i));
	} else if (len > 125) {
		out[o++] = (mask ? 0x80 : 0) | 126;
		out[o++] = (uint8_t)(len >> 8);
		out[o++] = (uint8_t)len;
	} else {
		out[o++] = (uint8_t)((mask ? 0x80 : 0) | len);
	}
	if (mask) {
		memcpy(out + o, mask, 4);
		o += 4;
	}
	if (len) {
		memcpy(out + o, payload, len);
		if (mask)
			bench_ws_mask(out + o, len, mask, 0);
	}
	return o + len;
}

void bench_wsdec_init(struct bench_wsdec *d, uint64_t max_len)
{
	memset(d, 0, sizeof(*d));
	d->max_len = max_len;
}

/* Header bytes needed, given what has been collected so far (at least the first 2). */
static size_t hdr_need(const struct bench_wsdec *d)
{
	size_t n = 2;
	unsigned l;

	if (d->hlen < 2)
		return 2;
	l = d->hdr[1] & 0x7f;
	if (l == 126)
		n += 2;
	else if (l == 127)
		n += 8;
	if (d->hdr[1] & 0x80)
		n += 4;
	return n;
}

static int parse_header(struct bench_wsdec *d, struct bench_ws_ev *ev)
{
	unsigned l = d->hdr[1] & 0x7f;
	uint64_t len = l;
	size_t o = 2;
	int i;

	if (d->hdr[0] & 0x70)
		return -1;	/* RSV bits without a negotiated extension */
	if (l == 126) {
		len = (uint64_t)d->hdr[2] << 8 | d->hdr[3];
		o = 4;
	} else if (l == 127) {
		len = 0;
		for (i = 0; i < 8; i++)
			len = len << 8 | d->hdr[2 + i];
		o = 10;
		if (len >> 63)
			return -1;
	}
	d->opcode = d->hdr[0] & 0x0f;
	d->fin = !!(d->hdr[0] & 0x80);
	d->masked = !!(d->hdr[1] & 0x80);
	if (d->opcode & 0x08) {
		if (!d->fin || len > 125 || d->opcode > BENCH_WS_PONG)
			return -1;
	} else if (d->opcode > BENCH_WS_BINARY) {
		return -1;
	}
	if (d->max_len && len > d->max_len)
		return -1;
	if (d->masked)
		memcpy(d->hdr, d->hdr + o, 4);	/* keep the mask key at hdr[0..3] */
	d->left = len;
	d->mpos = 0;
	ev->kind = BENCH_WS_EV_HEADER;
	ev->opcode = d->opcode;
	ev->fin = d->fin;
	ev->frame_len = len;
	ev->end = len == 0;
	return 0;
}

size_t bench_wsdec_step(struct bench_wsdec *d, uint8_t *buf, size_t len, struct bench_ws_ev *ev)
{
	size_t used = 0, need, n;

	memset(ev, 0, sizeof(*ev));
	ev->kind = BENCH_WS_EV_NONE;
	if (d->in_payload) {
		n = len < d->left ? len : (size_t)d->left;
		if (d->masked)
			bench_ws_mask(buf, n, d->hdr, d->mpos);
		d->mpos = (uint8_t)((d->mpos + n) & 3);
		d->left -= n;
		ev->kind = BENCH_WS_EV_DATA;
		ev->opcode = d->opcode;
		ev->fin = d->fin;
		ev->data = buf;
		ev->len = n;
		ev->end = d->left == 0;
		if (ev->end) {
			d->in_payload = 0;
			d->hlen = 0;
		}
		return n;
	}
	while (used < len) {
		need = hdr_need(d);
		if (d->hlen >= 2 && d->hlen >= need)
			break;
		d->hdr[d->hlen++] = buf[used++];
	}
	need = hdr_need(d);
	if (d->hlen < 2 || d->hlen < need)
		return used;
	if (parse_header(d, ev) < 0) {
		ev->kind = BENCH_WS_EV_ERROR;
		return used;
	}
	if (d->left)
		d->in_payload = 1;
	else
		d->hlen = 0;
	return used;
}
