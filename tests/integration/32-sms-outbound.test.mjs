// SPDX-License-Identifier: MIT
// Outbound SMS through a real hub to the fake Twilio (tests/fakes/fake_twilio.mjs): a reply is
// created at the fake exactly once and ends delivered through the fake's signed status
// callbacks; under each scripted fault (429 with Retry-After in seconds and as an HTTP-date,
// 500, 503, 21211, 21610, timeout after reading, timeout before, reset, reset before,
// duplicate and out-of-order callbacks) the message ends in the right status with the right
// code and reason, and the fake's created count for it is exactly 1 (0 where it never got it):
// nothing is resent blindly. Retry of a failed message really sends; the per-channel cap (16)
// bounds the fake's max_concurrent.
// With SB_FAKE_TLS=1 (ctest integration-32-sms-outbound-h2) the fake serves https and HTTP/2, as
// api.twilio.com does, and the hub runs with SB_PROVIDER_HTTP2=1: every case runs over
// multiplexed h2 streams (a reset is then one stream's RST_STREAM); the hub trusts the fake's
// certificate through SB_PROVIDER_CA, a hub that does not trust it sends nothing, and a hub
// without SB_PROVIDER_HTTP2 speaks HTTP/1.1 over https.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { startHub } from '../lib/hub.mjs';
import { api, makeTenant, pool, sleep } from '../lib/client.mjs';
import { startFake } from '../lib/fake.mjs';
import { makeCert } from '../lib/tls.mjs';

const TLS = process.env.SB_FAKE_TLS === '1';

const FROM = '+15005550006';
const RECONCILE_MS = 1500;
const TIMEOUT_MS = 1000;

let hub, fake, T, ch, owner, pki;

before(async () => {
	pki = TLS ? makeCert() : null;
	fake = await startFake(TLS ? ['--tls-cert', pki.cert, '--tls-key', pki.key] : []);
	assert.ok(fake.base.startsWith(TLS ? 'https://' : 'http://'), fake.base);
	hub = await startHub({ env: { SB_PWHASH: 'min', SB_SEND_TIMEOUT_MS: String(TIMEOUT_MS), SB_RECONCILE_MS: String(RECONCILE_MS), ...(TLS ? { SB_PROVIDER_CA: pki.cert, SB_PROVIDER_HTTP2: '1' } : {}) } });
	T = await makeTenant(hub, 'Outbound Co');
	owner = T.a.owner;
	const r = await owner.api('POST', '/api/v1/channels', { kind: 'sms', name: 'Main', config: { account_sid: fake.account, auth_token: fake.token, from: FROM, api_base: fake.base } });
	assert.equal(r.status, 201, r.text);
	ch = r.json;
});
if (TLS) {
	test('over https every create travels on HTTP/2', async () => {
		const conv = await newConv();
		const c0 = await counters();
		const ids = [];
		for (let i = 0; i < 5; i++) {
			const r = await send(conv, `h2 ${i}`);
			assert.equal(r.status, 201, r.text);
			ids.push(r.json.id);
		}
		for (const id of ids) await until(conv, id, ['delivered']);
		const c1 = await counters();
		assert.equal(c1.requests - c0.requests, 5);
		assert.equal(c1.http2_requests - c0.http2_requests, 5, 'every create over HTTP/2');
	});

	// A second hub (env) with a tenant whose channel points at the same fake: one reply is
	// sent; resolves what the checks need, and the fake's request counters from before it.
	async function sendFromOtherHub(other, name, phone, body) {
		const O = await makeTenant(other, name);
		const r = await O.a.owner.api('POST', '/api/v1/channels', { kind: 'sms', name, config: { account_sid: fake.account, auth_token: fake.token, from: FROM, api_base: fake.base } });
		assert.equal(r.status, 201, r.text);
		const c = await O.a.owner.api('POST', '/api/v1/contacts', { name, phone });
		const v = await O.a.owner.api('POST', '/api/v1/conversations', { contact_id: c.json.id, channel_id: r.json.id });
		const c0 = await counters();
		const s = await O.a.agent.api('POST', `/api/v1/conversations/${v.json.id}/messages`, { body, client_id: `${name}-1` });
		assert.equal(s.status, 201, s.text);
		const msg = async () => (await O.a.owner.api('GET', `/api/v1/conversations/${v.json.id}/messages`)).json.messages.find((x) => x.id === s.json.id);
		const channel = async () => (await O.a.owner.api('GET', `/api/v1/channels/${r.json.id}`)).json;
		return { c0, msg, channel };
	}
	async function poll(fn, ok, ms = 8000) {
		const end = Date.now() + ms;
		let v;
		do {
			await sleep(50);
			v = await fn();
		} while (!ok(v) && Date.now() < end);
		return v;
	}

	test('a hub that does not trust the provider\'s certificate sends nothing and keeps the message pending', async () => {
		const other = await startHub({ env: { SB_PWHASH: 'min' } }); // the system's CAs only
		try {
			const x = await sendFromOtherHub(other, 'Untrusting Co', '+14155559911', 'untrusted');
			const chRow = await poll(x.channel, (c) => c.health?.last_error);
			assert.match(chRow.health?.last_error ?? '', /^Could not reach the provider: .*(SSL|certificate)/i, JSON.stringify(chRow));
			assert.equal((await x.msg()).status, 'pending', 'not sent, not failed: it is retried with backoff');
			assert.equal((await counters()).requests - x.c0.requests, 0, 'no request reached the fake');
		} finally {
			await other.cleanup();
		}
	});

	test('without SB_PROVIDER_HTTP2 the hub speaks HTTP/1.1 to the same https provider', async () => {
		const other = await startHub({ env: { SB_PWHASH: 'min', SB_PROVIDER_CA: pki.cert } });
		try {
			const x = await sendFromOtherHub(other, 'Plain Co', '+14155559912', 'over h1');
			const sentStates = ['queued', 'sent', 'delivered'];
			const m = await poll(x.msg, (v) => sentStates.includes(v.status));
			assert.ok(sentStates.includes(m.status), JSON.stringify(m));
			const c1 = await counters();
			assert.equal(c1.requests - x.c0.requests, 1);
			assert.equal(c1.http2_requests - x.c0.http2_requests, 0, 'HTTP/1.1 over TLS');
		} finally {
			await other.cleanup();
		}
	});

	test('a provider_ca that cannot be read stops the start with a clear line', async () => {
		await assert.rejects(startHub({ env: { SB_PWHASH: 'min', SB_PROVIDER_CA: `${pki.dir}/missing.pem` } }),
			/msg=provider_ca_unreadable path=\S+missing\.pem/);
	});
}
after(async () => {
	await hub?.cleanup();
	fake?.stop();
	if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

let phoneN = 0;
// A new contact with a fresh number and a conversation on the channel.
async function newConv() {
	const phone = `+1415555${String(2000 + ++phoneN).padStart(4, '0')}`;
	const c = await owner.api('POST', '/api/v1/contacts', { name: `Customer ${phoneN}`, phone });
	assert.equal(c.status, 201, c.text);
	const v = await owner.api('POST', '/api/v1/conversations', { contact_id: c.json.id, channel_id: ch.id });
	assert.equal(v.status, 201, v.text);
	return { id: v.json.id, phone, contact: c.json.id };
}

async function send(conv, body, o = {}) {
	const r = await (o.sess ?? T.a.agent).api('POST', `/api/v1/conversations/${conv.id}/messages`, { body, client_id: o.client_id ?? `c-${body}` });
	return r;
}

async function getMsg(conv, id) {
	const r = await owner.api('GET', `/api/v1/conversations/${conv.id}/messages?limit=200`);
	assert.equal(r.status, 200, r.text);
	return r.json.messages.find((m) => m.id === id);
}

// Polls until the message's status is one of `want`; returns the message.
async function until(conv, id, want, ms = 8000) {
	const end = Date.now() + ms;
	let m;
	while (Date.now() < end) {
		m = await getMsg(conv, id);
		if (want.includes(m?.status)) return m;
		await sleep(30);
	}
	assert.fail(`message ${id} never reached ${want.join('|')}: ${JSON.stringify(m)}`);
}

const createdAtFake = async (to, body) => (await fake.ctl('GET', `/messages?to=${encodeURIComponent(to)}`)).filter((m) => m.body === body);
const counters = () => fake.ctl('GET', '/requests');
const script = (steps, dflt) => fake.ctl('POST', '/script', dflt === undefined ? { steps } : { steps, default: dflt });

// message.updated events of message id, in order (with the create's initial "pending").
async function statusHistory(id) {
	const ev = [];
	for (let after = 0; ;) {
		const r = await owner.api('GET', `/api/v1/events?after=${after}&limit=1000`);
		ev.push(...r.json.events);
		if (r.json.events.length < 1000) break;
		after = r.json.events.at(-1).seq;
	}
	return ev.filter((e) => (e.event === 'message.updated' || e.event === 'message.created') && e.data.id === id).map((e) => e.data.status);
}
const RANK = { pending: 0, accepted: 1, queued: 2, sending: 3, sent: 4, delivered: 5, undelivered: 5, failed: 5, read: 6 };
function assertMonotonic(hist) {
	for (let i = 1; i < hist.length; i++)
		assert.ok(RANK[hist[i]] >= RANK[hist[i - 1]], `status went back: ${hist.join(' -> ')}`);
}

// sb_outbox_results_total{state=...} from /metrics: what the provider's answers made of rows
async function outboxResults() {
	const text = await (await fetch(`${hub.url}/metrics`)).text();
	const get = (state) => {
		const m = new RegExp(`^sb_outbox_results_total\\{state="${state}"\\} (\\d+)$`, 'm').exec(text);
		return m ? Number(m[1]) : 0;
	};
	return { sent: get('sent'), retry: get('retry'), reconcile: get('reconcile'), failed: get('failed') };
}

// One scripted case: script, send, wait for a final status, check the fake's view.
async function runCase(name, steps, want, o = {}) {
	const conv = await newConv();
	const body = `${name} ${Date.now() % 100000}`;
	await script(steps);
	const m0 = await outboxResults();
	const c0 = await counters();
	const t0 = Date.now();
	const r = await send(conv, body);
	assert.equal(r.status, 201, r.text);
	assert.equal(r.json.status, 'pending');
	const m = await until(conv, r.json.id, want, o.ms ?? 8000);
	const tEnd = Date.now();
	await sleep(o.settleMs ?? 150); // late callbacks or resends would show up now
	const final = await getMsg(conv, r.json.id);
	const c1 = await counters();
	const atFake = await createdAtFake(conv.phone, body);
	const m1 = await outboxResults();
	const results = Object.fromEntries(Object.keys(m1).map((k) => [k, m1[k] - m0[k]]));
	return { conv, body, msg: final, firstSeen: m, t0, tEnd, requests: c1.requests - c0.requests, atFake, results };
}

test('a reply goes to the fake once, with the right form, and ends delivered through the callbacks', async () => {
	const x = await runCase('plain reply', [], ['delivered']);
	assert.equal(x.atFake.length, 1, 'created exactly once');
	assert.equal(x.requests, 1);
	assert.deepEqual(x.results, { sent: 1, retry: 0, reconcile: 0, failed: 0 }, '/metrics counts the answer');
	const fm = x.atFake[0];
	assert.equal(fm.to, x.conv.phone);
	assert.equal(fm.from, FROM);
	assert.equal(fm.body, x.body);
	assert.equal(fm.status_callback, `${ch.webhook_urls.status}?o=${fm.status_callback.split('?o=')[1]}`);
	assert.match(fm.status_callback, /\?o=\d+$/);
	assert.equal(x.msg.provider_id, fm.sid);
	assert.equal(x.msg.status_code, null);
	const hist = await statusHistory(x.msg.id);
	assertMonotonic(hist);
	assert.deepEqual([...new Set(hist)], ['pending', 'queued', 'sent', 'delivered']);
	// the callbacks were all accepted by the hub, each once. The fake logs each when its answer
	// arrives: the two are sent 20 ms apart, and when the hub's commit takes longer than that
	// (a loaded CI machine) both answers leave in one pass, in either order
	const cbs = (await fake.ctl('GET', '/callbacks')).filter((c) => c.sid === fm.sid);
	assert.deepEqual(cbs.map((c) => [c.status, c.http_status]).sort(), [['delivered', 200], ['sent', 200]]);
	// the channel's health shows the good send
	const h = await owner.api('GET', `/api/v1/channels/${ch.id}`);
	assert.ok(h.json.health.last_send_ok_at);
});

test('the same client_id twice is one message and one create', async () => {
	const conv = await newConv();
	const a = await send(conv, 'idempotent send', { client_id: 'same-id-1' });
	const b = await send(conv, 'idempotent send', { client_id: 'same-id-1' });
	assert.equal(a.status, 201);
	assert.equal(b.status, 200, b.text);
	assert.equal(b.json.id, a.json.id);
	await until(conv, a.json.id, ['delivered']);
	assert.equal((await createdAtFake(conv.phone, 'idempotent send')).length, 1);
});

test('429 with Retry-After in seconds is honoured (the gap is measured), then sent once', async () => {
	const x = await runCase('429 seconds', [{ action: '429', retry_after: 2 }], ['delivered'], { ms: 10000 });
	assert.equal(x.requests, 2, 'one refused request, one accepted');
	assert.deepEqual(x.results, { sent: 1, retry: 1, reconcile: 0, failed: 0 });
	assert.equal(x.atFake.length, 1);
	const gap = Date.parse(x.atFake[0].created_at) - x.t0;
	assert.ok(gap >= 1950, `the retry waited for Retry-After: 2 (gap ${gap} ms)`);
	assert.ok(gap < 4000, `and not much longer (gap ${gap} ms)`);
	assert.equal(x.msg.status_code, null);
});

test('429 with Retry-After as an HTTP-date is honoured', async () => {
	const at = new Date(Date.now() + 3000);
	const x = await runCase('429 date', [{ action: '429', retry_after: at.toUTCString() }], ['delivered'], { ms: 10000 });
	assert.equal(x.requests, 2);
	assert.equal(x.atFake.length, 1);
	const created = Date.parse(x.atFake[0].created_at);
	// the date has one-second resolution: the retry may not leave before its whole second
	const notBefore = Math.floor(at.getTime() / 1000) * 1000;
	assert.ok(created >= notBefore - 50, `retry at ${created - x.t0} ms, date ${notBefore - x.t0} ms after the send`);
	assert.ok(created - x.t0 < 5000);
});

test('500 after the create: ambiguous, never resent, settled by the status callback', async () => {
	const x = await runCase('500 created', [{ action: '500', create: true }], ['delivered', 'failed']);
	assert.equal(x.msg.status, 'delivered', JSON.stringify(x.msg));
	assert.equal(x.requests, 1, 'not resent');
	assert.equal(x.atFake.length, 1);
	assert.equal(x.msg.provider_id, x.atFake[0].sid, 'the callback taught the hub the sid');
	assert.deepEqual(x.results, { sent: 0, retry: 0, reconcile: 1, failed: 0 });
});

test('500 without a create: never resent, ends failed "unconfirmed" after the reconcile window', async () => {
	const x = await runCase('500 lost', ['500'], ['failed', 'delivered'], { ms: RECONCILE_MS + 5000 });
	assert.equal(x.msg.status, 'failed');
	assert.equal(x.msg.status_code, 'unconfirmed');
	assert.match(x.msg.status_reason, /never confirmed/);
	assert.equal(x.requests, 1);
	assert.equal(x.atFake.length, 0);
	assert.ok(x.tEnd - x.t0 >= RECONCILE_MS - 100, `waited for the callback window (${x.tEnd - x.t0} ms)`);
});

test('503: never resent; without a create it ends failed "unconfirmed"', async () => {
	const x = await runCase('503 lost', [{ action: '503', retry_after: 1 }], ['failed', 'delivered'], { ms: RECONCILE_MS + 5000 });
	assert.equal(x.msg.status, 'failed');
	assert.equal(x.msg.status_code, 'unconfirmed');
	assert.equal(x.requests, 1, 'a 503 may have been processed: not resent');
	assert.equal(x.atFake.length, 0);
	const y = await runCase('503 created', [{ action: '503', create: true }], ['delivered', 'failed']);
	assert.equal(y.msg.status, 'delivered');
	assert.equal(y.requests, 1);
	assert.equal(y.atFake.length, 1);
});

test('21211: failed at once with the code and a plain reason, not resent; retry really sends', async () => {
	const x = await runCase('bad number', [{ action: 'error', code: 21211 }], ['failed', 'delivered']);
	assert.equal(x.msg.status, 'failed');
	assert.deepEqual(x.results, { sent: 0, retry: 0, reconcile: 0, failed: 1 });
	assert.equal(x.msg.status_code, '21211');
	assert.equal(x.msg.status_reason, "The customer's number is not a valid phone number.");
	assert.ok(x.tEnd - x.t0 < RECONCILE_MS, 'at once, no reconcile wait');
	assert.equal(x.requests, 1);
	assert.equal(x.atFake.length, 0);

	const c0 = await counters();
	const r = await owner.api('POST', `/api/v1/messages/${x.msg.id}/retry`);
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.status, 'pending');
	assert.equal(r.json.status_code, null);
	const m = await until(x.conv, x.msg.id, ['delivered']);
	assert.equal(m.status_code, null);
	assert.equal(m.status_reason, null);
	const at = await createdAtFake(x.conv.phone, x.body);
	assert.equal(at.length, 1, 'the retry created it, once');
	assert.equal(m.provider_id, at[0].sid);
	assert.equal((await counters()).requests - c0.requests, 1);
	// a delivered message cannot be retried
	const again = await owner.api('POST', `/api/v1/messages/${x.msg.id}/retry`);
	assert.equal(again.status, 409, again.text);
	assert.equal(again.json.error.code, 'conflict');
});

test('21610: failed, the opt-out is recorded, the next send is refused 422 before anything leaves; START lifts it', async () => {
	const x = await runCase('opted out', [{ action: 'error', code: 21610 }], ['failed', 'delivered']);
	assert.equal(x.msg.status, 'failed');
	assert.equal(x.msg.status_code, '21610');
	assert.match(x.msg.status_reason, /opted out/);
	assert.equal(x.atFake.length, 0);
	const c0 = await counters();
	const again = await send(x.conv, 'after the opt-out');
	assert.equal(again.status, 422, again.text);
	assert.equal(again.json.error.code, 'opted_out', again.text);
	await sleep(200);
	assert.equal((await counters()).requests, c0.requests, 'nothing left for the provider');
	// the customer texts START: the ledger lifts and the send goes out
	const st = await fake.ctl('POST', '/inbound', { url: ch.webhook_urls.inbound, from: x.conv.phone, to: FROM, body: 'START' });
	assert.equal(st.status, 200);
	const ok = await send(x.conv, 'welcome back');
	assert.equal(ok.status, 201, ok.text);
	await until(x.conv, ok.json.id, ['delivered']);
});

test('timeout after the fake read and created it: settled by its callback, not resent', async () => {
	const x = await runCase('timeout created', ['timeout'], ['delivered', 'failed'], { settleMs: TIMEOUT_MS + 500 });
	assert.equal(x.msg.status, 'delivered', JSON.stringify(x.msg));
	assert.equal(x.requests, 1, 'not resent after the timeout');
	assert.equal(x.atFake.length, 1);
	assert.equal(x.msg.provider_id, x.atFake[0].sid);
});

test('timeout before the fake created it: not resent, ends failed "unconfirmed"', async () => {
	const x = await runCase('timeout lost', ['timeout_before'], ['failed', 'delivered'], { ms: TIMEOUT_MS + RECONCILE_MS + 5000 });
	assert.equal(x.msg.status, 'failed');
	assert.equal(x.msg.status_code, 'unconfirmed');
	assert.match(x.msg.status_reason, /never confirmed/);
	assert.equal(x.requests, 1);
	assert.equal(x.atFake.length, 0);
	assert.ok(x.tEnd - x.t0 >= TIMEOUT_MS + RECONCILE_MS - 200, `${x.tEnd - x.t0} ms`);
	assertMonotonic(await statusHistory(x.msg.id));
});

test('reset after the create: settled by the callback, not resent', async () => {
	const x = await runCase('reset created', ['reset'], ['delivered', 'failed']);
	assert.equal(x.msg.status, 'delivered', JSON.stringify(x.msg));
	assert.equal(x.requests, 1);
	assert.equal(x.atFake.length, 1);
});

test('reset before the create: not resent blindly, ends failed "unconfirmed"', async () => {
	const x = await runCase('reset lost', ['reset_before'], ['failed', 'delivered'], { ms: RECONCILE_MS + 5000 });
	assert.equal(x.msg.status, 'failed');
	assert.equal(x.msg.status_code, 'unconfirmed');
	assert.equal(x.requests, 1);
	assert.equal(x.atFake.length, 0);
});

test('duplicate callbacks: final status delivered, monotonic', async () => {
	await fake.ctl('POST', '/callbacks', { mode: 'duplicate', statuses: ['sending', 'sent', 'delivered'], delays_ms: [20, 40, 60] });
	try {
		const x = await runCase('dup callbacks', [], ['delivered'], { settleMs: 400 });
		assert.equal(x.msg.status, 'delivered');
		assert.equal(x.atFake.length, 1);
		const cbs = (await fake.ctl('GET', '/callbacks')).filter((c) => c.sid === x.atFake[0].sid);
		assert.equal(cbs.length, 6, 'each status twice');
		assert.ok(cbs.every((c) => c.http_status === 200), JSON.stringify(cbs));
		const hist = await statusHistory(x.msg.id);
		assertMonotonic(hist);
		assert.equal(hist.filter((s) => s === 'delivered').length, 1, `one change to delivered: ${hist}`);
	} finally {
		await fake.ctl('POST', '/callbacks', { mode: 'normal' });
	}
});

test('out-of-order callbacks (delivered before sent): final status delivered, never back', async () => {
	await fake.ctl('POST', '/callbacks', { mode: 'out_of_order', statuses: ['sending', 'sent', 'delivered'], delays_ms: [20, 60, 100] });
	try {
		const x = await runCase('ooo callbacks', [], ['delivered'], { settleMs: 400 });
		const cbs = (await fake.ctl('GET', '/callbacks')).filter((c) => c.sid === x.atFake[0].sid);
		cbs.sort((a, b) => a.sent_at - b.sent_at); // in the order they left the fake
		assert.deepEqual(cbs.map((c) => c.status), ['delivered', 'sent', 'sending'], 'the fake really sent them reversed');
		assert.equal(x.msg.status, 'delivered');
		assertMonotonic(await statusHistory(x.msg.id));
		// a stale status sent now changes nothing either
		const s = await fake.ctl('POST', '/status', { sid: x.atFake[0].sid, status: 'queued' });
		assert.equal(s.status, 200);
		assert.equal((await getMsg(x.conv, x.msg.id)).status, 'delivered');
	} finally {
		await fake.ctl('POST', '/callbacks', { mode: 'normal' });
	}
});

test('undelivered with ErrorCode: status undelivered with the code; a later delivered does not override', async () => {
	await fake.ctl('POST', '/callbacks', { mode: 'normal', statuses: ['sent', 'undelivered'], error_code: 30003 });
	try {
		const x = await runCase('undelivered', [], ['undelivered', 'delivered']);
		assert.equal(x.msg.status, 'undelivered');
		assert.equal(x.msg.status_code, '30003');
		assert.match(x.msg.status_reason, /30003/);
		const s = await fake.ctl('POST', '/status', { sid: x.atFake[0].sid, status: 'delivered' });
		assert.equal(s.status, 200);
		assert.equal((await getMsg(x.conv, x.msg.id)).status, 'undelivered');
		assertMonotonic(await statusHistory(x.msg.id));
	} finally {
		await fake.ctl('POST', '/callbacks', { mode: 'normal' });
	}
});

// sb_status_unmatched_total{kind="sms"}: signed statuses that found no message
async function unmatched() {
	const text = await (await fetch(`${hub.url}/metrics`)).text();
	const m = /^sb_status_unmatched_total\{kind="sms"\} (\d+)$/m.exec(text);
	return m ? Number(m[1]) : 0;
}

test('a status finds its message by the outbox id it was sent with: a late one of an attempt a retry replaced, or one without o=, changes nothing (200, counted)', async () => {
	await fake.ctl('POST', '/callbacks', { mode: 'normal', statuses: ['sent', 'undelivered'], error_code: 30003 });
	let x;
	try {
		x = await runCase('replaced attempt', [], ['undelivered']);
	} finally {
		await fake.ctl('POST', '/callbacks', { mode: 'none' });
	}
	try {
		const first = x.atFake[0];
		const r = await owner.api('POST', `/api/v1/messages/${x.msg.id}/retry`);
		assert.equal(r.status, 200, r.text);
		const m = await until(x.conv, x.msg.id, ['queued', 'sent']);
		const at = await createdAtFake(x.conv.phone, x.body);
		assert.equal(at.length, 2, 'the retry created it again');
		const second = at.find((a) => a.sid !== first.sid);
		assert.equal(m.provider_id, second.sid);
		assert.notEqual(first.status_callback, second.status_callback, 'each attempt has its own o=');
		const u0 = await unmatched();
		// the first attempt's status, signed and sent to its own URL, is answered 200 and
		// changes nothing: it would have turned the new attempt "delivered"
		const late = await fake.ctl('POST', '/status', { sid: first.sid, status: 'delivered' });
		assert.equal(late.status, 200);
		// a signed status of the new attempt to the status URL without o=: 200, nothing changes
		const bare = await fake.ctl('POST', '/status', { sid: second.sid, status: 'delivered', url: ch.webhook_urls.status });
		assert.equal(bare.status, 200);
		assert.equal(await unmatched(), u0 + 2, 'both counted');
		const now = await getMsg(x.conv, x.msg.id);
		assert.equal(now.status, m.status);
		assert.equal(now.provider_id, second.sid);
		// the new attempt's own callback does move it
		const own = await fake.ctl('POST', '/status', { sid: second.sid, status: 'delivered' });
		assert.equal(own.status, 200);
		assert.equal((await getMsg(x.conv, x.msg.id)).status, 'delivered');
		assert.equal(await unmatched(), u0 + 2);
		assertMonotonic(await statusHistory(x.msg.id).then((h) => h.slice(h.lastIndexOf('pending'))));
	} finally {
		await fake.ctl('POST', '/callbacks', { mode: 'normal' });
	}
});

// A burst of n sends over `convs` conversations while the fake holds each create 300 ms:
// every one is created once, and the fake's max_concurrent is reported for the cap checks.
async function burst(n, convs, tag) {
	await sleep(300);
	await fake.ctl('POST', '/reset');
	await script([], { action: 'delay', ms: 300, then: '201' });
	try {
		const cs = [];
		for (let i = 0; i < convs; i++) cs.push(await newConv());
		const items = Array.from({ length: n }, (_, i) => ({ conv: cs[i % cs.length], body: `${tag} ${i}` }));
		const sent = await pool(items, 16, async (it) => {
			const r = await send(it.conv, it.body);
			assert.equal(r.status, 201, r.text);
			return { ...it, id: r.json.id };
		});
		for (const x of sent) await until(x.conv, x.id, ['delivered', 'queued', 'sent'], 20000);
		const c = await counters();
		assert.equal(c.created, n);
		assert.equal(c.requests, n);
		const all = await fake.ctl('GET', '/messages');
		assert.equal(new Set(all.map((m) => m.body)).size, n, 'each message created once');
		return c.max_concurrent;
	} finally {
		await script([], '201');
	}
}

test('per-channel concurrency: the fake never sees more than 16 requests at once', async () => {
	const mc = await burst(48, 8, 'burst');
	assert.ok(mc <= 16, `max_concurrent ${mc} exceeds the channel cap of 16`);
	assert.ok(mc >= 8, `the cap is actually used (max_concurrent ${mc})`);
});

test('max_inflight set through PATCH is the cap the fake sees; bad values are 400; another tenant gets 404', async () => {
	for (const bad of [0, 1001, '8', 2.5, -1, null])
		assert.equal((await owner.api('PATCH', `/api/v1/channels/${ch.id}`, { max_inflight: bad })).status, 400, `max_inflight ${JSON.stringify(bad)}`);
	const B = await makeTenant(hub, 'Other Tenant Co');
	assert.equal((await B.a.owner.api('PATCH', `/api/v1/channels/${ch.id}`, { max_inflight: 2 })).status, 404);
	assert.equal((await owner.api('GET', `/api/v1/channels/${ch.id}`)).json.max_inflight, 16, 'unchanged by the refused PATCHes');
	const p = await owner.api('PATCH', `/api/v1/channels/${ch.id}`, { max_inflight: 4 });
	assert.equal(p.status, 200, p.text);
	assert.equal(p.json.max_inflight, 4);
	try {
		const mc = await burst(12, 4, 'capped');
		assert.ok(mc <= 4, `max_concurrent ${mc} exceeds max_inflight 4`);
		assert.ok(mc >= 3, `the cap is used (max_concurrent ${mc})`);
	} finally {
		assert.equal((await owner.api('PATCH', `/api/v1/channels/${ch.id}`, { max_inflight: 16 })).status, 200);
	}
});

test('the host cap: with SB_PROVIDER_CONNS=3 no more than 3 requests reach one provider at once', { skip: TLS && 'over HTTP/2 requests share connections as streams' }, async () => {
	const other = await startHub({ env: { SB_PWHASH: 'min', SB_PROVIDER_CONNS: '3' } });
	try {
		const O = await makeTenant(other, 'Capped Host Co');
		const r = await O.a.owner.api('POST', '/api/v1/channels', { kind: 'sms', name: 'capped', config: { account_sid: fake.account, auth_token: fake.token, from: FROM, api_base: fake.base } });
		assert.equal(r.status, 201, r.text);
		assert.equal(r.json.max_inflight, 16, 'the channel itself would allow 16');
		const c = await O.a.owner.api('POST', '/api/v1/contacts', { name: 'Cap', phone: '+14155559931' });
		const v = await O.a.owner.api('POST', '/api/v1/conversations', { contact_id: c.json.id, channel_id: r.json.id });
		await sleep(300);
		await fake.ctl('POST', '/reset');
		await script([], { action: 'delay', ms: 300, then: '201' });
		const n = 9;
		const sent = await pool(Array.from({ length: n }, (_, i) => i), 9, async (i) => {
			const s = await O.a.agent.api('POST', `/api/v1/conversations/${v.json.id}/messages`, { body: `capped ${i}`, client_id: `capped-${i}` });
			assert.equal(s.status, 201, s.text);
			return s.json.id;
		});
		const done = async () => (await O.a.owner.api('GET', `/api/v1/conversations/${v.json.id}/messages`)).json.messages.filter((m) => sent.includes(m.id) && ['queued', 'sent', 'delivered'].includes(m.status)).length;
		const end = Date.now() + 15000;
		while ((await done()) < n && Date.now() < end) await sleep(100);
		assert.equal(await done(), n, 'every message reached the provider');
		const k = await counters();
		assert.equal(k.created, n);
		assert.ok(k.max_concurrent <= 3, `max_concurrent ${k.max_concurrent} exceeds the host cap of 3`);
		assert.ok(k.max_concurrent >= 2, `the cap is used (max_concurrent ${k.max_concurrent})`);
	} finally {
		await script([], '201');
		await other.cleanup();
	}
});

test('retry of a message failed with 21610 is refused while the customer is opted out: nothing leaves', async () => {
	const x = await runCase('opted out retry', [{ action: 'error', code: 21610 }], ['failed', 'delivered']);
	assert.equal(x.msg.status_code, '21610');
	const c0 = await counters();
	const rr = await owner.api('POST', `/api/v1/messages/${x.msg.id}/retry`);
	await sleep(400);
	const m = await getMsg(x.conv, x.msg.id);
	assert.equal((await counters()).requests, c0.requests, `the retry left for the provider: ${JSON.stringify(m)}`);
	assert.equal(rr.status, 422, rr.text);
	assert.equal(rr.json.error.code, 'opted_out');
	assert.equal(m.status, 'failed');
});

test('retry of a message that does not exist, or of another tenant\'s, is 404 and sends nothing', async () => {
	const conv = await newConv();
	await script([{ action: 'error', code: 21211 }]);
	const r = await send(conv, 'failed for the other tenant');
	const m = await until(conv, r.json.id, ['failed']);
	const B = await makeTenant(hub, 'Outbound Other');
	const c0 = await counters();
	const other = await B.a.owner.api('POST', `/api/v1/messages/${m.id}/retry`);
	assert.equal((await getMsg(conv, m.id)).status, 'failed', 'another tenant cannot retry it');
	await sleep(200);
	assert.equal((await counters()).requests, c0.requests);
	const none = await owner.api('POST', '/api/v1/messages/99999999/retry');
	assert.equal(none.status, 404, none.text);
	assert.equal(other.status, 404, other.text);
});

test('connection refused: the request never left, so it is retried (not reconciled) and sent once when the provider is back', async () => {
	const { freePort } = await import('../lib/hub.mjs');
	const dead = await freePort();
	const r = await owner.api('POST', '/api/v1/channels', { kind: 'sms', name: 'Down', config: { account_sid: fake.account, auth_token: fake.token, from: FROM, api_base: `http://127.0.0.1:${dead}` } });
	assert.equal(r.status, 201, r.text);
	const down = r.json;
	const conv = await newConv();
	const s = await T.a.agent.api('POST', `/api/v1/conversations/${conv.id}/messages`, { body: 'while refused', client_id: 'refused-1', channel_id: down.id });
	assert.equal(s.status, 201, s.text);
	await sleep(1500);
	let m = await getMsg(conv, s.json.id);
	assert.equal(m.status, 'pending', `still waiting to be sent: ${JSON.stringify(m)}`);
	assert.equal((await createdAtFake(conv.phone, 'while refused')).length, 0);
	// the provider comes back (the channel points at it again): the next attempt sends it once
	const p = await owner.api('PATCH', `/api/v1/channels/${down.id}`, { config: { account_sid: fake.account, auth_token: fake.token, from: FROM, api_base: fake.base } });
	assert.equal(p.status, 200, p.text);
	m = await until(conv, s.json.id, ['queued', 'sent', 'delivered'], 15000);
	await sleep(300);
	assert.equal((await createdAtFake(conv.phone, 'while refused')).length, 1, 'created exactly once');
});
