/* SPDX-License-Identifier: MIT
 * Unit tests for bench/: WebSocket framing (lengths at every encoding boundary, masking,
 * input fed a byte at a time), SHA-1 and the RFC 6455 accept key, HMAC-SHA1 Twilio
 * signatures against the published vectors, form encoding, and the latency histogram.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bench_form.h"
#include "bench_hist.h"
#include "bench_sha1.h"
#include "bench_ws.h"

/* Decodes one frame from buf fed in pieces of at most step bytes; returns the opcode and
 * copies the payload to out. Asserts that exactly one frame, ending at len, is found. */
static unsigned decode_all(uint8_t *buf, size_t len, size_t step, uint8_t *out, size_t *olen,
			   uint64_t max_len)
{
	struct bench_wsdec d;
	struct bench_ws_ev ev;
	size_t off = 0, n, piece;
	unsigned op = 99;
	int ended = 0, headers = 0;

	bench_wsdec_init(&d, max_len);
	*olen = 0;
	while (off < len) {
		piece = len - off < step ? len - off : step;
		while (piece) {
			n = bench_wsdec_step(&d, buf + off, piece, &ev);
			off += n;
			piece -= n;
			assert_int_not_equal(ev.kind, BENCH_WS_EV_ERROR);
			assert_false(ended);
			if (ev.kind == BENCH_WS_EV_HEADER) {
				headers++;
				op = ev.opcode;
				if (ev.end)
					ended = 1;
			} else if (ev.kind == BENCH_WS_EV_DATA) {
				memcpy(out + *olen, ev.data, ev.len);
				*olen += ev.len;
				if (ev.end)
					ended = 1;
			}
		}
	}
	assert_int_equal(headers, 1);
	assert_true(ended);
	return op;
}

static void roundtrip(size_t len, int masked, size_t step)
{
	uint8_t *payload = malloc(len + 1), *frame = malloc(len + BENCH_WS_HDR_MAX),
		*out = malloc(len + 1);
	static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	size_t i, n, olen;

	assert_non_null(payload);
	assert_non_null(frame);
	assert_non_null(out);
	for (i = 0; i < len; i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	n = bench_ws_encode(frame, len + BENCH_WS_HDR_MAX, BENCH_WS_BINARY, 1, payload, len,
			    masked ? mask : NULL);
	assert_int_equal(n, bench_ws_hdr_len(len, masked) + len);
	if (masked && len)
		assert_memory_not_equal(frame + n - len, payload, len < 8 ? len : 8);
	assert_int_equal(decode_all(frame, n, step, out, &olen, 0), BENCH_WS_BINARY);
	assert_int_equal(olen, len);
	if (len)
		assert_memory_equal(out, payload, len);
	free(payload);
	free(frame);
	free(out);
}

static void test_ws_lengths(void **state)
{
	static const size_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536, 70000 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		roundtrip(lens[i], 0, 1u << 20);
		roundtrip(lens[i], 1, 1u << 20);
		roundtrip(lens[i], 1, 1000);
	}
	/* the header sizes at each boundary */
	assert_int_equal(bench_ws_hdr_len(125, 0), 2);
	assert_int_equal(bench_ws_hdr_len(126, 0), 4);
	assert_int_equal(bench_ws_hdr_len(65535, 1), 8);
	assert_int_equal(bench_ws_hdr_len(65536, 1), 14);
}

static void test_ws_header_bytes(void **state)
{
	static uint8_t f[80000], src[70000];
	static const uint8_t mask[4] = { 1, 2, 3, 4 };
	uint8_t p[3] = { 'a', 'b', 'c' };

	(void)state;
	assert_int_equal(bench_ws_encode(f, sizeof(f), BENCH_WS_TEXT, 1, p, 3, mask), 9);
	assert_int_equal(f[0], 0x81);
	assert_int_equal(f[1], 0x83);
	assert_int_equal(f[6], 'a' ^ 1);
	assert_int_equal(bench_ws_encode(f, sizeof(f), BENCH_WS_TEXT, 0, src, 126, NULL), 130);
	assert_int_equal(f[0], 0x01);
	assert_int_equal(f[1], 126);
	assert_int_equal(f[2], 0);
	assert_int_equal(f[3], 126);
	assert_int_equal(bench_ws_encode(f, sizeof(f), BENCH_WS_BINARY, 1, src, 65536, NULL),
			 65546);
	assert_int_equal(f[1], 127);
	assert_int_equal(f[7], 1);	/* 0x0000000000010000 */
	assert_int_equal(f[8], 0);
	/* too small a buffer is refused */
	assert_int_equal(bench_ws_encode(f, 8, BENCH_WS_TEXT, 1, p, 3, mask), 0);
}

static void test_ws_bytewise(void **state)
{
	static const size_t lens[] = { 0, 5, 125, 126, 300, 65535, 65536 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		roundtrip(lens[i], 1, 1);
		roundtrip(lens[i], 0, 1);
	}
}

static void test_ws_stream_of_frames(void **state)
{
	/* ping, a fragmented text message and a close, back to back, fed byte by byte */
	uint8_t buf[256], out[64];
	struct bench_wsdec d;
	struct bench_ws_ev ev;
	size_t n = 0, i, olen = 0;
	unsigned ops[8];
	int nops = 0, ends = 0;
	static const uint8_t mask[4] = { 9, 8, 7, 6 };

	(void)state;
	n += bench_ws_encode(buf + n, sizeof(buf) - n, BENCH_WS_PING, 1, "hi", 2, NULL);
	n += bench_ws_encode(buf + n, sizeof(buf) - n, BENCH_WS_TEXT, 0, "hel", 3, mask);
	n += bench_ws_encode(buf + n, sizeof(buf) - n, BENCH_WS_CONT, 1, "lo", 2, mask);
	n += bench_ws_encode(buf + n, sizeof(buf) - n, BENCH_WS_CLOSE, 1, "\x03\xe8", 2, NULL);
	bench_wsdec_init(&d, 0);
	for (i = 0; i < n;) {
		size_t k = bench_wsdec_step(&d, buf + i, 1, &ev);

		i += k;
		assert_int_not_equal(ev.kind, BENCH_WS_EV_ERROR);
		if (ev.kind == BENCH_WS_EV_HEADER)
			ops[nops++] = ev.opcode;
		if (ev.kind == BENCH_WS_EV_DATA) {
			if (ev.opcode == BENCH_WS_TEXT || ev.opcode == BENCH_WS_CONT) {
				memcpy(out + olen, ev.data, ev.len);
				olen += ev.len;
			}
			ends += ev.end;
		}
	}
	assert_int_equal(nops, 4);
	assert_int_equal(ops[0], BENCH_WS_PING);
	assert_int_equal(ops[1], BENCH_WS_TEXT);
	assert_int_equal(ops[2], BENCH_WS_CONT);
	assert_int_equal(ops[3], BENCH_WS_CLOSE);
	assert_int_equal(ends, 4);
	assert_int_equal(olen, 5);
	assert_memory_equal(out, "hello", 5);
}

static void test_ws_errors(void **state)
{
	struct bench_wsdec d;
	struct bench_ws_ev ev;
	uint8_t rsv[2] = { 0xc1, 0x00 };		/* RSV1 set */
	uint8_t bigping[4] = { 0x89, 126, 0, 200 };	/* control frame > 125 */
	uint8_t fragping[2] = { 0x09, 0x00 };		/* fragmented control frame */
	uint8_t badop[2] = { 0x83, 0x00 };		/* reserved opcode */
	uint8_t toolong[4] = { 0x82, 126, 0x10, 0x00 };	/* 4096 > limit */

	(void)state;
	bench_wsdec_init(&d, 0);
	bench_wsdec_step(&d, rsv, 2, &ev);
	assert_int_equal(ev.kind, BENCH_WS_EV_ERROR);
	bench_wsdec_init(&d, 0);
	bench_wsdec_step(&d, bigping, 4, &ev);
	assert_int_equal(ev.kind, BENCH_WS_EV_ERROR);
	bench_wsdec_init(&d, 0);
	bench_wsdec_step(&d, fragping, 2, &ev);
	assert_int_equal(ev.kind, BENCH_WS_EV_ERROR);
	bench_wsdec_init(&d, 0);
	bench_wsdec_step(&d, badop, 2, &ev);
	assert_int_equal(ev.kind, BENCH_WS_EV_ERROR);
	bench_wsdec_init(&d, 1024);
	bench_wsdec_step(&d, toolong, 4, &ev);
	assert_int_equal(ev.kind, BENCH_WS_EV_ERROR);
}

static void test_ws_mask_roundtrip(void **state)
{
	uint8_t buf[37], orig[37];
	static const uint8_t mask[4] = { 0xde, 0xad, 0xbe, 0xef };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = orig[i] = (uint8_t)i;
	/* masking in two pieces with the right offsets equals masking at once */
	bench_ws_mask(buf, 10, mask, 0);
	bench_ws_mask(buf + 10, 27, mask, 10 & 3);
	assert_int_equal(buf[4], 4 ^ 0xde);
	assert_int_equal(buf[11], 11 ^ 0xef);
	bench_ws_mask(buf, sizeof(buf), mask, 0);
	assert_memory_equal(buf, orig, sizeof(buf));
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha1(void **state)
{
	uint8_t d[20];
	char h[41];
	char *million = malloc(1000000);
	struct bench_sha1 s;
	size_t i;

	(void)state;
	bench_sha1("abc", 3, d);
	hex(d, 20, h);
	assert_string_equal(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
	bench_sha1("", 0, d);
	hex(d, 20, h);
	assert_string_equal(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	bench_sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
	hex(d, 20, h);
	assert_string_equal(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	/* a million 'a', fed in odd-sized pieces */
	assert_non_null(million);
	memset(million, 'a', 1000000);
	bench_sha1_init(&s);
	for (i = 0; i < 1000000; i += 999)
		bench_sha1_update(&s, million + i, 1000000 - i < 999 ? 1000000 - i : 999);
	bench_sha1_final(&s, d);
	hex(d, 20, h);
	assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
	free(million);
}

static void test_accept_key(void **state)
{
	char acc[29];

	(void)state;
	/* RFC 6455 §1.3's worked example (also checked with Python's hashlib) */
	bench_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", 24, acc);
	assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_base64(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(bench_b64_encode("", 0, out), 0);
	assert_string_equal(out, "");
	bench_b64_encode("f", 1, out);
	assert_string_equal(out, "Zg==");
	bench_b64_encode("fo", 2, out);
	assert_string_equal(out, "Zm8=");
	bench_b64_encode("foobar", 6, out);
	assert_string_equal(out, "Zm9vYmFy");
}

static void test_hmac_rfc2202(void **state)
{
	struct bench_hmac m;
	uint8_t key[80], d[20];
	char h[41];

	(void)state;
	bench_hmac_init(&m, "Jefe", 4);
	bench_hmac_update(&m, "what do ya want for nothing?", 28);
	bench_hmac_final(&m, d);
	hex(d, 20, h);
	assert_string_equal(h, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
	/* a key longer than the block is hashed first */
	memset(key, 0xaa, sizeof(key));
	bench_hmac_init(&m, key, 80);
	bench_hmac_update(&m, "Test Using Larger Than Block-Size Key - Hash Key First", 54);
	bench_hmac_final(&m, d);
	hex(d, 20, h);
	assert_string_equal(h, "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}

static void test_twilio_vectors(void **state)
{
	const char *url = "https://mycompany.com/myapp.php?foo=1&bar=2";
	/* given out of order on purpose: the signer sorts */
	struct bench_param t2[] = {
		{ "To", "+18005551212" }, { "Digits", "1234" }, { "CallSid", "CA1234567890ABCDE" },
		{ "From", "+14158675309" }, { "Caller", "+14158675309" },
	};
	struct bench_param t1[] = {
		{ "CallSid", "CA1234567890ABCDE" }, { "Caller", "+12349013030" },
		{ "Digits", "1234" }, { "From", "+12349013030" }, { "To", "+18005551212" },
	};
	char sig[29];

	(void)state;
	bench_twilio_sign("12345", url, t2, 5, sig);
	assert_string_equal(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
	bench_twilio_sign("12345", url, t1, 5, sig);
	assert_string_equal(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
	/* a different token gives a different signature */
	bench_twilio_sign("12346", url, t1, 5, sig);
	assert_string_not_equal(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
}

static void test_twilio_sms_vector(void **state)
{
	/* PROVIDERS.md §1.4: an SMS-shaped inbound webhook with empty values */
	char sm[35] = "SM", mg[35] = "MG", ac[35] = "AC", sig[29];
	struct bench_param p[] = {
		{ "ToCountry", "US" }, { "ToState", "CA" }, { "SmsMessageSid", sm },
		{ "NumMedia", "0" }, { "ToCity", "" }, { "FromZip", "94105" }, { "SmsSid", sm },
		{ "FromState", "CA" }, { "SmsStatus", "received" },
		{ "FromCity", "SAN FRANCISCO" }, { "Body", "Hello there!" },
		{ "FromCountry", "US" }, { "To", "+14155550100" }, { "MessagingServiceSid", mg },
		{ "ToZip", "" }, { "NumSegments", "1" }, { "MessageSid", sm },
		{ "AccountSid", ac }, { "From", "+14155550123" }, { "ApiVersion", "2010-04-01" },
	};

	(void)state;
	memset(sm + 2, '1', 32);
	memset(mg + 2, '2', 32);
	memset(ac + 2, '3', 32);
	bench_twilio_sign("test_auth_token",
			  "https://hub.example.com/webhooks/twilio/sms?tenant=acme", p,
			  sizeof(p) / sizeof(p[0]), sig);
	assert_string_equal(sig, "eP9h7by6SQlrkzY9qmU6uDdwovE=");
}

static void test_form_encode(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(bench_form_encode("t=12 a+b", out, sizeof(out)), 12);
	assert_string_equal(out, "t%3D12+a%2Bb");
	bench_form_encode("+1415", out, sizeof(out));
	assert_string_equal(out, "%2B1415");
	assert_int_equal(bench_form_encode("hello world", out, 4), 0);
}

static void test_hist_record_percentiles(void **state)
{
	struct bench_hist h;
	uint64_t v;

	(void)state;
	bench_hist_reset(&h);
	assert_int_equal(bench_hist_percentile(&h, 50), 0);
	for (v = 1; v <= 1000; v++)
		bench_hist_record_us(&h, v);
	assert_int_equal(h.count, 1000);
	assert_int_equal(h.min_us, 1);
	assert_int_equal(h.max_us, 1000);
	/* within the bucket width (1/32 of the value) above the exact rank */
	v = bench_hist_percentile(&h, 50);
	assert_true(v >= 500 && v <= 500 + 500 / 32 + 1);
	v = bench_hist_percentile(&h, 99);
	assert_true(v >= 990 && v <= 990 + 990 / 32 + 1);
	assert_int_equal(bench_hist_percentile(&h, 100), 1000);
	/* small values are exact */
	bench_hist_reset(&h);
	bench_hist_record_us(&h, 7);
	bench_hist_record_us(&h, 7);
	bench_hist_record_us(&h, 63);
	assert_int_equal(bench_hist_percentile(&h, 50), 7);
	assert_int_equal(bench_hist_percentile(&h, 99.9), 63);
	/* nanoseconds round down; negatives count as 0; beyond 60 s is clamped */
	bench_hist_reset(&h);
	bench_hist_record_ns(&h, 1999);
	bench_hist_record_ns(&h, -5);
	bench_hist_record_us(&h, 120000000);
	assert_int_equal(h.min_us, 0);
	assert_int_equal(h.clamped, 1);
	assert_int_equal(h.max_us, BENCH_HIST_MAX_US);
	assert_int_equal(bench_hist_percentile(&h, 50), 1);
}

static void test_hist_buckets(void **state)
{
	uint64_t v;
	unsigned last = 0;

	(void)state;
	/* indexes are monotonic, within range, and each value is inside its bucket */
	for (v = 0; v <= BENCH_HIST_MAX_US; v = v < 5000 ? v + 1 : v + v / 97) {
		unsigned i = bench_hist_index(v);

		assert_true(i < BENCH_HIST_BUCKETS);
		assert_true(i >= last);
		assert_true(bench_hist_bucket_high(i) >= v);
		if (i)
			assert_true(bench_hist_bucket_high(i - 1) < v);
		last = i;
	}
}

static void test_hist_merge(void **state)
{
	struct bench_hist a, b, all;
	uint64_t v;

	(void)state;
	bench_hist_reset(&a);
	bench_hist_reset(&b);
	bench_hist_reset(&all);
	for (v = 0; v < 20000; v++) {
		uint64_t x = (v * 7919) % 50000 + 3;

		bench_hist_record_us(v & 1 ? &a : &b, x);
		bench_hist_record_us(&all, x);
	}
	bench_hist_merge(&a, &b);
	assert_int_equal(a.count, all.count);
	assert_int_equal(a.sum_us, all.sum_us);
	assert_int_equal(a.min_us, all.min_us);
	assert_int_equal(a.max_us, all.max_us);
	assert_memory_equal(a.counts, all.counts, sizeof(a.counts));
	assert_int_equal(bench_hist_percentile(&a, 99.9), bench_hist_percentile(&all, 99.9));
	/* merging an empty histogram changes nothing */
	bench_hist_reset(&b);
	bench_hist_merge(&a, &b);
	assert_int_equal(a.count, all.count);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ws_lengths),
		cmocka_unit_test(test_ws_header_bytes),
		cmocka_unit_test(test_ws_bytewise),
		cmocka_unit_test(test_ws_stream_of_frames),
		cmocka_unit_test(test_ws_errors),
		cmocka_unit_test(test_ws_mask_roundtrip),
		cmocka_unit_test(test_sha1),
		cmocka_unit_test(test_accept_key),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_hmac_rfc2202),
		cmocka_unit_test(test_twilio_vectors),
		cmocka_unit_test(test_twilio_sms_vector),
		cmocka_unit_test(test_form_encode),
		cmocka_unit_test(test_hist_record_percentiles),
		cmocka_unit_test(test_hist_buckets),
		cmocka_unit_test(test_hist_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
