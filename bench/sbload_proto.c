/* SPDX-License-Identifier: MIT
 * sbload's protocol adapters: what each server expects after the WebSocket opens, how
 * its messages are framed inside the WebSocket stream, and where the latency stamp is.
 * hub: sb-agent.v1 JSON (docs/PROTOCOL.md); mqtt: MQTT 3.1.1 in binary frames; nats:
 * the NATS text protocol; ws: a plain relay, one message per frame. Every parser is a
 * byte-at-a-time state machine over the payload stream, so nothing is buffered.
 */
#include "sbload.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- stamp and count markers ---- */

void sbload__kmp_init(const char *m, uint8_t *fail)
{
	size_t i, k = 0, n = strlen(m);

	if (!n)
		return;
	fail[0] = 0;
	for (i = 1; i < n; i++) {
		while (k && m[i] != m[k])
			k = fail[k - 1];
		if (m[i] == m[k])
			k++;
		fail[i] = (uint8_t)k;
	}
}

static uint8_t kmp_step(const char *m, const uint8_t *fail, uint8_t st, uint8_t b)
{
	while (st && (uint8_t)m[st] != b)
		st = fail[st - 1];
	if ((uint8_t)m[st] == b)
		st++;
	return st;
}

static void stamp_end(struct sbload_ctx *x, struct sbload_conn *c)
{
	uint64_t now, us;
	int64_t d;

	if (c->digits == 2) {
		now = bench_now_ns();
		d = (int64_t)(now - c->stamp);
		bench_hist_record_ns(&x->slot->lat, d);
		SLOT_ADD(x->slot, stamps, 1);
		SLOT_SET(x->slot, last_rx_ns, now);
		c->msg_flags |= SBLOAD_MF_STAMPED;
		if (x->last_us && x->sh->interval_ns && c->stamp >= x->sh->go) {
			uint64_t i = (c->stamp - x->sh->go) / x->sh->interval_ns;

			us = d > 0 ? (uint64_t)d / 1000 : 0;
			if (us > UINT32_MAX)
				us = UINT32_MAX;
			if (i < x->sh->nlast && us + 1 > x->last_us[i])
				x->last_us[i] = (uint32_t)(us + 1);	/* 0 means "none" */
		}
	}
	c->digits = 0;
}

/* Scans message bytes for the stamp marker followed by digits and for the count marker. */
static void scan(struct sbload_ctx *x, struct sbload_conn *c, const uint8_t *p, size_t n)
{
	const struct sbload_opts *o = x->o;
	const uint8_t done = (x->stamp_len ? SBLOAD_MF_STAMPED : 0) |
			     (x->count_len ? SBLOAD_MF_COUNTED : 0);
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t b = p[i];

		if ((c->msg_flags & done) == done && !c->digits)
			return;
		if (c->digits) {
			if (b >= '0' && b <= '9' && c->stamp < UINT64_MAX / 10 - 10) {
				c->stamp = c->stamp * 10 + (uint64_t)(b - '0');
				c->digits = 2;
				continue;
			}
			stamp_end(x, c);
		}
		if (x->stamp_len && !(c->msg_flags & SBLOAD_MF_STAMPED)) {
			c->stamp_m = kmp_step(o->stamp_marker, x->stamp_fail, c->stamp_m, b);
			if (c->stamp_m == x->stamp_len) {
				c->stamp_m = 0;
				c->digits = 1;
				c->stamp = 0;
			}
		}
		if (x->count_len && !(c->msg_flags & SBLOAD_MF_COUNTED)) {
			c->count_m = kmp_step(o->count_marker, x->count_fail, c->count_m, b);
			if (c->count_m == x->count_len) {
				c->msg_flags |= SBLOAD_MF_COUNTED;
				SLOT_ADD(x->slot, counted, 1);
			}
		}
	}
}

static void msg_end(struct sbload_ctx *x, struct sbload_conn *c)
{
	stamp_end(x, c);
	c->stamp_m = 0;
	c->count_m = 0;
	c->msg_flags = 0;
	SLOT_ADD(x->slot, frames_rx, 1);
}

/* ---- MQTT 3.1.1 ---- */

static size_t mqtt_varint(uint8_t *p, size_t v)
{
	size_t n = 0;

	do {
		p[n] = (uint8_t)(v & 127);
		v >>= 7;
		if (v)
			p[n] |= 128;
		n++;
	} while (v && n < 4);
	return n;
}

static size_t mqtt_str(uint8_t *p, const char *s)
{
	size_t n = strlen(s);

	p[0] = (uint8_t)(n >> 8);
	p[1] = (uint8_t)n;
	memcpy(p + 2, s, n);
	return n + 2;
}

/* Wraps body (already at pkt + 5) with a fixed header; returns the packet start. */
static uint8_t *mqtt_wrap(uint8_t *pkt, uint8_t first, size_t body, size_t *len)
{
	uint8_t rl[4];
	size_t n = mqtt_varint(rl, body);
	uint8_t *start = pkt + 5 - 1 - n;

	start[0] = first;
	memcpy(start + 1, rl, n);
	*len = 1 + n + body;
	return start;
}

static void mqtt_connect(struct sbload_ctx *x, struct sbload_conn *c)
{
	uint8_t pkt[96], *b = pkt + 5, *start;
	char id[32];
	size_t n = 0, len;

	snprintf(id, sizeof(id), "sb%x-%x", (unsigned)getpid(), c->idx);
	n += mqtt_str(b + n, "MQTT");
	b[n++] = 4;		/* protocol level 3.1.1 */
	b[n++] = 0x02;		/* clean session */
	b[n++] = 0x01;		/* keepalive 300 s; sbload sends PINGREQ every --ping-interval */
	b[n++] = 0x2c;
	n += mqtt_str(b + n, id);
	start = mqtt_wrap(pkt, 0x10, n, &len);
	sbload__send_frame(x, c, BENCH_WS_BINARY, start, len);
}

static void mqtt_subscribe(struct sbload_ctx *x, struct sbload_conn *c)
{
	uint8_t pkt[300], *b = pkt + 5, *start;
	size_t n = 0, len;

	b[n++] = 0;
	b[n++] = 1;		/* packet id */
	n += mqtt_str(b + n, x->o->topic);
	b[n++] = 0;		/* QoS 0 */
	start = mqtt_wrap(pkt, 0x82, n, &len);
	sbload__send_frame(x, c, BENCH_WS_BINARY, start, len);
}

static void mqtt_packet_end(struct sbload_ctx *x, struct sbload_conn *c)
{
	switch (c->app.mqtt.type) {
	case 2:		/* CONNACK */
		if (c->app.mqtt.code) {
			SLOT_SET(x->slot, last_close_code, c->app.mqtt.code);
			sbload__fail(x, c, &x->slot->fail_proto);
			return;
		}
		if (x->role == ROLE_SUB && x->o->mode == MODE_SUBSCRIBE)
			mqtt_subscribe(x, c);
		else
			sbload__ready(x, c);
		break;
	case 9:		/* SUBACK */
		if (c->app.mqtt.code & 0x80)
			sbload__fail(x, c, &x->slot->fail_proto);
		else
			sbload__ready(x, c);
		break;
	case 3:		/* PUBLISH */
		msg_end(x, c);
		if (!x->count_len)
			SLOT_ADD(x->slot, counted, 1);
		break;
	case 13:	/* PINGRESP */
		SLOT_ADD(x->slot, pongs, 1);
		break;
	default:
		break;
	}
}

static void mqtt_data(struct sbload_ctx *x, struct sbload_conn *c, const uint8_t *p, size_t n)
{
	size_t i = 0, k;

	while (i < n && c->st == CS_OPEN) {
		switch (c->app.mqtt.st) {
		case 0:
			c->app.mqtt.type = p[i++] >> 4;
			c->app.mqtt.rem = 0;
			c->app.mqtt.mult = 1;
			c->app.mqtt.pos = 0;
			c->app.mqtt.code = 0;
			c->app.mqtt.st = 1;
			break;
		case 1:
			if (c->app.mqtt.mult > 128 * 128 * 128) {
				sbload__fail(x, c, &x->slot->fail_proto);
				return;
			}
			c->app.mqtt.rem += (uint32_t)(p[i] & 127) * c->app.mqtt.mult;
			c->app.mqtt.mult *= 128;
			if (!(p[i++] & 128)) {
				c->app.mqtt.st = 2;
				if (!c->app.mqtt.rem) {
					c->app.mqtt.st = 0;
					mqtt_packet_end(x, c);
				}
			}
			break;
		default:
			k = c->app.mqtt.rem - c->app.mqtt.pos;
			if (k > n - i)
				k = n - i;
			if (c->app.mqtt.type == 3) {
				scan(x, c, p + i, k);
			} else {
				/* CONNACK's code is body byte 1, SUBACK's is byte 2 */
				uint32_t at = c->app.mqtt.type == 2 ? 1 : 2;

				if (at >= c->app.mqtt.pos && at < c->app.mqtt.pos + k)
					c->app.mqtt.code = p[i + at - c->app.mqtt.pos];
			}
			c->app.mqtt.pos += (uint32_t)k;
			i += k;
			if (c->app.mqtt.pos == c->app.mqtt.rem) {
				c->app.mqtt.st = 0;
				mqtt_packet_end(x, c);
			}
			break;
		}
	}
}

/* ---- NATS ---- */

static void nats_line(struct sbload_ctx *x, struct sbload_conn *c)
{
	const uint8_t *v = c->app.nats.verb;
	char buf[512];
	int n;

	if (c->app.nats.vlen < 3)
		return;
	if (!memcmp(v, "INFO", 4) && !c->app.nats.stage) {
		c->app.nats.stage = 1;
		n = snprintf(buf, sizeof(buf),
			     "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"sbload\","
			     "\"lang\":\"c\",\"version\":\"1\",\"protocol\":1}\r\n");
		if (x->role == ROLE_SUB && x->o->mode == MODE_SUBSCRIBE)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, "SUB %s %u\r\n",
				      x->o->topic, c->idx + 1);
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "PING\r\n");
		sbload__send_frame(x, c, BENCH_WS_TEXT, buf, (size_t)n);
	} else if (!memcmp(v, "PING", 4)) {
		sbload__send_frame(x, c, BENCH_WS_TEXT, "PONG\r\n", 6);
	} else if (!memcmp(v, "PONG", 4)) {
		if (!c->ready)
			sbload__ready(x, c);
		else
			SLOT_ADD(x->slot, pongs, 1);
	} else if (!memcmp(v, "MSG ", 4)) {
		c->app.nats.in_payload = 1;
		c->app.nats.left = c->app.nats.num + 2;
		if (!x->count_len)
			SLOT_ADD(x->slot, counted, 1);
	} else if (!memcmp(v, "-ERR", 4)) {
		SLOT_ADD(x->slot, fail_proto, 1);
	}
}

static void nats_data(struct sbload_ctx *x, struct sbload_conn *c, const uint8_t *p, size_t n)
{
	size_t i = 0, k;

	while (i < n && c->st == CS_OPEN) {
		if (c->app.nats.in_payload) {
			k = c->app.nats.left;
			if (k > n - i)
				k = n - i;
			scan(x, c, p + i, k);
			i += k;
			c->app.nats.left -= (uint32_t)k;
			if (!c->app.nats.left) {
				c->app.nats.in_payload = 0;
				msg_end(x, c);
			}
			continue;
		}
		uint8_t b = p[i++];

		if (b == '\n') {
			nats_line(x, c);
			c->app.nats.vlen = 0;
			c->app.nats.num = 0;
			continue;
		}
		if (c->app.nats.vlen < 4)
			c->app.nats.verb[c->app.nats.vlen++] = (b >= 'a' && b <= 'z') ? b - 32 : b;
		if (b >= '0' && b <= '9') {
			if (c->app.nats.num < 100000000)
				c->app.nats.num = c->app.nats.num * 10 + (uint32_t)(b - '0');
		} else if (b == ' ' || b == '\t') {
			c->app.nats.num = 0;
		}
	}
}

/* ---- adapter entry points ---- */

void sbload__proto_open(struct sbload_ctx *x, struct sbload_conn *c)
{
	switch (x->o->proto) {
	case PROTO_HUB:
		if (x->o->hello && *x->o->hello)
			sbload__send_frame(x, c, BENCH_WS_TEXT, x->o->hello, strlen(x->o->hello));
		else
			sbload__ready(x, c);
		break;
	case PROTO_MQTT:
		mqtt_connect(x, c);
		break;
	case PROTO_NATS:
		break;		/* wait for INFO */
	case PROTO_WS:
		sbload__ready(x, c);
		break;
	}
}

void sbload__proto_data(struct sbload_ctx *x, struct sbload_conn *c, const uint8_t *p, size_t n,
			int end)
{
	switch (x->o->proto) {
	case PROTO_MQTT:
		mqtt_data(x, c, p, n);
		break;
	case PROTO_NATS:
		nats_data(x, c, p, n);
		break;
	case PROTO_HUB:
	case PROTO_WS:
		scan(x, c, p, n);
		if (end) {
			if (!x->count_len)
				SLOT_ADD(x->slot, counted, 1);
			msg_end(x, c);
			if (!c->ready)
				sbload__ready(x, c);	/* hub: the welcome frame */
		}
		break;
	}
}

void sbload__proto_ping(struct sbload_ctx *x, struct sbload_conn *c)
{
	static const uint8_t pingreq[2] = { 0xc0, 0x00 };

	switch (x->o->proto) {
	case PROTO_MQTT:
		sbload__send_frame(x, c, BENCH_WS_BINARY, pingreq, 2);
		break;
	case PROTO_NATS:
		sbload__send_frame(x, c, BENCH_WS_TEXT, "PING\r\n", 6);
		break;
	default:
		sbload__send_frame(x, c, BENCH_WS_PING, NULL, 0);
		break;
	}
}

/* Expands the payload template: %T stamp, %N sequence, %P padding to --pub-size, %% a %. */
static size_t expand(const struct sbload_opts *o, char *out, size_t cap, uint64_t n, uint64_t t)
{
	const char *s = o->pub_template;
	size_t len = 0, fixed = 0, pad = 0, i;
	char num[24];
	int k;

	/* first pass: the length without padding */
	for (i = 0; s[i]; i++) {
		if (s[i] == '%' && (s[i + 1] == 'T' || s[i + 1] == 'N')) {
			fixed += (size_t)snprintf(num, sizeof(num), "%llu",
						  (unsigned long long)(s[i + 1] == 'T' ? t : n));
			i++;
		} else if (s[i] == '%' && s[i + 1] == 'P') {
			i++;
		} else {
			if (s[i] == '%' && s[i + 1] == '%')
				i++;
			fixed++;
		}
	}
	if (o->pub_size > 0 && (size_t)o->pub_size > fixed)
		pad = (size_t)o->pub_size - fixed;
	if (fixed + pad >= cap)
		return 0;
	for (i = 0; s[i]; i++) {
		if (s[i] == '%' && (s[i + 1] == 'T' || s[i + 1] == 'N')) {
			k = snprintf(out + len, cap - len, "%llu",
				     (unsigned long long)(s[i + 1] == 'T' ? t : n));
			len += (size_t)k;
			i++;
		} else if (s[i] == '%' && s[i + 1] == 'P') {
			memset(out + len, 'x', pad);
			len += pad;
			pad = 0;
			i++;
		} else {
			if (s[i] == '%' && s[i + 1] == '%')
				i++;
			out[len++] = s[i];
		}
	}
	return len;
}

size_t sbload__proto_publish(struct sbload_ctx *x, struct sbload_conn *c, size_t off, uint64_t n,
			     uint64_t t)
{
	static char msg[65536 + 512];
	uint8_t mask[4];
	uint64_t r = bench_rand(&x->rng);
	size_t plen, len, body, hlen;
	unsigned opcode = BENCH_WS_TEXT;
	char *p = msg + 300;	/* room for a NATS or MQTT header in front */

	plen = expand(x->o, p, 65536, n, t);
	if (!plen)
		return 0;
	switch (x->o->proto) {
	case PROTO_NATS: {
		char h[300];
		int k = snprintf(h, sizeof(h), "PUB %s %zu\r\n", x->o->topic, plen);

		p -= k;
		memcpy(p, h, (size_t)k);
		memcpy(p + k + plen, "\r\n", 2);
		plen += (size_t)k + 2;
		break;
	}
	case PROTO_MQTT: {
		uint8_t h[300];
		size_t tl = strlen(x->o->topic), vl;

		body = 2 + tl + plen;
		h[0] = 0x30;
		vl = mqtt_varint(h + 1, body);
		h[1 + vl] = (uint8_t)(tl >> 8);
		h[2 + vl] = (uint8_t)tl;
		memcpy(h + 3 + vl, x->o->topic, tl);
		hlen = 3 + vl + tl;
		p -= hlen;
		memcpy(p, h, hlen);
		plen += hlen;
		opcode = BENCH_WS_BINARY;
		break;
	}
	default:
		break;
	}
	memcpy(mask, &r, 4);
	len = bench_ws_encode(x->out + off, x->out_cap - off, opcode, 1, p, plen, mask);
	(void)c;
	return len;
}
