/* SPDX-License-Identifier: MIT
 * fuzz_sms_webhook.c: the SMS bridge's webhook op, through `sb_bridge_sms` as the hub calls
 * it, on a channel with a fixed Auth Token. Input: one mode byte, then url NUL headers NUL
 * body, headers as "Name: value" lines. Mode bits: 0x01 sign the request correctly (so the
 * translation code is reached), 0x02 GET instead of POST, 0x04 no form Content-Type,
 * 0x08 an event sink of 1 instead of 16.
 * Checks: the op answers 0 / SB_EAUTH / SB_EINVAL / SB_ETOOBIG; unsigned requests never get
 * past the signature; accepted events are well formed (UTF-8 body, media within the cap);
 * and the TwiML auto-reply for the message's body reads back (hub/sandbox.c's twiml_reply)
 * as the same text.
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include "sb_segments.h"
#include "sb_sms.h"
#include "twiml.h"

#define TOKEN "test_auth_token"
#define MAX_HEADERS 16

static unsigned char priv[64 * 1024];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct sb_bridge_kv kv[] = {
		{ "account_sid", "AC33333333333333333333333333333333" },
		{ "auth_token", TOKEN },
		{ "from", "+14155550100" },
	};
	struct sb_bridge_config cfg = { kv, sizeof kv / sizeof kv[0] };
	char err[200];
	if (sb_bridge_sms.priv_size > sizeof priv ||
	    sb_bridge_sms.channel_init(&fuzz_host, priv, &cfg, err, sizeof err)) {
		fprintf(stderr, "fuzz_sms_webhook: channel_init failed\n");
		abort();
	}
	return 0;
}

/* "Name: value" lines into h; returns the count. */
static size_t parse_headers(struct sb_str s, struct sb_http_header *h, size_t max)
{
	size_t n = 0, i = 0;
	while (i < s.len && n < max) {
		size_t start = i;
		while (i < s.len && s.p[i] != '\n')
			i++;
		struct sb_str line = { s.p + start, i - start };
		i++;
		const char *colon = line.len ? memchr(line.p, ':', line.len) : NULL;
		if (!colon)
			continue;
		h[n].name = (struct sb_str){ line.p, (size_t)(colon - line.p) };
		h[n].value = sb_str_trim((struct sb_str){ colon + 1,
							  line.len - (size_t)(colon + 1 - line.p) });
		n++;
	}
	return n;
}

static void check_reply(struct sb_bridge_ctx *ctx, struct sb_str text)
{
	struct sb_http_answer ans = { 0 };
	int rc = sb_bridge_sms.webhook_reply(ctx, text, &ans);
	FUZZ_CHECK(rc == 0 || rc == SB_EINVAL || rc == SB_ETOOBIG);
	if (rc)
		return;
	FUZZ_CHECK(ans.status == 200 && ans.body.len);
	/* what the customer gets is the text without the controls XML 1.0 cannot carry */
	char want[TWIML_REPLY_CAP];
	size_t w = 0;
	for (size_t i = 0; i < text.len && w + 1 < sizeof want; i++) {
		unsigned char c = (unsigned char)text.p[i];
		if (c >= 0x20 || c == '\t' || c == '\n' || c == '\r')
			want[w++] = (char)c;
	}
	want[w] = '\0';
	char got[TWIML_REPLY_CAP];
	twiml_reply(ans.body.p, ans.body.len, got, sizeof got);
	if (strcmp(got, want)) {
		fprintf(stderr, "reply round trip: want \"%s\" got \"%s\"\n", want, got);
		FUZZ_CHECK(!"TwiML reply does not read back");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	uint8_t mode = data[0];
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	struct sb_str url = fuzz_field(&p, &n), hdrs = fuzz_field(&p, &n);
	struct sb_str body = { (const char *)p, n };

	struct sb_arena a = { 0 };
	struct sb_http_header h[MAX_HEADERS + 2];
	size_t nh = 0;
	bool get = mode & 0x02;
	char sig[29];
	if (mode & 0x01) {
		/* signed as Twilio would: the URL plus the decoded form params for POSTs */
		struct sb_form f;
		bool params = !get && !(mode & 0x04) &&
			      sb_form_parse(&fuzz_host, &a, body, &f) == 0;
		sb_sms_sig_compute(&fuzz_host, &a, url, params ? &f : NULL, SB_STR(TOKEN), sig);
		h[nh++] = (struct sb_http_header){ SB_STR("X-Twilio-Signature"),
						   { sig, SB_SMS_SIG_LEN } };
	}
	if (!get && !(mode & 0x04))
		h[nh++] = (struct sb_http_header){ SB_STR("Content-Type"),
						   SB_STR("application/x-www-form-urlencoded") };
	nh += parse_headers(hdrs, h + nh, MAX_HEADERS);

	struct sb_http_in req = {
		.method = get ? SB_STR("GET") : SB_STR("POST"),
		.url = url,
		.headers = h,
		.n_headers = nh,
		.body = body,
	};
	struct sb_bridge_events ev = { .cap = (mode & 0x08) ? 1 : 16 };
	struct sb_bridge_ctx ctx = { .host = &fuzz_host, .arena = &a, .priv = priv,
				     .now_ms = FUZZ_NOW_MS };
	struct sb_http_answer ans = { 0 };
	int rc = sb_bridge_sms.webhook(&ctx, &req, &ev, &ans);
	FUZZ_CHECK(rc == 0 || rc == SB_EAUTH || rc == SB_EINVAL || rc == SB_ETOOBIG);
	if (!(mode & 0x01) && rc == 0) {
		/* unsigned (fuzzed header only): accepted only with a genuinely right signature */
		struct sb_str s = sb_http_header_get(h, nh, "X-Twilio-Signature");
		FUZZ_CHECK(s.len == SB_SMS_SIG_LEN);
	}
	if (rc == 0) {
		FUZZ_CHECK(ans.status == 200 && ans.body.len);
		FUZZ_CHECK(ev.n >= 1 && ev.n <= ev.cap);
		for (size_t i = 0; i < ev.n; i++) {
			const struct sb_bridge_event *e = &ev.v[i];
			FUZZ_CHECK(e->kind >= SB_BRIDGE_EV_MESSAGE && e->kind <= SB_BRIDGE_EV_HELP);
			FUZZ_CHECK(e->provider_id.len);
			if (e->kind == SB_BRIDGE_EV_MESSAGE) {
				FUZZ_CHECK(sb_utf8_valid(e->body.p, e->body.len));
				FUZZ_CHECK(e->n_media <= SB_SMS_MAX_MEDIA);
				for (size_t k = 0; k < e->n_media; k++)
					FUZZ_CHECK(e->media[k].url.len);
				check_reply(&ctx, e->body);
			}
		}
	}
	sb_arena_free(&a);
	return 0;
}
