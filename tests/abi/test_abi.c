/* SPDX-License-Identifier: MIT
 * test_abi.c: the plugin ABI gate. Modules with a wrong major version, a too-small table,
 * a missing mandatory op, a wrong name or no entry point are refused with a clear reason;
 * a newer-minor module and the real sb_bridge_sms.so load, and the loaded SMS module
 * verifies and translates a signed webhook on its own (it links nothing of the hub).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "test_host.h"
#include "test_fixtures.h"
#include "sb_sms.h"

static void refused(const char *name, int want_rc, const char *want_text)
{
	const struct sb_bridge *b = (const void *)1;
	char err[512] = "";
	int rc = sb_bridge_load(ABI_MOD_DIR, name, &b, err, sizeof err);
	fprintf(stderr, "load %s: rc=%d err=%s\n", name, rc, err);
	assert_int_equal(rc, want_rc);
	assert_null(b);
	if (!strstr(err, want_text))
		fail_msg("load %s: \"%s\" lacks \"%s\"", name, err, want_text);
	if (want_rc == SB_EINVAL && strcmp(name, "../x") != 0 && !strstr(err, name))
		fail_msg("load %s: the message does not name the bridge: %s", name, err);
}

static void test_bad_modules_refused(void **state)
{
	refused("badmajor", SB_EINVAL, "abi_major 2, hub supports 1");
	refused("small", SB_EINVAL, "below the minimum");
	refused("noop", SB_EINVAL, "mandatory op send_parse is missing");
	refused("noinit", SB_EINVAL, "mandatory op channel_init is missing");
	refused("alias", SB_EINVAL, "calls itself \"other\"");
	refused("noentry", SB_ENOTFOUND, "no sb_bridge_entry symbol");
	refused("absent", SB_ENOTFOUND, "cannot load");
	refused("../x", SB_EINVAL, "not [a-z0-9_]");
	refused("", SB_EINVAL, "not [a-z0-9_]");
}

static void test_future_minor_loads(void **state)
{
	const struct sb_bridge *b = NULL;
	char err[512] = "";
	assert_int_equal(sb_bridge_load(ABI_MOD_DIR, "future", &b, err, sizeof err), 0);
	assert_non_null(b);
	assert_string_equal(b->name, "future");
	assert_int_equal(b->abi_minor, 9);
	assert_true(b->size > sizeof(struct sb_bridge));
}

static void test_check_static(void **state)
{
	char err[256];
	assert_int_equal(sb_bridge_check(&sb_bridge_sms, err, sizeof err), 0);
	assert_int_equal(sb_bridge_check(NULL, err, sizeof err), SB_EINVAL);

	/* a slot beyond the declared size is never read, even when the memory holds one */
	struct sb_bridge b = sb_bridge_sms;
	b.size = (uint32_t)offsetof(struct sb_bridge, lookup_build);
	assert_int_equal(sb_bridge_check(&b, err, sizeof err), SB_EINVAL);
	assert_false(SB_BRIDGE_HAS(&b, lookup_build));
	assert_true(SB_BRIDGE_HAS(&sb_bridge_sms, lookup_build));

	b = sb_bridge_sms;
	b.caps |= SB_BRIDGE_CAP_POLICY; /* a capability without its op */
	assert_int_equal(sb_bridge_check(&b, err, sizeof err), SB_EINVAL);
	assert_non_null(strstr(err, "policy"));
	b = sb_bridge_sms;
	b.priv_size = SB_BRIDGE_MAX_PRIV + 1;
	assert_int_equal(sb_bridge_check(&b, err, sizeof err), SB_EINVAL);
	assert_non_null(strstr(err, "priv_size"));
	b = sb_bridge_sms;
	b.name = "SMS";
	assert_int_equal(sb_bridge_check(&b, err, sizeof err), SB_EINVAL);
	b = sb_bridge_sms;
	b.bridge_class = 0;
	assert_int_equal(sb_bridge_check(&b, err, sizeof err), SB_EINVAL);
}

static void test_sms_module_works(void **state)
{
	const struct sb_bridge *b = NULL;
	char err[512] = "";
	assert_int_equal(sb_bridge_load(SB_BRIDGE_MODULE_DIR, "sms", &b, err, sizeof err), 0);
	assert_non_null(b);
	assert_ptr_not_equal(b, &sb_bridge_sms); /* the module's own copy */
	assert_string_equal(b->name, "sms");

	static _Alignas(16) unsigned char priv[4096];
	assert_true(b->priv_size <= sizeof priv);
	const struct sb_bridge_kv kv[] = { { "account_sid", SID_AC3 },
					   { "auth_token", FX_TOKEN },
					   { "from", "+14155550100" } };
	struct sb_bridge_config cfg = { kv, 3 };
	assert_int_equal(b->channel_init(&test_host, priv, &cfg, err, sizeof err), 0);

	struct test_call t;
	test_call_init(&t, priv);
	struct sb_http_header h[] = {
		{ SB_STR("Content-Type"), SB_STR("application/x-www-form-urlencoded") },
		{ SB_STR("X-Twilio-Signature"), SB_STR(FX_IN_SIG) },
	};
	struct sb_http_in req = { SB_STR("POST"), SB_STR(FX_IN_URL), h, 2, SB_STR(FX_IN_BODY) };
	struct sb_http_answer ans = { 0 };
	assert_int_equal(b->webhook(&t.ctx, &req, &t.ev, &ans), 0);
	assert_int_equal(t.ev.n, 1);
	assert_int_equal(t.ev.v[0].kind, SB_BRIDGE_EV_MESSAGE);
	h[1].value = SB_STR(FX_ST_SIG);
	t.ev.n = 0;
	assert_int_equal(b->webhook(&t.ctx, &req, &t.ev, &ans), SB_EAUTH);
	assert_int_equal(t.ev.n, 0);
	b->channel_fini(priv);
	test_call_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_modules_refused),
		cmocka_unit_test(test_future_minor_loads),
		cmocka_unit_test(test_check_static),
		cmocka_unit_test(test_sms_module_works),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
