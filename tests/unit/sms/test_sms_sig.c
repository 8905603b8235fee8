/* SPDX-License-Identifier: MIT
 * test_sms_sig.c: X-Twilio-Signature: Twilio's published vectors (T1, T2, T7), the two
 * SMS-shaped vectors, default-port spellings, repeated names, and refusal of every
 * single-byte change of body, URL, token and signature.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "test_host.h"
#include "test_fixtures.h"
#include "sb_sms.h"
#include "sb_sha1.h"

#define T_URL "https://mycompany.com/myapp.php?foo=1&bar=2"

static struct sb_arena arena;

static int teardown(void **state)
{
	sb_arena_free(&arena);
	return 0;
}

static struct sb_form form(const char *body)
{
	struct sb_form f;
	assert_int_equal(sb_form_parse(&test_host, &arena, tstr(body), &f), 0);
	return f;
}

static int verify(const char *url, const char *body, const char *token, const char *sig)
{
	struct sb_form f = form(body);
	return sb_sms_sig_verify(&test_host, &arena, tstr(url), &f, tstr(body),
				 tstr(token), tstr(sig));
}

static void test_published_t1_t2(void **state)
{
	const char *t1 = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&"
			 "From=%2B12349013030&To=%2B18005551212";
	/* the order of the parameters on the wire is irrelevant */
	const char *t2 = "To=%2B18005551212&From=%2B14158675309&Digits=1234&"
			 "Caller=%2B14158675309&CallSid=CA1234567890ABCDE";
	char sig[29];
	struct sb_form f = form(t1);
	sb_sms_sig_compute(&test_host, &arena, SB_STR(T_URL), &f, SB_STR("12345"), sig);
	assert_string_equal(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
	assert_int_equal(verify(T_URL, t1, "12345", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="), 0);
	assert_int_equal(verify(T_URL, t2, "12345", "RSOYDt4T1cUTdK1PDd93/VVr8B8="), 0);
	assert_int_equal(verify(T_URL, t2, "12345", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="), SB_EAUTH);

	/* the documented string to sign for T2 */
	const char *s = T_URL "CallSidCA1234567890ABCDECaller+14158675309Digits1234"
			      "From+14158675309To+18005551212";
	unsigned char mac[20];
	char b64[29];
	sb_hmac_sha1("12345", 5, s, strlen(s), mac);
	test_host.base64_encode(mac, 20, b64, sizeof b64);
	assert_string_equal(b64, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

static void test_published_t7_json(void **state)
{
	const char *body = "{\"property\": \"value\", \"boolean\": true}";
	const char *url = T_URL "&bodySHA256="
			  "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
	const char *sig = "a9nBmqA0ju/hNViExpshrM61xv4=";
	assert_int_equal(sb_sms_sig_verify(&test_host, &arena, tstr(url), NULL, tstr(body),
					   SB_STR("12345"), tstr(sig)),
			 0);
	/* the body is bound through its hash: any change is refused */
	char b[64];
	for (size_t i = 0; i < strlen(body); i++) {
		strcpy(b, body);
		b[i] ^= 1;
		assert_int_equal(sb_sms_sig_verify(&test_host, &arena, tstr(url), NULL,
						   tstr(b), SB_STR("12345"), tstr(sig)),
				 SB_EAUTH);
	}
	/* and so is a hash that matches the body under a wrong signature */
	assert_int_equal(sb_sms_sig_verify(&test_host, &arena, tstr(url), NULL, tstr(body),
					   SB_STR("12346"), tstr(sig)),
			 SB_EAUTH);
}

static void test_sms_vectors(void **state)
{
	assert_int_equal(verify(FX_IN_URL, FX_IN_BODY, FX_TOKEN, FX_IN_SIG), 0);
	assert_int_equal(verify(FX_ST_URL, FX_ST_BODY, FX_TOKEN, FX_ST_SIG), 0);
	assert_int_equal(verify(FX_ST_URL, FX_IN_BODY, FX_TOKEN, FX_IN_SIG), SB_EAUTH);
	assert_int_equal(verify(FX_IN_URL, FX_IN_BODY, FX_TOKEN, ""), SB_EAUTH);
	assert_int_equal(verify(FX_IN_URL, FX_IN_BODY, "", FX_IN_SIG), SB_EAUTH);
	assert_int_equal(verify(FX_IN_URL, FX_IN_BODY, FX_TOKEN, FX_IN_SIG "x"), SB_EAUTH);
}

/* Every single-byte change of body, URL, token and signature must be refused. */
static void mutate_all(const char *url, const char *body, const char *sig)
{
	char b[2048];
	const char *parts[4] = { body, url, FX_TOKEN, sig };
	for (int which = 0; which < 4; which++) {
		size_t n = strlen(parts[which]);
		for (size_t i = 0; i < n; i++) {
			for (int delta = 1; delta <= 2; delta++) {
				strcpy(b, parts[which]);
				b[i] = (char)(delta == 1 ? b[i] ^ 1 : b[i] + 2);
				const char *u = which == 1 ? b : url;
				const char *bo = which == 0 ? b : body;
				const char *tk = which == 2 ? b : FX_TOKEN;
				const char *sg = which == 3 ? b : sig;
				struct sb_form f;
				if (sb_form_parse(&test_host, &arena, tstr(bo), &f) != 0)
					continue; /* unparsable: the webhook refuses it earlier */
				int rc = sb_sms_sig_verify(&test_host, &arena, tstr(u), &f,
							   tstr(bo), tstr(tk), tstr(sg));
				if (rc != SB_EAUTH)
					fail_msg("part %d byte %zu delta %d accepted", which, i,
						 delta);
			}
		}
	}
}

static void test_single_byte_changes(void **state)
{
	mutate_all(FX_IN_URL, FX_IN_BODY, FX_IN_SIG);
	mutate_all(FX_ST_URL, FX_ST_BODY, FX_ST_SIG);
}

static void test_default_ports(void **state)
{
	/* signed without the port, delivered with it, and the reverse */
	assert_int_equal(verify("https://hub.example.com:443/webhooks/twilio/sms?tenant=acme",
				FX_IN_BODY, FX_TOKEN, FX_IN_SIG),
			 0);
	char sig[29];
	struct sb_form f = form(FX_IN_BODY);
	sb_sms_sig_compute(&test_host, &arena, SB_STR("http://h.example:80/in"), &f,
			   SB_STR(FX_TOKEN), sig);
	assert_int_equal(verify("http://h.example/in", FX_IN_BODY, FX_TOKEN, sig), 0);
	assert_int_equal(verify("http://h.example:80/in", FX_IN_BODY, FX_TOKEN, sig), 0);
	/* the other scheme's default, or another port, is a different URL */
	assert_int_equal(verify("http://h.example:443/in", FX_IN_BODY, FX_TOKEN, sig), SB_EAUTH);
	assert_int_equal(verify("http://h.example:8080/in", FX_IN_BODY, FX_TOKEN, sig), SB_EAUTH);

	struct sb_str v;
	assert_true(sb_sms_url_port_variant(&test_host, &arena, SB_STR("https://a.b?x=1"), &v));
	assert_int_equal(v.len, strlen("https://a.b:443?x=1"));
	assert_memory_equal(v.p, "https://a.b:443?x=1", v.len);
	assert_true(sb_sms_url_port_variant(&test_host, &arena, SB_STR("https://u@[::1]:443/p"),
					    &v));
	assert_memory_equal(v.p, "https://u@[::1]/p", v.len);
	assert_false(sb_sms_url_port_variant(&test_host, &arena, SB_STR("https://a.b:8443/"), &v));
	assert_false(sb_sms_url_port_variant(&test_host, &arena, SB_STR("ftp://a.b/"), &v));
}

static void test_repeated_names(void **state)
{
	/* values of a repeated name are sorted and identical pairs appended once */
	const char *url = "https://h.example/x";
	const char *s = "https://h.example/xMediaUrlaMediaUrlbTo+1";
	unsigned char mac[20];
	char want[29], got[29];
	sb_hmac_sha1("k", 1, s, strlen(s), mac);
	test_host.base64_encode(mac, 20, want, sizeof want);
	struct sb_form f = form("To=%2B1&MediaUrl=b&MediaUrl=a&MediaUrl=b");
	sb_sms_sig_compute(&test_host, &arena, tstr(url), &f, SB_STR("k"), got);
	assert_string_equal(got, want);
	/* uppercase sorts before lowercase (byte order) */
	s = "https://h.example/xBa1ab2";
	sb_hmac_sha1("k", 1, s, strlen(s), mac);
	test_host.base64_encode(mac, 20, want, sizeof want);
	f = form("ab=2&Ba=1");
	sb_sms_sig_compute(&test_host, &arena, tstr(url), &f, SB_STR("k"), got);
	assert_string_equal(got, want);
}

struct pair {
	char name[8], value[8];
};

static int cmp_pair(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	int c = strcmp(a->name, b->name);
	return c ? c : strcmp(a->value, b->value);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Forms of 0 to 64 parameters, with repeated names and repeated pairs, in random orders:
 * the signature is the documented one, computed here from a sort of our own, whatever
 * the order on the wire. */
static void test_param_orders(void **state)
{
	(void)state;
	uint64_t x = 0x2545f4914f6cdd1dull;
	static const char *const names[] = { "To", "From", "Body", "A", "a", "B0", "b", "MessageSid",
					     "NumMedia", "Z" };
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = iter % 65;
		struct pair p[64];
		for (size_t i = 0; i < n; i++) {
			snprintf(p[i].name, sizeof p[i].name, "%s", names[rnd(&x) % 10]);
			snprintf(p[i].value, sizeof p[i].value, "%c%c", 'a' + (int)(rnd(&x) % 3),
				 'a' + (int)(rnd(&x) % 2));
		}
		/* the string to sign, from a sort of our own */
		struct pair sorted[64];
		memcpy(sorted, p, n * sizeof *p);
		qsort(sorted, n, sizeof *sorted, cmp_pair);
		char sign[64 * 16 + sizeof T_URL] = T_URL;
		for (size_t i = 0; i < n; i++) {
			if (i && !cmp_pair(&sorted[i - 1], &sorted[i]))
				continue;
			strcat(sign, sorted[i].name);
			strcat(sign, sorted[i].value);
		}
		unsigned char mac[20];
		char want[29];
		sb_hmac_sha1("12345", 5, sign, strlen(sign), mac);
		test_host.base64_encode(mac, 20, want, sizeof want);
		/* the form as sent: a shuffle of the pairs */
		for (size_t i = n; i > 1; i--) {
			size_t k = rnd(&x) % i;
			struct pair t = p[i - 1];
			p[i - 1] = p[k];
			p[k] = t;
		}
		char body[64 * 16 + 1] = "";
		for (size_t i = 0; i < n; i++) {
			if (i)
				strcat(body, "&");
			strcat(body, p[i].name);
			strcat(body, "=");
			strcat(body, p[i].value);
		}
		char sig[29];
		struct sb_form f = form(body);
		sb_sms_sig_compute(&test_host, &arena, SB_STR(T_URL), &f, SB_STR("12345"), sig);
		if (strcmp(sig, want))
			fail_msg("%zu parameters, body %s: %s, want %s", n, body, sig, want);
		sb_arena_free(&arena);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_published_t1_t2, teardown),
		cmocka_unit_test_teardown(test_published_t7_json, teardown),
		cmocka_unit_test_teardown(test_sms_vectors, teardown),
		cmocka_unit_test_teardown(test_single_byte_changes, teardown),
		cmocka_unit_test_teardown(test_default_ports, teardown),
		cmocka_unit_test_teardown(test_repeated_names, teardown),
		cmocka_unit_test_teardown(test_param_orders, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
