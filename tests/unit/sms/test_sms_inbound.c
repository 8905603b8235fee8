/* SPDX-License-Identifier: MIT
 * test_sms_inbound.c: the SMS bridge's webhook op end to end: signed inbound messages and
 * status callbacks become events; keywords, media, caps, bad input and bad signatures;
 * TwiML answers and auto-replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "test_host.h"
#include "test_fixtures.h"
#include "sb_abuf.h"
#include "sb_sms.h"

static bool eqz(struct sb_str s, const char *z)
{
	return s.len == strlen(z) && memcmp(s.p ? s.p : "", z, s.len) == 0;
}

/* A channel configured like the fixtures. */
static void *chan(void)
{
	static _Alignas(16) unsigned char priv[4096];
	assert_true(sb_bridge_sms.priv_size <= sizeof priv);
	memset(priv, 0, sizeof priv);
	const struct sb_bridge_kv kv[] = {
		{ "account_sid", SID_AC3 },
		{ "auth_token", FX_TOKEN },
		{ "messaging_service_sid", SID_MG2 },
	};
	struct sb_bridge_config cfg = { kv, 3 };
	char err[128];
	assert_int_equal(sb_bridge_sms.channel_init(&test_host, priv, &cfg, err, sizeof err), 0);
	return priv;
}

static struct test_call T;

static int setup(void **state)
{
	test_call_init(&T, chan());
	return 0;
}

static int teardown(void **state)
{
	test_call_fini(&T);
	return 0;
}

/* Posts body to url, signed with the channel token unless sig is given. */
static int post(const char *url, const char *body, const char *sig, struct sb_http_answer *ans)
{
	char mine[29];
	if (!sig) {
		struct sb_form f;
		assert_int_equal(sb_form_parse(&test_host, &T.arena, tstr(body), &f), 0);
		sb_sms_sig_compute(&test_host, &T.arena, tstr(url), &f, SB_STR(FX_TOKEN), mine);
		sig = mine;
	}
	struct sb_http_header h[] = {
		{ SB_STR("content-type"),
		  SB_STR("application/x-www-form-urlencoded; charset=utf-8") },
		{ SB_STR("X-Twilio-Signature"), tstr(sig) },
		{ SB_STR("I-Twilio-Idempotency-Token"), SB_STR("idem-1") },
	};
	struct sb_http_in req = { SB_STR("POST"), tstr(url), h, 3, tstr(body) };
	memset(ans, 0, sizeof *ans);
	return sb_bridge_sms.webhook(&T.ctx, &req, &T.ev, ans);
}

static void test_inbound_vector(void **state)
{
	struct sb_http_answer ans;
	assert_int_equal(post(FX_IN_URL, FX_IN_BODY, FX_IN_SIG, &ans), 0);
	assert_int_equal(T.ev.n, 1);
	const struct sb_bridge_event *e = &T.ev.v[0];
	assert_int_equal(e->kind, SB_BRIDGE_EV_MESSAGE);
	assert_true(eqz(e->provider_id, SID_SM1));
	assert_true(eqz(e->from, "+14155550123"));
	assert_true(eqz(e->to, "+14155550100"));
	assert_true(eqz(e->body, "Hello there!"));
	assert_true(eqz(e->route_id, SID_AC3));
	assert_true(eqz(e->service_id, SID_MG2));
	assert_true(eqz(e->event_id, "idem-1"));
	assert_int_equal(e->segments, 1);
	assert_int_equal(e->n_media, 0);
	assert_int_equal(ans.status, 200);
	assert_string_equal(ans.content_type, "text/xml");
	assert_true(eqz(ans.body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"));
}

static void test_status_vector(void **state)
{
	struct sb_http_answer ans;
	assert_int_equal(post(FX_ST_URL, FX_ST_BODY, FX_ST_SIG, &ans), 0);
	assert_int_equal(T.ev.n, 1);
	const struct sb_bridge_event *e = &T.ev.v[0];
	assert_int_equal(e->kind, SB_BRIDGE_EV_STATUS);
	assert_int_equal(e->status, SB_BRIDGE_ST_UNDELIVERED);
	assert_true(eqz(e->provider_id, SID_SM4));
	assert_true(eqz(e->error_code, "30003"));
	assert_int_equal(ans.status, 200);
}

static void test_bad_signature_adds_nothing(void **state)
{
	struct sb_http_answer ans;
	assert_int_equal(post(FX_IN_URL, FX_IN_BODY, FX_ST_SIG, &ans), SB_EAUTH);
	assert_int_equal(post(FX_IN_URL, FX_IN_BODY, "", &ans), SB_EAUTH);
	/* signed for another URL (another tenant's webhook) */
	assert_int_equal(post(FX_ST_URL, FX_IN_BODY, FX_IN_SIG, &ans), SB_EAUTH);
	assert_int_equal(T.ev.n, 0);
}

static int kw_post(const char *body_param, const char *extra)
{
	char body[512];
	snprintf(body, sizeof body, "MessageSid=" SID_SM1 "&AccountSid=" SID_AC3
		 "&From=%%2B15550001&To=%%2B15550002&Body=%s%s", body_param, extra);
	struct sb_http_answer ans;
	T.ev.n = 0;
	return post(FX_IN_URL, body, NULL, &ans);
}

static void test_keywords(void **state)
{
	static const struct {
		const char *body;
		enum sb_bridge_event_kind kind;
	} cases[] = {
		{ "STOP", SB_BRIDGE_EV_OPT_OUT },     { "+stop%0A", SB_BRIDGE_EV_OPT_OUT },
		{ "StopAll", SB_BRIDGE_EV_OPT_OUT },  { "unsubscribe", SB_BRIDGE_EV_OPT_OUT },
		{ "CANCEL", SB_BRIDGE_EV_OPT_OUT },   { "end", SB_BRIDGE_EV_OPT_OUT },
		{ "quit", SB_BRIDGE_EV_OPT_OUT },     { "REVOKE", SB_BRIDGE_EV_OPT_OUT },
		{ "optout", SB_BRIDGE_EV_OPT_OUT },   { "START", SB_BRIDGE_EV_OPT_IN },
		{ "yes", SB_BRIDGE_EV_OPT_IN },       { "Unstop", SB_BRIDGE_EV_OPT_IN },
		{ "HELP", SB_BRIDGE_EV_HELP },        { "%09info", SB_BRIDGE_EV_HELP },
		{ "STOP+PLEASE", SB_BRIDGE_EV_NONE }, { "STOPP", SB_BRIDGE_EV_NONE },
		{ "S+TOP", SB_BRIDGE_EV_NONE },       { "", SB_BRIDGE_EV_NONE },
		{ "yes!", SB_BRIDGE_EV_NONE },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(kw_post(cases[i].body, ""), 0);
		assert_int_equal(T.ev.v[0].kind, SB_BRIDGE_EV_MESSAGE);
		if (cases[i].kind == SB_BRIDGE_EV_NONE) {
			if (T.ev.n != 1)
				fail_msg("\"%s\" classified as a keyword", cases[i].body);
			continue;
		}
		if (T.ev.n != 2 || T.ev.v[1].kind != cases[i].kind)
			fail_msg("\"%s\" not classified", cases[i].body);
		assert_true(eqz(T.ev.v[1].from, "+15550001"));
		assert_true(eqz(T.ev.v[1].to, "+15550002"));
		assert_int_equal(T.ev.v[1].flags & SB_BRIDGE_EVF_PROVIDER_HANDLED, 0);
	}
	/* Advanced Opt-Out reports the class itself, in any language */
	assert_int_equal(kw_post("ARRET", "&OptOutType=STOP"), 0);
	assert_int_equal(T.ev.n, 2);
	assert_int_equal(T.ev.v[1].kind, SB_BRIDGE_EV_OPT_OUT);
	assert_true(T.ev.v[1].flags & SB_BRIDGE_EVF_PROVIDER_HANDLED);
	assert_int_equal(kw_post("hola", "&OptOutType=start"), 0);
	assert_int_equal(T.ev.v[1].kind, SB_BRIDGE_EV_OPT_IN);
}

static void test_media(void **state)
{
	struct sb_http_answer ans;
	const char *ok = "MessageSid=MM1&From=%2B1&To=%2B2&Body=&NumMedia=2"
			 "&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2Fm0"
			 "&MediaContentType0=image%2Fjpeg"
			 "&MediaUrl1=https%3A%2F%2Fapi.twilio.com%2Fm1"
			 "&MediaContentType1=video%2Fmp4";
	assert_int_equal(post(FX_IN_URL, ok, NULL, &ans), 0);
	assert_int_equal(T.ev.v[0].n_media, 2);
	assert_true(eqz(T.ev.v[0].media[0].url, "https://api.twilio.com/m0"));
	assert_true(eqz(T.ev.v[0].media[0].content_type, "image/jpeg"));
	assert_true(eqz(T.ev.v[0].media[1].content_type, "video/mp4"));

	T.ev.n = 0;
	assert_int_equal(post(FX_IN_URL, "MessageSid=MM1&From=%2B1&To=%2B2&NumMedia=2&MediaUrl0=x",
			      NULL, &ans),
			 SB_EINVAL);
	assert_int_equal(post(FX_IN_URL, "MessageSid=MM1&From=%2B1&To=%2B2&NumMedia=11", NULL,
			      &ans),
			 SB_ETOOBIG);
	assert_int_equal(post(FX_IN_URL, "MessageSid=MM1&From=%2B1&To=%2B2&NumMedia=-1", NULL,
			      &ans),
			 SB_EINVAL);
	assert_int_equal(T.ev.n, 0);
}

static void test_malformed(void **state)
{
	struct sb_http_answer ans;
	/* signed but unusable: missing ids, invalid UTF-8, bad escapes */
	assert_int_equal(post(FX_IN_URL, "From=%2B1&To=%2B2&Body=hi", NULL, &ans), SB_EINVAL);
	assert_int_equal(post(FX_IN_URL, "MessageSid=SM1&To=%2B2&Body=hi", NULL, &ans), SB_EINVAL);
	assert_int_equal(post(FX_IN_URL, "MessageSid=SM1&From=%2B1&To=%2B2&Body=%C3", NULL, &ans),
			 SB_EINVAL);
	assert_int_equal(post(FX_ST_URL, "MessageStatus=sent&To=%2B2", NULL, &ans), SB_EINVAL);
	assert_int_equal(post(FX_IN_URL, "Body=%G1", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", &ans),
			 SB_EINVAL);
	assert_int_equal(T.ev.n, 0); /* nothing is added by a request that fails validation */

	struct sb_http_header h[] = { { SB_STR("X-Twilio-Signature"), SB_STR(FX_IN_SIG) } };
	struct sb_http_in req = { SB_STR("PUT"), SB_STR(FX_IN_URL), h, 1, SB_STR(FX_IN_BODY) };
	assert_int_equal(sb_bridge_sms.webhook(&T.ctx, &req, &T.ev, &ans), SB_EINVAL);
	/* a form body without a form content type is not verified as a form */
	req.method = SB_STR("POST");
	assert_int_equal(sb_bridge_sms.webhook(&T.ctx, &req, &T.ev, &ans), SB_EAUTH);
	assert_int_equal(T.ev.n, 0);
}

static void test_event_cap(void **state)
{
	T.ev.cap = 1; /* a STOP needs two events */
	assert_int_equal(kw_post("STOP", ""), SB_ETOOBIG);
}

static void test_get_webhook(void **state)
{
	const char *url =
		"https://hub.example.com/in?MessageSid=SM9&From=%2B1&To=%2B2&Body=hi+there";
	char sig[29];
	sb_sms_sig_compute(&test_host, &T.arena, tstr(url), NULL, SB_STR(FX_TOKEN), sig);
	struct sb_http_header h[] = { { SB_STR("X-Twilio-Signature"), tstr(sig) } };
	struct sb_http_in req = { SB_STR("GET"), tstr(url), h, 1, { NULL, 0 } };
	struct sb_http_answer ans = { 0 };
	assert_int_equal(sb_bridge_sms.webhook(&T.ctx, &req, &T.ev, &ans), 0);
	assert_int_equal(T.ev.n, 1);
	assert_true(eqz(T.ev.v[0].body, "hi there"));
	assert_true(eqz(T.ev.v[0].provider_id, "SM9"));
}

static void test_reply_twiml(void **state)
{
	struct sb_http_answer ans = { 0 };
	assert_int_equal(sb_bridge_sms.webhook_reply(&T.ctx, SB_STR("Tom & \"Jerry\" <3 'x'"),
						     &ans),
			 0);
	assert_int_equal(ans.status, 200);
	assert_string_equal(ans.content_type, "text/xml");
	assert_true(eqz(ans.body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>"
				  "Tom &amp; &quot;Jerry&quot; &lt;3 &apos;x&apos;"
				  "</Message></Response>"));
	assert_int_equal(sb_bridge_sms.webhook_reply(&T.ctx, SB_STR(""), &ans), 0);
	assert_true(eqz(ans.body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"));
	static char big[1602];
	memset(big, 'x', 1601);
	assert_int_equal(sb_bridge_sms.webhook_reply(&T.ctx, (struct sb_str){ big, 1601 }, &ans),
			 SB_ETOOBIG);
	assert_int_equal(sb_bridge_sms.webhook_reply(&T.ctx, SB_STR("\xff"), &ans), SB_EINVAL);
}

static void test_status_rank(void **state)
{
	static const char *order[] = { "accepted", "queued", "sending", "sent", "delivered",
				       "read" };
	for (size_t i = 1; i < sizeof order / sizeof order[0]; i++)
		assert_true(sb_bridge_status_rank(sb_sms_status_parse(tstr(order[i]))) >
			    sb_bridge_status_rank(sb_sms_status_parse(tstr(order[i - 1]))));
	int term = sb_bridge_status_rank(SB_BRIDGE_ST_DELIVERED);
	assert_int_equal(sb_bridge_status_rank(sb_sms_status_parse(SB_STR("undelivered"))), term);
	assert_int_equal(sb_bridge_status_rank(sb_sms_status_parse(SB_STR("failed"))), term);
	assert_int_equal(sb_bridge_status_rank(sb_sms_status_parse(SB_STR("scheduled"))),
			 sb_bridge_status_rank(SB_BRIDGE_ST_ACCEPTED));
	assert_int_equal(sb_sms_status_parse(SB_STR("partially_delivered")), SB_BRIDGE_ST_UNKNOWN);
	assert_int_equal(sb_sms_status_parse(SB_STR("Delivered")), SB_BRIDGE_ST_UNKNOWN);
	assert_int_equal(sb_bridge_status_rank(SB_BRIDGE_ST_UNKNOWN), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inbound_vector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_vector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_signature_adds_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keywords, setup, teardown),
		cmocka_unit_test_setup_teardown(test_media, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_webhook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_twiml, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_rank, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
