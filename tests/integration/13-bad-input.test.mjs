// SPDX-License-Identifier: MIT
// Hostile and broken input: malformed, deep, wide, huge or non-UTF-8 JSON, unknown fields,
// wrong content types, and WebSocket frames that are too big, binary, invalid or a flood.
// Each gets a clear 4xx or close code, the hub stays healthy, and nothing is written.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub } from '../lib/hub.mjs';
import { api, agentSocket, makeTenant, currentSeq, sleep } from '../lib/client.mjs';

let hub, t, conv, contact, seq0;
const closedWithin = (s, ms = 5000) => Promise.race([s.closed, new Promise((res) => setTimeout(() => res({ code: 'timeout' }), ms))]);

before(async () => {
	hub = await startHub({ env: { SB_PWHASH: 'min' } });
	t = await makeTenant(hub, 'Bad Input Co');
	contact = (await t.a.owner.api('POST', '/api/v1/contacts', { name: 'Target' })).json;
	conv = (await t.a.owner.api('POST', '/api/v1/conversations', { contact_id: contact.id })).json;
	seq0 = await currentSeq(t.a.owner);
});
after(async () => {
	await hub?.cleanup();
});

const writeRoutes = () => [
	['POST', '/api/v1/contacts'],
	['PATCH', `/api/v1/contacts/${contact.id}`],
	['POST', `/api/v1/conversations/${conv.id}/notes`],
	['POST', `/api/v1/conversations/${conv.id}/status`],
	['PUT', '/api/v1/settings'],
	['POST', '/api/v1/canned-responses'],
	['POST', '/api/v1/agents'],
];

function raw(method, path, body, contentType = 'application/json') {
	return t.a.owner.api(method, path, null, { rawBody: body, contentType });
}

test('malformed JSON is 400 malformed_json on every write route', async () => {
	for (const [m, p] of writeRoutes()) {
		for (const body of ['{', '{"body":}', '{"body":"x",}', "{'body':'x'}", '[]', '"just a string"', '42', 'null', '{"body":"x"} trailing', '']) {
			const r = await raw(m, p, body);
			assert.equal(r.status, 400, `${m} ${p} ${JSON.stringify(body)}: ${r.status} ${r.text}`);
			assert.equal(r.json.error.code, 'malformed_json', `${m} ${p} ${JSON.stringify(body)}`);
		}
	}
	for (const p of ['/api/v1/auth/login', '/api/v1/auth/accept-invite']) {
		const r = await api('POST', p, null, { base: hub.url, rawBody: '{"email":', contentType: 'application/json' });
		assert.equal(r.status, 400, p);
		assert.equal(r.json.error.code, 'malformed_json');
	}
});

test('an empty body (Content-Length: 0) on PATCH, PUT and DELETE is answered, not left hanging', async () => {
	for (const [m, p, want] of [['PATCH', `/api/v1/contacts/${contact.id}`, 400], ['PUT', '/api/v1/settings', 400], ['DELETE', '/api/v1/canned-responses/999999', 404]]) {
		// regression: these used to wait for a body until the 20 s timeout
		const r = await t.a.owner.api(m, p, null, { rawBody: '', contentType: 'application/json', timeoutMs: 3000 })
			.catch((e) => ({ status: `no answer: ${e.message}` }));
		assert.equal(r.status, want, `${m} ${p}`);
	}
});

test('JSON nested 100,000 deep and JSON with too many nodes are 413', async () => {
	const deep = '['.repeat(100000) + ']'.repeat(100000);
	const deepObj = '{"body":' + '['.repeat(100000) + ']'.repeat(100000) + '}';
	const wide = JSON.stringify({ body: 'x', client_id: Array.from({ length: 20001 }, () => 0) });
	for (const body of [deep, deepObj, wide]) {
		const r = await raw('POST', `/api/v1/conversations/${conv.id}/notes`, body);
		assert.equal(r.status, 413, `${body.length} bytes: ${r.status} ${r.text}`);
		assert.equal(r.json.error.code, 'too_big');
	}
	// 32 levels are fine for the parser; the route then refuses the field itself
	const ok = await raw('POST', `/api/v1/conversations/${conv.id}/notes`, JSON.stringify({ body: 'x', extra: JSON.parse('['.repeat(30) + ']'.repeat(30)) }));
	assert.equal(ok.status, 400);
	assert.equal(ok.json.error.code, 'unknown_field');
	const login = await api('POST', '/api/v1/auth/login', null, { base: hub.url, rawBody: deep, contentType: 'application/json' });
	assert.equal(login.status, 413);
});

test('a 2 MiB body is 413 and the connection is closed', async () => {
	const big = JSON.stringify({ body: 'x'.repeat(2 * 1024 * 1024) });
	for (const [m, p] of [['POST', `/api/v1/conversations/${conv.id}/notes`], ['POST', '/api/v1/auth/login']]) {
		const r = await api(m, p, null, { base: hub.url, cookie: t.a.owner.cookie, csrf: t.a.owner.csrf, rawBody: big, contentType: 'application/json', timeoutMs: 20000 });
		assert.equal(r.status, 413, `${p}: ${r.status} ${r.text.slice(0, 200)}`);
		assert.equal(r.json.error.code, 'too_big');
		assert.equal(r.headers.connection, 'close');
	}
	// just over the 256 KiB cap, and just under
	const over = JSON.stringify({ body: 'x'.repeat(256 * 1024) });
	assert.equal((await raw('POST', `/api/v1/conversations/${conv.id}/notes`, over)).status, 413);
	const under = JSON.stringify({ name: 'x', notes: 'y'.repeat(4000) });
	assert.equal((await raw('POST', '/api/v1/contacts', under)).status, 201, 'a normal body still works');
	seq0 = await currentSeq(t.a.owner);
});

test('invalid UTF-8 in a JSON string is 400', async () => {
	for (const bytes of [[0xff], [0xfe], [0x80], [0xc3, 0x28], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80]]) {
		const body = Buffer.concat([Buffer.from('{"body":"a'), Buffer.from(bytes), Buffer.from('b"}')]);
		const r = await raw('POST', `/api/v1/conversations/${conv.id}/notes`, body);
		assert.equal(r.status, 400, `bytes ${bytes.map((b) => b.toString(16))}: ${r.status} ${r.text}`);
		assert.equal(r.json.error.code, 'malformed_json');
	}
	// a NUL inside a string is refused too
	const nul = await raw('POST', '/api/v1/contacts', '{"name":"a\\u0000b"}');
	assert.equal(nul.status, 400);
});

test('overlong, surrogate and out-of-range UTF-8 is refused and never reaches a socket', async () => {
	// regression: yajl alone accepted these, and the stored text then failed every agent's
	// socket (1007). Its own tenant, so a regression does not disturb the other tests.
	const u = await makeTenant(hub, 'Utf8 Co');
	const c = (await u.a.owner.api('POST', '/api/v1/contacts', { name: 'Bytes' })).json;
	const v = (await u.a.owner.api('POST', '/api/v1/conversations', { contact_id: c.id })).json;
	const s = await agentSocket(hub.url, { cookie: u.a.agent.cookie });
	await s.next('welcome');
	const accepted = [];
	for (const bytes of [[0xc0, 0xaf], [0xc1, 0xbf], [0xe0, 0x80, 0xaf], [0xf0, 0x80, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80]]) {
		const body = Buffer.concat([Buffer.from('{"body":"a'), Buffer.from(bytes), Buffer.from('b"}')]);
		const r = await u.a.owner.api('POST', `/api/v1/conversations/${v.id}/notes`, null, { rawBody: body, contentType: 'application/json' });
		if (r.status !== 400) accepted.push(`${bytes.map((b) => b.toString(16)).join(' ')} -> ${r.status}`);
	}
	s.send({ type: 'ping', id: 'after' });
	const pong = await s.next('pong', 2000).catch((e) => e);
	const closed = await closedWithin(s, 100);
	assert.deepEqual(accepted, [], 'every invalid sequence is a 400');
	assert.ok(!(pong instanceof Error), `the agent's socket survived (closed: ${JSON.stringify(closed)})`);
	await s.close();
});

test('unknown fields are 400 unknown_field, naming the field', async () => {
	const cases = [
		['POST', '/api/v1/contacts', { name: 'x', tenant_id: 2 }],
		['PATCH', `/api/v1/contacts/${contact.id}`, { id: 5 }],
		['POST', '/api/v1/conversations', { contact_id: contact.id, tenant_id: 1 }],
		['POST', `/api/v1/conversations/${conv.id}/notes`, { body: 'x', author_agent_id: 1 }],
		['POST', `/api/v1/conversations/${conv.id}/assign`, { agent_id: null, force: true }],
		['POST', `/api/v1/conversations/${conv.id}/status`, { status: 'open', why: 'x' }],
		['PUT', '/api/v1/settings', { sms_help_text: 'x', owner: 'me' }],
		['POST', '/api/v1/canned-responses', { shortcut: 'a', body: 'b', id: 1 }],
		['POST', '/api/v1/agents', { email: 'u@x.test', role: 'agent', password: 'x' }],
		['PATCH', `/api/v1/agents/${t.a.agent.id}`, { email: 'new@x.test' }],
	];
	for (const [m, p, b] of cases) {
		const r = await t.a.owner.api(m, p, b);
		assert.equal(r.status, 400, `${m} ${p}: ${r.text}`);
		assert.equal(r.json.error.code, 'unknown_field');
		const field = Object.keys(b).find((k) => r.json.error.message.includes(`"${k}"`));
		assert.ok(field, `the message names the field: ${r.json.error.message}`);
	}
});

test('a wrong or missing Content-Type is 415', async () => {
	const body = JSON.stringify({ name: 'typed' });
	for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', null]) {
		for (const [m, p] of writeRoutes()) {
			const r = await t.a.owner.api(m, p, null, { rawBody: body, contentType: ct ?? undefined });
			assert.equal(r.status, 415, `${m} ${p} with ${ct}: ${r.status} ${r.text}`);
			assert.equal(r.json.error.code, 'unsupported_media_type');
		}
	}
	const withCharset = await raw('POST', '/api/v1/contacts', body, 'application/json; charset=utf-8');
	assert.equal(withCharset.status, 201, 'a charset parameter is fine');
	seq0 = await currentSeq(t.a.owner);
});

test('WebSocket: a frame over 64 KiB closes with 1009', async () => {
	const s = await agentSocket(hub.url, { cookie: t.a.owner.cookie });
	await s.next('welcome');
	s.send({ type: 'ping', id: 'x'.repeat(70 * 1024) });
	const c = await closedWithin(s);
	assert.equal(c.code, 1009, JSON.stringify(c));
	// just under the cap is answered
	const s2 = await agentSocket(hub.url, { cookie: t.a.owner.cookie });
	await s2.next('welcome');
	s2.send({ type: 'ping', id: 1, pad: 'y'.repeat(60 * 1024) });
	assert.equal((await s2.next('pong')).id, 1);
	await s2.close();
});

test('WebSocket: a binary frame closes with 1003; invalid UTF-8 text closes with 1007', async () => {
	const s = await agentSocket(hub.url, { cookie: t.a.owner.cookie });
	await s.next('welcome');
	s.raw(Buffer.from('{"type":"ping","id":1}'), { binary: true });
	assert.equal((await closedWithin(s)).code, 1003);
	const s2 = await agentSocket(hub.url, { cookie: t.a.owner.cookie });
	await s2.next('welcome');
	// ws refuses to send invalid UTF-8 as text; write the frame by hand (masked, FIN, opcode 1)
	const payload = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
	const mask = Buffer.from([1, 2, 3, 4]);
	const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))]);
	s2.ws._socket.write(frame);
	assert.equal((await closedWithin(s2)).code, 1007);
});

test('WebSocket: bad frames get error frames and the socket stays open', async () => {
	const s = await agentSocket(hub.url, { cookie: t.a.owner.cookie, hello: false });
	s.send({ type: 'ping', id: 'early' });
	assert.equal((await s.next('error')).code, 'hello_first');
	s.send({ type: 'hello', last_seq: 'yesterday' });
	assert.equal((await s.next('error')).code, 'invalid');
	s.send({ type: 'hello', last_seq: null });
	await s.next('welcome');
	for (const [frame, code] of [['{not json', 'malformed_json'], ['[1,2]', 'malformed_json'], ['{"id":3}', 'invalid'], ['{"type":"explode","id":4}', 'unknown_type'], ['{"type":"hello","last_seq":null}', 'invalid'], ['{"type":"read","id":5}', 'invalid'], ['{"type":"typing","id":6,"conversation_id":999999,"on":true}', 'not_found']]) {
		s.raw(frame);
		const e = await s.next('error');
		assert.equal(e.code, code, frame);
	}
	s.send({ type: 'ping', id: 'alive' });
	assert.equal((await s.next('pong')).id, 'alive');
	await s.close();
});

test('WebSocket: a flood gets rate_limited errors, then close 1008', async () => {
	const s = await agentSocket(hub.url, { cookie: t.a.owner.cookie });
	await s.next('welcome');
	// viewing frames produce no answer to the sender, so every answer is about the rate.
	// 200 frames a second, paced so the hub has read everything when it closes (a close
	// with unread bytes is a TCP reset, 1006, not the 1008 under test).
	for (let i = 0; i < 500 && s.ws.readyState === 1; i++) {
		s.send({ type: 'viewing', conversation_id: null });
		await sleep(5);
	}
	const c = await closedWithin(s);
	assert.equal(c.code, 1008, JSON.stringify(c));
	const errs = s.frames.filter((f) => f.type === 'error');
	assert.ok(errs.length >= 1, `rate_limited errors before the close: ${JSON.stringify(s.frames.slice(0, 5))}`);
	assert.ok(errs.every((e) => e.code === 'rate_limited'), JSON.stringify(errs[0]));
	// a polite client on another socket is unaffected
	const p = await agentSocket(hub.url, { cookie: t.a.owner.cookie });
	await p.next('welcome');
	for (let i = 0; i < 10; i++) p.send({ type: 'ping', id: i });
	for (let i = 0; i < 10; i++) assert.equal((await p.next('pong')).id, i);
	assert.ok(!p.frames.some((f) => f.type === 'error'));
	await p.close();
});

test('afterwards: /healthz is 200 and nothing was written', async () => {
	assert.equal((await api('GET', '/healthz', null, { base: hub.url })).status, 200);
	assert.equal(await currentSeq(t.a.owner), seq0);
	const msgs = await t.a.owner.api('GET', `/api/v1/conversations/${conv.id}/messages`);
	assert.deepEqual(msgs.json.messages, []);
	const c = await t.a.owner.api('GET', `/api/v1/contacts/${contact.id}`);
	assert.equal(c.json.name, 'Target');
	assert.equal(hub.proc.exitCode, null, 'hubd is still running');
});
