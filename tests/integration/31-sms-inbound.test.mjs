// SPDX-License-Identifier: MIT
// Inbound SMS through a real hub, delivered by the fake Twilio (tests/fakes/fake_twilio.mjs) as
// Twilio would: a signed inbound message reaches the connected agent sockets of its tenant and
// of no other tenant; the same MessageSid delivered five times in a row and five times at once
// makes exactly one message (every delivery answered 200); media URLs and content types are
// stored; a closed conversation reopens on the customer's next message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startHub, REPO_ROOT } from '../lib/hub.mjs';
import { api, agentSocket, makeTenant, currentSeq, sleep } from '../lib/client.mjs';

const AC_A = 'AC' + 'a'.repeat(32), TOK_A = 'token_for_tenant_a_0001';
const AC_B = 'AC' + 'b'.repeat(32), TOK_B = 'token_for_tenant_b_0002';
const NUM_A = '+15005550006', NUM_B = '+15005550010';

let hub, fake, A, B, chA, chB;

async function startFake(args = []) {
	const proc = spawn(process.execPath, [join(REPO_ROOT, 'tests/fakes/fake_twilio.mjs'), '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
	const info = await new Promise((resolve, reject) => {
		let buf = '';
		proc.stdout.on('data', (d) => {
			buf += d;
			const nl = buf.indexOf('\n');
			if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
		});
		proc.once('exit', (c) => reject(new Error(`fake_twilio exited ${c}`)));
	});
	const ctl = async (method, path, body) => {
		const r = await api(method, `${info.control}${path}`, body);
		if (r.status !== 200) throw new Error(`fake ${method} ${path}: ${r.status} ${r.text}`);
		return r.json;
	};
	return { ...info, proc, ctl, base: `http://127.0.0.1:${info.port}`, stop: () => proc.kill('SIGTERM') };
}

// sb_webhooks_total{kind="sms",result=...} from /metrics
async function webhookCounts() {
	const r = await fetch(`${hub.url}/metrics`);
	const text = await r.text();
	const get = (result) => {
		const m = new RegExp(`^sb_webhooks_total\\{kind="sms",result="${result}"\\} (\\d+)$`, 'm').exec(text);
		return m ? Number(m[1]) : 0;
	};
	return { accepted: get('accepted'), duplicate: get('duplicate'), error: get('error') };
}

async function waitFor(what, fn, ms = 5000) {
	const end = Date.now() + ms;
	let last;
	while (Date.now() < end) {
		last = await fn();
		if (last) return last;
		await sleep(25);
	}
	assert.fail(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

async function events(sess, after) {
	const r = await sess.api('GET', `/api/v1/events?after=${after}&limit=1000`);
	assert.equal(r.status, 200, r.text);
	return r.json.events;
}

async function messagesOf(sess, conv) {
	const r = await sess.api('GET', `/api/v1/conversations/${conv}/messages?limit=200`);
	assert.equal(r.status, 200, r.text);
	return r.json.messages;
}

before(async () => {
	fake = await startFake(['--account', AC_A, '--token', TOK_A, '--account', AC_B, '--token', TOK_B]);
	hub = await startHub({ env: { SB_PWHASH: 'min' } });
	A = await makeTenant(hub, 'Inbound A');
	B = await makeTenant(hub, 'Inbound B');
	const mk = async (t, account_sid, auth_token, from) => {
		const r = await t.a.owner.api('POST', '/api/v1/channels', { kind: 'sms', name: 'Main line', config: { account_sid, auth_token, from, api_base: fake.base } });
		assert.equal(r.status, 201, r.text);
		return r.json;
	};
	chA = await mk(A, AC_A, TOK_A, NUM_A);
	chB = await mk(B, AC_B, TOK_B, NUM_B);
});
after(async () => {
	await hub?.cleanup();
	fake?.stop();
});

const inboundA = (o) => fake.ctl('POST', '/inbound', { url: chA.webhook_urls.inbound, to: NUM_A, account: AC_A, ...o });

test('a signed inbound SMS reaches the agent sockets of its tenant, and of no other tenant', async () => {
	const sockA1 = await agentSocket(hub.url, { cookie: A.a.agent.cookie });
	const sockA2 = await agentSocket(hub.url, { cookie: A.a.owner.cookie });
	const sockB = await agentSocket(hub.url, { cookie: B.a.agent.cookie });
	await Promise.all([sockA1.next('welcome'), sockA2.next('welcome'), sockB.next('welcome')]);
	const seqB = await currentSeq(B.a.owner);

	const r = await inboundA({ from: '+14155550101', body: 'Is the shop open on Sunday?' });
	assert.equal(r.status, 200, JSON.stringify(r));
	assert.match(r.content_type, /xml/);
	assert.match(r.body, /<Response/);
	for (const s of [sockA1, sockA2]) {
		const ev = await s.next((f) => f.type === 'event' && f.event === 'message.created');
		assert.equal(ev.data.body, 'Is the shop open on Sunday?');
		assert.equal(ev.data.direction, 'in');
		assert.equal(ev.data.provider_id, r.sid);
		assert.equal(ev.data.channel_id, chA.id);
		assert.equal(ev.data.status, 'received');
	}
	// B's socket: a delivery to B afterwards is the first thing it sees, nothing of A's before it
	const rb = await fake.ctl('POST', '/inbound', { url: chB.webhook_urls.inbound, to: NUM_B, account: AC_B, from: '+14155550101', body: 'hello B' });
	assert.equal(rb.status, 200);
	const evB = await sockB.next((f) => f.type === 'event' && f.event === 'message.created');
	assert.equal(evB.data.body, 'hello B', 'the first message B sees is its own');
	assert.equal(sockB.events()[0].event, 'contact.created', 'B\'s first event is its own new contact');
	assert.equal(sockB.events()[0].data.phone, '+14155550101');
	await sleep(100);
	const leaked = sockB.events().filter((e) => JSON.stringify(e).includes('Sunday'));
	assert.deepEqual(leaked, [], 'no event of tenant A on tenant B\'s socket');
	assert.ok(!sockA1.events().some((e) => JSON.stringify(e).includes('hello B')), 'and none of B on A');
	// the same phone number is a separate contact in each tenant
	const evsB = await events(B.a.owner, seqB);
	assert.ok(evsB.every((e) => !JSON.stringify(e.data).includes('Sunday')));
	await Promise.all([sockA1.close(), sockA2.close(), sockB.close()]);
});

test('the same MessageSid five times in a row and five times at once makes one message; all answered 200', async () => {
	const sid = 'SM' + 'c'.repeat(32);
	const seq0 = await currentSeq(A.a.owner);
	const m0 = await webhookCounts();
	const seq = await inboundA({ sid, from: '+14155550102', body: 'dup sequential', times: 5 });
	assert.deepEqual(seq.results.map((x) => x.status), [200, 200, 200, 200, 200]);
	const sid2 = 'SM' + 'd'.repeat(32);
	const conc = await inboundA({ sid: sid2, from: '+14155550102', body: 'dup concurrent', times: 5, concurrent: true });
	assert.deepEqual(conc.results.map((x) => x.status), [200, 200, 200, 200, 200], JSON.stringify(conc.results));
	// and once more sequentially after the concurrent burst, as a Twilio retry would
	assert.equal((await inboundA({ sid: sid2, from: '+14155550102', body: 'dup concurrent' })).status, 200);

	const ev = await events(A.a.owner, seq0);
	const created = ev.filter((e) => e.event === 'message.created');
	assert.deepEqual(created.map((e) => [e.data.provider_id, e.data.body]), [[sid, 'dup sequential'], [sid2, 'dup concurrent']]);
	assert.equal(ev.filter((e) => e.event === 'contact.created').length, 1, 'one new contact');
	const conv = created[0].data.conversation_id;
	assert.equal(created[1].data.conversation_id, conv, 'one thread per person');
	const msgs = await messagesOf(A.a.owner, conv);
	assert.equal(msgs.filter((m) => m.provider_id === sid).length, 1);
	assert.equal(msgs.filter((m) => m.provider_id === sid2).length, 1);
	assert.equal(msgs.length, 2);
	// /metrics counts them by result: 2 accepted, 9 duplicates (11 deliveries)
	const m1 = await webhookCounts();
	assert.equal(m1.accepted - m0.accepted, 2, JSON.stringify({ m0, m1 }));
	assert.equal(m1.duplicate - m0.duplicate, 9, JSON.stringify({ m0, m1 }));
	assert.equal(m1.error - m0.error, 0);
});

test('media URLs and content types are stored with the message', async () => {
	const media = [
		{ url: `https://api.twilio.com/2010-04-01/Accounts/${AC_A}/Messages/MM${'1'.repeat(32)}/Media/ME${'2'.repeat(32)}`, content_type: 'image/jpeg' },
		{ url: `https://api.twilio.com/2010-04-01/Accounts/${AC_A}/Messages/MM${'1'.repeat(32)}/Media/ME${'3'.repeat(32)}`, content_type: 'video/mp4' },
	];
	const seq0 = await currentSeq(A.a.owner);
	const r = await inboundA({ from: '+14155550103', body: 'photo and video', media });
	assert.equal(r.status, 200);
	assert.match(r.sid, /^MM/);
	const created = (await events(A.a.owner, seq0)).find((e) => e.event === 'message.created');
	assert.deepEqual(created.data.media, media);
	const msgs = await messagesOf(A.a.owner, created.data.conversation_id);
	const m = msgs.find((x) => x.provider_id === r.sid);
	assert.deepEqual(m.media, media, 'stored, not only on the event');
	assert.equal(m.body, 'photo and video');
	// a media-only message (empty Body) is kept too
	const r2 = await inboundA({ from: '+14155550103', body: '', media: [media[0].url] });
	assert.equal(r2.status, 200);
	const m2 = (await messagesOf(A.a.owner, created.data.conversation_id)).find((x) => x.provider_id === r2.sid);
	assert.ok(m2, 'media-only message stored');
	assert.deepEqual(m2.media, [{ url: media[0].url, content_type: 'image/jpeg' }]);
});

test('a closed conversation reopens on the customer\'s next message (same thread)', async () => {
	const seq0 = await currentSeq(A.a.owner);
	const r1 = await inboundA({ from: '+14155550104', body: 'first' });
	assert.equal(r1.status, 200);
	const conv = (await events(A.a.owner, seq0)).find((e) => e.event === 'message.created').data.conversation_id;
	const c = await A.a.agent.api('POST', `/api/v1/conversations/${conv}/status`, { status: 'closed' });
	assert.equal(c.status, 200, c.text);
	assert.equal((await A.a.agent.api('GET', `/api/v1/conversations/${conv}`)).json.status, 'closed');

	const seq1 = await currentSeq(A.a.owner);
	const r2 = await inboundA({ from: '+14155550104', body: 'are you there?' });
	assert.equal(r2.status, 200);
	const ev = await events(A.a.owner, seq1);
	const msg = ev.find((e) => e.event === 'message.created');
	assert.equal(msg.data.conversation_id, conv, 'same thread, not a new one');
	assert.ok(!ev.some((e) => e.event === 'conversation.created'));
	const upd = ev.filter((e) => e.event === 'conversation.updated' && e.data.id === conv).at(-1);
	assert.equal(upd?.data.status, 'open', 'the event says it reopened');
	const got = await A.a.agent.api('GET', `/api/v1/conversations/${conv}`);
	assert.equal(got.json.status, 'open');
	assert.deepEqual((await messagesOf(A.a.owner, conv)).map((m) => m.body), ['first', 'are you there?']);
});

test('webhooks committed while their channel is changed are all answered, and the hub stays up', async () => {
	// A changed channel is rebuilt in the hub's cache and the old one freed; a webhook still in
	// its commit must not use the freed one afterwards (under ASan that was an abort).
	const seq0 = await currentSeq(A.a.owner);
	let stop = false, patches = 0;
	const patcher = (async () => {
		while (!stop) {
			const r = await A.a.owner.api('PATCH', `/api/v1/channels/${chA.id}`, { name: `Main line ${patches}` });
			assert.equal(r.status, 200, r.text);
			patches++;
			await sleep(5);
		}
	})();
	const statuses = [];
	const t0 = Date.now();
	await Promise.all(Array.from({ length: 12 }, async (_, k) => {
		let i = 0;
		while (Date.now() - t0 < 1500) {
			const r = await inboundA({ from: `+1415555${String(2000 + k).padStart(4, '0')}`, body: `during change ${k}.${i++}` });
			statuses.push(r.status);
		}
	}));
	stop = true;
	await patcher;
	assert.ok(patches >= 10, `the channel changed ${patches} times`);
	assert.ok(statuses.length >= 24, `${statuses.length} webhooks`);
	assert.deepEqual([...new Set(statuses)], [200], 'every webhook answered 200');
	assert.equal((await api('GET', `${hub.url}/healthz`)).status, 200);
	const all = [];
	for (let after = seq0, page; (page = await events(A.a.owner, after)).length; after = page[page.length - 1].seq)
		all.push(...page);
	const created = all.filter((e) => e.event === 'message.created' && String(e.data.body).startsWith('during change'));
	assert.equal(created.length, statuses.length, 'one message per webhook');
	await A.a.owner.api('PATCH', `/api/v1/channels/${chA.id}`, { name: 'Main line' });
});

test('a disabled channel\'s webhook is 404 and writes nothing', async () => {
	const r = await A.a.owner.api('PATCH', `/api/v1/channels/${chA.id}`, { active: false });
	assert.equal(r.status, 200, r.text);
	const seq0 = await currentSeq(A.a.owner);
	const x = await inboundA({ from: '+14155550105', body: 'anyone?' });
	assert.equal(x.status, 404);
	assert.equal(await currentSeq(A.a.owner), seq0);
	assert.equal((await A.a.owner.api('PATCH', `/api/v1/channels/${chA.id}`, { active: true })).status, 200);
	assert.equal((await inboundA({ from: '+14155550105', body: 'anyone?' })).status, 200);
	await waitFor('message after re-enable', async () => (await currentSeq(A.a.owner)) > seq0);
});
