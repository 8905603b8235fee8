/* SPDX-License-Identifier: MIT
 * sms_outbound.c: the Messages create request, the lookup request, and the classification
 * of Twilio's answers (PROVIDERS.md 1.5). Classification rules, in order:
 *   2xx with a "sid"             -> ACCEPTED (provider id, status)
 *   429, or code 20429 / 21611   -> RETRY (Retry-After honoured): Twilio did not process it
 *   5xx (503 included)           -> AMBIGUOUS: the create may have been committed before the
 *                                   failure, and a duplicate SMS is worse than a reconcile
 *   4xx with an error envelope   -> PERMANENT with the code and a plain reason
 *   anything else (malformed)    -> AMBIGUOUS
 */
#include "sms_internal.h"

#include <stdio.h>

#include "../common/sb_abuf.h"
#include "../common/sb_bstr.h"
#include "../common/sb_retry_after.h"
#include "../common/sb_segments.h"

static const struct sb_sms_error errors[] = {
	{ 20003, SB_SEND_PERMANENT, SB_SEND_F_CREDENTIALS,
	  "The channel's Twilio credentials were rejected; an owner must update them." },
	{ 20404, SB_SEND_PERMANENT, 0, "Twilio could not find the requested resource." },
	{ 20429, SB_SEND_RETRY, 0,
	  "Twilio is rate limiting requests; the message will be retried." },
	{ 21211, SB_SEND_PERMANENT, 0, "The customer's number is not a valid phone number." },
	{ 21212, SB_SEND_PERMANENT, SB_SEND_F_CONFIG,
	  "This channel's sender number is not valid; an owner must check the channel settings." },
	{ 21408, SB_SEND_PERMANENT, 0,
	  "Sending to the customer's country or region is not enabled for this account." },
	{ 21602, SB_SEND_PERMANENT, 0, "The message has no text or media." },
	{ 21603, SB_SEND_PERMANENT, SB_SEND_F_CONFIG,
	  "This channel has no sender number or messaging service configured." },
	{ 21604, SB_SEND_PERMANENT, 0, "The message has no recipient number." },
	{ 21606, SB_SEND_PERMANENT, SB_SEND_F_CONFIG,
	  "This channel's sender number cannot send messages to this destination." },
	{ 21610, SB_SEND_PERMANENT, SB_SEND_F_OPTED_OUT,
	  "The customer has opted out (replied STOP) and cannot be messaged from this number." },
	{ 21611, SB_SEND_RETRY, 0,
	  "The sender number's outgoing queue is full; the message will be retried." },
	{ 21612, SB_SEND_PERMANENT, 0,
	  "The customer's number cannot be reached by SMS from this sender." },
	{ 21614, SB_SEND_PERMANENT, 0,
	  "The customer's number is not a mobile number and cannot receive SMS." },
	{ 21617, SB_SEND_PERMANENT, 0, "The message is longer than 1600 characters." },
};

const struct sb_sms_error *sb_sms_error_lookup(int code)
{
	for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
		if (errors[i].code == code)
			return &errors[i];
	return NULL;
}

/* A sid or number must not be able to change the path or query it is placed in. */
static bool path_safe(struct sb_str s)
{
	if (!s.len || s.len > 64)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!sb_bstr_isalnum(s.p[i]))
			return false;
	return true;
}

static void add_header(struct sb_http_req *req, const char *name, struct sb_str value)
{
	if (req->n_headers < SB_HTTP_REQ_MAX_HEADERS)
		req->headers[req->n_headers++] =
			(struct sb_http_header){ sb_bstr_z(name), value };
}

static void basic_auth(const struct sb_bridge_ctx *c, struct sb_http_req *req)
{
	const struct sms_chan *ch = c->priv;
	add_header(req, "Authorization", sb_bstr_z(ch->authorization));
}

static struct sb_str messages_url(const struct sb_bridge_ctx *c, struct sb_str sid)
{
	const struct sms_chan *ch = c->priv;
	struct sb_abuf u;
	sb_abuf_init(&u, c->host, c->arena);
	sb_abuf_adds(&u, ch->messages_url);
	if (sid.len) {
		sb_abuf_add(&u, "/", 1);
		sb_abuf_addstr(&u, sid);
	}
	sb_abuf_adds(&u, ".json");
	return sb_abuf_str(&u);
}

int sms__send_build(const struct sb_bridge_ctx *c, const struct sb_bridge_msg *msg,
		    struct sb_http_req *req)
{
	const struct sms_chan *ch = c->priv;
	size_t chars = sb_utf8_chars(msg->body.p, msg->body.len);
	if (chars == (size_t)-1)
		return SB_EINVAL;
	if (chars > SB_SMS_MAX_CHARS || msg->n_media > SB_SMS_MAX_MEDIA)
		return SB_ETOOBIG;
	if (!msg->to.len || (!msg->body.len && !msg->n_media))
		return SB_EINVAL;
	if (!msg->from.len && !ch->service_sid[0] && !ch->from[0])
		return SB_EINVAL;

	struct sb_abuf b;
	sb_abuf_init(&b, c->host, c->arena);
	sb_abuf_formkv(&b, "To", msg->to);
	/* An explicit sender wins; otherwise the service (pool, opt-out handling) is
	 * preferred over the channel's single number. */
	if (msg->from.len)
		sb_abuf_formkv(&b, "From", msg->from);
	else if (ch->service_sid[0])
		sb_abuf_formkv(&b, "MessagingServiceSid", sb_bstr_z(ch->service_sid));
	else
		sb_abuf_formkv(&b, "From", sb_bstr_z(ch->from));
	if (msg->body.len)
		sb_abuf_formkv(&b, "Body", msg->body);
	for (size_t i = 0; i < msg->n_media; i++) {
		if (!msg->media[i].url.len)
			return SB_EINVAL;
		sb_abuf_formkv(&b, "MediaUrl", msg->media[i].url);
	}
	if (msg->status_url.len)
		sb_abuf_formkv(&b, "StatusCallback", msg->status_url);

	req->method = "POST";
	req->url = messages_url(c, (struct sb_str){ NULL, 0 });
	basic_auth(c, req);
	add_header(req, "Content-Type", SB_STR("application/x-www-form-urlencoded"));
	add_header(req, "Accept", SB_STR("application/json"));
	req->body = sb_abuf_str(&b);
	return 0;
}

static struct sb_str json_str(const struct sb_json *o, const char *key)
{
	const struct sb_json *v = sb_bridge_json_get(o, key);
	if (v && v->type == SB_JSON_STRING)
		return v->str;
	return (struct sb_str){ NULL, 0 };
}

/* The error envelope's code, or 0 when absent; *detail gets message (or detail). */
static long envelope(const struct sb_json *root, struct sb_str *detail)
{
	const struct sb_json *code = sb_bridge_json_get(root, "code");
	*detail = json_str(root, "message");
	if (!detail->len)
		*detail = json_str(root, "detail");
	if (!code || code->type != SB_JSON_NUMBER || !code->is_int || code->i <= 0 ||
	    code->i > 999999)
		return 0;
	return (long)code->i;
}

static struct sb_str code_text(const struct sb_bridge_ctx *c, long code)
{
	char *z = c->host->alloc(c->arena, 16);
	int n = snprintf(z, 16, "%ld", code);
	return (struct sb_str){ z, (size_t)n };
}

static void classify_code(const struct sb_bridge_ctx *c, long code, struct sb_send_result *res)
{
	const struct sb_sms_error *e = sb_sms_error_lookup((int)code);
	res->code = code_text(c, code);
	if (e) {
		res->outcome = e->outcome;
		res->flags |= e->flags;
		res->reason = e->reason;
	} else {
		res->outcome = SB_SEND_PERMANENT;
		res->reason = "Twilio refused the message; see the error code for details.";
	}
}

/* Shared by send and lookup: parses the body, fills ACCEPTED or the error fields. Returns
 * the JSON root (NULL when the body is not a JSON object). */
static const struct sb_json *parse_body(const struct sb_bridge_ctx *c,
					const struct sb_http_resp *resp)
{
	struct sb_json *root = NULL;
	if (!resp->body.len ||
	    c->host->json_parse(c->arena, resp->body.p, resp->body.len, &root) != 0 ||
	    !root || root->type != SB_JSON_OBJECT)
		return NULL;
	return root;
}

static int classify(const struct sb_bridge_ctx *c, const struct sb_http_resp *resp,
		    struct sb_send_result *res, bool lookup)
{
	const struct sb_json *root = parse_body(c, resp);
	struct sb_str ra = sb_http_header_get(resp->headers, resp->n_headers, "Retry-After");
	res->retry_after_ms = sb_retry_after_ms(ra, c->now_ms);

	if (resp->status >= 200 && resp->status < 300) {
		struct sb_str sid = json_str(root, "sid");
		if (!root || !sid.len) {
			res->outcome = SB_SEND_AMBIGUOUS;
			res->reason = "Twilio's answer could not be read; the message's fate is "
				      "being checked.";
			return 0;
		}
		res->outcome = SB_SEND_ACCEPTED;
		res->provider_id = sid;
		res->status = sb_sms_status_parse(json_str(root, "status"));
		const struct sb_json *ec = sb_bridge_json_get(root, "error_code");
		if (ec && ec->type == SB_JSON_NUMBER && ec->is_int && ec->i > 0)
			res->code = code_text(c, (long)ec->i);
		res->detail = json_str(root, "error_message");
		return 0;
	}

	struct sb_str detail = { NULL, 0 };
	long code = root ? envelope(root, &detail) : 0;
	res->detail = detail;
	if (resp->status == 429 || code == 20429) {
		res->outcome = SB_SEND_RETRY;
		res->code = code_text(c, code ? code : 20429);
		res->reason = sb_sms_error_lookup(20429)->reason;
		return 0;
	}
	if (lookup && resp->status == 404) {
		res->outcome = SB_SEND_PERMANENT;
		res->flags |= SB_SEND_F_NOT_FOUND;
		res->code = code_text(c, code ? code : 20404);
		res->reason = "Twilio has no record of this message.";
		return 0;
	}
	if (resp->status >= 500 && resp->status < 600) {
		/* a failed lookup changes nothing and can simply be repeated */
		res->outcome = lookup ? SB_SEND_RETRY : SB_SEND_AMBIGUOUS;
		if (code)
			res->code = code_text(c, code);
		res->reason = lookup ? "Twilio is unavailable; the check will be repeated."
				     : "Twilio failed while taking the message; whether it was "
				       "sent is being checked before any retry.";
		return 0;
	}
	if (resp->status >= 400 && resp->status < 500 && code) {
		classify_code(c, code, res);
		return 0;
	}
	if (resp->status == 401) {
		res->outcome = SB_SEND_PERMANENT;
		res->flags |= SB_SEND_F_CREDENTIALS;
		res->code = code_text(c, 20003);
		res->reason = sb_sms_error_lookup(20003)->reason;
		return 0;
	}
	res->outcome = SB_SEND_AMBIGUOUS;
	res->reason = "Twilio's answer could not be read; the message's fate is being checked.";
	return 0;
}

int sms__send_parse(const struct sb_bridge_ctx *c, const struct sb_http_resp *resp,
		    struct sb_send_result *res)
{
	return classify(c, resp, res, false);
}

int sms__lookup_build(const struct sb_bridge_ctx *c, const struct sb_bridge_lookup *lk,
		      struct sb_http_req *req)
{
	if (!path_safe(lk->provider_id))
		return SB_EINVAL; /* Twilio finds messages by its own sid only */
	req->method = "GET";
	req->url = messages_url(c, lk->provider_id);
	basic_auth(c, req);
	add_header(req, "Accept", SB_STR("application/json"));
	return 0;
}

int sms__lookup_parse(const struct sb_bridge_ctx *c, const struct sb_http_resp *resp,
		      struct sb_send_result *res)
{
	return classify(c, resp, res, true);
}
