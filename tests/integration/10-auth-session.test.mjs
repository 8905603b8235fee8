// SPDX-License-Identifier: MIT
// Sessions and credentials: login, the session cookie's attributes (http and https public
// URLs), CSRF on every state-changing route, API keys, login throttling and logout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub } from '../lib/hub.mjs';
import { api, login, session, agentSocket, makeTenant, currentSeq, PASSWORD } from '../lib/client.mjs';

const ENV = { SB_PWHASH: 'min' };
let hub, t, other;

before(async () => {
	hub = await startHub({ env: ENV });
	t = await makeTenant(hub, 'Auth Co', undefined, { withKey: true });
	other = await makeTenant(hub, 'Other Co');
});
after(async () => {
	await hub?.cleanup();
});

const anon = (method, path, body, opts = {}) => api(method, path, body, { base: hub.url, ...opts });

function cookieAttrs(setCookie) {
	const [first, ...rest] = setCookie.split(';').map((s) => s.trim());
	const eq = first.indexOf('=');
	const attrs = {};
	for (const a of rest) {
		const i = a.indexOf('=');
		attrs[(i < 0 ? a : a.slice(0, i)).toLowerCase()] = i < 0 ? true : a.slice(i + 1);
	}
	return { name: first.slice(0, eq), value: first.slice(eq + 1), attrs };
}

test('login with the right password answers the agent, tenant and a CSRF token', async () => {
	const r = await anon('POST', '/api/v1/auth/login', { email: t.a.owner.email, password: PASSWORD });
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.agent.email, t.a.owner.email);
	assert.equal(r.json.agent.role, 'owner');
	assert.equal(r.json.tenant_id, t.tenantId);
	assert.match(r.json.csrf_token, /^[A-Za-z0-9_-]{20,}$/);
	assert.equal(r.json.agent.pw_hash, undefined);
	assert.ok(!r.text.includes('argon2'), 'no password hash in the answer');
	// the email is case-insensitive
	const r2 = await anon('POST', '/api/v1/auth/login', { email: t.a.agent.email.toUpperCase(), password: PASSWORD });
	assert.equal(r2.status, 200, r2.text);
	assert.equal(r2.json.agent.id, t.a.agent.id);
});

test('login failures: wrong password and unknown account look the same; bad bodies are 400/415', async () => {
	const wrong = await anon('POST', '/api/v1/auth/login', { email: other.a.agent.email, password: 'not the password' });
	assert.equal(wrong.status, 401);
	assert.equal(wrong.json.error.code, 'invalid_credentials');
	assert.equal(wrong.headers['set-cookie'], undefined);
	const nobody = await anon('POST', '/api/v1/auth/login', { email: 'nobody@nowhere.test', password: 'whatever1' });
	assert.equal(nobody.status, 401);
	assert.deepEqual(nobody.json, wrong.json);
	const missing = await anon('POST', '/api/v1/auth/login', { email: t.a.owner.email });
	assert.equal(missing.status, 400);
	assert.equal(missing.json.error.code, 'invalid');
	const form = await anon('POST', '/api/v1/auth/login', null, { rawBody: `email=${t.a.owner.email}&password=x`, contentType: 'application/x-www-form-urlencoded' });
	assert.equal(form.status, 415);
	const get = await anon('GET', '/api/v1/auth/login');
	assert.equal(get.status, 405);
});

test('session cookie over http: HttpOnly, SameSite=Lax, Path=/, Max-Age, no Secure', async () => {
	const r = await anon('POST', '/api/v1/auth/login', { email: t.a.owner.email, password: PASSWORD });
	const sc = [].concat(r.headers['set-cookie']);
	assert.equal(sc.length, 1, JSON.stringify(sc));
	const c = cookieAttrs(sc[0]);
	assert.equal(c.name, 'sb_session');
	assert.match(c.value, /^[A-Za-z0-9_-]{40,}$/);
	assert.equal(c.attrs.httponly, true);
	assert.equal(String(c.attrs.samesite).toLowerCase(), 'lax');
	assert.equal(c.attrs.path, '/');
	assert.ok(Number(c.attrs['max-age']) > 0, `Max-Age ${c.attrs['max-age']}`);
	assert.equal(c.attrs.secure, undefined, 'no Secure on an http public URL');
	assert.equal(c.attrs.domain, undefined);
	// the cookie authenticates, and /me hands back the same CSRF token
	const me = await anon('GET', '/api/v1/me', null, { cookie: `sb_session=${c.value}` });
	assert.equal(me.status, 200);
	assert.equal(me.json.agent.id, t.a.owner.id);
	assert.equal(me.json.csrf_token, r.json.csrf_token);
	// a made-up session id is anonymous
	const bogus = await anon('GET', '/api/v1/me', null, { cookie: `sb_session=${'A'.repeat(43)}` });
	assert.equal(bogus.status, 401);
	assert.equal(bogus.json.error.code, 'unauthenticated');
});

test('session cookie with an https public URL: __Host- prefix and Secure', async () => {
	const h2 = await startHub({
		env: ENV,
		argv: (x) => ['serve', '--listen', `${x.host}:${x.port}`, '--db', x.dbPath, '--public-url', `https://${x.host}:${x.port}`, '--web-root', x.webRoot],
	});
	try {
		const tt = await makeTenant(h2, 'Secure Co').catch((e) => e);
		// makeTenant's login() accepts either cookie name; check the header itself
		assert.ok(!(tt instanceof Error), String(tt));
		const r = await api('POST', '/api/v1/auth/login', { email: tt.a.owner.email, password: PASSWORD }, { base: h2.url });
		assert.equal(r.status, 200);
		const c = cookieAttrs([].concat(r.headers['set-cookie'])[0]);
		assert.equal(c.name, '__Host-sb_session');
		assert.equal(c.attrs.secure, true);
		assert.equal(c.attrs.httponly, true);
		assert.equal(c.attrs.path, '/');
		assert.equal(c.attrs.domain, undefined, '__Host- cookies must not carry Domain');
		const ok = await api('GET', '/api/v1/me', null, { base: h2.url, cookie: `__Host-sb_session=${c.value}` });
		assert.equal(ok.status, 200);
		// the plain name is not accepted on an https hub
		const plain = await api('GET', '/api/v1/me', null, { base: h2.url, cookie: `sb_session=${c.value}` });
		assert.equal(plain.status, 401);
		// the WebSocket wants the https origin
		const s = await agentSocket(h2.url, { cookie: `__Host-sb_session=${c.value}`, origin: h2.url.replace('http:', 'https:') });
		assert.equal((await s.next('welcome')).agent_id, tt.a.owner.id);
		await s.close();
		await assert.rejects(agentSocket(h2.url, { cookie: `__Host-sb_session=${c.value}` }), (e) => e.status === 403);
		// logout clears the __Host- cookie with Secure
		const lo = await api('POST', '/api/v1/auth/logout', null, { base: h2.url, cookie: `__Host-sb_session=${c.value}`, csrf: r.json.csrf_token });
		assert.equal(lo.status, 204);
		const cleared = cookieAttrs([].concat(lo.headers['set-cookie'])[0]);
		assert.equal(cleared.name, '__Host-sb_session');
		assert.equal(cleared.value, '');
		assert.equal(cleared.attrs['max-age'], '0');
		assert.equal(cleared.attrs.secure, true);
	} finally {
		await h2.cleanup();
	}
});

// Every state-changing route with a valid body, so only the CSRF check can refuse it.
async function writeRoutes() {
	const o = t.a.owner;
	const contact = await o.api('POST', '/api/v1/contacts', { name: 'Csrf Target' });
	const conv = await o.api('POST', '/api/v1/conversations', { contact_id: contact.json.id });
	const canned = await o.api('POST', '/api/v1/canned-responses', { shortcut: `csrf${Date.now()}`, body: 'x' });
	assert.equal(canned.status, 201, canned.text);
	const cid = contact.json.id, vid = conv.json.id;
	return [
		['POST', '/api/v1/contacts', { name: 'x' }],
		['PATCH', `/api/v1/contacts/${cid}`, { name: 'y' }],
		['POST', '/api/v1/conversations', { contact_id: cid }],
		['POST', `/api/v1/conversations/${vid}/assign`, { agent_id: o.id }],
		['POST', `/api/v1/conversations/${vid}/status`, { status: 'closed' }],
		['POST', `/api/v1/conversations/${vid}/read`, null],
		['POST', `/api/v1/conversations/${vid}/notes`, { body: 'csrf note' }],
		['POST', '/api/v1/canned-responses', { shortcut: 'zz', body: 'b' }],
		['PATCH', `/api/v1/canned-responses/${canned.json.id}`, { body: 'c' }],
		['DELETE', `/api/v1/canned-responses/${canned.json.id}`, null],
		['POST', '/api/v1/agents', { email: 'csrf-invite@auth-co.test', role: 'agent' }],
		['PATCH', `/api/v1/agents/${t.a.agent.id}`, { name: 'renamed' }],
		['PUT', '/api/v1/settings', { sms_help_text: 'csrf' }],
		['POST', '/api/v1/auth/logout', null],
	];
}

test('CSRF: every state-changing route refuses a session without the right X-CSRF-Token', async () => {
	const o = t.a.owner;
	const routes = await writeRoutes();
	const seq0 = await currentSeq(o);
	for (const [m, p, body] of routes) {
		for (const [why, csrf] of [['missing', undefined], ['wrong', 'x'.repeat(43)], ["another session's", other.a.owner.csrf], ['empty', '']]) {
			const r = await api(m, p, body, { base: hub.url, cookie: o.cookie, csrf, headers: csrf === '' ? { 'X-CSRF-Token': '' } : {} });
			assert.equal(r.status, 403, `${m} ${p} with a ${why} token: ${r.status} ${r.text}`);
			assert.equal(r.json?.error?.code, 'csrf', `${m} ${p}`);
		}
	}
	assert.equal(await currentSeq(o), seq0, 'nothing was written');
	const me = await o.api('GET', '/api/v1/me');
	assert.equal(me.status, 200, 'the session survived the refused logout');
	assert.equal((await o.api('GET', '/api/v1/settings')).json.sms_help_text, undefined);
	// and with the token the same route works
	const ok = await o.api('PATCH', `/api/v1/agents/${t.a.agent.id}`, { name: 'Agent A' });
	assert.equal(ok.status, 200, ok.text);
	assert.equal(ok.json.name, 'Agent A');
});

test('API keys: a Bearer key works without CSRF, a bad key is 401 and never falls back to the cookie', async () => {
	const k = session(hub.url, { apiKey: t.apiKey });
	assert.match(t.apiKey, /^sbk_/);
	const me = await k.api('GET', '/api/v1/me');
	assert.equal(me.status, 200);
	assert.equal(me.json.tenant_id, t.tenantId);
	assert.equal(me.json.agent, null);
	const c = await k.api('POST', '/api/v1/contacts', { name: 'Via Key' });
	assert.equal(c.status, 201, c.text);
	const got = await t.a.owner.api('GET', `/api/v1/contacts/${c.json.id}`);
	assert.equal(got.json.name, 'Via Key');
	// an API key is no agent: agent-only routes say so
	const conv = await k.api('POST', '/api/v1/conversations', { contact_id: c.json.id });
	assert.equal(conv.status, 201);
	const read = await k.api('POST', `/api/v1/conversations/${conv.json.id}/read`);
	assert.equal(read.status, 400);
	assert.equal(read.json.error.code, 'agent_required');
	const seq0 = await currentSeq(t.a.owner);
	for (const bad of [t.apiKey.slice(0, -1) + (t.apiKey.endsWith('A') ? 'B' : 'A'), 'sbk_', 'nonsense']) {
		const r = await api('GET', '/api/v1/contacts', null, { base: hub.url, apiKey: bad });
		assert.equal(r.status, 401, bad);
		const w = await api('POST', '/api/v1/contacts', { name: 'no' }, { base: hub.url, apiKey: bad, cookie: t.a.owner.cookie, csrf: t.a.owner.csrf });
		assert.equal(w.status, 401, 'a bad key with a good cookie is still anonymous');
	}
	assert.equal(await currentSeq(t.a.owner), seq0);
	// a key of one tenant reads only that tenant
	const otherList = await api('GET', '/api/v1/contacts?q=Via%20Key', null, { base: hub.url, apiKey: t.apiKey });
	assert.equal(otherList.json.contacts.length, 1);
});

test('throttling: 5 failures lock the account (429 + Retry-After) even for the right password; others unaffected', async () => {
	const victim = await makeTenant(hub, 'Throttle Co', [
		{ key: 'v', email: 'victim@throttle.test', role: 'owner' },
		{ key: 'w', email: 'bystander@throttle.test', role: 'agent' },
	]);
	for (let i = 0; i < 5; i++) {
		const r = await anon('POST', '/api/v1/auth/login', { email: 'victim@throttle.test', password: `wrong-${i}-pw` });
		assert.equal(r.status, 401, `failure ${i + 1}: ${r.status}`);
	}
	const locked = await anon('POST', '/api/v1/auth/login', { email: 'victim@throttle.test', password: PASSWORD });
	assert.equal(locked.status, 429, locked.text);
	assert.equal(locked.json.error.code, 'too_many_attempts');
	const ra = Number(locked.headers['retry-after']);
	assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 30, `Retry-After ${locked.headers['retry-after']}`);
	assert.equal(locked.headers['set-cookie'], undefined);
	// different case of the same email is the same account
	const locked2 = await anon('POST', '/api/v1/auth/login', { email: 'VICTIM@throttle.test', password: PASSWORD });
	assert.equal(locked2.status, 429);
	// another account of the same tenant, and the victim's existing session, are unaffected
	const by = await anon('POST', '/api/v1/auth/login', { email: 'bystander@throttle.test', password: PASSWORD });
	assert.equal(by.status, 200);
	assert.equal((await victim.a.v.api('GET', '/api/v1/me')).status, 200);
});

test('logout: 204, clears the cookie, the session is dead and its sockets close 4001; other sessions live on', async () => {
	const l1 = await login(hub.url, t.a.agent.email, PASSWORD);
	const l2 = await login(hub.url, t.a.agent.email, PASSWORD);
	const s1 = await agentSocket(hub.url, { cookie: l1.cookie });
	const s2 = await agentSocket(hub.url, { cookie: l2.cookie });
	await s1.next('welcome');
	await s2.next('welcome');
	const r = await api('POST', '/api/v1/auth/logout', null, { base: hub.url, cookie: l1.cookie, csrf: l1.csrf });
	assert.equal(r.status, 204, r.text);
	const sc = cookieAttrs([].concat(r.headers['set-cookie'])[0]);
	assert.equal(sc.name, 'sb_session');
	assert.equal(sc.value, '');
	assert.equal(sc.attrs['max-age'], '0');
	const closed = await Promise.race([s1.closed, new Promise((res) => setTimeout(() => res('timeout'), 3000))]);
	assert.equal(closed.code, 4001, JSON.stringify(closed));
	const me = await api('GET', '/api/v1/me', null, { base: hub.url, cookie: l1.cookie });
	assert.equal(me.status, 401);
	const again = await api('POST', '/api/v1/auth/logout', null, { base: hub.url, cookie: l1.cookie, csrf: l1.csrf });
	assert.equal(again.status, 401);
	await assert.rejects(agentSocket(hub.url, { cookie: l1.cookie }), (e) => e.status === 403);
	// the other session and its socket are untouched
	assert.equal((await api('GET', '/api/v1/me', null, { base: hub.url, cookie: l2.cookie })).status, 200);
	s2.send({ type: 'ping', id: 'still-here' });
	assert.equal((await s2.next('pong')).id, 'still-here');
	await s2.close();
	// an API key cannot log out
	const k = await api('POST', '/api/v1/auth/logout', null, { base: hub.url, apiKey: t.apiKey });
	assert.equal(k.status, 400);
});
