// SPDX-License-Identifier: MIT
// Tenant isolation: a unique string planted in tenant A (contact, note, canned response,
// settings, agent name) must never reach tenant B, whatever B tries with A's ids over REST
// or the WebSocket, as owner, agent, API key or anonymous. Everything B receives is kept and
// searched at the end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startHub } from '../lib/hub.mjs';
import { api, agentSocket, makeTenant, currentSeq, sleep } from '../lib/client.mjs';

const PLANT = `PLANTED${randomBytes(8).toString('hex')}`;
let hub, A, B, planted;
const seenByB = []; // every body, header block and frame B got
const bSockets = [];

// B's side of the conversation, recorded.
function recorded(sess) {
	return {
		...sess,
		api: async (m, p, body, opts) => {
			const r = await sess.api(m, p, body, opts);
			seenByB.push({ req: `${m} ${p}`, got: `${r.status} ${JSON.stringify(r.headers)} ${r.text}` });
			return r;
		},
	};
}
const anonB = recorded({ api: (m, p, b, o = {}) => api(m, p, b, { base: hub.url, ...o }) });

before(async () => {
	hub = await startHub({ env: { SB_PWHASH: 'min' } });
	A = await makeTenant(hub, 'Tenant A', undefined, { withKey: true });
	B = await makeTenant(hub, 'Tenant B', undefined, { withKey: true });
	const o = A.a.owner;
	const contact = await o.api('POST', '/api/v1/contacts', { name: `Name ${PLANT}`, phone: '+14155550101', email: `${PLANT.toLowerCase()}@a.test`, notes: `notes ${PLANT}` });
	assert.equal(contact.status, 201, contact.text);
	const conv = await o.api('POST', '/api/v1/conversations', { contact_id: contact.json.id });
	const note = await o.api('POST', `/api/v1/conversations/${conv.json.id}/notes`, { body: `note ${PLANT}`, client_id: `cid-${PLANT}` });
	assert.equal(note.status, 201);
	const canned = await o.api('POST', '/api/v1/canned-responses', { shortcut: 'planted', title: `t ${PLANT}`, body: `canned ${PLANT}` });
	assert.equal(canned.status, 201);
	const st = await o.api('PUT', '/api/v1/settings', { sms_help_text: `help ${PLANT}`, auto_reply: `auto ${PLANT}` });
	assert.equal(st.status, 200);
	const named = await o.api('PATCH', `/api/v1/agents/${A.a.agent.id}`, { name: `agent ${PLANT}` });
	assert.equal(named.status, 200);
	const asg = await o.api('POST', `/api/v1/conversations/${conv.json.id}/assign`, { agent_id: A.a.agent.id });
	assert.equal(asg.status, 200);
	planted = { contact: contact.json.id, conv: conv.json.id, note: note.json.id, canned: canned.json.id, agent: A.a.agent.id, owner: A.a.owner.id };
	// B has data of its own, so lists are not trivially empty
	const bc = await B.a.owner.api('POST', '/api/v1/contacts', { name: 'B contact' });
	const bv = await B.a.owner.api('POST', '/api/v1/conversations', { contact_id: bc.json.id });
	await B.a.owner.api('POST', `/api/v1/conversations/${bv.json.id}/notes`, { body: 'B note' });
	planted.bConv = bv.json.id;
});
after(async () => {
	for (const s of bSockets) s.terminate();
	await hub?.cleanup();
});

test('the planted string is really there for tenant A (the search below can find it)', async () => {
	const o = A.a.owner;
	for (const p of [`/api/v1/contacts/${planted.contact}`, `/api/v1/conversations/${planted.conv}/messages`, '/api/v1/canned-responses', '/api/v1/settings', '/api/v1/agents', '/api/v1/events?after=0']) {
		const r = await o.api('GET', p);
		assert.equal(r.status, 200, p);
		assert.ok(r.text.includes(PLANT), `${p} shows the plant to A`);
	}
	const s = await agentSocket(hub.url, { cookie: o.cookie, lastSeq: 0 });
	await s.next((f) => f.type === 'event' && JSON.stringify(f).includes(PLANT));
	await s.close();
});

function idRoutes(p) {
	return [
		['GET', `/api/v1/contacts/${p.contact}`],
		['PATCH', `/api/v1/contacts/${p.contact}`, { name: 'hijack' }],
		['GET', `/api/v1/conversations/${p.conv}`],
		['GET', `/api/v1/conversations/${p.conv}/messages`],
		['GET', `/api/v1/conversations/${p.conv}/messages?before=${p.note + 1}`],
		['POST', `/api/v1/conversations/${p.conv}/assign`, { agent_id: null }],
		['POST', `/api/v1/conversations/${p.conv}/status`, { status: 'closed' }],
		['POST', `/api/v1/conversations/${p.conv}/read`],
		['POST', `/api/v1/conversations/${p.conv}/notes`, { body: 'intrusion', client_id: `cid-${PLANT}` }],
		['GET', `/api/v1/agents/${p.agent}`],
		['GET', `/api/v1/agents/${p.owner}`],
	];
}
const adminIdRoutes = (p) => [
	['PATCH', `/api/v1/canned-responses/${p.canned}`, { body: 'hijack' }],
	['DELETE', `/api/v1/canned-responses/${p.canned}`],
	['PATCH', `/api/v1/agents/${p.agent}`, { active: false }],
	['PATCH', `/api/v1/agents/${p.agent}`, { name: 'hijack' }],
];

test("B's owner, agent and API key get 404 for every one of A's ids", async () => {
	const seqA = await currentSeq(A.a.owner);
	const callers = { owner: recorded(B.a.owner), agent: recorded(B.a.agent), key: recorded({ api: (m, p, b, o = {}) => api(m, p, b, { base: hub.url, apiKey: B.apiKey, ...o }) }) };
	for (const [who, c] of Object.entries(callers)) {
		for (const [m, p, body] of idRoutes(planted)) {
			const r = await c.api(m, p, body);
			if (who === 'key' && p.endsWith('/read')) {
				assert.equal(r.status, 400, `${who} ${m} ${p}: ${r.text}`); // agent_required comes first
				continue;
			}
			assert.equal(r.status, 404, `${who} ${m} ${p}: ${r.status} ${r.text}`);
			assert.equal(r.json.error.code, 'not_found');
		}
		for (const [m, p, body] of adminIdRoutes(planted)) {
			const r = await c.api(m, p, body);
			assert.equal(r.status, who === 'agent' ? 403 : 404, `${who} ${m} ${p}: ${r.status} ${r.text}`);
		}
		// B's own conversation cannot be given to A's agent, nor opened on A's contact
		const asg = await c.api('POST', `/api/v1/conversations/${planted.bConv}/assign`, { agent_id: planted.agent });
		assert.equal(asg.status, 400, `${who} assign to A's agent: ${asg.text}`);
		const conv = await c.api('POST', '/api/v1/conversations', { contact_id: planted.contact });
		assert.equal(conv.status, 404, `${who} conversation on A's contact: ${conv.text}`);
	}
	assert.equal(await currentSeq(A.a.owner), seqA, "nothing was written to A's log");
	const c = await A.a.owner.api('GET', `/api/v1/contacts/${planted.contact}`);
	assert.equal(c.json.name, `Name ${PLANT}`);
	const msgs = await A.a.owner.api('GET', `/api/v1/conversations/${planted.conv}/messages`);
	assert.equal(msgs.json.messages.length, 1);
	const ag = await A.a.owner.api('GET', `/api/v1/agents/${planted.agent}`);
	assert.equal(ag.json.active, true);
	const cv = await A.a.owner.api('GET', `/api/v1/conversations/${planted.conv}`);
	assert.equal(cv.json.status, 'open');
	assert.equal(cv.json.assignee_id, planted.agent);
});

test("B's lists, searches and event log show nothing of A", async () => {
	for (const c of [recorded(B.a.owner), recorded(B.a.agent)]) {
		for (const p of [
			'/api/v1/contacts', `/api/v1/contacts?q=${PLANT}`, '/api/v1/contacts?q=%2B1415555',
			'/api/v1/conversations', '/api/v1/conversations?status=all', `/api/v1/conversations?q=${PLANT}`,
			`/api/v1/conversations?assignee=${planted.agent}`, '/api/v1/canned-responses', '/api/v1/agents',
			'/api/v1/settings', '/api/v1/me', '/api/v1/events?after=0&limit=1000',
			`/api/v1/contacts?cursor=${planted.contact + 1}`,
		]) {
			const r = await c.api('GET', p);
			assert.equal(r.status, 200, `${p}: ${r.text}`);
		}
		const q = await c.api('GET', `/api/v1/contacts?q=${PLANT}`);
		assert.deepEqual(q.json.contacts, []);
		const cq = await c.api('GET', `/api/v1/conversations?q=${PLANT}`);
		assert.deepEqual(cq.json.conversations, []);
		const ev = await c.api('GET', '/api/v1/events?after=0&limit=1000');
		assert.equal(ev.json.seq, ev.json.events.length, "B's seq counts only B's events");
		assert.ok(ev.json.events.every((e) => ['contact.created', 'conversation.created', 'message.created', 'agent.updated', 'conversation.updated', 'contact.updated', 'conversation.read'].includes(e.event)));
		const agents = await c.api('GET', '/api/v1/agents');
		assert.deepEqual(agents.json.agents.map((a) => a.id).sort(), [B.a.owner.id, B.a.agent.id].sort());
	}
});

test('anonymous callers get 401 for every route, with or without A ids', async () => {
	for (const [m, p, body] of [...idRoutes(planted), ...adminIdRoutes(planted), ['GET', '/api/v1/events?after=0'], ['GET', '/api/v1/settings'], ['GET', '/api/v1/canned-responses'], ['GET', `/api/v1/contacts?q=${PLANT}`]]) {
		const r = await anonB.api(m, p, body);
		assert.equal(r.status, 401, `${m} ${p}: ${r.text}`);
	}
	// a cookie of one tenant with an API key header of the other: the key decides
	const r = await anonB.api('GET', `/api/v1/contacts/${planted.contact}`, null, { cookie: B.a.owner.cookie, apiKey: 'sbk_forged' });
	assert.equal(r.status, 401);
	await assert.rejects(agentSocket(hub.url, { hello: false }), (e) => e.status === 403);
});

test("B's sockets: replay, typing, viewing and read with A's ids get errors; A's live events never arrive", async () => {
	const sOwner = await agentSocket(hub.url, { cookie: B.a.owner.cookie, lastSeq: 0 });
	const sAgent = await agentSocket(hub.url, { cookie: B.a.agent.cookie, lastSeq: 0 });
	const sKey = await agentSocket(hub.url, { apiKey: B.apiKey, lastSeq: 0 });
	bSockets.push(sOwner, sAgent, sKey);
	const aSock = await agentSocket(hub.url, { cookie: A.a.owner.cookie });
	const wel = await sOwner.next('welcome');
	assert.equal(wel.tenant_id, B.tenantId);
	assert.equal(wel.seq, await currentSeq(B.a.owner));
	await sAgent.next('welcome');
	await sKey.next('welcome');
	await aSock.next('welcome');
	const pres = await sOwner.next('presence');
	for (const a of pres.agents) assert.ok([B.a.owner.id, B.a.agent.id].includes(a.id), `presence lists agent ${a.id}`);

	for (const [i, f] of [
		{ type: 'typing', conversation_id: planted.conv, on: true },
		{ type: 'viewing', conversation_id: planted.conv },
		{ type: 'read', conversation_id: planted.conv },
	].entries()) {
		sOwner.send({ ...f, id: `x${i}` });
		const e = await sOwner.next((fr) => fr.type === 'error' && fr.id === `x${i}`);
		assert.equal(e.code, 'not_found', JSON.stringify(e));
	}
	// A hears none of it
	const seqA = await currentSeq(A.a.owner);
	// A writes more planted data while B listens
	const n2 = await A.a.owner.api('POST', `/api/v1/conversations/${planted.conv}/notes`, { body: `live ${PLANT}` });
	assert.equal(n2.status, 201);
	await A.a.owner.api('PATCH', `/api/v1/contacts/${planted.contact}`, { notes: `live notes ${PLANT}` });
	await A.a.owner.api('POST', `/api/v1/conversations/${planted.conv}/status`, { status: 'pending' });
	const seen = await aSock.next((f) => f.type === 'event' && f.event === 'conversation.updated');
	assert.equal(seen.data.status, 'pending');
	assert.equal(await currentSeq(A.a.owner), seqA + 3);
	assert.ok(aSock.frames.every((f) => f.type !== 'typing' && f.type !== 'viewing'), 'no typing/viewing from B reached A');
	// B writes something too: its own sockets get it, proving they are live
	await B.a.owner.api('POST', `/api/v1/conversations/${planted.bConv}/notes`, { body: 'B live' });
	for (const s of [sOwner, sAgent, sKey]) await s.next((f) => f.type === 'event' && f.data?.body === 'B live');
	await sleep(200);
	await aSock.close();
	for (const s of [sOwner, sAgent, sKey]) {
		for (const f of s.frames) if (f.type === 'event') assert.ok(f.seq <= (await currentSeq(B.a.owner)));
		seenByB.push(...s.frames.map((f) => ({ req: 'socket frame', got: JSON.stringify(f) })));
	}
});

test('nothing B ever received contains the planted string', () => {
	assert.ok(seenByB.length > 100, `collected ${seenByB.length} answers and frames`);
	// only what B received is searched: B's own requests name the plant in searches
	const leaks = seenByB.filter((s) => s.got.toLowerCase().includes(PLANT.toLowerCase()));
	assert.deepEqual(leaks, []);
});
