/* SPDX-License-Identifier: MIT
 * sms_internal.h: what the SMS bridge's files share: the per-channel state and the ops
 * implemented in each file.
 */
#ifndef SMS_INTERNAL_H
#define SMS_INTERNAL_H

#include "sb_sms.h"

/* Per-channel state, allocated (zeroed) by the hub at sb_bridge_sms.priv_size and filled by
 * channel_init. Lifetime: the channel's; channel_fini wipes the secrets. Strings are
 * NUL-terminated copies (the config is not kept). */
struct sms_chan {
	char account_sid[72];     /* AC...: path component and default Basic auth user */
	char auth_token[136];     /* primary Auth Token: webhook signatures */
	char api_key_sid[72];     /* optional SK... key: Basic auth user instead of account_sid */
	char api_key_secret[136];
	char from[72];            /* default sender (E.164 or short code), may be empty */
	char service_sid[72];     /* MessagingServiceSid, may be empty; preferred over from */
	char api_base[264];       /* "https://api.twilio.com", no trailing '/' */
	/* made once at channel_init, used by every request */
	char authorization[296];  /* "Basic " + base64(user:password) */
	char messages_url[368];   /* api_base/2010-04-01/Accounts/<AC>/Messages */
};

int sms__webhook(const struct sb_bridge_ctx *c, const struct sb_http_in *req,
		 struct sb_bridge_events *out, struct sb_http_answer *answer);
int sms__webhook_reply(const struct sb_bridge_ctx *c, struct sb_str text,
		       struct sb_http_answer *answer);
int sms__send_build(const struct sb_bridge_ctx *c, const struct sb_bridge_msg *msg,
		    struct sb_http_req *req);
int sms__send_parse(const struct sb_bridge_ctx *c, const struct sb_http_resp *resp,
		    struct sb_send_result *res);
int sms__lookup_build(const struct sb_bridge_ctx *c, const struct sb_bridge_lookup *lk,
		      struct sb_http_req *req);
int sms__lookup_parse(const struct sb_bridge_ctx *c, const struct sb_http_resp *resp,
		      struct sb_send_result *res);

#endif
