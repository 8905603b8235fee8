/* SPDX-License-Identifier: MIT
 * sb_sms.h: the Twilio-compatible SMS bridge's pure helpers, public for unit tests and the
 * fake provider (which must sign exactly as Twilio does). The hub itself never includes
 * this header: it uses the bridge only through `const struct sb_bridge sb_bridge_sms`.
 */
#ifndef SB_SMS_H
#define SB_SMS_H

#include "../bridge.h"
#include "../common/sb_form.h"

extern const struct sb_bridge sb_bridge_sms;

#define SB_SMS_SIG_LEN 28        /* base64 of a 20-byte HMAC-SHA1, with one '=' */
#define SB_SMS_MAX_CHARS 1600u   /* Twilio's Body limit, in characters (code points) */
#define SB_SMS_MAX_MEDIA 10u

/* The signature Twilio sends for (url, params): base64(HMAC-SHA1(token, url + sorted
 * name/value pairs)). params may be NULL (GET webhooks, JSON bodies). Pairs are sorted by
 * name then value in byte order, and repeated identical pairs are appended once. Writes 28
 * chars plus NUL into out. Scratch in a. */
void sb_sms_sig_compute(const struct sb_host *h, struct sb_arena *a, struct sb_str url,
			const struct sb_form *params, struct sb_str token, char out[29]);

/* Verifies X-Twilio-Signature `sig` for a request to url, trying the URL as given and with
 * its default port (:443 for https, :80 for http) added when absent or stripped when
 * present. With a bodySHA256 query parameter the body must hash to it (lowercase hex) and
 * the signature covers the URL alone; otherwise params (may be NULL) are appended.
 * Constant-time compares. Returns 0 or SB_EAUTH. */
int sb_sms_sig_verify(const struct sb_host *h, struct sb_arena *a, struct sb_str url,
		      const struct sb_form *params, struct sb_str body, struct sb_str token,
		      struct sb_str sig);

/* The same URL with its default port toggled (added when absent, stripped when present);
 * false when the URL has a non-default port or an unknown scheme. Writes into the arena. */
bool sb_sms_url_port_variant(const struct sb_host *h, struct sb_arena *a, struct sb_str url,
			     struct sb_str *out);

/* Opt-out keywords (PROVIDERS.md 1.6): the whole trimmed body, case-insensitive. */
enum sb_sms_keyword {
	SB_SMS_KW_NONE = 0,
	SB_SMS_KW_OPT_OUT,  /* STOP STOPALL UNSUBSCRIBE CANCEL END QUIT REVOKE OPTOUT */
	SB_SMS_KW_OPT_IN,   /* START YES UNSTOP */
	SB_SMS_KW_HELP,     /* HELP INFO */
};
enum sb_sms_keyword sb_sms_keyword(struct sb_str body);
/* OptOutType (Advanced Opt-Out): STOP, START or HELP, case-insensitive. */
enum sb_sms_keyword sb_sms_opt_out_type(struct sb_str v);

/* Twilio's MessageStatus / status value to the bridge vocabulary; UNKNOWN when unknown. */
enum sb_bridge_status sb_sms_status_parse(struct sb_str v);

/* A Twilio error code's classification for the hub. Static storage. */
struct sb_sms_error {
	int code;
	enum sb_send_outcome outcome;  /* PERMANENT or RETRY */
	uint32_t flags;                /* SB_SEND_F_* */
	const char *reason;            /* plain sentence for an agent */
};
/* The entry for code, or NULL when the code is not in the table. */
const struct sb_sms_error *sb_sms_error_lookup(int code);

#endif
