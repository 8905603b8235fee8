// SPDX-License-Identifier: MIT
// Sending from the agent socket ({"type":"send"}): acked with the message, one message per
// client_id however often it is sent, refused with an error frame (and nothing sent) for an
// opted-out customer, an unknown conversation or a body over 1600 characters, and a socket that
// closes before its ack leaves the hub healthy with the message sent exactly once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub } from '../lib/hub.mjs';
import { makeTenant, agentSocket, sleep } from '../lib/client.mjs';
import { startFake } from '../lib/fake.mjs';

const FROM = '+15005550006';
let hub, fake, T, conv, phone = 0;

before(async () => {
	fake = await startFake();
	hub = await startHub({ env: { SB_PWHASH: 'min' } });
	T = await makeTenant(hub, 'Socket Sends');
	const r = await T.a.owner.api('POST', '/api/v1/channels', { kind: 'sms', name: 'Main', config: { account_sid: fake.account, auth_token: fake.token, from: FROM, api_base: fake.base } });
	assert.equal(r.status, 201, r.text);
});
after(async () => {
	await hub?.cleanup();
	fake?.stop();
});

async function newConv() {
	const p = `+1415555${String(6000 + ++phone)}`;
	const c = await T.a.owner.api('POST', '/api/v1/contacts', { name: `Socket ${phone}`, phone: p });
	const v = await T.a.owner.api('POST', '/api/v1/conversations', { contact_id: c.json.id });
	assert.equal(v.status, 201, v.text);
	return { id: v.json.id, phone: p };
}

const created = async (body) => (await fake.ctl('GET', '/messages')).filter((m) => m.body === body).length;

test('a send is acked with the message; the same client_id again is the same message, sent once', async () => {
	conv = await newConv();
	const s = await agentSocket(hub.url, { cookie: T.a.agent.cookie });
	await s.next('welcome');
	s.send({ type: 'send', id: 7, conversation_id: conv.id, body: 'from the socket', client_id: 'ws-1' });
	const a = await s.next((f) => f.type === 'ack' && f.id === 7);
	assert.equal(a.data.body, 'from the socket');
	assert.equal(a.data.direction, 'out');
	s.send({ type: 'send', id: 'again', conversation_id: conv.id, body: 'from the socket', client_id: 'ws-1' });
	const b = await s.next((f) => f.type === 'ack' && f.id === 'again');
	assert.equal(b.data.id, a.data.id, 'one message per client_id');
	const end = Date.now() + 5000;
	while (Date.now() < end && (await created('from the socket')) < 1) await sleep(30);
	await sleep(300);
	assert.equal(await created('from the socket'), 1);
	await s.close();
});

test('refused sends get an error frame with the request id, and nothing leaves', async () => {
	const c = await newConv();
	await fake.ctl('POST', '/inbound', { url: (await T.a.owner.api('GET', '/api/v1/channels')).json.channels[0].webhook_urls.inbound, from: c.phone, to: FROM, body: 'STOP' });
	const s = await agentSocket(hub.url, { cookie: T.a.agent.cookie });
	await s.next('welcome');
	const cases = [
		[{ conversation_id: c.id, body: 'after STOP' }, 'opted_out'],
		[{ conversation_id: 99999999, body: 'nobody' }, 'not_found'],
		[{ conversation_id: conv.id, body: 'x'.repeat(1601) }, 'too_long'],
		[{ body: 'no conversation' }, 'invalid'],
	];
	for (const [i, [msg, code]] of cases.entries()) {
		s.send({ type: 'send', id: `r${i}`, ...msg });
		const e = await s.next((f) => f.type === 'error' && f.id === `r${i}`);
		assert.equal(e.code, code, JSON.stringify(e));
	}
	await sleep(300);
	assert.equal(await created('after STOP'), 0);
	await s.close();
});

test('a socket that closes before its ack: the hub stays healthy and the message goes out once', async () => {
	const c = await newConv();
	const s = await agentSocket(hub.url, { cookie: T.a.agent.cookie });
	await s.next('welcome');
	for (let i = 0; i < 10; i++) s.send({ type: 'send', id: i, conversation_id: c.id, body: `gone ${i}`, client_id: `gone-${i}` });
	s.terminate();
	// what the hub accepted (stored) goes out exactly once; frames the closing socket never
	// delivered are simply not sent
	const end = Date.now() + 5000;
	let stored = [], counts = [];
	while (Date.now() < end) {
		stored = (await T.a.owner.api('GET', `/api/v1/conversations/${c.id}/messages`)).json.messages.filter((m) => m.direction === 'out');
		counts = await Promise.all(stored.map((m) => created(m.body)));
		if (stored.length && counts.every((x) => x === 1) && stored.every((m) => m.status !== 'pending')) break;
		await sleep(50);
	}
	assert.ok(stored.length > 0, 'the hub read the sends before the close');
	assert.deepEqual(counts, stored.map(() => 1), 'each stored message created exactly once');
	assert.equal((await T.a.owner.api('GET', '/healthz')).status, 200);
	assert.equal(hub.proc.exitCode, null);
});
