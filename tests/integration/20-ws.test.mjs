// SPDX-License-Identifier: MIT
// The agent WebSocket (docs/PROTOCOL.md): Origin and session checks before the upgrade,
// hello/resume semantics (null, a last seq 500 events back, too old, in the future),
// presence, typing, ping, read, and the clean 1001 on SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startHub } from '../lib/hub.mjs';
import { agentSocket, makeTenant, currentSeq, pool, sleep } from '../lib/client.mjs';

let hub, t, conv;

before(async () => {
	hub = await startHub({ env: { SB_PWHASH: 'min' } });
	t = await makeTenant(hub, 'Socket Co', undefined, { withKey: true });
	const c = await t.a.owner.api('POST', '/api/v1/contacts', { name: 'Socket Contact' });
	conv = (await t.a.owner.api('POST', '/api/v1/conversations', { contact_id: c.json.id })).json;
});
after(async () => {
	await hub?.cleanup();
});

const note = (body) => t.a.owner.api('POST', `/api/v1/conversations/${conv.id}/notes`, { body });

test('Origin must match the public URL exactly, else 403 before any upgrade', async () => {
	const { port } = hub;
	for (const origin of ['https://evil.example', 'null', `http://127.0.0.1:${port}.evil.example`, `http://127.0.0.1:${port}@evil.example`,
		`https://127.0.0.1:${port}`, `http://localhost:${port}`, `http://127.0.0.1:${port + 1}`, `http://127.0.0.1:${port}/`, 'http://127.0.0.1', '', null]) {
		await assert.rejects(agentSocket(hub.url, { cookie: t.a.owner.cookie, origin }), (e) => {
			assert.equal(e.status, 403, `Origin ${JSON.stringify(origin)}: ${e.message}`);
			return true;
		});
	}
	const ok = await agentSocket(hub.url, { cookie: t.a.owner.cookie, origin: `http://127.0.0.1:${port}` });
	assert.equal(ok.protocol(), 'sb-agent.v1');
	assert.equal((await ok.next('welcome')).agent_id, t.a.owner.id);
	await ok.close();
});

test('no session, a bad session or a bad key: 403 before the upgrade; a good API key is let in', async () => {
	for (const o of [{}, { cookie: 'sb_session=' + 'x'.repeat(43) }, { apiKey: 'sbk_nope' }, { apiKey: t.apiKey.slice(0, -2) }]) {
		await assert.rejects(agentSocket(hub.url, o), (e) => e.status === 403, JSON.stringify(o));
	}
	const k = await agentSocket(hub.url, { apiKey: t.apiKey });
	const w = await k.next('welcome');
	assert.equal(w.tenant_id, t.tenantId);
	assert.equal(w.agent_id, 0);
	k.send({ type: 'typing', id: 1, conversation_id: conv.id, on: true });
	assert.equal((await k.next('error')).code, 'agent_required');
	await k.close();
});

test('hello with null: only events after the current seq', async () => {
	await note('before the socket');
	const seq = await currentSeq(t.a.owner);
	const s = await agentSocket(hub.url, { cookie: t.a.agent.cookie, lastSeq: null });
	const w = await s.next('welcome');
	assert.equal(w.seq, seq);
	assert.equal(w.resume, 'ok');
	await note('after the socket');
	const ev = await s.next('event');
	assert.equal(ev.seq, seq + 1);
	assert.equal(ev.event, 'message.created');
	assert.equal(ev.data.body, 'after the socket');
	assert.equal(s.events().length, 1);
	await s.close();
});

test('a socket that missed 500 events gets exactly those, in order, on reconnect, then live ones', async () => {
	const s = await agentSocket(hub.url, { cookie: t.a.agent.cookie });
	await s.next('welcome');
	await note('last seen');
	const last = (await s.next('event')).seq;
	await s.close();
	const bodies = Array.from({ length: 500 }, (_, i) => `missed ${i}`);
	await pool(bodies, 8, async (b) => assert.equal((await note(b)).status, 201));
	assert.equal(await currentSeq(t.a.owner), last + 500);
	const r = await agentSocket(hub.url, { cookie: t.a.agent.cookie, lastSeq: last });
	const w = await r.next('welcome');
	assert.equal(w.resume, 'ok');
	assert.equal(w.seq, last + 500);
	for (let i = 1; i <= 500; i++) {
		const ev = await r.next('event', 10000);
		assert.equal(ev.seq, last + i, 'no gap, no duplicate');
	}
	const got = r.events().map((e) => e.data.body);
	assert.deepEqual([...got].sort(), [...bodies].sort(), 'exactly the missed notes');
	// the store's order is the socket's order
	const log = await t.a.owner.api('GET', `/api/v1/events?after=${last}&limit=1000`);
	assert.deepEqual(r.events().map((e) => [e.seq, e.data.id]), log.json.events.map((e) => [e.seq, e.data.id]));
	await note('live after resume');
	const live = await r.next('event');
	assert.equal(live.seq, last + 501);
	assert.equal(live.data.body, 'live after resume');
	await r.close();
});

test('last_seq in the future or more than 10,000 behind: resume "reload", then only live events', async () => {
	const seq = await currentSeq(t.a.owner);
	const f = await agentSocket(hub.url, { cookie: t.a.agent.cookie, lastSeq: seq + 5 });
	const fw = await f.next('welcome');
	assert.equal(fw.resume, 'reload');
	assert.equal(fw.seq, seq);
	await note('after future hello');
	assert.equal((await f.next('event')).seq, seq + 1);
	await f.close();
	// a tenant with 10,001 events; a socket that last saw seq 0 must reload
	const big = await makeTenant(hub, 'Busy Co', [{ key: 'o', email: 'o@busy.test', role: 'owner' }]);
	const c = await big.a.o.api('POST', '/api/v1/contacts', { name: 'Busy' });
	const v = await big.a.o.api('POST', '/api/v1/conversations', { contact_id: c.json.id });
	const n = 10001 - 2;
	await pool(Array.from({ length: n }, (_, i) => i), 32, async (i) => {
		const r = await big.a.o.api('POST', `/api/v1/conversations/${v.json.id}/notes`, { body: `n${i}` });
		assert.equal(r.status, 201);
	});
	const bigSeq = await currentSeq(big.a.o);
	assert.equal(bigSeq, 10001);
	const old = await agentSocket(hub.url, { cookie: big.a.o.cookie, lastSeq: 0 });
	const ow = await old.next('welcome');
	assert.equal(ow.resume, 'reload');
	assert.equal(ow.seq, bigSeq);
	// exactly 10,000 behind is still replayed
	const edge = await agentSocket(hub.url, { cookie: big.a.o.cookie, lastSeq: 1 });
	assert.equal((await edge.next('welcome')).resume, 'ok');
	assert.equal((await edge.next('event')).seq, 2);
	edge.terminate();
	await big.a.o.api('POST', `/api/v1/conversations/${v.json.id}/notes`, { body: 'live' });
	const ev = await old.next('event');
	assert.equal(ev.seq, bigSeq + 1);
	assert.equal(ev.data.body, 'live');
	assert.equal(old.events().length, 1, 'no replay after a reload');
	await old.close();
});

test('presence: agents appear and disappear across sockets', async () => {
	const o = await agentSocket(hub.url, { cookie: t.a.owner.cookie });
	await o.next('welcome');
	let p = await o.next('presence');
	assert.ok(p.agents.some((a) => a.id === t.a.owner.id && a.online === true));
	const g = await agentSocket(hub.url, { cookie: t.a.agent.cookie });
	await g.next('welcome');
	p = await o.next((f) => f.type === 'presence' && f.agents.some((a) => a.id === t.a.agent.id));
	assert.deepEqual(p.agents.map((a) => a.id).sort(), [t.a.owner.id, t.a.agent.id].sort());
	const gp = await g.next('presence');
	assert.deepEqual(gp.agents.map((a) => a.id).sort(), [t.a.owner.id, t.a.agent.id].sort());
	// a second tab of the same agent does not change presence; closing one of two keeps it
	const g2 = await agentSocket(hub.url, { cookie: t.a.agent.cookie });
	await g2.next('welcome');
	await g2.close();
	await sleep(100);
	await g.close();
	p = await o.next((f) => f.type === 'presence' && !f.agents.some((a) => a.id === t.a.agent.id));
	assert.deepEqual(p.agents.map((a) => a.id), [t.a.owner.id]);
	await o.close();
});

test('typing and viewing are relayed to the other agent, not echoed to the sender', async () => {
	const o = await agentSocket(hub.url, { cookie: t.a.owner.cookie });
	const g = await agentSocket(hub.url, { cookie: t.a.agent.cookie });
	await o.next('welcome');
	await g.next('welcome');
	o.send({ type: 'typing', conversation_id: conv.id, on: true });
	const ty = await g.next('typing');
	assert.deepEqual(ty, { type: 'typing', conversation_id: conv.id, agent_id: t.a.owner.id, on: true });
	o.send({ type: 'typing', conversation_id: conv.id, on: false });
	assert.equal((await g.next('typing')).on, false);
	g.send({ type: 'viewing', conversation_id: conv.id });
	assert.deepEqual(await o.next('viewing'), { type: 'viewing', conversation_id: conv.id, agent_id: t.a.agent.id });
	o.send({ type: 'ping', id: 'sync' });
	await o.next('pong');
	assert.ok(!o.frames.some((f) => f.type === 'typing'), 'the sender gets no echo');
	assert.ok(!g.frames.some((f) => f.type === 'viewing'), 'the viewer gets no echo');
	await o.close();
	await g.close();
});

test('ping answers pong with the same id', async () => {
	const s = await agentSocket(hub.url, { cookie: t.a.owner.cookie });
	await s.next('welcome');
	for (const id of [1, 'abc', 12345678901, 0]) {
		s.send({ type: 'ping', id });
		assert.equal((await s.next('pong')).id, id);
	}
	s.send({ type: 'ping' });
	assert.equal((await s.next('pong')).id, null);
	await s.close();
});

test('read over the socket: ack with the id, and a conversation.read event for everyone', async () => {
	const o = await agentSocket(hub.url, { cookie: t.a.owner.cookie });
	const g = await agentSocket(hub.url, { cookie: t.a.agent.cookie });
	await o.next('welcome');
	await g.next('welcome');
	g.send({ type: 'read', id: 'r-1', conversation_id: conv.id });
	const ack = await g.next('ack');
	assert.equal(ack.id, 'r-1');
	for (const s of [o, g]) {
		const ev = await s.next((f) => f.type === 'event' && f.event === 'conversation.read');
		assert.deepEqual(ev.data, { conversation_id: conv.id, agent_id: t.a.agent.id });
	}
	g.send({ type: 'read', id: 'r-2', conversation_id: 999999 });
	const e = await g.next('error');
	assert.equal(e.id, 'r-2');
	assert.equal(e.code, 'not_found');
	assert.equal((await t.a.agent.api('GET', `/api/v1/conversations/${conv.id}`)).json.unread, 0);
	await o.close();
	await g.close();
});

test('SIGTERM: sockets close with 1001, hubd exits 0, committed writes survive', async () => {
	const s1 = await agentSocket(hub.url, { cookie: t.a.owner.cookie });
	const s2 = await agentSocket(hub.url, { apiKey: t.apiKey });
	await s1.next('welcome');
	await s2.next('welcome');
	const n = await note('just before the signal');
	assert.equal(n.status, 201);
	// an idle keep-alive HTTP connection keeps the drain going (up to 2 s)
	const idle = net.connect(hub.port, '127.0.0.1');
	await new Promise((res) => idle.once('connect', res));
	idle.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
	await new Promise((res) => idle.once('data', res));
	const exited = hub.stop('SIGTERM', 15000);
	await sleep(300);
	// while it drains, new connections are refused
	const refused = await new Promise((res) => {
		const c = net.connect(hub.port, '127.0.0.1');
		c.once('connect', () => { c.destroy(); res(false); });
		c.once('error', (e) => res(e.code === 'ECONNREFUSED'));
	});
	assert.ok(refused, 'a new connection during the drain is refused');
	const exit = await exited;
	idle.destroy();
	assert.deepEqual(exit, { code: 0, signal: null });
	// the closed listener is not polled any more (it used to spin on accept() = EINVAL)
	assert.doesNotMatch(hub.stderr(), /accept: errno/);
	assert.equal((await s1.closed).code, 1001);
	assert.equal((await s2.closed).code, 1001);
	await hub.restart();
	const m = await t.a.owner.api('GET', `/api/v1/conversations/${conv.id}/messages?limit=1`);
	assert.equal(m.json.messages[0].id, n.json.id);
});
