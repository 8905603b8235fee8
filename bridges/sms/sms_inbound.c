/* SPDX-License-Identifier: MIT
 * sms_inbound.c: Twilio webhooks (inbound messages and status callbacks) verified and
 * translated into normalized events, and the TwiML answers (PROVIDERS.md 1.1-1.3, 1.6).
 */
#include "sms_internal.h"

#include <stdio.h>

#include "../common/sb_abuf.h"
#include "../common/sb_bstr.h"
#include "../common/sb_segments.h"

#define TWIML_EMPTY "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"

enum sb_sms_keyword sb_sms_keyword(struct sb_str body)
{
	static const char *const out_kw[] = { "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END",
					      "QUIT", "REVOKE", "OPTOUT" };
	static const char *const in_kw[] = { "START", "YES", "UNSTOP" };
	static const char *const help_kw[] = { "HELP", "INFO" };
	struct sb_str t = sb_bstr_trim(body);
	for (size_t i = 0; i < sizeof out_kw / sizeof out_kw[0]; i++)
		if (sb_bstr_caseeqz(t, out_kw[i]))
			return SB_SMS_KW_OPT_OUT;
	for (size_t i = 0; i < sizeof in_kw / sizeof in_kw[0]; i++)
		if (sb_bstr_caseeqz(t, in_kw[i]))
			return SB_SMS_KW_OPT_IN;
	for (size_t i = 0; i < sizeof help_kw / sizeof help_kw[0]; i++)
		if (sb_bstr_caseeqz(t, help_kw[i]))
			return SB_SMS_KW_HELP;
	return SB_SMS_KW_NONE;
}

enum sb_sms_keyword sb_sms_opt_out_type(struct sb_str v)
{
	v = sb_bstr_trim(v);
	if (sb_bstr_caseeqz(v, "STOP"))
		return SB_SMS_KW_OPT_OUT;
	if (sb_bstr_caseeqz(v, "START"))
		return SB_SMS_KW_OPT_IN;
	if (sb_bstr_caseeqz(v, "HELP"))
		return SB_SMS_KW_HELP;
	return SB_SMS_KW_NONE;
}

enum sb_bridge_status sb_sms_status_parse(struct sb_str v)
{
	static const struct {
		const char *name;
		enum sb_bridge_status st;
	} map[] = {
		{ "accepted", SB_BRIDGE_ST_ACCEPTED },   { "scheduled", SB_BRIDGE_ST_SCHEDULED },
		{ "queued", SB_BRIDGE_ST_QUEUED },       { "sending", SB_BRIDGE_ST_SENDING },
		{ "sent", SB_BRIDGE_ST_SENT },           { "delivered", SB_BRIDGE_ST_DELIVERED },
		{ "undelivered", SB_BRIDGE_ST_UNDELIVERED }, { "failed", SB_BRIDGE_ST_FAILED },
		{ "read", SB_BRIDGE_ST_READ },           { "canceled", SB_BRIDGE_ST_CANCELED },
		{ "received", SB_BRIDGE_ST_RECEIVED },   { "receiving", SB_BRIDGE_ST_RECEIVED },
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (sb_bstr_eqz(v, map[i].name))
			return map[i].st;
	return SB_BRIDGE_ST_UNKNOWN; /* partially_delivered and future values */
}

static struct sb_str param(const struct sb_form *f, const char *name)
{
	struct sb_str v = { NULL, 0 };
	sb_form_get(f, name, &v);
	return v;
}

static bool utf8_ok(struct sb_str s)
{
	return sb_utf8_chars(s.p, s.len) != (size_t)-1;
}

static void fill_common(struct sb_bridge_event *ev, const struct sb_form *f,
			const struct sb_http_in *req)
{
	ev->route_id = param(f, "AccountSid");
	ev->service_id = param(f, "MessagingServiceSid");
	ev->provider_id = param(f, "MessageSid");
	ev->from = param(f, "From");
	ev->to = param(f, "To");
	ev->event_id =
		sb_http_header_get(req->headers, req->n_headers, "I-Twilio-Idempotency-Token");
}

static int translate_status(const struct sb_bridge_ctx *c, const struct sb_http_in *req,
			    const struct sb_form *f, struct sb_str st, struct sb_bridge_events *out)
{
	if (!param(f, "MessageSid").len)
		return SB_EINVAL;
	struct sb_bridge_event *ev = c->host->event_add(out);
	if (!ev)
		return SB_ETOOBIG;
	ev->kind = SB_BRIDGE_EV_STATUS;
	fill_common(ev, f, req);
	ev->status = sb_sms_status_parse(st);
	ev->error_code = param(f, "ErrorCode");
	return 0;
}

/* The media of an inbound message, validated; NULL with *rc set on error. */
static struct sb_bridge_media *media(const struct sb_bridge_ctx *c, const struct sb_form *f,
				     size_t *n, int *rc)
{
	long nm = 0;
	struct sb_str nms = param(f, "NumMedia");
	*n = 0;
	*rc = 0;
	if (nms.len && !sb_bstr_uint(nms, &nm)) {
		*rc = SB_EINVAL;
		return NULL;
	}
	if (nm > (long)SB_SMS_MAX_MEDIA) {
		*rc = SB_ETOOBIG;
		return NULL;
	}
	if (!nm)
		return NULL;
	struct sb_bridge_media *m = c->host->alloc(c->arena, (size_t)nm * sizeof *m);
	for (long i = 0; i < nm; i++) {
		char k[48];
		snprintf(k, sizeof k, "MediaUrl%ld", i);
		m[i].url = param(f, k);
		snprintf(k, sizeof k, "MediaContentType%ld", i);
		m[i].content_type = param(f, k);
		if (!m[i].url.len) {
			*rc = SB_EINVAL;
			return NULL;
		}
	}
	*n = (size_t)nm;
	return m;
}

static int translate_message(const struct sb_bridge_ctx *c, const struct sb_http_in *req,
			     const struct sb_form *f, struct sb_bridge_events *out)
{
	/* validate everything before the first event is added */
	struct sb_str body = param(f, "Body");
	if (!param(f, "MessageSid").len || !param(f, "From").len || !param(f, "To").len ||
	    !utf8_ok(body))
		return SB_EINVAL;
	size_t nm;
	int rc;
	struct sb_bridge_media *m = media(c, f, &nm, &rc);
	if (rc)
		return rc;

	/* A keyword is reported as its own event after the message, which Twilio forwards
	 * even when it acted on the keyword itself. OptOutType (Advanced Opt-Out) wins: it
	 * reflects the service's own keyword lists and languages. */
	enum sb_sms_keyword kw;
	struct sb_str oot;
	uint32_t flags = 0;
	if (sb_form_get(f, "OptOutType", &oot) && (kw = sb_sms_opt_out_type(oot)) != SB_SMS_KW_NONE)
		flags = SB_BRIDGE_EVF_PROVIDER_HANDLED;
	else
		kw = sb_sms_keyword(body);

	struct sb_bridge_event *ev = c->host->event_add(out);
	if (!ev)
		return SB_ETOOBIG;
	ev->kind = SB_BRIDGE_EV_MESSAGE;
	fill_common(ev, f, req);
	ev->body = body;
	ev->media = m;
	ev->n_media = nm;
	long segs;
	if (sb_bstr_uint(param(f, "NumSegments"), &segs))
		ev->segments = (int)segs;
	if (kw == SB_SMS_KW_NONE)
		return 0;

	struct sb_bridge_event *k = c->host->event_add(out);
	if (!k)
		return SB_ETOOBIG;
	k->kind = kw == SB_SMS_KW_OPT_OUT  ? SB_BRIDGE_EV_OPT_OUT
		  : kw == SB_SMS_KW_OPT_IN ? SB_BRIDGE_EV_OPT_IN
					   : SB_BRIDGE_EV_HELP;
	k->flags = flags;
	fill_common(k, f, req);
	k->body = body;
	return 0;
}

int sms__webhook(const struct sb_bridge_ctx *c, const struct sb_http_in *req,
		 struct sb_bridge_events *out, struct sb_http_answer *answer)
{
	const struct sms_chan *ch = c->priv;
	const struct sb_host *h = c->host;
	struct sb_form f = { 0 };
	int rc;

	if (!sb_bstr_eqz(req->method, "POST") && !sb_bstr_eqz(req->method, "GET"))
		return SB_EINVAL;
	bool get = sb_bstr_eqz(req->method, "GET");
	struct sb_str ctype =
		sb_http_header_get(req->headers, req->n_headers, "Content-Type");
	bool form = !get && ctype.len >= 33 &&
		    sb_bstr_caseeqz((struct sb_str){ ctype.p, 33 },
				    "application/x-www-form-urlencoded");
	if (form && (rc = sb_form_parse(h, c->arena, req->body, &f)) != 0)
		return rc == SB_ETOOBIG ? rc : SB_EINVAL;

	/* Verify first: nothing of an unsigned request is looked at beyond what the
	 * signature needs. GET webhooks carry their params in the (signed) URL. */
	struct sb_str sig = sb_http_header_get(req->headers, req->n_headers, "X-Twilio-Signature");
	rc = sb_sms_sig_verify(h, c->arena, req->url, form ? &f : NULL, req->body,
			       sb_bstr_z(ch->auth_token), sig);
	if (rc)
		return rc;

	if (get && (rc = sb_form_parse(h, c->arena, sb_url_query(req->url), &f)) != 0)
		return rc == SB_ETOOBIG ? rc : SB_EINVAL;
	if (!get && !form)
		return SB_EINVAL; /* signed JSON bodies are other Twilio products, not messaging */

	struct sb_str st;
	if (sb_form_get(&f, "MessageStatus", &st) &&
	    sb_sms_status_parse(st) != SB_BRIDGE_ST_RECEIVED)
		rc = translate_status(c, req, &f, st, out);
	else
		rc = translate_message(c, req, &f, out);
	if (rc)
		return rc;

	answer->status = 200;
	answer->content_type = "text/xml";
	answer->body = SB_STR(TWIML_EMPTY);
	return 0;
}

int sms__webhook_reply(const struct sb_bridge_ctx *c, struct sb_str text,
		       struct sb_http_answer *answer)
{
	size_t chars = sb_utf8_chars(text.p, text.len);
	if (chars == (size_t)-1)
		return SB_EINVAL;
	if (chars > SB_SMS_MAX_CHARS)
		return SB_ETOOBIG;
	struct sb_abuf b;
	sb_abuf_init(&b, c->host, c->arena);
	if (!text.len) {
		sb_abuf_adds(&b, TWIML_EMPTY);
	} else {
		sb_abuf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>");
		sb_abuf_xmlesc(&b, text.p, text.len);
		sb_abuf_adds(&b, "</Message></Response>");
	}
	answer->status = 200;
	answer->content_type = "text/xml";
	answer->body = sb_abuf_str(&b);
	return 0;
}
