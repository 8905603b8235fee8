/* SPDX-License-Identifier: MIT
 * sms_sig.c: X-Twilio-Signature (PROVIDERS.md 1.4). HMAC-SHA1 over the exact URL plus the
 * sorted decoded parameters; Twilio is inconsistent about default ports, so both spellings
 * of the URL are tried. All digests are compared in constant time.
 */
#include "sms_internal.h"

#include <stdlib.h>

#include "../common/sb_abuf.h"
#include "../common/sb_bstr.h"

static int cmp_str(struct sb_str a, struct sb_str b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.p, b.p, n) : 0;
	if (c)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

static int cmp_kv(const void *x, const void *y)
{
	const struct sb_form_kv *a = x, *b = y;
	int c = cmp_str(a->name, b->name);
	return c ? c : cmp_str(a->value, b->value);
}

/* The signed parameter part: every name then its value, in sorted order. */
static struct sb_str sorted_params(const struct sb_host *h, struct sb_arena *a,
				   const struct sb_form *params)
{
	struct sb_abuf s;
	sb_abuf_init(&s, h, a);
	if (params && params->n) {
		struct sb_form_kv *v = h->alloc(a, params->n * sizeof *v);
		memcpy(v, params->v, params->n * sizeof *v);
		qsort(v, params->n, sizeof *v, cmp_kv);
		for (size_t i = 0; i < params->n; i++) {
			if (i && cmp_kv(&v[i - 1], &v[i]) == 0)
				continue; /* a repeated identical pair counts once */
			sb_abuf_addstr(&s, v[i].name);
			sb_abuf_addstr(&s, v[i].value);
		}
	}
	return sb_abuf_str(&s);
}

static void sig_of(const struct sb_host *h, struct sb_arena *a, struct sb_str url,
		   struct sb_str sorted, struct sb_str token, char out[29])
{
	struct sb_abuf s;
	sb_abuf_init(&s, h, a);
	sb_abuf_addstr(&s, url);
	sb_abuf_addstr(&s, sorted);
	unsigned char mac[20];
	h->hmac_sha1(token.p, token.len, s.p ? s.p : "", s.len, mac);
	h->base64_encode(mac, sizeof mac, out, 29);
}

void sb_sms_sig_compute(const struct sb_host *h, struct sb_arena *a, struct sb_str url,
			const struct sb_form *params, struct sb_str token, char out[29])
{
	sig_of(h, a, url, sorted_params(h, a, params), token, out);
}

bool sb_sms_url_port_variant(const struct sb_host *h, struct sb_arena *a, struct sb_str url,
			     struct sb_str *out)
{
	const char *dport;
	size_t i = 0;
	while (i + 2 < url.len && memcmp(url.p + i, "://", 3) != 0)
		i++;
	if (i + 2 >= url.len)
		return false;
	struct sb_str scheme = { url.p, i };
	if (sb_bstr_caseeqz(scheme, "https"))
		dport = "443";
	else if (sb_bstr_caseeqz(scheme, "http"))
		dport = "80";
	else
		return false;

	size_t as = i + 3, ae = as;
	while (ae < url.len && url.p[ae] != '/' && url.p[ae] != '?' && url.p[ae] != '#')
		ae++;
	size_t hs = as; /* host start: after any userinfo */
	for (size_t k = as; k < ae; k++)
		if (url.p[k] == '@')
			hs = k + 1;
	size_t colon = 0;
	size_t k = hs;
	if (k < ae && url.p[k] == '[') { /* IPv6 literal */
		while (k < ae && url.p[k] != ']')
			k++;
	}
	for (; k < ae; k++)
		if (url.p[k] == ':')
			colon = k;
	if (hs == ae)
		return false;

	struct sb_abuf b;
	sb_abuf_init(&b, h, a);
	if (colon) {
		struct sb_str port = { url.p + colon + 1, ae - colon - 1 };
		if (port.len != strlen(dport) || memcmp(port.p, dport, port.len) != 0)
			return false; /* a non-default port has one spelling only */
		sb_abuf_add(&b, url.p, colon);
	} else {
		sb_abuf_add(&b, url.p, ae);
		sb_abuf_add(&b, ":", 1);
		sb_abuf_adds(&b, dport);
	}
	sb_abuf_add(&b, url.p + ae, url.len - ae);
	*out = sb_abuf_str(&b);
	return true;
}

static bool sig_matches(const struct sb_host *h, struct sb_arena *a, struct sb_str url,
			struct sb_str sorted, struct sb_str token, struct sb_str sig)
{
	char want[29];
	sig_of(h, a, url, sorted, token, want);
	/* the length is public (always 28); the bytes are compared in constant time */
	return sig.len == SB_SMS_SIG_LEN && h->mem_eq(want, sig.p, SB_SMS_SIG_LEN);
}

int sb_sms_sig_verify(const struct sb_host *h, struct sb_arena *a, struct sb_str url,
		      const struct sb_form *params, struct sb_str body, struct sb_str token,
		      struct sb_str sig)
{
	if (!token.len || sig.len != SB_SMS_SIG_LEN)
		return SB_EAUTH;

	struct sb_form q;
	if (sb_form_parse(h, a, sb_url_query(url), &q) != 0)
		return SB_EAUTH;
	struct sb_str want_hash;
	if (sb_form_get(&q, "bodySHA256", &want_hash)) {
		/* JSON-bodied webhook: the body is bound through its hash in the signed URL */
		static const char hx[] = "0123456789abcdef";
		unsigned char d[32];
		char hex[64];
		h->sha256(body.p ? body.p : "", body.len, d);
		for (int i = 0; i < 32; i++) {
			hex[2 * i] = hx[d[i] >> 4];
			hex[2 * i + 1] = hx[d[i] & 15];
		}
		if (want_hash.len != sizeof hex || !h->mem_eq(hex, want_hash.p, sizeof hex))
			return SB_EAUTH;
		params = NULL;
	}

	/* the parameters are sorted once for both spellings of the URL */
	struct sb_str sorted = sorted_params(h, a, params);
	bool ok = sig_matches(h, a, url, sorted, token, sig);
	struct sb_str alt;
	/* evaluate both spellings whichever matched, so timing does not tell which one did */
	if (sb_sms_url_port_variant(h, a, url, &alt))
		ok = sig_matches(h, a, alt, sorted, token, sig) | ok;
	return ok ? 0 : SB_EAUTH;
}
