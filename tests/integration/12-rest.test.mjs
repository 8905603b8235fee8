// SPDX-License-Identifier: MIT
// The REST API route by route: success shapes, failure answers (404, 400, 405, 409),
// cursor pagination without duplicates or gaps, list filters, snooze wake-up, note
// idempotency by client_id, and unread counts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startHub } from '../lib/hub.mjs';
import { api, agentSocket, makeTenant, currentSeq, pool, sleep } from '../lib/client.mjs';

let hub, t;
let hasSqlite3 = true;
try {
	execFileSync('sqlite3', ['-version'], { stdio: 'ignore' });
} catch {
	hasSqlite3 = false;
}

before(async () => {
	hub = await startHub({ env: { SB_PWHASH: 'min' } });
	t = await makeTenant(hub, 'Rest Co');
});
after(async () => {
	await hub?.cleanup();
});

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// Follows next_cursor until null; returns every item and the number of pages.
async function pages(sess, path, key, param = 'cursor') {
	const all = [];
	let cursor = null, n = 0;
	do {
		const sep = path.includes('?') ? '&' : '?';
		const r = await sess.api('GET', cursor ? `${path}${sep}${param}=${encodeURIComponent(cursor)}` : path);
		assert.equal(r.status, 200, r.text);
		all.push(...r.json[key]);
		cursor = r.json.next_cursor;
		if (++n > 100) throw new Error('pagination does not end');
	} while (cursor !== null);
	return { all, pages: n };
}

test('contacts: create, get, patch, search; validation, 404, 405, 409', async () => {
	const o = t.a.owner;
	const c = await o.api('POST', '/api/v1/contacts', { name: 'Zoë Adams', phone: '+14155550123', email: 'zoe@example.test', notes: 'VIP' });
	assert.equal(c.status, 201, c.text);
	assert.equal(c.json.name, 'Zoë Adams');
	assert.equal(c.json.phone, '+14155550123');
	assert.match(c.json.created_at, ISO);
	assert.deepEqual(c.json.identities, [{ kind: 'phone', address: '+14155550123' }]);
	assert.deepEqual(c.json.conversations, []);
	const g = await o.api('GET', `/api/v1/contacts/${c.json.id}`);
	assert.deepEqual(g.json, c.json);
	const p = await o.api('PATCH', `/api/v1/contacts/${c.json.id}`, { notes: 'VIP, prefers SMS', phone: '+14155550124' });
	assert.equal(p.status, 200);
	assert.equal(p.json.name, 'Zoë Adams', 'fields not sent are kept');
	assert.equal(p.json.notes, 'VIP, prefers SMS');
	assert.deepEqual(p.json.identities, [{ kind: 'phone', address: '+14155550124' }]);
	for (const q of ['Zo%C3%AB', 'zoe%40example', '1415555012']) {
		const s = await o.api('GET', `/api/v1/contacts?q=${q}`);
		assert.deepEqual(s.json.contacts.map((x) => x.id), [c.json.id], q);
	}
	assert.deepEqual((await o.api('GET', '/api/v1/contacts?q=nobody-like-this')).json.contacts, []);
	// LIKE wildcards are literal
	assert.deepEqual((await o.api('GET', '/api/v1/contacts?q=_')).json.contacts, []);
	const dup = await o.api('POST', '/api/v1/contacts', { name: 'Other', phone: '+14155550124' });
	assert.equal(dup.status, 409);
	assert.equal(dup.json.error.code, 'conflict');
	for (const [body, code] of [
		[{ phone: '4155550123' }, 'invalid'], [{ phone: '+1415abc' }, 'invalid'], [{ email: 'no-at' }, 'invalid'],
		[{ name: 'x'.repeat(201) }, 'too_long'], [{ name: 42 }, 'invalid'], [{ nickname: 'x' }, 'unknown_field'],
	]) {
		const r = await o.api('POST', '/api/v1/contacts', body);
		assert.equal(r.status, 400, JSON.stringify(body));
		assert.equal(r.json.error.code, code, JSON.stringify(body));
	}
	for (const path of ['/api/v1/contacts/999999', '/api/v1/contacts/abc', '/api/v1/contacts/0', '/api/v1/contacts/-1']) {
		const r = await o.api('GET', path);
		assert.equal(r.status, 404, path);
		assert.equal(r.json.error.code, 'not_found');
	}
	assert.equal((await o.api('PATCH', '/api/v1/contacts/999999', { name: 'x' })).status, 404);
	assert.equal((await o.api('DELETE', `/api/v1/contacts/${c.json.id}`)).status, 405);
	assert.equal((await o.api('PUT', '/api/v1/contacts', { name: 'x' })).status, 405);
	for (const l of ['0', '201', 'abc', '-5']) assert.equal((await o.api('GET', `/api/v1/contacts?limit=${l}`)).status, 400, `limit=${l}`);
});

test('search: a percent-encoded query is decoded once (q=%2B1415... finds +1415...)', async () => {
	const o = t.a.owner;
	const c = await o.api('POST', '/api/v1/contacts', { name: 'Plus 50% Person', phone: '+14155550777' });
	assert.equal(c.status, 201);
	const v = await o.api('POST', '/api/v1/conversations', { contact_id: c.json.id });
	assert.equal(v.status, 201);
	const byPhone = await o.api('GET', `/api/v1/contacts?q=${encodeURIComponent('+14155550777')}`);
	assert.deepEqual(byPhone.json.contacts.map((x) => x.id), [c.json.id], 'contacts by E.164 phone');
	const convs = await o.api('GET', `/api/v1/conversations?q=${encodeURIComponent('+14155550777')}`);
	assert.deepEqual(convs.json.conversations.map((x) => x.id), [v.json.id], 'conversations by E.164 phone');
	// "%25" is a literal percent sign: "%2525" must search for "%25", which matches nothing,
	// and a lone "%" matches only names with a percent sign (LIKE wildcards are escaped)
	const twice = await o.api('GET', `/api/v1/contacts?q=${encodeURIComponent('50%25')}`);
	assert.deepEqual(twice.json.contacts, []);
	const pct = await o.api('GET', `/api/v1/contacts?q=${encodeURIComponent('%')}`);
	assert.deepEqual(pct.json.contacts.map((x) => x.id), [c.json.id]);
});

test('contacts: pagination over 130 contacts has no duplicates or gaps', async () => {
	const pg = await makeTenant(hub, 'Contact Pager', [{ key: 'o', email: 'o@contact-pager.test', role: 'owner' }]);
	const made = await pool(Array.from({ length: 130 }, (_, i) => i), 16, async (i) => {
		const r = await pg.a.o.api('POST', '/api/v1/contacts', { name: `Person ${i}` });
		assert.equal(r.status, 201);
		return r.json.id;
	});
	const { all, pages: n } = await pages(pg.a.o, '/api/v1/contacts?limit=50', 'contacts');
	assert.equal(n, 3);
	const ids = all.map((c) => c.id);
	assert.equal(new Set(ids).size, ids.length, 'no duplicates');
	assert.deepEqual([...ids].sort((a, b) => a - b), [...made].sort((a, b) => a - b), 'no gaps');
	assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
});

test('conversations: create, get, validation and 404s', async () => {
	const o = t.a.owner;
	const c = await o.api('POST', '/api/v1/contacts', { name: 'Conv Person' });
	const v = await o.api('POST', '/api/v1/conversations', { contact_id: c.json.id, channel_id: 7 });
	assert.equal(v.status, 201, v.text);
	assert.equal(v.json.status, 'open');
	assert.equal(v.json.channel_id, 7);
	assert.equal(v.json.assignee_id, null);
	assert.equal(v.json.last_message, null);
	assert.deepEqual(v.json.contact, { id: c.json.id, name: 'Conv Person', phone: '' });
	const g = await o.api('GET', `/api/v1/conversations/${v.json.id}`);
	assert.equal(g.json.unread, 0);
	assert.equal(g.json.id, v.json.id);
	for (const [body, status] of [[{}, 400], [{ contact_id: '1' }, 400], [{ contact_id: 1.5 }, 400], [{ contact_id: -1 }, 400], [{ contact_id: 999999 }, 404], [{ contact_id: c.json.id, topic: 'x' }, 400]]) {
		const r = await o.api('POST', '/api/v1/conversations', body);
		assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
	}
	const vid = v.json.id;
	for (const [m, p, b] of [
		['GET', '/api/v1/conversations/999999'], ['GET', '/api/v1/conversations/x'],
		['GET', '/api/v1/conversations/999999/messages'], ['POST', '/api/v1/conversations/999999/assign', { agent_id: null }],
		['POST', '/api/v1/conversations/999999/status', { status: 'closed' }], ['POST', '/api/v1/conversations/999999/read'],
		['POST', '/api/v1/conversations/999999/notes', { body: 'x' }], ['POST', `/api/v1/conversations/${vid}/frobnicate`, {}],
		['GET', `/api/v1/conversations/${vid}/notes/1`],
	]) {
		const r = await o.api(m, p, b);
		assert.equal(r.status, 404, `${m} ${p}: ${r.text}`);
	}
	assert.equal((await o.api('DELETE', `/api/v1/conversations/${vid}`)).status, 405);
	assert.equal((await o.api('GET', `/api/v1/conversations/${vid}/assign`)).status, 405);
});

test('assign and status: success, unassign, validation', async () => {
	const o = t.a.owner;
	const c = await o.api('POST', '/api/v1/contacts', { name: 'Assign Person' });
	const v = (await o.api('POST', '/api/v1/conversations', { contact_id: c.json.id })).json;
	const a = await o.api('POST', `/api/v1/conversations/${v.id}/assign`, { agent_id: t.a.agent.id });
	assert.equal(a.status, 200);
	assert.equal(a.json.assignee_id, t.a.agent.id);
	const u = await o.api('POST', `/api/v1/conversations/${v.id}/assign`, { agent_id: null });
	assert.equal(u.json.assignee_id, null);
	for (const [b, code] of [[{}, 'invalid'], [{ agent_id: 999999 }, 'invalid'], [{ agent_id: 'me' }, 'invalid'], [{ agent_id: 1, x: 1 }, 'unknown_field']]) {
		const r = await o.api('POST', `/api/v1/conversations/${v.id}/assign`, b);
		assert.equal(r.status, 400, JSON.stringify(b));
		assert.equal(r.json.error.code, code, JSON.stringify(b));
	}
	const soon = new Date(Date.now() + 3600e3).toISOString();
	for (const b of [
		{}, { status: 'done' }, { status: 'snoozed' }, { status: 'snoozed', snoozed_until: 'tomorrow' },
		{ status: 'snoozed', snoozed_until: new Date(Date.now() - 60e3).toISOString() }, { status: 'open', snoozed_until: soon }, { status: 3 },
	]) {
		const r = await o.api('POST', `/api/v1/conversations/${v.id}/status`, b);
		assert.equal(r.status, 400, `${JSON.stringify(b)}: ${r.text}`);
	}
	for (const s of ['pending', 'closed', 'open']) {
		const r = await o.api('POST', `/api/v1/conversations/${v.id}/status`, { status: s });
		assert.equal(r.status, 200);
		assert.equal(r.json.status, s);
		assert.equal(r.json.snoozed_until, null);
	}
	const z = await o.api('POST', `/api/v1/conversations/${v.id}/status`, { status: 'snoozed', snoozed_until: soon });
	assert.equal(z.json.status, 'snoozed');
	assert.equal(z.json.snoozed_until, soon);
	const back = await o.api('POST', `/api/v1/conversations/${v.id}/status`, { status: 'open' });
	assert.equal(back.json.snoozed_until, null);
});

test('snooze: the conversation returns to open when snoozed_until passes, with an event', async () => {
	const o = t.a.owner;
	const c = await o.api('POST', '/api/v1/contacts', { name: 'Sleepy' });
	const v = (await o.api('POST', '/api/v1/conversations', { contact_id: c.json.id })).json;
	const s = await agentSocket(hub.url, { cookie: o.cookie });
	await s.next('welcome');
	const until = new Date(Date.now() + 1500).toISOString();
	const z = await o.api('POST', `/api/v1/conversations/${v.id}/status`, { status: 'snoozed', snoozed_until: until });
	assert.equal(z.status, 200, z.text);
	assert.equal((await o.api('GET', `/api/v1/conversations/${v.id}`)).json.status, 'snoozed');
	const ev = await s.next((f) => f.type === 'event' && f.event === 'conversation.updated' && f.data.id === v.id && f.data.status === 'open', 5000);
	assert.ok(Date.now() >= Date.parse(until), 'not woken early');
	assert.equal(ev.data.snoozed_until, null);
	const g = await o.api('GET', `/api/v1/conversations/${v.id}`);
	assert.equal(g.json.status, 'open');
	assert.equal(g.json.snoozed_until, null);
	await s.close();
});

test('snooze: 300 conversations waking at once each get their conversation.updated event', async () => {
	const z = await makeTenant(hub, 'Snooze Many', [{ key: 'o', email: 'o@snooze-many.test', role: 'owner' }]);
	const c = await z.a.o.api('POST', '/api/v1/contacts', { name: 'Many' });
	const ids = await pool(Array.from({ length: 300 }, (_, i) => i), 16, async () => (await z.a.o.api('POST', '/api/v1/conversations', { contact_id: c.json.id })).json.id);
	const until = new Date(Date.now() + 2500).toISOString();
	await pool(ids, 16, async (id) => {
		const r = await z.a.o.api('POST', `/api/v1/conversations/${id}/status`, { status: 'snoozed', snoozed_until: until });
		assert.equal(r.status, 200, r.text);
	});
	const seq0 = await currentSeq(z.a.o);
	await sleep(Math.max(0, Date.parse(until) - Date.now()) + 1500);
	const { all } = await pages(z.a.o, '/api/v1/conversations?status=snoozed&limit=200', 'conversations');
	assert.equal(all.length, 0, 'every conversation woke');
	const ev = await z.a.o.api('GET', `/api/v1/events?after=${seq0}&limit=1000`);
	const woke = new Set(ev.json.events.filter((e) => e.event === 'conversation.updated' && e.data.status === 'open').map((e) => e.data.id));
	assert.equal(woke.size, 300, `conversation.updated events for ${woke.size} of 300 woken conversations`);
});

test('conversations: pagination over 120 and filters status, assignee, channel, q', async () => {
	const pg = await makeTenant(hub, 'Conv Pager');
	const o = pg.a.o ?? pg.a.owner;
	const contacts = [];
	for (const name of ['Alice Filter', 'Bob Filter', 'Carol Filter']) contacts.push((await o.api('POST', '/api/v1/contacts', { name })).json.id);
	const made = await pool(Array.from({ length: 120 }, (_, i) => i), 16, async (i) => {
		const r = await o.api('POST', '/api/v1/conversations', { contact_id: contacts[i % 3], channel_id: i % 2 ? 11 : 22 });
		assert.equal(r.status, 201);
		return r.json;
	});
	const byIdx = (pred) => made.filter((_, i) => pred(i)).map((v) => v.id).sort((a, b) => a - b);
	// statuses: i%4==1 pending, i%4==2 closed; assignment: i%5==0 owner, i%5==1 agent
	await pool(made.map((v, i) => [v, i]), 16, async ([v, i]) => {
		if (i % 4 === 1) assert.equal((await o.api('POST', `/api/v1/conversations/${v.id}/status`, { status: 'pending' })).status, 200);
		if (i % 4 === 2) assert.equal((await o.api('POST', `/api/v1/conversations/${v.id}/status`, { status: 'closed' })).status, 200);
		if (i % 5 === 0) assert.equal((await o.api('POST', `/api/v1/conversations/${v.id}/assign`, { agent_id: o.id })).status, 200);
		if (i % 5 === 1) assert.equal((await o.api('POST', `/api/v1/conversations/${v.id}/assign`, { agent_id: pg.a.agent.id })).status, 200);
		if (i === 7) assert.equal((await o.api('POST', `/api/v1/conversations/${v.id}/notes`, { body: 'the secret word is xylophone' })).status, 201);
	});
	const ids = (xs) => xs.map((v) => v.id).sort((a, b) => a - b);
	const all = await pages(o, '/api/v1/conversations?limit=50', 'conversations');
	assert.equal(all.pages, 3);
	assert.equal(new Set(all.all.map((v) => v.id)).size, all.all.length, 'no duplicates');
	assert.deepEqual(ids(all.all), byIdx(() => true), 'no gaps');
	for (let i = 1; i < all.all.length; i++) {
		const [p, q] = [all.all[i - 1], all.all[i]];
		assert.ok(p.last_activity_at > q.last_activity_at || (p.last_activity_at === q.last_activity_at && p.id > q.id), 'ordered by activity, then id');
	}
	assert.equal(all.all[0].id, made[7].id, 'the conversation with a note is most recent');
	const small = await pages(o, '/api/v1/conversations?limit=7', 'conversations');
	assert.deepEqual(ids(small.all), byIdx(() => true));
	assert.equal(small.pages, Math.ceil(120 / 7));
	const f = async (q) => ids((await pages(o, `/api/v1/conversations?limit=200&${q}`, 'conversations')).all);
	assert.deepEqual(await f('status=pending'), byIdx((i) => i % 4 === 1));
	assert.deepEqual(await f('status=closed'), byIdx((i) => i % 4 === 2));
	assert.deepEqual(await f('status=open'), byIdx((i) => i % 4 === 0 || i % 4 === 3));
	assert.deepEqual(await f('status=all'), byIdx(() => true));
	assert.deepEqual(await f('assignee=me'), byIdx((i) => i % 5 === 0));
	assert.deepEqual(await f(`assignee=${pg.a.agent.id}`), byIdx((i) => i % 5 === 1));
	assert.deepEqual(await f('assignee=unassigned'), byIdx((i) => i % 5 > 1));
	assert.deepEqual(await f('assignee=all'), byIdx(() => true));
	assert.deepEqual(await f('channel=11'), byIdx((i) => i % 2 === 1));
	assert.deepEqual(await f('channel=11&status=pending&assignee=unassigned'), byIdx((i) => i % 2 === 1 && i % 4 === 1 && i % 5 > 1));
	assert.deepEqual(await f('q=Bob'), byIdx((i) => i % 3 === 1));
	assert.deepEqual(await f('q=xylophone'), byIdx((i) => i === 7));
	const agentMe = ids((await pages(pg.a.agent, '/api/v1/conversations?assignee=me&limit=200', 'conversations')).all);
	assert.deepEqual(agentMe, byIdx((i) => i % 5 === 1));
	// a filtered list paginates too
	const fp = await pages(o, '/api/v1/conversations?status=open&limit=9', 'conversations');
	assert.deepEqual(ids(fp.all), byIdx((i) => i % 4 === 0 || i % 4 === 3));
	for (const q of ['status=done', 'assignee=someone', 'channel=x', 'limit=0', 'limit=201', 'cursor=garbage', `q=${'q'.repeat(201)}`]) {
		const r = await o.api('GET', `/api/v1/conversations?${q}`);
		assert.equal(r.status, 400, `${q}: ${r.status}`);
		assert.equal(r.json.error.code, 'invalid');
	}
});

test('notes and messages: create, validation, client_id idempotency, pagination over 130', async () => {
	const o = t.a.owner;
	const c = await o.api('POST', '/api/v1/contacts', { name: 'Notes Person' });
	const v = (await o.api('POST', '/api/v1/conversations', { contact_id: c.json.id })).json;
	const n1 = await o.api('POST', `/api/v1/conversations/${v.id}/notes`, { body: 'first note', client_id: 'tab1-0001' });
	assert.equal(n1.status, 201, n1.text);
	assert.equal(n1.json.kind, 'note');
	assert.equal(n1.json.body, 'first note');
	assert.equal(n1.json.author_agent_id, o.id);
	assert.equal(n1.json.conversation_id, v.id);
	assert.equal(n1.json.client_id, 'tab1-0001');
	const seq = await currentSeq(o);
	const n2 = await o.api('POST', `/api/v1/conversations/${v.id}/notes`, { body: 'first note', client_id: 'tab1-0001' });
	assert.ok(n2.status === 200 || n2.status === 201, n2.text);
	assert.equal(n2.json.id, n1.json.id, 'the same client_id answers the same note');
	assert.equal(await currentSeq(o), seq, 'no second message.created event');
	let list = await o.api('GET', `/api/v1/conversations/${v.id}/messages`);
	assert.equal(list.json.messages.length, 1);
	// the same client_id elsewhere is a conflict, not a silent duplicate
	const other = (await o.api('POST', '/api/v1/conversations', { contact_id: c.json.id })).json;
	const n3 = await o.api('POST', `/api/v1/conversations/${other.id}/notes`, { body: 'x', client_id: 'tab1-0001' });
	assert.equal(n3.status, 409);
	for (const [b, code] of [[{}, 'invalid'], [{ body: '' }, 'invalid'], [{ body: 5 }, 'invalid'], [{ body: 'x'.repeat(10001) }, 'too_long'],
		[{ body: 'x', client_id: 'c'.repeat(65) }, 'too_long'], [{ body: 'x', kind: 'message' }, 'unknown_field']]) {
		const r = await o.api('POST', `/api/v1/conversations/${v.id}/notes`, b);
		assert.equal(r.status, 400, JSON.stringify(b).slice(0, 80));
		assert.equal(r.json.error.code, code);
	}
	const long = await o.api('POST', `/api/v1/conversations/${v.id}/notes`, { body: 'é'.repeat(10000) });
	assert.equal(long.status, 201, '10,000 characters (not bytes) is allowed');
	const g = await o.api('GET', `/api/v1/conversations/${v.id}`);
	assert.equal(g.json.last_message.id, long.json.id);
	assert.ok(Buffer.byteLength(g.json.last_message.body) <= 140, 'the preview is cut');
	// 130 messages in a fresh conversation, paged backwards with before=
	const w = (await o.api('POST', '/api/v1/conversations', { contact_id: c.json.id })).json;
	const made = [];
	for (let i = 0; i < 130; i += 10) {
		made.push(...(await Promise.all(Array.from({ length: 10 }, (_, k) => o.api('POST', `/api/v1/conversations/${w.id}/notes`, { body: `m${i + k}` })))).map((r) => r.json.id));
	}
	const { all, pages: n } = await pages(o, `/api/v1/conversations/${w.id}/messages?limit=50`, 'messages', 'before');
	assert.equal(n, 3);
	const got = all.map((m) => m.id);
	assert.equal(new Set(got).size, 130, 'no duplicates');
	assert.deepEqual([...got].sort((a, b) => a - b), [...made].sort((a, b) => a - b), 'no gaps');
	const first = await o.api('GET', `/api/v1/conversations/${w.id}/messages?limit=50`);
	const fids = first.json.messages.map((m) => m.id);
	assert.deepEqual(fids, [...fids].sort((a, b) => a - b), 'ascending within a page');
	assert.equal(fids[fids.length - 1], Math.max(...made), 'the first page holds the newest');
	assert.equal(first.json.next_cursor, String(fids[0]));
	for (const q of ['before=abc', 'before=0', 'limit=0', 'limit=999']) {
		const r = await o.api('GET', `/api/v1/conversations/${w.id}/messages?${q}`);
		assert.equal(r.status, 400, q);
	}
	list = await o.api('GET', `/api/v1/conversations/${w.id}/messages?before=${Math.min(...made)}`);
	assert.deepEqual(list.json, { messages: [], next_cursor: null });
});

test('read: unread counts inbound messages per agent and mark-read sets it to 0', { skip: !hasSqlite3 && 'needs the sqlite3 CLI to plant inbound messages' }, async () => {
	const o = t.a.owner, g = t.a.agent;
	const c = await o.api('POST', '/api/v1/contacts', { name: 'Unread Person', phone: '+14155550999' });
	const v = (await o.api('POST', '/api/v1/conversations', { contact_id: c.json.id })).json;
	// no channel bridge runs in this test: inbound messages are planted in the database
	const now = Date.now();
	const sql = [1, 2, 3].map((i) => `INSERT INTO messages(tenant_id, conversation_id, kind, direction, body, created_at, updated_at) VALUES (${t.tenantId}, ${v.id}, 0, 0, 'inbound ${i}', ${now}, ${now});`).join('');
	execFileSync('sqlite3', ['-cmd', '.timeout 5000', hub.dbPath, sql]);
	await o.api('POST', `/api/v1/conversations/${v.id}/notes`, { body: 'a note is not unread' });
	assert.equal((await o.api('GET', `/api/v1/conversations/${v.id}`)).json.unread, 3);
	assert.equal((await g.api('GET', `/api/v1/conversations/${v.id}`)).json.unread, 3);
	const s = await agentSocket(hub.url, { cookie: g.cookie });
	await s.next('welcome');
	const r = await o.api('POST', `/api/v1/conversations/${v.id}/read`);
	assert.equal(r.status, 204);
	assert.equal(r.text, '');
	const ev = await s.next((f) => f.type === 'event' && f.event === 'conversation.read');
	assert.deepEqual(ev.data, { conversation_id: v.id, agent_id: o.id });
	assert.equal((await o.api('GET', `/api/v1/conversations/${v.id}`)).json.unread, 0);
	const listed = (await o.api('GET', '/api/v1/conversations?q=Unread%20Person')).json.conversations[0];
	assert.equal(listed.unread, 0);
	assert.equal((await g.api('GET', `/api/v1/conversations/${v.id}`)).json.unread, 3, "another agent's count is its own");
	// a new inbound message is unread again
	execFileSync('sqlite3', ['-cmd', '.timeout 5000', hub.dbPath, `INSERT INTO messages(tenant_id, conversation_id, kind, direction, body, created_at, updated_at) VALUES (${t.tenantId}, ${v.id}, 0, 0, 'inbound 4', ${now}, ${now});`]);
	assert.equal((await o.api('GET', `/api/v1/conversations/${v.id}`)).json.unread, 1);
	await s.close();
});

test('canned responses: create, list, patch, delete and their failures', async () => {
	const o = t.a.owner, ad = t.a.admin ?? o;
	const c = await ad.api('POST', '/api/v1/canned-responses', { shortcut: 'thanks', title: 'Thanks', body: 'Thank you for writing!' });
	assert.equal(c.status, 201, c.text);
	assert.deepEqual({ ...c.json, id: 0, created_at: 0 }, { id: 0, shortcut: 'thanks', title: 'Thanks', body: 'Thank you for writing!', created_at: 0 });
	await o.api('POST', '/api/v1/canned-responses', { shortcut: 'addr', body: 'We are at 1 Main St.' });
	const l = await o.api('GET', '/api/v1/canned-responses');
	const sc = l.json.canned_responses.map((x) => x.shortcut);
	assert.deepEqual(sc, [...sc].sort(), 'sorted by shortcut');
	assert.ok(sc.includes('thanks') && sc.includes('addr'));
	assert.equal((await o.api('POST', '/api/v1/canned-responses', { shortcut: 'thanks', body: 'again' })).status, 409);
	for (const b of [{ shortcut: 'Thanks!', body: 'x' }, { shortcut: 'a b', body: 'x' }, { shortcut: 'ok' }, { body: 'x' }, { shortcut: 's'.repeat(33), body: 'x' }, { shortcut: 'ok', body: 'x'.repeat(2001) }, { shortcut: 'ok', body: 'x', tags: [] }]) {
		const r = await o.api('POST', '/api/v1/canned-responses', b);
		assert.equal(r.status, 400, JSON.stringify(b).slice(0, 80));
	}
	const p = await o.api('PATCH', `/api/v1/canned-responses/${c.json.id}`, { body: 'Thanks a lot!' });
	assert.equal(p.status, 200);
	assert.equal(p.json.body, 'Thanks a lot!');
	assert.equal(p.json.title, 'Thanks');
	assert.equal((await o.api('PATCH', `/api/v1/canned-responses/${c.json.id}`, { body: '' })).status, 400);
	assert.equal((await o.api('PATCH', `/api/v1/canned-responses/${c.json.id}`, { shortcut: 'addr' })).status, 409);
	assert.equal((await o.api('PATCH', '/api/v1/canned-responses/999999', { body: 'x' })).status, 404);
	const d = await o.api('DELETE', `/api/v1/canned-responses/${c.json.id}`);
	assert.equal(d.status, 204);
	assert.equal((await o.api('DELETE', `/api/v1/canned-responses/${c.json.id}`)).status, 404);
	assert.ok(!(await o.api('GET', '/api/v1/canned-responses')).json.canned_responses.some((x) => x.id === c.json.id));
	assert.equal((await o.api('GET', `/api/v1/canned-responses/${c.json.id}`)).status, 405);
});

test('agents, settings, me, events, health and metrics', async () => {
	const o = t.a.owner;
	const ag = await o.api('GET', '/api/v1/agents');
	assert.deepEqual(ag.json.agents.map((a) => a.id), [o.id, t.a.agent.id]);
	assert.ok(ag.json.agents.every((a) => !('pw_hash' in a) && !('invite_hash' in a)));
	assert.equal((await o.api('GET', '/api/v1/agents/999999')).status, 404);
	const s = await o.api('PUT', '/api/v1/settings', { sms_help_text: 'Reply STOP to stop', auto_reply: 'Back soon', unified_threads: false });
	assert.equal(s.status, 200, s.text);
	assert.deepEqual(s.json, { sms_help_text: 'Reply STOP to stop', auto_reply: 'Back soon', unified_threads: false });
	assert.deepEqual((await o.api('GET', '/api/v1/settings')).json, s.json);
	assert.deepEqual((await o.api('GET', '/api/v1/me')).json.settings, s.json);
	for (const b of [{ unified_threads: 'yes' }, { sms_help_text: 'x'.repeat(321) }, { theme: 'dark' }, { auto_reply: 1 }]) {
		assert.equal((await o.api('PUT', '/api/v1/settings', b)).status, 400, JSON.stringify(b).slice(0, 60));
	}
	assert.equal((await o.api('PATCH', '/api/v1/settings', { auto_reply: 'x' })).status, 405);
	assert.deepEqual((await o.api('GET', '/api/v1/settings')).json, s.json, 'refused writes changed nothing');
	// events: seq and order
	const ev = await o.api('GET', '/api/v1/events?after=0&limit=1000');
	const seqs = ev.json.events.map((e) => e.seq);
	assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1));
	assert.equal(ev.json.seq, seqs.length);
	const tail = await o.api('GET', `/api/v1/events?after=${ev.json.seq - 3}`);
	assert.deepEqual(tail.json.events.map((e) => e.seq), seqs.slice(-3));
	assert.equal((await o.api('GET', '/api/v1/events?after=0&limit=2')).json.events.length, 2);
	for (const q of ['after=x', 'after=-1', 'limit=0', 'limit=1001']) assert.equal((await o.api('GET', `/api/v1/events?${q}`)).status, 400, q);
	assert.equal((await o.api('POST', '/api/v1/events', {})).status, 405);
	// unknown routes and probes
	assert.equal((await o.api('GET', '/api/v1/nothing-here')).status, 404);
	assert.equal((await o.api('GET', '/api/v2/contacts')).status, 404);
	const hz = await api('GET', '/healthz', null, { base: hub.url });
	assert.equal(hz.status, 200);
	assert.equal((await api('GET', '/readyz', null, { base: hub.url })).status, 200);
	const m = await api('GET', '/metrics', null, { base: hub.url });
	assert.equal(m.status, 200);
	assert.match(m.headers['content-type'], /^text\/plain/);
	assert.match(m.text, /^sb_http_requests_total\{route="\/api\/v1\/contacts",status="201"\} \d+$/m);
	assert.match(m.text, /^sb_ws_connections \d+$/m);
});
