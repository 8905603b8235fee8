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

test('the checks made in the send\'s own transaction: REST and the socket refuse alike and store nothing', async () => {
	const chans = (await T.a.owner.api('GET', '/api/v1/channels')).json.channels;
	const mine = chans[0].id;
	// another tenant's channel, a contact without a number, a tenant with no SMS channel
	const O = await makeTenant(hub, 'Socket Other');
	const oc = await O.a.owner.api('POST', '/api/v1/channels', { kind: 'sms', name: 'Theirs', config: { account_sid: fake.account, auth_token: fake.token, from: '+15005550007', api_base: fake.base } });
	assert.equal(oc.status, 201, oc.text);
	const ocontact = await O.a.owner.api('POST', '/api/v1/contacts', { name: 'Theirs', phone: '+14155557001' });
	const oconv = await O.a.owner.api('POST', '/api/v1/conversations', { contact_id: ocontact.json.id });
	const N = await makeTenant(hub, 'Socket No Channel');
	const ncontact = await N.a.owner.api('POST', '/api/v1/contacts', { name: 'Nowhere', phone: '+14155557002' });
	const nconv = await N.a.owner.api('POST', '/api/v1/conversations', { contact_id: ncontact.json.id });
	assert.equal(nconv.status, 201, nconv.text);
	const mute = await T.a.owner.api('POST', '/api/v1/contacts', { name: 'No number' });
	assert.equal(mute.status, 201, mute.text);
	const muteConv = await T.a.owner.api('POST', '/api/v1/conversations', { contact_id: mute.json.id });
	assert.equal(muteConv.status, 201, muteConv.text);
	const c = await newConv();
	const cases = [
		[T, { conversation_id: c.id, channel_id: oc.json.id, body: 'their channel' }, 400, 'no_channel'],
		[T, { conversation_id: oconv.json.id, body: 'their conversation' }, 404, 'not_found'],
		[T, { conversation_id: muteConv.json.id, body: 'no number' }, 400, 'no_address'],
		[N, { conversation_id: nconv.json.id, body: 'no channel at all' }, 400, 'no_channel'],
	];
	assert.equal((await T.a.owner.api('PATCH', `/api/v1/channels/${mine}`, { active: false })).status, 200);
	// the thread's own channel (conv has sent on it), and the same channel asked for by id
	cases.push([T, { conversation_id: conv.id, body: 'disabled' }, 400, 'channel_disabled']);
	cases.push([T, { conversation_id: c.id, channel_id: mine, body: 'disabled by id' }, 400, 'channel_disabled']);
	try {
		for (const [i, [t, msg, status, code]] of cases.entries()) {
			const { conversation_id, ...rest } = msg;
			const r = await t.a.agent.api('POST', `/api/v1/conversations/${conversation_id}/messages`, rest);
			assert.equal(r.status, status, `${code}: ${r.text}`);
			assert.equal(r.json.error.code, code, r.text);
			const s = await agentSocket(hub.url, { cookie: t.a.agent.cookie });
			await s.next('welcome');
			s.send({ type: 'send', id: `t${i}`, ...msg });
			const e = await s.next((f) => f.type === 'error' && f.id === `t${i}`);
			assert.equal(e.code, code, JSON.stringify(e));
			await s.close();
		}
	} finally {
		assert.equal((await T.a.owner.api('PATCH', `/api/v1/channels/${mine}`, { active: true })).status, 200);
	}
	for (const [t, msg] of cases) {
		const own = t === T && msg.conversation_id !== oconv.json.id;
		if (!own && t === T) continue; // another tenant's conversation: T cannot list it
		const list = await t.a.owner.api('GET', `/api/v1/conversations/${msg.conversation_id}/messages`);
		assert.equal(list.status, 200, list.text);
		assert.equal(list.json.messages.filter((m) => m.body === msg.body).length, 0, `${msg.body} stored`);
	}
	const theirs = await O.a.owner.api('GET', `/api/v1/conversations/${oconv.json.id}/messages`);
	assert.equal(theirs.json.messages.length, 0, 'nothing written into the other tenant\'s thread');
	await sleep(200);
	for (const [, msg] of cases) assert.equal(await created(msg.body), 0, `${msg.body} left`);
	// and once enabled again, the same conversation sends
	const ok = await T.a.agent.api('POST', `/api/v1/conversations/${c.id}/messages`, { body: 'enabled again' });
	assert.equal(ok.status, 201, ok.text);
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
