#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Fake Twilio Programmable Messaging for the hub's integration, crash, fault and benchmark tests.
// Speaks the wire format of PROVIDERS.md §1: Messages.json create (Basic auth, form body, magic
// numbers, 201 JSON / legacy error envelopes), message lookup, signed status callbacks and signed
// inbound webhooks; a JSON control API under /_fake scripts faults (429, 5xx, timeouts, resets,
// truncation, slow bodies) and exposes what the hub sent. Node built-ins only.
//
//   node tests/fakes/fake_twilio.mjs --port 0 --host 127.0.0.1 [--account AC… --token T]…
//        [--latency-ms N] [--tls-cert PEM --tls-key PEM] [--verbose]
// prints {"port":N,"control":"http://127.0.0.1:N/_fake","base":"http://127.0.0.1:N",
// "account":"AC…","token":"…"} once listening. With --tls-cert/--tls-key the API is https on
// `port` and speaks HTTP/2 (ALPN h2) as well as HTTP/1.1, as api.twilio.com does; the control
// API then also listens on a plain-http port of its own (the "control" URL).

import http from 'node:http';
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { formDecode, formEncode, formUnescape, twilioSignature, smsSegments } from '../lib/twilio.mjs';

const API = '2010-04-01';
const DEFAULT_ACCOUNT = 'AC' + 'f'.repeat(32);
const DEFAULT_TOKEN = 'fake_twilio_auth_token';
const MAX_BODY = 1 << 20;

/* ---------------------------------------------------------------------------------------------
 * Command line
 */
function parseArgs(argv) {
	const o = { port: 0, host: '127.0.0.1', accounts: [], latencyMs: 0, verbose: false };
	let pendingSid = null;
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const val = () => {
			if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
			return argv[++i];
		};
		if (a === '--port') o.port = Number(val());
		else if (a === '--host') o.host = val();
		else if (a === '--account') pendingSid = val();
		else if (a === '--token') {
			o.accounts.push({ sid: pendingSid ?? DEFAULT_ACCOUNT, token: val() });
			pendingSid = null;
		} else if (a === '--latency-ms') o.latencyMs = Number(val());
		else if (a === '--tls-cert') o.tlsCert = val();
		else if (a === '--tls-key') o.tlsKey = val();
		else if (a === '--verbose') o.verbose = true;
		else throw new Error(`unknown argument ${a}`);
	}
	if (pendingSid) o.accounts.push({ sid: pendingSid, token: DEFAULT_TOKEN });
	if (!o.accounts.length) o.accounts.push({ sid: DEFAULT_ACCOUNT, token: DEFAULT_TOKEN });
	if (!o.tlsCert !== !o.tlsKey) throw new Error('--tls-cert and --tls-key go together');
	return o;
}

/* ---------------------------------------------------------------------------------------------
 * Error catalogue (legacy 2010 envelope). Texts follow Twilio's error catalogue.
 */
const ERRORS = {
	20003: [401, 'Authenticate'],
	20404: [404, 'The requested resource was not found'],
	20429: [429, 'Too Many Requests'],
	20500: [500, 'An internal server error has occurred'],
	20503: [503, 'Service unavailable'],
	21211: [400, "The 'To' number %TO% is not a valid phone number."],
	21212: [400, "The 'From' number %FROM% is not a valid phone number, shortcode, or alphanumeric sender ID."],
	21408: [400, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: %TO%."],
	21602: [400, 'Message body is required.'],
	21603: [400, "A 'From' phone number is required."],
	21604: [400, "A 'To' phone number is required."],
	21606: [400, "The 'From' phone number provided (%FROM%) is not a valid, message-capable Twilio phone number for this destination."],
	21610: [400, 'Attempt to send to unsubscribed recipient'],
	21611: [400, "This 'From' number has exceeded the maximum number of queued messages"],
	21612: [400, "The 'To' phone number: %TO%, is not currently reachable using the 'From' phone number: %FROM% via SMS."],
	21614: [400, "'To' number is not a valid mobile number"],
	21617: [400, 'The concatenated message body exceeds the 1600 character limit.'],
};

function errorEnvelope(code, ctx = {}) {
	const [status, text] = ERRORS[code] ?? [400, `Error ${code}`];
	if (code === 20003)
		return { status, body: { code, detail: 'Your AccountSid or AuthToken was incorrect.', message: text, more_info: `https://www.twilio.com/docs/errors/${code}`, status } };
	const message = text.replace('%TO%', ctx.to ?? '').replace('%FROM%', ctx.from ?? '');
	return { status, body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status } };
}

const MAGIC_FROM = { '+15005550001': 21212, '+15005550007': 21606, '+15005550008': 21611 };
const MAGIC_TO = { '+15005550001': 21211, '+15005550002': 21612, '+15005550003': 21408, '+15005550004': 21610, '+15005550009': 21614 };
const OPT_OUT = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT']);
const OPT_IN = new Set(['START', 'YES', 'UNSTOP']);
const HELP = new Set(['HELP', 'INFO']);
const RANK = { accepted: 0, scheduled: 0, queued: 1, sending: 2, sent: 3, delivered: 4, undelivered: 4, failed: 4, read: 5 };

/* ---------------------------------------------------------------------------------------------
 * Ids and dates. The RFC 2822 date is cached per second.
 */
function randomSid(kind) {
	return kind + randomBytes(16).toString('hex');
}
let dateSec = -1;
let dateStr = '';
function rfc2822(ms) {
	const sec = Math.floor(ms / 1000);
	if (sec === dateSec) return dateStr;
	dateSec = sec;
	dateStr = new Date(sec * 1000).toUTCString().replace('GMT', '+0000');
	return dateStr;
}

/* ---------------------------------------------------------------------------------------------
 * State. Everything a test may assert on lives here; POST /_fake/reset rebuilds it.
 */
const opts = parseArgs(process.argv.slice(2));
const accounts = new Map(); // sid -> token
const authHeaders = new Map(); // "Basic …" -> account sid (exact-match fast path)
function addAccount(sid, token) {
	accounts.set(sid, token);
	authHeaders.set('Basic ' + Buffer.from(`${sid}:${token}`).toString('base64'), sid);
}
for (const a of opts.accounts) addAccount(a.sid, a.token);
const firstAccount = opts.accounts[0];

const DEFAULT_CALLBACKS = Object.freeze({ mode: 'normal', statuses: ['sent', 'delivered'], delays_ms: [20, 40], error_code: null, retries: 3, retry_base_ms: 100, duplicate_token: 'same' });
const CALLBACK_LOG_CAP = 100000;

let state;
function freshState() {
	state = {
		gen: (state?.gen ?? 0) + 1, // pending callbacks of an older generation are dropped
		messages: [],
		firstN: 0, // counter of messages[0]; sids map to indexes
		requests: 0,
		http2Requests: 0, // creates that came over HTTP/2
		created: 0,
		lookups: 0,
		inFlight: state?.inFlight ?? 0, // requests still open survive a reset
		maxConcurrent: 0,
		script: [],
		defaultStep: { action: '201' },
		callbacks: DEFAULT_CALLBACKS,
		callbackLog: [],
		callbacksSent: 0,
		optouts: new Set(), // "sender|recipient"
		advancedOptOut: false,
		latencyMs: state?.latencyMs ?? opts.latencyMs,
	};
}
freshState();

/* ---------------------------------------------------------------------------------------------
 * Small HTTP helpers
 */
function send(res, status, body, headers) {
	const text = typeof body === 'string' ? body : JSON.stringify(body);
	const h = { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) };
	if (headers) Object.assign(h, headers);
	res.writeHead(status, h);
	res.end(text);
}

function readBody(req, limit = MAX_BODY) {
	return new Promise((resolve, reject) => {
		const chunks = [];
		let n = 0;
		req.on('data', (c) => {
			n += c.length;
			if (n > limit) {
				reject(Object.assign(new Error('body too large'), { tooBig: true }));
				req.destroy();
				return;
			}
			chunks.push(c);
		});
		req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
		req.on('error', reject);
	});
}

const clientAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });

// POST a form to url; resolves {status, headers, body} or {status: 0, error}. Never rejects.
function postForm(url, bodyText, headers, timeoutMs = 15000) {
	return new Promise((resolve) => {
		let u;
		try {
			u = new URL(url);
		} catch (e) {
			resolve({ status: 0, error: `bad url: ${e.message}` });
			return;
		}
		if (u.protocol !== 'http:') {
			resolve({ status: 0, error: `only http: URLs are reachable from the fake (${u.protocol})` });
			return;
		}
		const req = http.request(u, {
			method: 'POST', agent: clientAgent, timeout: timeoutMs,
			headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(bodyText), 'User-Agent': 'TwilioProxy/1.1', Accept: '*/*', ...headers },
		}, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
			res.on('error', (e) => resolve({ status: 0, error: e.message }));
		});
		req.on('timeout', () => req.destroy(new Error('timeout')));
		req.on('error', (e) => resolve({ status: 0, error: e.message }));
		req.end(bodyText);
	});
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* ---------------------------------------------------------------------------------------------
 * Messages: creation, lazy status progression, JSON rendering
 */

// The status schedule of a message: [{status, at}] with `at` in ms after creation. A message sent
// through a Messaging Service only (initial "accepted") first moves to "queued". out_of_order pairs
// the statuses in reverse with the same ascending times, so "delivered" comes before "sent".
function scheduleFor(cb, initial) {
	const statuses = cb.statuses.slice();
	const d = cb.delays_ms;
	const delays = statuses.map((_, i) => d[i] ?? (d.at(-1) ?? 0) + 20 * (i - d.length + 1));
	if (initial === 'accepted' && !statuses.includes('queued')) {
		statuses.unshift('queued');
		delays.unshift(Math.floor((delays[0] ?? 20) / 2));
	}
	const times = delays.slice().sort((a, b) => a - b);
	if (cb.mode === 'out_of_order') statuses.reverse();
	return statuses.map((s, i) => ({ status: s, at: times[i] }));
}

// A created message. Kept compact because a benchmark creates millions: the form body is kept
// raw and decoded only when a test looks at the message; times are ms since the fake started
// (small integers, no boxed doubles); the sid is derived from a per-process counter.
const T0 = Date.now();
// The sender a Messaging Service "chooses" for a message created with only MessagingServiceSid.
const POOL_SENDER = '+15005550006';
const NO_MEDIA = Object.freeze([]);

class Msg {
	constructor(n, kind, accountSid, raw, initial, segs, cbErr, schedule, now) {
		this.n = n;
		this.kind = kind;
		this.account_sid = accountSid;
		this.raw = raw;
		this.status = initial;
		this.segs = segs;
		this.error_code = null;
		this.callback_error_code = cbErr;
		this.created = now;
		this.updated = now;
		this.sent = -1;
		this.pooled = false;
		this.schedule = schedule;
		this.f = null; // decoded form fields, on first use
	}

	get sid() {
		return sidOf(this.kind, this.n);
	}
	get fields() {
		return (this.f ??= decodeCreate(this.raw));
	}
	get to() { return this.fields.to; }
	get body() { return this.fields.body ?? ''; }
	get media() { return this.fields.media; }
	get messaging_service_sid() { return this.fields.mg ?? null; }
	get status_callback() { return this.fields.cb ?? null; }
	get from() { return this.fields.from ?? (this.pooled ? POOL_SENDER : null); }
	get created_ms() { return T0 + this.created; }
	get num_segments() { return String(this.segs); }
}

let sidCounter = 0;
const sidPrefix = randomBytes(10).toString('hex');
function sidOf(kind, n) {
	return kind + sidPrefix + n.toString(16).padStart(12, '0');
}
function findMessage(sid) {
	if (typeof sid !== 'string' || sid.length !== 34 || sid.slice(2, 22) !== sidPrefix) return null;
	const n = parseInt(sid.slice(22), 16);
	const m = state.messages[n - state.firstN];
	return m && m.n === n && m.kind === sid.slice(0, 2) ? m : null;
}

// Decode a create request's form body into the fields the fake looks at. Throws on a
// malformed percent escape.
function decodeCreate(raw) {
	const f = { to: undefined, from: undefined, body: undefined, mg: undefined, cb: undefined, contentSid: undefined, media: NO_MEDIA };
	let start = 0;
	while (start < raw.length) {
		let end = raw.indexOf('&', start);
		if (end < 0) end = raw.length;
		const eq = raw.indexOf('=', start);
		const kEnd = eq < 0 || eq > end ? end : eq;
		const k = formUnescape(raw.slice(start, kEnd));
		const v = kEnd < end ? formUnescape(raw.slice(kEnd + 1, end)) : '';
		start = end + 1;
		switch (k) {
		case 'To': f.to = v; break;
		case 'From': f.from = v; break;
		case 'Body': f.body = v; break;
		case 'MessagingServiceSid': f.mg = v; break;
		case 'StatusCallback': f.cb = v; break;
		case 'MediaUrl': if (f.media === NO_MEDIA) f.media = []; f.media.push(v); break;
		case 'ContentSid': f.contentSid = v; break;
		}
	}
	return f;
}

// Status now: the highest-ranked scheduled status whose time has passed (callbacks or not, as
// Twilio's own record moves on even when no callback URL is set).
function refresh(m) {
	const now = Date.now() - T0;
	for (const step of m.schedule) {
		if (m.created + step.at > now) continue;
		if (RANK[step.status] > RANK[m.status]) setStatus(m, step.status, m.created + step.at);
	}
}

// Move a message forward (never back) to status at t (ms since T0).
function setStatus(m, status, t) {
	if (RANK[status] <= RANK[m.status]) return;
	m.status = status;
	m.updated = t;
	m.pooled = true;
	if ((status === 'sent' || status === 'delivered' || status === 'undelivered') && m.sent < 0) m.sent = t;
	if ((status === 'undelivered' || status === 'failed') && m.callback_error_code != null) m.error_code = m.callback_error_code;
	if (m.segs === 0) m.segs = smsSegments(m.body);
}

// The 201/200 JSON body for a message, built as text: same keys and order as Twilio's fixture,
// cheaper than JSON.stringify of a fresh object on the 20,000 creates/s path.
const q = JSON.stringify;
function messageText(m, f = m.fields) {
	const sid = m.sid;
	const from = f.from ?? (m.pooled ? POOL_SENDER : null);
	const base = `/${API}/Accounts/${m.account_sid}/Messages/${sid}`;
	return `{"account_sid":"${m.account_sid}","api_version":"${API}","body":${q(f.body ?? '')},` +
		`"date_created":"${rfc2822(T0 + m.created)}","date_sent":${m.sent < 0 ? 'null' : `"${rfc2822(T0 + m.sent)}"`},` +
		`"date_updated":"${rfc2822(T0 + m.updated)}","direction":"outbound-api","error_code":${m.error_code ?? 'null'},` +
		`"error_message":null,"from":${q(from)},"messaging_service_sid":${q(f.mg ?? null)},` +
		`"num_media":"${f.media.length}","num_segments":"${m.segs}","price":null,"price_unit":null,` +
		`"sid":"${sid}","status":"${m.status}","subresource_uris":{"media":${q(base + '/Media.json')}},` +
		`"to":${q(f.to)},"uri":${q(base + '.json')}}`;
}

const scheduleCache = new WeakMap(); // callback config -> { queued: schedule, accepted: schedule }
function scheduleCached(cfg, initial) {
	let c = scheduleCache.get(cfg);
	if (!c) scheduleCache.set(cfg, (c = { queued: scheduleFor(cfg, 'queued'), accepted: scheduleFor(cfg, 'accepted') }));
	return c[initial];
}

// Validate a create request's form body; returns {error, ctx} or {message}. Throws on a
// malformed percent escape. accountSid must be the canonical (interned) string.
function createMessage(accountSid, raw) {
	const f = decodeCreate(raw);
	const { to, from, mg, media } = f;
	const ctx = { to, from };
	if (!to) return { error: 21604, ctx };
	if (!/^([a-z]+:)?\+?[0-9]{3,15}$/.test(to)) return { error: 21211, ctx };
	if (!from && !mg) return { error: 21603, ctx };
	if (!f.body && !media.length && !f.contentSid) return { error: 21602, ctx };
	const body = f.body ?? '';
	if (body.length > 1600 && [...body].length > 1600) return { error: 21617, ctx };
	if (from && MAGIC_FROM[from]) return { error: MAGIC_FROM[from], ctx };
	if (MAGIC_TO[to]) return { error: MAGIC_TO[to], ctx };
	if (state.optouts.size && ((from && state.optouts.has(from + '|' + to)) || (mg && state.optouts.has(mg + '|' + to))))
		return { error: 21610, ctx };

	const initial = !from && mg ? 'accepted' : 'queued';
	const cbcfg = state.callbacks;
	const m = new Msg(++sidCounter, media.length ? 'MM' : 'SM', accountSid, raw, initial,
		initial === 'accepted' ? 0 : smsSegments(body), cbcfg.error_code, scheduleCached(cbcfg, initial), Date.now() - T0);
	if (state.messages.length === 0) state.firstN = m.n;
	state.messages.push(m);
	state.created++;
	if (f.cb && cbcfg.mode !== 'none') {
		m.f = f;
		scheduleCallbacks(m, cbcfg);
	}
	return { message: m, fields: f };
}

/* ---------------------------------------------------------------------------------------------
 * Status callbacks (§1.3): signed form POSTs, same idempotency token on every retry of a delivery
 */
function callbackParams(m, status) {
	const p = [['MessageStatus', status], ['ApiVersion', API], ['SmsSid', m.sid], ['SmsStatus', status], ['To', m.to], ['From', m.from ?? POOL_SENDER]];
	if (m.messaging_service_sid) p.push(['MessagingServiceSid', m.messaging_service_sid]);
	p.push(['MessageSid', m.sid], ['AccountSid', m.account_sid]);
	if ((status === 'undelivered' || status === 'failed') && m.callback_error_code != null) p.push(['ErrorCode', String(m.callback_error_code)]);
	return p;
}

function logCallback(entry) {
	state.callbacksSent++;
	if (state.callbackLog.length < CALLBACK_LOG_CAP) state.callbackLog.push(entry);
}

// Deliver one signed callback, retrying non-2xx / network errors with exponential backoff.
async function deliverCallback(m, status, cfg, gen, token) {
	const params = callbackParams(m, status);
	const bodyText = formEncode(params);
	const url = m.status_callback;
	const sig = twilioSignature(accounts.get(m.account_sid) ?? '', url, params);
	for (let attempt = 0; attempt <= cfg.retries; attempt++) {
		if (gen !== state.gen) return;
		const sentAt = Date.now();
		const r = await postForm(url, bodyText, { 'X-Twilio-Signature': sig, 'I-Twilio-Idempotency-Token': token });
		if (gen !== state.gen) return;
		// logged when the answer arrives (at); sent_at orders the requests as they left
		logCallback({ sid: m.sid, status, url, attempt, http_status: r.status, error: r.error ?? null, token, sent_at: sentAt, at: Date.now() });
		if (opts.verbose) process.stderr.write(`fake_twilio: callback ${m.sid} ${status} -> ${r.status || r.error}\n`);
		if (r.status >= 200 && r.status < 300) return;
		if (attempt < cfg.retries) await sleep(cfg.retry_base_ms * 2 ** attempt);
	}
}

function scheduleCallbacks(m, cfg) {
	const gen = state.gen;
	for (const step of m.schedule) {
		setTimeout(async () => {
			if (gen !== state.gen) return;
			setStatus(m, step.status, Date.now() - T0);
			const token = `${m.account_sid.slice(2, 10)}-${randomUUID()}`;
			await deliverCallback(m, step.status, cfg, gen, token);
			if (cfg.mode === 'duplicate')
				await deliverCallback(m, step.status, cfg, gen, cfg.duplicate_token === 'new' ? `${m.account_sid.slice(2, 10)}-${randomUUID()}` : token);
		}, step.at).unref();
	}
}

/* ---------------------------------------------------------------------------------------------
 * Inbound webhooks (§1.1): Twilio's parameter order, empty geo fields, signed
 */
function keyword(body) {
	return String(body ?? '').trim().toUpperCase();
}

function inboundParams(o) {
	const acct = o.account ?? firstAccount.sid;
	const media = o.media ?? [];
	const sid = o.sid ?? randomSid(media.length ? 'MM' : 'SM');
	const g = { ToCountry: 'US', ToState: '', ToCity: '', ToZip: '', FromCountry: 'US', FromState: '', FromCity: '', FromZip: '', ...(o.geo ?? {}) };
	const p = [['ToCountry', g.ToCountry]];
	media.forEach((mm, i) => p.push([`MediaContentType${i}`, typeof mm === 'string' ? 'image/jpeg' : mm.content_type ?? 'image/jpeg']));
	p.push(['ToState', g.ToState], ['SmsMessageSid', sid], ['NumMedia', String(media.length)], ['ToCity', g.ToCity], ['FromZip', g.FromZip],
		['SmsSid', sid], ['FromState', g.FromState], ['SmsStatus', 'received'], ['FromCity', g.FromCity], ['Body', o.body ?? ''],
		['FromCountry', g.FromCountry], ['To', o.to]);
	if (o.messaging_service_sid) p.push(['MessagingServiceSid', o.messaging_service_sid]);
	p.push(['ToZip', g.ToZip], ['NumSegments', String(o.num_segments ?? smsSegments(o.body ?? ''))], ['MessageSid', sid], ['AccountSid', acct], ['From', o.from]);
	media.forEach((mm, i) => p.push([`MediaUrl${i}`, typeof mm === 'string' ? mm : mm.url]));
	const kw = keyword(o.body);
	const optOutType = o.opt_out_type ?? (state.advancedOptOut ? (OPT_OUT.has(kw) ? 'STOP' : OPT_IN.has(kw) ? 'START' : HELP.has(kw) ? 'HELP' : null) : null);
	if (optOutType) p.push(['OptOutType', optOutType]);
	p.push(['ApiVersion', API]);
	for (const [k, v] of o.extra ?? []) p.push([k, String(v)]);
	return { sid, acct, params: p };
}

// Twilio's own STOP/START handling: block (sender, recipient), and the whole service if any.
function applyKeywords(o) {
	const kw = keyword(o.body);
	const senders = [o.to, ...(o.messaging_service_sid ? [o.messaging_service_sid] : [])];
	if (OPT_OUT.has(kw)) for (const s of senders) state.optouts.add(s + '|' + o.from);
	else if (OPT_IN.has(kw)) for (const s of senders) state.optouts.delete(s + '|' + o.from);
}

async function sendInbound(o) {
	if (!o.url || !o.from || !o.to) throw Object.assign(new Error('url, from and to are required'), { status: 400 });
	const { sid, acct, params } = inboundParams(o);
	const token = o.token ?? accounts.get(acct) ?? '';
	const bodyText = formEncode(params);
	const sig = o.signature ?? twilioSignature(token, o.sign_url ?? o.url, params);
	const idem = o.idempotency_token ?? `${acct.slice(2, 10)}-${randomUUID()}`;
	const headers = { 'X-Twilio-Signature': sig, 'I-Twilio-Idempotency-Token': idem };
	if (o.optout_ledger !== false) applyKeywords(o);
	const times = Math.max(1, Number(o.times ?? 1));
	const one = async () => {
		const r = await postForm(o.url, bodyText, headers, o.timeout_ms ?? 15000);
		return { status: r.status, body: r.body ?? null, content_type: r.headers?.['content-type'] ?? null, error: r.error ?? null };
	};
	let results;
	if (o.concurrent) results = await Promise.all(Array.from({ length: times }, one));
	else {
		results = [];
		for (let i = 0; i < times; i++) results.push(await one());
	}
	return { status: results[0].status, body: results[0].body, content_type: results[0].content_type, error: results[0].error, results, sid, signature: sig, idempotency_token: idem, params };
}

// Send one status callback for an existing message now (tests of monotonic status handling).
async function sendStatusNow(o) {
	const m = findMessage(o.sid);
	if (!m) throw Object.assign(new Error(`no message ${o.sid}`), { status: 404 });
	const url = o.url ?? m.status_callback;
	if (!url) throw Object.assign(new Error('message has no StatusCallback and no url was given'), { status: 400 });
	if (o.error_code != null) m.callback_error_code = Number(o.error_code);
	setStatus(m, o.status, Date.now() - T0);
	const params = callbackParams(m, o.status);
	const bodyText = formEncode(params);
	const sig = twilioSignature(accounts.get(m.account_sid) ?? '', url, params);
	const headers = { 'X-Twilio-Signature': sig, 'I-Twilio-Idempotency-Token': o.idempotency_token ?? `${m.account_sid.slice(2, 10)}-${randomUUID()}` };
	const results = [];
	for (let i = 0; i < Math.max(1, Number(o.times ?? 1)); i++) {
		const r = await postForm(url, bodyText, headers);
		results.push({ status: r.status, body: r.body ?? null, error: r.error ?? null });
	}
	return { status: results[0].status, body: results[0].body, results, params };
}

/* ---------------------------------------------------------------------------------------------
 * Scripted behaviours for create requests
 */
const ACTIONS = new Set(['201', 'normal', '429', '500', '503', 'error', 'timeout', 'timeout_before', 'reset', 'reset_before', 'close_after_headers', 'truncated', 'slow', 'delay']);

function normStep(s) {
	if (s == null) return { action: '201' };
	if (typeof s === 'string' || typeof s === 'number') return { action: String(s) };
	return { ...s, action: String(s.action ?? '201') };
}

function nextStep() {
	return state.script.length ? state.script.shift() : state.defaultStep;
}

function respondEnvelope(res, code, ctx, extraHeaders) {
	const e = errorEnvelope(code, ctx);
	send(res, e.status, e.body, extraHeaders);
}

// A reset: on HTTP/1.1 the TCP connection is reset; on HTTP/2 only this request's stream is
// (RST_STREAM INTERNAL_ERROR, which does not tell the client the request went unprocessed).
function resetConn(req) {
	if (req.stream) req.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
	else (req.socket.resetAndDestroy ?? req.socket.destroy).call(req.socket);
}
// A connection closed mid-answer: a FIN on HTTP/1.1, the stream reset on HTTP/2.
function closeConn(req) {
	if (req.stream) req.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
	else req.socket.destroy();
}
const gone = (req) => (req.stream ? req.stream.destroyed : req.socket.destroyed);

// Run a scripted step on an authenticated create request whose body has been read.
function runStep(step, req, res, accountSid, rawBody) {
	const a = step.action;
	let fields = null; // the decoded form of the message parse() created
	const parse = () => {
		let r;
		try {
			r = createMessage(accountSid, rawBody.toString('utf8'));
		} catch {
			send(res, 400, { code: 20001, message: 'Invalid form body', more_info: 'https://www.twilio.com/docs/errors/20001', status: 400 });
			return null;
		}
		if (r.error) {
			respondEnvelope(res, r.error, r.ctx);
			return null;
		}
		fields = r.fields;
		return r.message;
	};
	switch (a) {
	case '201':
	case 'normal': {
		const m = parse();
		if (m) send(res, 201, messageText(m, fields));
		return;
	}
	case '429': {
		const h = step.retry_after != null ? { 'Retry-After': String(step.retry_after) } : {};
		respondEnvelope(res, 20429, {}, h);
		return;
	}
	case '500':
	case '503': {
		if (step.create && !parse()) return;
		const h = step.retry_after != null ? { 'Retry-After': String(step.retry_after) } : {};
		respondEnvelope(res, a === '500' ? 20500 : 20503, {}, h);
		return;
	}
	case 'error': {
		let ctx = {};
		try {
			const p = formDecode(rawBody.toString('utf8'));
			ctx = { to: p.find(([k]) => k === 'To')?.[1], from: p.find(([k]) => k === 'From')?.[1] };
		} catch { /* the envelope text just lacks the numbers */ }
		respondEnvelope(res, Number(step.code ?? 21211), ctx);
		return;
	}
	case 'timeout':
		parse(); // created, never answered: the socket stays open until the client gives up
		return;
	case 'timeout_before':
		return;
	case 'reset':
		if (!parse()) return;
		resetConn(req);
		return;
	case 'reset_before':
		resetConn(req);
		return;
	case 'close_after_headers': {
		const m = parse();
		if (!m) return;
		const text = messageText(m, fields);
		res.writeHead(201, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
		res.flushHeaders?.();
		setImmediate(() => closeConn(req));
		return;
	}
	case 'truncated': {
		const m = parse();
		if (!m) return;
		const buf = Buffer.from(messageText(m, fields));
		res.writeHead(201, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': buf.length });
		res.write(buf.subarray(0, buf.length >> 1), () => closeConn(req));
		return;
	}
	case 'slow': {
		const m = parse();
		if (!m) return;
		const buf = Buffer.from(messageText(m, fields));
		const rate = Math.max(1, Number(step.bytes_per_sec ?? 1));
		const tickMs = rate >= 10 ? 100 : Math.ceil(1000 / rate);
		const per = Math.max(1, Math.floor((rate * tickMs) / 1000));
		res.writeHead(201, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': buf.length });
		res.flushHeaders?.();
		let off = 0;
		const t = setInterval(() => {
			if (gone(req)) return clearInterval(t);
			const end = Math.min(buf.length, off + per);
			if (end >= buf.length) {
				clearInterval(t);
				res.end(buf.subarray(off));
			} else res.write(buf.subarray(off, end));
			off = end;
		}, tickMs);
		res.once('close', () => clearInterval(t));
		return;
	}
	case 'delay':
		setTimeout(() => {
			if (!gone(req)) runStep(normStep(step.then ?? '201'), req, res, accountSid, rawBody);
		}, Number(step.ms ?? 50));
		return;
	default:
		send(res, 500, { code: 20500, message: `fake_twilio: unknown scripted action ${a}`, more_info: '', status: 500 });
	}
}

/* ---------------------------------------------------------------------------------------------
 * Request routing
 */
const CREATE_RE = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json(\?.*)?$/;
const LOOKUP_RE = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\/([^/?]+)\.json(\?.*)?$/;

// HTTP Basic check against the account in the path; returns the account's canonical sid string
// (shared by every message of the account) or null.
function authAccount(req, pathSid) {
	const h = req.headers.authorization;
	if (!h) return null;
	const sid = authHeaders.get(h);
	if (sid !== undefined) return sid === pathSid ? sid : null;
	const m = /^Basic\s+(.+)$/i.exec(h);
	if (!m) return null;
	const dec = Buffer.from(m[1], 'base64').toString('utf8');
	const i = dec.indexOf(':');
	if (i <= 0 || dec.slice(0, i) !== pathSid || accounts.get(pathSid) !== dec.slice(i + 1)) return null;
	return authHeaders.get('Basic ' + Buffer.from(`${pathSid}:${accounts.get(pathSid)}`).toString('base64')) ?? pathSid;
}

const AUTH_HEADERS = { 'WWW-Authenticate': 'Basic realm="Twilio API"' };

async function handleCreate(req, res, pathSid) {
	state.requests++;
	if (req.httpVersion === '2.0') state.http2Requests++;
	state.inFlight++;
	if (state.inFlight > state.maxConcurrent) state.maxConcurrent = state.inFlight;
	res.once('close', () => {
		state.inFlight--;
	});
	const step = nextStep();
	let raw;
	try {
		raw = await readBody(req);
	} catch (e) {
		if (e.tooBig && !res.headersSent) send(res, 413, { code: 20001, message: 'Request too large', more_info: '', status: 413 });
		return;
	}
	if (opts.verbose) process.stderr.write(`fake_twilio: create ${pathSid} step=${step.action} ${raw.length}B\n`);
	const accountSid = authAccount(req, pathSid);
	if (!accountSid) {
		respondEnvelope(res, 20003, {}, AUTH_HEADERS);
		return;
	}
	if (state.latencyMs > 0) setTimeout(() => runStep(step, req, res, accountSid, raw), state.latencyMs);
	else runStep(step, req, res, accountSid, raw);
}

function handleLookup(req, res, accountSid, sid) {
	state.lookups++;
	req.resume();
	if (!authAccount(req, accountSid)) return respondEnvelope(res, 20003, {}, AUTH_HEADERS);
	const m = findMessage(sid);
	if (!m || m.account_sid !== accountSid) {
		const e = errorEnvelope(20404);
		e.body.message = `The requested resource /${API}/Accounts/${accountSid}/Messages/${sid}.json was not found`;
		return send(res, 404, e.body);
	}
	refresh(m);
	send(res, 200, messageText(m));
}

function publicMessage(m) {
	refresh(m);
	return {
		sid: m.sid, account_sid: m.account_sid, to: m.to, from: m.from, body: m.body, media: m.media,
		messaging_service_sid: m.messaging_service_sid, status_callback: m.status_callback, status: m.status,
		error_code: m.error_code, num_segments: m.num_segments, created_at: new Date(m.created_ms).toISOString(),
		params: formDecode(m.raw),
	};
}

async function readJson(req) {
	const raw = await readBody(req);
	if (!raw.length) return {};
	return JSON.parse(raw.toString('utf8'));
}

async function handleControl(req, res, path, query) {
	const M = req.method;
	try {
		if (M === 'GET' && path === '/_fake/messages') {
			let list = state.messages;
			if (query.get('to')) list = list.filter((m) => m.to === query.get('to'));
			return send(res, 200, list.map(publicMessage));
		}
		if (M === 'GET' && path.startsWith('/_fake/messages/')) {
			const m = findMessage(path.slice('/_fake/messages/'.length));
			return m ? send(res, 200, publicMessage(m)) : send(res, 404, { error: 'no such message' });
		}
		if (M === 'GET' && path === '/_fake/requests')
			return send(res, 200, { requests: state.requests, created: state.created, max_concurrent: state.maxConcurrent, http2_requests: state.http2Requests, in_flight: state.inFlight, lookups: state.lookups, script_left: state.script.length, callbacks_sent: state.callbacksSent });
		if (M === 'GET' && path === '/_fake/callbacks') return send(res, 200, state.callbackLog);
		if (M === 'GET' && path === '/_fake/optouts') return send(res, 200, [...state.optouts].map((k) => ({ sender: k.split('|')[0], recipient: k.split('|')[1] })));
		if (M === 'GET' && path === '/_fake/accounts') return send(res, 200, [...accounts].map(([sid, token]) => ({ sid, token })));
		if (M !== 'POST') return send(res, 404, { error: `no route ${M} ${path}` });

		const b = await readJson(req);
		switch (path) {
		case '/_fake/reset':
			freshState();
			return send(res, 200, { ok: true });
		case '/_fake/script':
			if (!Array.isArray(b.steps ?? [])) return send(res, 400, { error: 'steps must be an array' });
			const steps = (b.steps ?? []).map(normStep);
			const dflt = b.default !== undefined ? normStep(b.default) : state.defaultStep;
			const bad = [...steps, dflt].flatMap((st) => [st, ...(st.action === 'delay' ? [normStep(st.then)] : [])]).find((st) => !ACTIONS.has(st.action));
			if (bad) return send(res, 400, { error: `unknown action ${bad.action}` });
			state.script = steps;
			state.defaultStep = dflt;
			return send(res, 200, { ok: true, queued: state.script.length, default: state.defaultStep });
		case '/_fake/callbacks': {
			const mode = b.mode ?? 'normal';
			if (!['normal', 'duplicate', 'out_of_order', 'none'].includes(mode)) return send(res, 400, { error: `bad mode ${mode}` });
			const statuses = b.statuses ?? DEFAULT_CALLBACKS.statuses;
			if (!statuses.every((s) => s in RANK)) return send(res, 400, { error: 'unknown status in statuses' });
			state.callbacks = Object.freeze({ ...DEFAULT_CALLBACKS, ...b, mode, statuses, delays_ms: b.delays_ms ?? DEFAULT_CALLBACKS.delays_ms });
			return send(res, 200, { ok: true, callbacks: state.callbacks });
		}
		case '/_fake/config':
			if (b.latency_ms != null) state.latencyMs = Number(b.latency_ms);
			if (b.advanced_opt_out != null) state.advancedOptOut = !!b.advanced_opt_out;
			return send(res, 200, { ok: true, latency_ms: state.latencyMs, advanced_opt_out: state.advancedOptOut });
		case '/_fake/accounts':
			if (!b.sid || !b.token) return send(res, 400, { error: 'sid and token are required' });
			addAccount(b.sid, b.token);
			return send(res, 200, { ok: true });
		case '/_fake/optouts':
			if (!b.sender || !b.recipient) return send(res, 400, { error: 'sender and recipient are required' });
			if (b.remove) state.optouts.delete(b.sender + '|' + b.recipient);
			else state.optouts.add(b.sender + '|' + b.recipient);
			return send(res, 200, { ok: true });
		case '/_fake/inbound':
			return send(res, 200, await sendInbound(b));
		case '/_fake/status':
			return send(res, 200, await sendStatusNow(b));
		default:
			return send(res, 404, { error: `no route ${M} ${path}` });
		}
	} catch (e) {
		if (!res.headersSent) send(res, e.status ?? (e instanceof SyntaxError ? 400 : 500), { error: e.message });
	}
}

function onRequest(req, res) {
	const url = req.url;
	if (req.method === 'POST') {
		const m = CREATE_RE.exec(url);
		if (m) return void handleCreate(req, res, m[1]);
	}
	if (url.startsWith('/_fake')) {
		const q = url.indexOf('?');
		return void handleControl(req, res, q < 0 ? url : url.slice(0, q), new URLSearchParams(q < 0 ? '' : url.slice(q + 1)));
	}
	if (req.method === 'GET') {
		const m = LOOKUP_RE.exec(url);
		if (m) return handleLookup(req, res, m[1], m[2]);
	}
	req.resume();
	const e = errorEnvelope(20404);
	e.body.message = `The requested resource ${url.split('?')[0]} was not found`;
	send(res, 404, e.body);
}

/* ---------------------------------------------------------------------------------------------
 * Server
 */
function plainServer() {
	const s = http.createServer({ keepAlive: true, keepAliveTimeout: 60000, requestTimeout: 0, headersTimeout: 65000, maxHeaderSize: 65536 }, onRequest);
	s.keepAliveTimeout = 60000;
	s.maxRequestsPerSocket = 0;
	s.timeout = 0;
	s.on('clientError', (err, socket) => {
		if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
		else socket.destroy();
	});
	return s;
}

const server = opts.tlsCert
	? http2.createSecureServer({ key: readFileSync(opts.tlsKey), cert: readFileSync(opts.tlsCert), allowHTTP1: true, maxSessionMemory: 256, maxSessionRejectedStreams: 100000, settings: { maxConcurrentStreams: 1000 } }, onRequest)
	: plainServer();
const control = opts.tlsCert ? plainServer() : null;
server.on('sessionError', () => {}); // a client that resets its connection is not the fake's failure

function shutdown() {
	for (const s of [server, control]) {
		s?.closeAllConnections?.();
		s?.close();
	}
	process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

const listen = (s, port) => new Promise((resolve) => s.listen(port, opts.host, () => resolve(s.address().port)));
const port = await listen(server, opts.port);
const controlPort = control ? await listen(control, 0) : port;
const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
process.stdout.write(JSON.stringify({ port, control: `http://${host}:${controlPort}/_fake`, base: `${opts.tlsCert ? 'https' : 'http'}://${host}:${port}`, account: firstAccount.sid, token: firstAccount.token }) + '\n');
