// SPDX-License-Identifier: MIT
// A backlog in the store drains at the provider's pace after a restart. 600 replies are
// accepted while the fake Twilio takes 500 ms per create and the channel may have 2 requests
// in flight, so nearly all of them wait in the outbox; hubd is stopped (SIGTERM), the fake made
// immediate, hubd restarted on the same database. Every waiting reply must then be created
// exactly once within 10 s. (The two in flight at the stop were abandoned before the fake
// created them: they are reconciled, never resent blindly, and fail "unconfirmed".) (The dispatcher used to take only a channel's free slots from each walk of
// the store, one walk per 100 ms: 20 rows a second here, 30 s for this backlog; it now queues
// the rows behind the full channel and sends the next one as each answer frees a slot.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub } from '../lib/hub.mjs';
import { allMessages, makeTenant, sleep } from '../lib/client.mjs';
import { startFake } from '../lib/fake.mjs';

const N = 600;
const DRAIN_MS = 10000;
const CAP = 2;

let hub, fake;

before(async () => {
	fake = await startFake();
	await fake.ctl('POST', '/callbacks', { mode: 'none' });
	hub = await startHub({ env: { SB_PWHASH: 'min', SB_RECONCILE_MS: '500' } });
});
after(async () => {
	await hub?.cleanup();
	fake?.stop();
});

// A tenant with an SMS channel of CAP requests in flight toward the fake, and one thread.
async function threadOn(name, phone, h = hub, f = fake) {
	const T = await makeTenant(h, name);
	const ch = await T.a.owner.api('POST', '/api/v1/channels', { kind: 'sms', name: 'Main', max_inflight: CAP, config: { account_sid: f.account, auth_token: f.token, from: '+15005550006', api_base: f.base } });
	assert.equal(ch.status, 201, ch.text);
	const c = await T.a.owner.api('POST', '/api/v1/contacts', { name, phone });
	assert.equal(c.status, 201, c.text);
	const v = await T.a.owner.api('POST', '/api/v1/conversations', { contact_id: c.json.id, channel_id: ch.json.id });
	assert.equal(v.status, 201, v.text);
	return { T, conv: v.json.id };
}

// Posts n replies (body `${tag} <i>`, client id `${tag}-<i>`), 50 at a time; their ids.
async function reply(T, conv, tag, n) {
	const ids = [];
	for (let i = 0; i < n; i += 50) {
		const rs = await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => T.a.agent.api('POST', `/api/v1/conversations/${conv}/messages`, { body: `${tag} ${i + k}`, client_id: `${tag}-${i + k}` })));
		for (const r of rs) {
			assert.equal(r.status, 201, r.text);
			ids.push(r.json.id);
		}
	}
	return ids;
}

test(`${N} replies in the outbox when hubd restarts: all created once, at the provider's pace`, async (t) => {
	const { T, conv } = await threadOn('Backlog', '+14155550199');
	await fake.ctl('POST', '/script', { steps: [], default: { action: 'delay', ms: 500, then: '201' } });
	const ids = await reply(T, conv, 'backlog', N);
	// a graceful stop with two requests in flight: hubd abandons them (rows left SENDING,
	// reconciled at the next start) and frees what they held (LeakSanitizer checks, under
	// make test-asan)
	const stopped = await hub.stop();
	assert.equal(stopped.code, 0, `${JSON.stringify(stopped)}\n${hub.stderr().slice(-3000)}`);
	const before = (await fake.ctl('GET', '/requests')).created;
	assert.ok(before < N / 4, `the backlog was mostly sent before the stop (${before} of ${N}): the test proves nothing`);

	await fake.ctl('POST', '/script', { steps: [], default: { action: '201' } });
	const t0 = Date.now();
	await hub.restart();
	let created = before;
	while (created < N - CAP && Date.now() - t0 < DRAIN_MS) {
		await sleep(50);
		created = (await fake.ctl('GET', '/requests')).created;
	}
	const took = Date.now() - t0;
	assert.ok(created >= N - CAP, `${created - before} of ${N - before} waiting replies created ${took} ms after the restart`);
	t.diagnostic(`${created - before} waiting replies created ${took} ms after the restart`);

	// every message settled: queued at the provider (its answer's status; callbacks are off), or
	// (in flight at the stop, never created) failed unconfirmed
	let seen;
	for (const end = Date.now() + 10000; Date.now() < end; await sleep(100)) {
		seen = await allMessages(T.a.owner, conv);
		if (ids.every((id) => ['queued', 'failed'].includes(seen.get(id)?.status))) break;
	}
	const all = await fake.ctl('GET', '/messages');
	const bodies = new Set(all.map((m) => m.body));
	assert.equal(bodies.size, all.length, 'a reply was created twice');
	assert.equal(all.length, (await fake.ctl('GET', '/requests')).created);
	let failed = 0;
	for (const id of ids) {
		const m = seen.get(id);
		if (m?.status === 'failed') {
			failed++;
			assert.equal(m.status_code, 'unconfirmed', JSON.stringify(m));
			assert.ok(!bodies.has(m.body), `failed but created: ${JSON.stringify(m)}`);
		} else {
			assert.equal(m?.status, 'queued', `message ${id}: ${JSON.stringify(m)}`);
			assert.ok(bodies.has(m.body) && m.provider_id, `queued but not at the provider: ${JSON.stringify(m)}`);
		}
	}
	assert.ok(failed <= CAP, `${failed} failed`);
	assert.equal(all.length + failed, N);
});

// An outage: every create answered 429 with Retry-After: 2, so 800 replies wait as retries,
// due two seconds after each was refused; the provider is then back. The due retries go out
// at the provider's pace too (all created within 5 s of the first reply), each once. (They
// were taken only into free slots before, as each walk found them: 8 s and more here.)
test('800 retries due at once after a provider outage: all created once, at the provider\'s pace', async (t) => {
	const M = 800;
	const RETRY_S = 2;
	const { T, conv } = await threadOn('Outage', '+14155550198');
	await fake.ctl('POST', '/script', { steps: [], default: { action: '429', retry_after: RETRY_S } });
	const { created: c0, requests: r0 } = await fake.ctl('GET', '/requests');
	const t0 = Date.now();
	await reply(T, conv, 'outage', M);
	// every reply tried once and refused (the first ones' retries may not be due yet)
	for (const end = Date.now() + 5000; (await fake.ctl('GET', '/requests')).requests - r0 < M && Date.now() < end;) await sleep(20);
	await fake.ctl('POST', '/script', { steps: [], default: { action: '201' } });
	let created = 0;
	while (created < M && Date.now() - t0 < RETRY_S * 1000 + 3000) {
		await sleep(50);
		created = (await fake.ctl('GET', '/requests')).created - c0;
	}
	const took = Date.now() - t0;
	assert.equal(created, M, `${created} of ${M} retries created ${took} ms after the first reply`);
	t.diagnostic(`${M} retries created ${took} ms after the first reply (${RETRY_S} s of it the Retry-After)`);
	await sleep(300);
	const mine = (await fake.ctl('GET', '/messages')).filter((m) => m.body.startsWith('outage '));
	assert.equal(mine.length, M);
	assert.equal(new Set(mine.map((m) => m.body)).size, M, 'a retry was created twice');
});

// One tenant's backlog does not hold up another's. Tenant A's provider refuses its first
// A_ROWS creates at once (429, Retry-After 1), so they all wait in the store as retries due a
// second later, and then answers each of A's requests only after 300 ms, with 429 again: A
// sends ~7 a second and its due retries stay in the thousands. Tenant B's single reply is
// refused once (429, Retry-After 1) by its own provider, which then takes it; its retry falls
// due after all of A's. The hub looks at 200 stored rows per walk (SB_OUTBOX_WALK_ROWS), so
// B's retry must be found by skipping A's rows, not by walking past them: it is created
// within 4 s of its refusal. (The walk used to go through the due rows of all channels in
// one next_at order and stop at its bound, so B waited until A had resent all but 200 of
// its rows: minutes here.)
test("a tenant's retries are not held up behind another tenant's long backlog", async (t) => {
	const A_ROWS = 1200;
	const h = await startHub({ env: { SB_PWHASH: 'min', SB_OUTBOX_WALK_ROWS: '200' } });
	const fa = await startFake();
	const fb = await startFake();
	try {
		await fa.ctl('POST', '/callbacks', { mode: 'none' });
		await fb.ctl('POST', '/callbacks', { mode: 'none' });
		const A = await threadOn('Busy A', '+14155550197', h, fa);
		const B = await threadOn('Quiet B', '+14155550196', h, fb);
		await fa.ctl('POST', '/script', { steps: Array.from({ length: A_ROWS }, () => ({ action: '429', retry_after: 1 })), default: { action: 'delay', ms: 300, then: { action: '429', retry_after: 1 } } });
		await reply(A.T, A.conv, 'busy', A_ROWS);
		for (const end = Date.now() + 10000; (await fa.ctl('GET', '/requests')).requests < A_ROWS && Date.now() < end;) await sleep(20);
		assert.ok((await fa.ctl('GET', '/requests')).requests >= A_ROWS, 'A\'s first attempts were all refused');
		await sleep(1200); // A's retries are due
		await fb.ctl('POST', '/script', { steps: [{ action: '429', retry_after: 1 }], default: { action: '201' } });
		const t0 = Date.now();
		const [id] = await reply(B.T, B.conv, 'quiet', 1);
		let created = 0;
		while (!created && Date.now() - t0 < 4000) {
			await sleep(50);
			created = (await fb.ctl('GET', '/requests')).created;
		}
		const took = Date.now() - t0;
		const fbReq = await fb.ctl('GET', '/requests');
		assert.equal(fbReq.requests, 2, `B's reply was tried ${fbReq.requests} times in ${took} ms (refused once, then its retry)`);
		assert.equal(created, 1, `B's retry was not created within ${took} ms, behind A's backlog`);
		const aCreated = (await fa.ctl('GET', '/requests')).created;
		assert.equal(aCreated, 0);
		t.diagnostic(`B's retry created ${took} ms after its reply, behind ${A_ROWS} due retries of A`);
		const m = (await B.T.a.owner.api('GET', `/api/v1/conversations/${B.conv}/messages?limit=5`)).json.messages.find((x) => x.id === id);
		assert.ok(m && m.provider_id, JSON.stringify(m));
	} finally {
		await h.cleanup();
		fa.stop();
		fb.stop();
	}
});

// sb_outbox_walk_rows_total: rows the dispatcher's walks of the store looked at
async function walkRows(h) {
	const text = await (await fetch(`${h.url}/metrics`)).text();
	const m = /^sb_outbox_walk_rows_total (\d+)$/m.exec(text);
	return m ? Number(m[1]) : 0;
}

// A backlog queued in memory is not read again from the store by every walk. 600 replies wait
// behind a channel of 2 requests in flight to a provider that takes 500 ms, all queued in the
// dispatcher's memory; over 2 s (20 walks, one per 100 ms) the walks look at fewer rows than
// the backlog holds. (Each walk used to read every queued row of the full channel again to
// find it queued: ~12,000 rows here; behind B5's backlogs, most of the loop's time.)
test('walks step over a full channel\'s rows already queued in memory', async (t) => {
	const h = await startHub({ env: { SB_PWHASH: 'min' } });
	const f = await startFake();
	try {
		await f.ctl('POST', '/callbacks', { mode: 'none' });
		await f.ctl('POST', '/script', { steps: [], default: { action: 'delay', ms: 500, then: '201' } });
		const A = await threadOn('Queued', '+14155550195', h, f);
		await reply(A.T, A.conv, 'queued', N);
		await sleep(300);
		const r0 = await walkRows(h);
		await sleep(2000);
		const read = (await walkRows(h)) - r0;
		const created = (await f.ctl('GET', '/requests')).created;
		assert.ok(created < N - 100, `the backlog was still there (${created} created)`);
		assert.ok(read < N, `the walks read ${read} rows in 2 s behind a backlog of ~${N - created}`);
		t.diagnostic(`walks read ${read} rows in 2 s behind a backlog of ~${N - created} rows`);
	} finally {
		await h.cleanup();
		f.stop();
	}
});

// A due retry goes before the replies queued after it. The first reply is refused once
// (429, Retry-After: 1); then 80 more queue behind a channel of 2 requests in flight to a
// provider that takes 150 ms (~13 a second, ~6 s of queue). The retry falls due after 1 s and
// must be created well before the queue's end. (It used to wait until the channel's queue
// ran dry: created last, after all 80, and for as long as new replies kept the queue from
// running dry.)
test('a retry that falls due goes before the replies queued behind a busy channel', async (t) => {
	const LATER = 80;
	const h = await startHub({ env: { SB_PWHASH: 'min' } });
	const f = await startFake();
	try {
		await f.ctl('POST', '/callbacks', { mode: 'none' });
		await f.ctl('POST', '/script', { steps: [{ action: '429', retry_after: 1 }], default: { action: 'delay', ms: 150, then: '201' } });
		const A = await threadOn('Retry first', '+14155550194', h, f);
		await reply(A.T, A.conv, 'first', 1);
		for (const end = Date.now() + 5000; (await f.ctl('GET', '/requests')).requests < 1 && Date.now() < end;) await sleep(10);
		await reply(A.T, A.conv, 'later', LATER);
		let list = [];
		for (const end = Date.now() + 20000; Date.now() < end; await sleep(100)) {
			list = await f.ctl('GET', '/messages');
			if (list.length >= LATER + 1) break;
		}
		const bodies = list.map((m) => m.body);
		assert.equal(new Set(bodies).size, LATER + 1, `all created once: ${bodies.length} creates`);
		const at = bodies.indexOf('first 0');
		assert.ok(at >= 0 && at < LATER - 20, `the retry was created ${at + 1}th of ${LATER + 1}`);
		t.diagnostic(`the retry was created ${at + 1}th of ${LATER + 1}`);
	} finally {
		await h.cleanup();
		f.stop();
	}
});
