// SPDX-License-Identifier: MIT
// A test client for the hub, as an agent's browser or an integration would talk to it: REST
// under /api/v1 with a per-agent cookie jar, CSRF header and API keys (docs/API.md), and the
// agent WebSocket `sb-agent.v1` on /ws (docs/PROTOCOL.md) with a frame queue tests can await.
// Depends on node built-ins and npm `ws` (tests/node_modules).

import http from 'node:http';
import WebSocket from 'ws';
import { hubCliOk } from './hub.mjs';

/* ---- cookies ------------------------------------------------------------------------------- */

// The name=value part of every Set-Cookie header, as a Map (later wins; empty value deletes).
export function parseSetCookies(setCookie, into = new Map()) {
	for (const line of [].concat(setCookie ?? [])) {
		const first = line.split(';')[0];
		const eq = first.indexOf('=');
		if (eq <= 0) continue;
		const name = first.slice(0, eq).trim();
		const value = first.slice(eq + 1).trim();
		if (value === '' || /;\s*max-age=0\b/i.test(line)) into.delete(name);
		else into.set(name, value);
	}
	return into;
}

export function cookieHeader(jar) {
	return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}

/* ---- REST ---------------------------------------------------------------------------------- */

let defaultBase = process.env.SB_HUB_URL ?? null;

// Base URL used by api() when `path` is not absolute and no {base} is given.
export function setBaseUrl(url) {
	defaultBase = url;
}

/**
 * One HTTP request to the hub.
 *   method, path   path is '/api/v1/…' (joined to opts.base or setBaseUrl) or an absolute URL
 *   body           object -> JSON; string/Buffer -> sent as is; undefined/null -> no body
 *   opts.cookie    Cookie header value (string) or a jar (Map)
 *   opts.csrf      X-CSRF-Token, sent on every method but GET/HEAD
 *   opts.apiKey    Authorization: Bearer <key>
 *   opts.headers   extra headers; opts.rawBody (Buffer/string, wins over body); opts.contentType
 *   opts.jar       a Map updated from Set-Cookie; opts.timeoutMs (default 10000)
 * Resolves {status, headers, json (parsed or null), text}. Rejects only on network errors.
 */
export function api(method, path, body, opts = {}) {
	const base = opts.base ?? defaultBase;
	const url = /^https?:\/\//.test(path) ? new URL(path) : new URL(path, base ?? 'http://base-url-not-set.invalid');
	const headers = { Accept: 'application/json', ...(opts.headers ?? {}) };
	let payload = null;
	if (opts.rawBody != null) {
		payload = Buffer.isBuffer(opts.rawBody) ? opts.rawBody : Buffer.from(String(opts.rawBody));
		if (opts.contentType) headers['Content-Type'] = opts.contentType;
	} else if (body !== undefined && body !== null) {
		const isRaw = typeof body === 'string' || Buffer.isBuffer(body);
		payload = isRaw ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
		headers['Content-Type'] = opts.contentType ?? (isRaw ? 'text/plain' : 'application/json');
	}
	if (payload) headers['Content-Length'] = payload.length;
	const cookie = opts.cookie instanceof Map ? cookieHeader(opts.cookie) : opts.cookie;
	if (cookie) headers.Cookie = cookie;
	if (opts.csrf && method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = opts.csrf;
	if (opts.apiKey) headers.Authorization = `Bearer ${opts.apiKey}`;

	return new Promise((resolve, reject) => {
		const req = http.request(url, { method, headers, agent: opts.agent ?? false, timeout: opts.timeoutMs ?? 10000 }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				const text = Buffer.concat(chunks).toString('utf8');
				let json = null;
				try {
					json = text ? JSON.parse(text) : null;
				} catch { /* not JSON: the caller reads .text */ }
				if (opts.jar) parseSetCookies(res.headers['set-cookie'], opts.jar);
				resolve({ status: res.statusCode, headers: res.headers, json, text });
			});
			res.on('error', reject);
		});
		req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
		req.on('error', reject);
		req.end(payload ?? undefined);
	});
}

/**
 * POST /api/v1/auth/login {email, password}. Resolves {cookie, csrf, me, jar, res}; cookie is the
 * Cookie header value to send back (sb_session or __Host-sb_session), me the "agent" object.
 * Throws unless the hub answers 200 with a session cookie.
 */
export async function login(url, email, password) {
	const jar = new Map();
	const res = await api('POST', '/api/v1/auth/login', { email, password }, { base: url, jar });
	if (res.status !== 200) throw new Error(`login ${email}: HTTP ${res.status} ${res.text}`);
	if (![...jar.keys()].some((k) => /sb_session$/.test(k))) throw new Error(`login ${email}: no session cookie in ${JSON.stringify(res.headers['set-cookie'])}`);
	return { cookie: cookieHeader(jar), csrf: res.json?.csrf_token, me: res.json?.agent, jar, res };
}

// A client bound to a base URL and a session: c.api(method, path, body, opts).
export function session(url, { cookie, csrf, apiKey } = {}) {
	return {
		url, cookie, csrf, apiKey,
		api: (method, path, body, opts = {}) => api(method, path, body, { base: url, cookie, csrf, apiKey, ...opts }),
	};
}

/* ---- agent WebSocket ----------------------------------------------------------------------- */

/**
 * Open /ws with subprotocol 'sb-agent.v1', the given Origin (default: the hub URL's origin) and
 * session cookie or API key, then send {"type":"hello","last_seq":lastSeq ?? null} unless
 * hello:false. Resolves once open; rejects with err.status set when the upgrade is refused.
 *   opts: cookie, origin (null: none), lastSeq, apiKey, hello (default true), protocol, headers,
 *   timeoutMs
 * Returned socket:
 *   frames            every parsed frame received, in order
 *   next(pred, ms)    the next frame (after the last one next() returned) matching pred (a
 *                     function, or a type string); rejects after ms (default 5000)
 *   events()          all frames of type "event"
 *   send(obj)         send a JSON frame; raw(data) sends as is
 *   close(code, why)  close; closed is a promise of {code, reason}
 */
export function agentSocket(url, opts = {}) {
	const wsUrl = url.replace(/^http/, 'ws').replace(/\/$/, '') + '/ws';
	const headers = { ...(opts.headers ?? {}) };
	if (opts.cookie) headers.Cookie = opts.cookie instanceof Map ? cookieHeader(opts.cookie) : opts.cookie;
	if (opts.apiKey) headers.Authorization = `Bearer ${opts.apiKey}`;
	// origin: null sends no Origin header at all
	const origin = opts.origin === null ? undefined : (opts.origin ?? new URL(url).origin);
	const ws = new WebSocket(wsUrl, opts.protocol === null ? undefined : (opts.protocol ?? 'sb-agent.v1'), {
		headers, origin, handshakeTimeout: opts.timeoutMs ?? 5000, perMessageDeflate: false,
	});

	const frames = [];
	const waiters = [];
	let cursor = 0;
	let closedInfo = null;

	const match = (pred) => (typeof pred === 'string' ? (f) => f && f.type === pred : pred ?? (() => true));
	function pump() {
		for (let i = 0; i < waiters.length; i++) {
			const w = waiters[i];
			const idx = frames.findIndex((f, j) => j >= cursor && w.pred(f));
			if (idx >= 0) {
				cursor = idx + 1;
				waiters.splice(i--, 1);
				clearTimeout(w.timer);
				w.resolve(frames[idx]);
			} else if (closedInfo) {
				waiters.splice(i--, 1);
				clearTimeout(w.timer);
				w.reject(new Error(`socket closed (${closedInfo.code} ${closedInfo.reason}) while waiting for a frame`));
			}
		}
	}

	const sock = {
		ws,
		frames,
		protocol: () => ws.protocol,
		next(pred, timeoutMs = 5000) {
			return new Promise((resolve, reject) => {
				const w = { pred: match(pred), resolve, reject };
				w.timer = setTimeout(() => {
					const i = waiters.indexOf(w);
					if (i >= 0) waiters.splice(i, 1);
					reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames.slice(cursor)).slice(0, 2000)}`));
				}, timeoutMs);
				waiters.push(w);
				pump();
			});
		},
		events: () => frames.filter((f) => f && f.type === 'event'),
		send: (obj) => ws.send(JSON.stringify(obj)),
		raw: (data, o) => ws.send(data, o),
		close: (code = 1000, reason = '') => {
			if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason);
			return sock.closed;
		},
		terminate: () => ws.terminate(),
	};
	sock.closed = new Promise((resolve) => {
		ws.on('close', (code, reason) => {
			closedInfo = { code, reason: reason.toString() };
			pump();
			resolve(closedInfo);
		});
	});

	ws.on('message', (data, isBinary) => {
		let f;
		try {
			f = isBinary ? { type: '_binary', data } : JSON.parse(data.toString('utf8'));
		} catch {
			f = { type: '_unparsable', text: data.toString('utf8') };
		}
		frames.push(f);
		pump();
	});

	return new Promise((resolve, reject) => {
		ws.once('unexpected-response', (req, res) => {
			const err = new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`);
			err.status = res.statusCode;
			res.resume();
			req.destroy();
			reject(err);
		});
		ws.once('error', (e) => reject(e));
		ws.once('open', () => {
			ws.on('error', () => { /* reported through close */ });
			if (opts.hello !== false) sock.send({ type: 'hello', last_seq: opts.lastSeq ?? null });
			resolve(sock);
		});
	});
}

/* ---- fixtures shared by the integration tests ------------------------------------------------ */


export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The password every fixture agent gets (argon2id with SB_PWHASH=min keeps logins fast).
export const PASSWORD = 'correct horse battery';

/**
 * A tenant with agents, made with the hubd CLI and logged in over REST.
 *   agents: [{key, email, role}] (default: an owner and an agent)
 * Resolves {tenantId, apiKey (when withKey), a: {key: {email, id, role, cookie, csrf, api}}}.
 */
export async function makeTenant(hub, name, agents = null, { withKey = false } = {}) {
	const tag = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
	agents ??= [
		{ key: 'owner', email: `owner@${tag}.test`, role: 'owner' },
		{ key: 'agent', email: `agent@${tag}.test`, role: 'agent' },
	];
	const tenantId = Number(await hubCliOk(null, ['tenant', 'create', '--name', name], { db: hub.dbPath }));
	const out = { tenantId, a: {} };
	for (const ag of agents) {
		const args = ['agent', 'create', '--tenant', String(tenantId), '--email', ag.email, '--role', ag.role];
		if (ag.name) args.push('--name', ag.name);
		const id = Number(await hubCliOk(null, args, { db: hub.dbPath, stdin: (ag.password ?? PASSWORD) + '\n' }));
		const l = await login(hub.url, ag.email, ag.password ?? PASSWORD);
		out.a[ag.key] = { ...ag, id, cookie: l.cookie, csrf: l.csrf, me: l.me, ...session(hub.url, { cookie: l.cookie, csrf: l.csrf }) };
	}
	if (withKey) out.apiKey = await hubCliOk(null, ['apikey', 'create', '--tenant', String(tenantId)], { db: hub.dbPath });
	return out;
}

// The tenant's current event seq, as GET /api/v1/events reports it.
export async function currentSeq(sess) {
	const r = await sess.api('GET', '/api/v1/events?after=0&limit=1');
	if (r.status !== 200) throw new Error(`GET /api/v1/events: ${r.status} ${r.text}`);
	return r.json.seq;
}

// Every message of a conversation (paged by `before`), as a Map from id to message.
export async function allMessages(sess, conv) {
	const seen = new Map();
	for (let older = 0; ;) {
		const r = await sess.api('GET', `/api/v1/conversations/${conv}/messages?limit=200${older ? `&before=${older}` : ''}`);
		if (r.status !== 200) throw new Error(`GET messages of ${conv}: ${r.status} ${r.text}`);
		for (const m of r.json.messages) seen.set(m.id, m);
		if (r.json.messages.length < 200) return seen;
		older = Math.min(...r.json.messages.map((m) => m.id));
	}
}

// Runs fn over items with at most `n` in flight; resolves the results in order.
export async function pool(items, n, fn) {
	const out = new Array(items.length);
	let i = 0;
	await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
		while (i < items.length) {
			const k = i++;
			out[k] = await fn(items[k], k);
		}
	}));
	return out;
}
