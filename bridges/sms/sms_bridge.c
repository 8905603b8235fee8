/* SPDX-License-Identifier: MIT
 * sms_bridge.c: the Twilio-compatible SMS bridge's table and channel setup. The ops live
 * in sms_inbound.c (webhooks, TwiML) and sms_outbound.c (requests, classification).
 */
#include "sms_internal.h"

#include <stdio.h>

#include "../common/sb_bstr.h"
#include "../common/sb_wipe.h"

static const struct sb_bridge_key sms_keys[] = {
	{ "account_sid", SB_BRIDGE_KEY_REQUIRED, "Twilio Account SID (AC...)" },
	{ "auth_token", SB_BRIDGE_KEY_REQUIRED | SB_BRIDGE_KEY_SECRET,
	  "primary Auth Token: checks webhook signatures (and authenticates sends without an "
	  "API key)" },
	{ "api_key_sid", 0, "optional API key SID (SK...) used to authenticate sends" },
	{ "api_key_secret", SB_BRIDGE_KEY_SECRET, "the API key's secret" },
	{ "from", 0, "sender number (E.164) or short code; one of from/messaging_service_sid" },
	{ "messaging_service_sid", 0, "Messaging Service SID (MG...); preferred over from" },
	{ "api_base", 0, "API origin, default https://api.twilio.com (sandbox: the simulator)" },
	{ NULL, 0, NULL },
};

static bool alnum(const char *z)
{
	if (!*z)
		return false;
	for (; *z; z++)
		if (!sb_bstr_isalnum(*z))
			return false;
	return true;
}

/* Copies key's value into dst; false (with err) when it does not fit. */
static bool take(const struct sb_bridge_config *cfg, const char *key, char *dst, size_t cap,
		 char *err, size_t errlen)
{
	const char *v = sb_bridge_config_get(cfg, key);
	if (!v)
		v = "";
	size_t n = strlen(v);
	if (n >= cap) {
		snprintf(err, errlen, "sms: %s is longer than %zu bytes", key, cap - 1);
		return false;
	}
	memcpy(dst, v, n + 1);
	return true;
}

static void sms_fini(void *priv)
{
	sb_wipe(priv, sizeof(struct sms_chan));
}

static int sms_channel_init(const struct sb_host *host, void *priv,
			    const struct sb_bridge_config *cfg, char *err, size_t errlen)
{
	struct sms_chan *ch = priv;
	if (!take(cfg, "account_sid", ch->account_sid, sizeof ch->account_sid, err, errlen) ||
	    !take(cfg, "auth_token", ch->auth_token, sizeof ch->auth_token, err, errlen) ||
	    !take(cfg, "api_key_sid", ch->api_key_sid, sizeof ch->api_key_sid, err, errlen) ||
	    !take(cfg, "api_key_secret", ch->api_key_secret, sizeof ch->api_key_secret, err,
		  errlen) ||
	    !take(cfg, "from", ch->from, sizeof ch->from, err, errlen) ||
	    !take(cfg, "messaging_service_sid", ch->service_sid, sizeof ch->service_sid, err,
		  errlen) ||
	    !take(cfg, "api_base", ch->api_base, sizeof ch->api_base, err, errlen))
		goto fail;

	const char *why = NULL, *key = NULL;
	if (!alnum(ch->account_sid))
		key = "account_sid", why = "must be letters and digits (AC...)";
	else if (!ch->auth_token[0])
		key = "auth_token", why = "is required";
	else if (ch->api_key_sid[0] && (!alnum(ch->api_key_sid) || !ch->api_key_secret[0]))
		key = "api_key_sid", why = "must be letters and digits, with api_key_secret set";
	else if (!ch->from[0] && !ch->service_sid[0])
		key = "from", why = "or messaging_service_sid is required";
	else if (ch->service_sid[0] && !alnum(ch->service_sid))
		key = "messaging_service_sid", why = "must be letters and digits (MG...)";
	if (key) {
		snprintf(err, errlen, "sms: %s %s", key, why);
		goto fail;
	}

	if (!ch->api_base[0])
		strcpy(ch->api_base, "https://api.twilio.com");
	size_t n = strlen(ch->api_base);
	while (n && ch->api_base[n - 1] == '/')
		ch->api_base[--n] = '\0';
	if (strncmp(ch->api_base, "https://", 8) != 0 && strncmp(ch->api_base, "http://", 7) != 0) {
		snprintf(err, errlen, "sms: api_base must start with https:// or http://");
		goto fail;
	}
	/* what every request carries: its Basic credentials (an API key's when one is set) and
	 * the Messages resource (the field sizes above bound both) */
	const char *user = ch->api_key_sid[0] ? ch->api_key_sid : ch->account_sid;
	const char *pass = ch->api_key_sid[0] ? ch->api_key_secret : ch->auth_token;
	char cred[sizeof ch->api_key_sid + sizeof ch->api_key_secret];
	int cn = snprintf(cred, sizeof cred, "%s:%s", user, pass);
	memcpy(ch->authorization, "Basic ", 6);
	host->base64_encode(cred, (size_t)cn, ch->authorization + 6, sizeof ch->authorization - 6);
	sb_wipe(cred, sizeof cred);
	snprintf(ch->messages_url, sizeof ch->messages_url, "%s/2010-04-01/Accounts/%s/Messages",
		 ch->api_base, ch->account_sid);
	return 0;
fail:
	sms_fini(priv);
	return SB_EINVAL;
}

const struct sb_bridge sb_bridge_sms = {
	SB_BRIDGE_HEADER("sms", SB_BRIDGE_CLASS_MESSAGING),
	.caps = SB_BRIDGE_CAP_INBOUND | SB_BRIDGE_CAP_OUTBOUND | SB_BRIDGE_CAP_LOOKUP |
		SB_BRIDGE_CAP_REPLY | SB_BRIDGE_CAP_MEDIA_OUT,
	.priv_size = sizeof(struct sms_chan),
	.config_keys = sms_keys,
	.channel_init = sms_channel_init,
	.channel_fini = sms_fini,
	.webhook = sms__webhook,
	.webhook_reply = sms__webhook_reply,
	.send_build = sms__send_build,
	.send_parse = sms__send_parse,
	.lookup_build = sms__lookup_build,
	.lookup_parse = sms__lookup_parse,
};
