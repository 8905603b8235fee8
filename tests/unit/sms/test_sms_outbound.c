/* SPDX-License-Identifier: MIT
 * test_sms_outbound.c: the SMS bridge's channel setup, the Messages create and lookup
 * requests, and the classification of every kind of answer Twilio gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "test_host.h"
#include "test_fixtures.h"
#include "sb_sms.h"

static bool eqz(struct sb_str s, const char *z)
{
	return s.len == strlen(z) && memcmp(s.p ? s.p : "", z, s.len) == 0;
}

static _Alignas(16) unsigned char priv[4096];
static struct test_call T;

static int init_chan(const struct sb_bridge_kv *kv, size_t n, char *err, size_t errlen)
{
	memset(priv, 0x5a, sizeof priv); /* the hub zeroes it; garbage must not matter either */
	memset(priv, 0, sb_bridge_sms.priv_size);
	struct sb_bridge_config cfg = { kv, n };
	return sb_bridge_sms.channel_init(&test_host, priv, &cfg, err, errlen);
}

static int setup(void **state)
{
	const struct sb_bridge_kv kv[] = {
		{ "account_sid", SID_AC3 },
		{ "auth_token", FX_TOKEN },
		{ "from", "+14155550100" },
		{ "api_base", "http://127.0.0.1:9999/" },
	};
	char err[128];
	assert_int_equal(init_chan(kv, 4, err, sizeof err), 0);
	test_call_init(&T, priv);
	return 0;
}

static int teardown(void **state)
{
	test_call_fini(&T);
	return 0;
}

static void test_channel_init_errors(void **state)
{
	char err[128];
	const struct sb_bridge_kv no_sid[] = { { "auth_token", "t" }, { "from", "+1" } };
	assert_int_equal(init_chan(no_sid, 2, err, sizeof err), SB_EINVAL);
	assert_non_null(strstr(err, "account_sid"));
	const struct sb_bridge_kv no_tok[] = { { "account_sid", "AC1" }, { "from", "+1" } };
	assert_int_equal(init_chan(no_tok, 2, err, sizeof err), SB_EINVAL);
	assert_non_null(strstr(err, "auth_token"));
	const struct sb_bridge_kv no_from[] = { { "account_sid", "AC1" }, { "auth_token", "t" } };
	assert_int_equal(init_chan(no_from, 2, err, sizeof err), SB_EINVAL);
	assert_non_null(strstr(err, "messaging_service_sid"));
	const struct sb_bridge_kv bad_sid[] = { { "account_sid", "AC1/../x" },
						{ "auth_token", "t" }, { "from", "+1" } };
	assert_int_equal(init_chan(bad_sid, 3, err, sizeof err), SB_EINVAL);
	const struct sb_bridge_kv bad_base[] = { { "account_sid", "AC1" }, { "auth_token", "t" },
						 { "from", "+1" }, { "api_base", "ftp://x" } };
	assert_int_equal(init_chan(bad_base, 4, err, sizeof err), SB_EINVAL);
	assert_non_null(strstr(err, "api_base"));
	char longv[400];
	memset(longv, 'a', sizeof longv - 1);
	longv[sizeof longv - 1] = '\0';
	const struct sb_bridge_kv too_long[] = { { "account_sid", "AC1" }, { "auth_token", longv },
						 { "from", "+1" } };
	assert_int_equal(init_chan(too_long, 3, err, sizeof err), SB_EINVAL);
	assert_non_null(strstr(err, "auth_token is longer"));
	for (size_t i = 0; i < sb_bridge_sms.priv_size; i++) /* a failed init leaves no secret */
		if (priv[i])
			fail_msg("priv byte %zu not wiped", i);

	/* every declared key is known to channel_init, and required ones are flagged */
	size_t n = 0, required = 0;
	for (const struct sb_bridge_key *k = sb_bridge_sms.config_keys; k->name; k++, n++)
		required += (k->flags & SB_BRIDGE_KEY_REQUIRED) != 0;
	assert_int_equal(n, 7);
	assert_int_equal(required, 2);
}

static struct sb_str header(const struct sb_http_req *r, const char *name)
{
	return sb_http_header_get(r->headers, r->n_headers, name);
}

static void test_send_build(void **state)
{
	const struct sb_bridge_media media[] = {
		{ SB_STR("https://m.example/a.jpg"), { 0 }, { 0 } },
		{ SB_STR("https://m.example/b.png"), { 0 }, { 0 } },
	};
	struct sb_bridge_msg m = {
		.to = SB_STR("+14155550123"),
		.body = SB_STR("Hi & bye + caf\xc3\xa9"),
		.media = media,
		.n_media = 2,
		.status_url = SB_STR("https://hub.example.com/webhooks/sms/k1/status?ob=42"),
	};
	struct sb_http_req r = { 0 };
	assert_int_equal(sb_bridge_sms.send_build(&T.ctx, &m, &r), 0);
	assert_string_equal(r.method, "POST");
	assert_true(eqz(r.url, "http://127.0.0.1:9999/2010-04-01/Accounts/" SID_AC3
			       "/Messages.json"));
	/* base64("AC333...:test_auth_token") */
	char cred[128], b64[200], want[220];
	snprintf(cred, sizeof cred, "%s:%s", SID_AC3, FX_TOKEN);
	test_host.base64_encode(cred, strlen(cred), b64, sizeof b64);
	snprintf(want, sizeof want, "Basic %s", b64);
	assert_true(eqz(header(&r, "Authorization"), want));
	assert_true(eqz(header(&r, "content-type"), "application/x-www-form-urlencoded"));
	assert_true(eqz(r.body, "To=%2B14155550123&From=%2B14155550100"
				"&Body=Hi+%26+bye+%2B+caf%C3%A9"
				"&MediaUrl=https%3A%2F%2Fm.example%2Fa.jpg"
				"&MediaUrl=https%3A%2F%2Fm.example%2Fb.png"
				"&StatusCallback=https%3A%2F%2Fhub.example.com%2Fwebhooks"
				"%2Fsms%2Fk1%2Fstatus%3Fob%3D42"));

	/* an explicit sender overrides the channel's */
	struct sb_bridge_msg m2 = { .to = SB_STR("+1"), .from = SB_STR("+2"), .body = SB_STR("x") };
	memset(&r, 0, sizeof r);
	assert_int_equal(sb_bridge_sms.send_build(&T.ctx, &m2, &r), 0);
	assert_true(eqz(r.body, "To=%2B1&From=%2B2&Body=x"));
}

static void test_send_build_service_and_api_key(void **state)
{
	const struct sb_bridge_kv kv[] = {
		{ "account_sid", "AC1" },       { "auth_token", "tok" },
		{ "from", "+1999" },            { "messaging_service_sid", "MG9" },
		{ "api_key_sid", "SK7" },       { "api_key_secret", "sec" },
	};
	char err[128];
	assert_int_equal(init_chan(kv, 6, err, sizeof err), 0);
	struct sb_bridge_msg m = { .to = SB_STR("+1"), .body = SB_STR("x") };
	struct sb_http_req r = { 0 };
	assert_int_equal(sb_bridge_sms.send_build(&T.ctx, &m, &r), 0);
	assert_true(eqz(r.url, "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"));
	assert_true(eqz(r.body, "To=%2B1&MessagingServiceSid=MG9&Body=x"));
	assert_true(eqz(header(&r, "Authorization"), "Basic U0s3OnNlYw==")); /* SK7:sec */

	/* the longest credentials and origin a channel takes still make whole headers and URLs
	 * (both are made once, at channel_init) */
	static char sid[72], key[72], secret[136], base[264], cred[300], b64[420], want[440];
	memset(sid, 'A', sizeof sid - 1);
	memset(key, 'K', sizeof key - 1);
	memset(secret, 's', sizeof secret - 1);
	memcpy(base, "https://", 8);
	memset(base + 8, 'h', sizeof base - 9);
	const struct sb_bridge_kv big[] = {
		{ "account_sid", sid }, { "auth_token", secret }, { "from", "+1" },
		{ "api_key_sid", key }, { "api_key_secret", secret }, { "api_base", base },
	};
	assert_int_equal(init_chan(big, 6, err, sizeof err), 0);
	memset(&r, 0, sizeof r);
	assert_int_equal(sb_bridge_sms.send_build(&T.ctx, &m, &r), 0);
	snprintf(cred, sizeof cred, "%s:%s", key, secret);
	test_host.base64_encode(cred, strlen(cred), b64, sizeof b64);
	snprintf(want, sizeof want, "Basic %s", b64);
	assert_true(eqz(header(&r, "Authorization"), want));
	snprintf(want, sizeof want, "%s/2010-04-01/Accounts/%s/Messages.json", base, sid);
	assert_true(eqz(r.url, want));
}

static void test_send_build_limits(void **state)
{
	static char body[1601 * 4 + 1];
	struct sb_http_req r = { 0 };
	struct sb_bridge_msg m = { .to = SB_STR("+1") };

	memset(body, 'a', 1600);
	m.body = (struct sb_str){ body, 1600 };
	assert_int_equal(sb_bridge_sms.send_build(&T.ctx, &m, &r), 0);
	m.body.len = 1601;
	body[1600] = 'a';
	assert_int_equal(sb_bridge_sms.send_build(&T.ctx, &m, &r), SB_ETOOBIG);

	/* the limit is in characters: 1600 emoji (6400 bytes) pass, 1601 do not */
	for (int i = 0; i < 1601; i++)
		memcpy(body + 4 * i, "\xf0\x9f\x98\x9c", 4);
	m.body = (struct sb_str){ body, 1600 * 4 };
	assert_int_equal(sb_bridge_sms.send_build(&T.ctx, &m, &r), 0);
	m.body.len = 1601 * 4;
	assert_int_equal(sb_bridge_sms.send_build(&T.ctx, &m, &r), SB_ETOOBIG);

	m.body = SB_STR("\xc3(");
	assert_int_equal(sb_bridge_sms.send_build(&T.ctx, &m, &r), SB_EINVAL);
	m.body = SB_STR("");
	assert_int_equal(sb_bridge_sms.send_build(&T.ctx, &m, &r), SB_EINVAL);
	m.body = SB_STR("x");
	m.to = SB_STR("");
	assert_int_equal(sb_bridge_sms.send_build(&T.ctx, &m, &r), SB_EINVAL);
	struct sb_bridge_media media[11] = { 0 };
	for (int i = 0; i < 11; i++)
		media[i].url = SB_STR("https://m/x");
	m.to = SB_STR("+1");
	m.media = media;
	m.n_media = 11;
	assert_int_equal(sb_bridge_sms.send_build(&T.ctx, &m, &r), SB_ETOOBIG);
}

static struct sb_send_result parse(int status, const char *body, const char *retry_after,
				   bool lookup)
{
	struct sb_http_header h[] = { { SB_STR("Retry-After"), tstr(retry_after) } };
	struct sb_http_resp resp = { status, h, retry_after ? 1 : 0, tstr(body) };
	struct sb_send_result res = { 0 };
	if (lookup)
		assert_int_equal(sb_bridge_sms.lookup_parse(&T.ctx, &resp, &res), 0);
	else
		assert_int_equal(sb_bridge_sms.send_parse(&T.ctx, &resp, &res), 0);
	return res;
}

#define ENV(code, st)                                                                      \
	"{\"code\":" #code ",\"message\":\"m\",\"more_info\":\"u\",\"status\":" #st "}"

static void test_send_parse(void **state)
{
	struct sb_send_result r = parse(
		201,
		"{\"account_sid\":\"AC1\",\"body\":\"Hello!\",\"error_code\":null,"
		"\"num_segments\":\"1\",\"sid\":\"SMaaaa\",\"status\":\"queued\","
		"\"to\":\"+14155552345\"}",
		NULL, false);
	assert_int_equal(r.outcome, SB_SEND_ACCEPTED);
	assert_true(eqz(r.provider_id, "SMaaaa"));
	assert_int_equal(r.status, SB_BRIDGE_ST_QUEUED);
	r = parse(201, "{\"sid\":\"SMb\",\"status\":\"accepted\",\"from\":null}", NULL, false);
	assert_int_equal(r.status, SB_BRIDGE_ST_ACCEPTED);

	r = parse(429, ENV(20429, 429), "7", false);
	assert_int_equal(r.outcome, SB_SEND_RETRY);
	assert_int_equal(r.retry_after_ms, 7000);
	assert_true(eqz(r.code, "20429"));
	r = parse(429, "", "Thu, 01 Jan 2026 00:00:30 GMT", false);
	assert_int_equal(r.outcome, SB_SEND_RETRY);
	assert_int_equal(r.retry_after_ms, 30000);
	r = parse(429, "", NULL, false);
	assert_int_equal(r.retry_after_ms, -1);

	/* 5xx, 503 with Retry-After included: may have been processed */
	r = parse(500, "", NULL, false);
	assert_int_equal(r.outcome, SB_SEND_AMBIGUOUS);
	r = parse(503, "<html>", "5", false);
	assert_int_equal(r.outcome, SB_SEND_AMBIGUOUS);
	assert_int_equal(r.retry_after_ms, 5000);
	r = parse(502, ENV(20429, 502), NULL, false); /* explicitly not processed */
	assert_int_equal(r.outcome, SB_SEND_RETRY);

	r = parse(400, ENV(21211, 400), NULL, false);
	assert_int_equal(r.outcome, SB_SEND_PERMANENT);
	assert_true(eqz(r.code, "21211"));
	assert_string_equal(r.reason, "The customer's number is not a valid phone number.");
	assert_true(eqz(r.detail, "m"));
	r = parse(400, ENV(21610, 400), NULL, false);
	assert_int_equal(r.outcome, SB_SEND_PERMANENT);
	assert_int_equal(r.flags, SB_SEND_F_OPTED_OUT);
	assert_string_equal(r.reason, "The customer has opted out (replied STOP) and cannot be "
				      "messaged from this number.");
	r = parse(400, ENV(21614, 400), NULL, false);
	assert_string_equal(r.reason,
			    "The customer's number is not a mobile number and cannot receive SMS.");
	r = parse(400, ENV(21408, 400), NULL, false);
	assert_int_equal(r.outcome, SB_SEND_PERMANENT);
	r = parse(400, ENV(21612, 400), NULL, false);
	assert_int_equal(r.outcome, SB_SEND_PERMANENT);
	r = parse(400, ENV(21606, 400), NULL, false);
	assert_int_equal(r.flags, SB_SEND_F_CONFIG);
	r = parse(400, ENV(21212, 400), NULL, false);
	assert_int_equal(r.flags, SB_SEND_F_CONFIG);
	r = parse(401, "{\"code\":20003,\"detail\":\"Your AccountSid or AuthToken was incorrect.\","
		       "\"message\":\"Authenticate\",\"status\":401}", NULL, false);
	assert_int_equal(r.outcome, SB_SEND_PERMANENT);
	assert_int_equal(r.flags, SB_SEND_F_CREDENTIALS);
	r = parse(401, "", NULL, false);
	assert_int_equal(r.flags, SB_SEND_F_CREDENTIALS);
	r = parse(400, ENV(21611, 400), "60", false);
	assert_int_equal(r.outcome, SB_SEND_RETRY);
	assert_int_equal(r.retry_after_ms, 60000);
	r = parse(400, ENV(21999, 400), NULL, false);
	assert_int_equal(r.outcome, SB_SEND_PERMANENT);
	assert_true(eqz(r.code, "21999"));
	assert_non_null(r.reason);

	/* malformed answers never pass as success or as a refusal */
	r = parse(400, "not json", NULL, false);
	assert_int_equal(r.outcome, SB_SEND_AMBIGUOUS);
	r = parse(400, "{\"code\":\"21211\"}", NULL, false);
	assert_int_equal(r.outcome, SB_SEND_AMBIGUOUS);
	r = parse(201, "{\"status\":\"queued\"}", NULL, false);
	assert_int_equal(r.outcome, SB_SEND_AMBIGUOUS);
	r = parse(201, "{\"sid\":", NULL, false);
	assert_int_equal(r.outcome, SB_SEND_AMBIGUOUS);
	r = parse(201, "[\"sid\"]", NULL, false);
	assert_int_equal(r.outcome, SB_SEND_AMBIGUOUS);
	r = parse(302, "", NULL, false);
	assert_int_equal(r.outcome, SB_SEND_AMBIGUOUS);
}

static void test_lookup(void **state)
{
	struct sb_bridge_lookup lk = { .provider_id = SB_STR("SMabc123") };
	struct sb_http_req r = { 0 };
	assert_int_equal(sb_bridge_sms.lookup_build(&T.ctx, &lk, &r), 0);
	assert_string_equal(r.method, "GET");
	assert_true(eqz(r.url, "http://127.0.0.1:9999/2010-04-01/Accounts/" SID_AC3
			       "/Messages/SMabc123.json"));
	assert_true(header(&r, "Authorization").len > 6);
	assert_int_equal(r.body.len, 0);
	lk.provider_id = SB_STR("SM1/../../x");
	assert_int_equal(sb_bridge_sms.lookup_build(&T.ctx, &lk, &r), SB_EINVAL);
	lk.provider_id = SB_STR("");
	lk.client_ref = SB_STR("42");
	assert_int_equal(sb_bridge_sms.lookup_build(&T.ctx, &lk, &r), SB_EINVAL);

	struct sb_send_result res = parse(
		200, "{\"sid\":\"SMabc123\",\"status\":\"delivered\",\"error_code\":null}",
		NULL, true);
	assert_int_equal(res.outcome, SB_SEND_ACCEPTED);
	assert_int_equal(res.status, SB_BRIDGE_ST_DELIVERED);
	res = parse(200, "{\"sid\":\"SMabc123\",\"status\":\"undelivered\",\"error_code\":30003,"
			 "\"error_message\":\"Unreachable\"}", NULL, true);
	assert_int_equal(res.status, SB_BRIDGE_ST_UNDELIVERED);
	assert_true(eqz(res.code, "30003"));
	res = parse(404, ENV(20404, 404), NULL, true);
	assert_int_equal(res.outcome, SB_SEND_PERMANENT);
	assert_int_equal(res.flags, SB_SEND_F_NOT_FOUND);
	res = parse(503, "", NULL, true);
	assert_int_equal(res.outcome, SB_SEND_RETRY);
	res = parse(200, "garbage", NULL, true);
	assert_int_equal(res.outcome, SB_SEND_AMBIGUOUS);
}

/* channel_fini leaves nothing of the channel's state behind: the token, the API key secret
 * and the Authorization header made from them are zero, up to the last byte */
static void test_fini_wipes(void **state)
{
	(void)state;
	const struct sb_bridge_kv kv[] = {
		{ "account_sid", SID_AC3 }, { "auth_token", FX_TOKEN },
		{ "api_key_sid", "SK" "0123456789abcdef0123456789abcdef" },
		{ "api_key_secret", "a-secret-that-must-go" }, { "from", "+14155550100" },
	};
	char err[128];
	assert_int_equal(init_chan(kv, 5, err, sizeof err), 0);
	size_t nonzero = 0;
	for (size_t i = 0; i < sb_bridge_sms.priv_size; i++)
		nonzero += priv[i] != 0;
	assert_true(nonzero > 100); /* what there was to wipe */
	sb_bridge_sms.channel_fini(priv);
	for (size_t i = 0; i < sb_bridge_sms.priv_size; i++)
		if (priv[i])
			fail_msg("byte %zu of %zu left at 0x%02x", i, (size_t)sb_bridge_sms.priv_size,
				 priv[i]);
	assert_int_equal(priv[sb_bridge_sms.priv_size], 0x5a); /* and not a byte past it */
}

static void test_error_table(void **state)
{
	static const int permanent[] = { 21211, 21610, 21614, 21408, 21612, 21606, 21212, 20003 };
	for (size_t i = 0; i < sizeof permanent / sizeof permanent[0]; i++) {
		const struct sb_sms_error *e = sb_sms_error_lookup(permanent[i]);
		assert_non_null(e);
		assert_int_equal(e->outcome, SB_SEND_PERMANENT);
		assert_true(strlen(e->reason) > 20 && e->reason[strlen(e->reason) - 1] == '.');
	}
	assert_int_equal(sb_sms_error_lookup(21611)->outcome, SB_SEND_RETRY);
	assert_int_equal(sb_sms_error_lookup(20429)->outcome, SB_SEND_RETRY);
	assert_null(sb_sms_error_lookup(12345));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_channel_init_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_build, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_build_service_and_api_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_send_build_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fini_wipes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_table, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
