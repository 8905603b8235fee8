// SPDX-License-Identifier: MIT
// Durability: a write answered 2xx survives a kill -9 that follows at once, ten times over
// with other writes in flight, and the database passes `hubd check` after each crash.
// `hubd backup` of a live hub gives a database that passes check and holds the rows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startHub, runHubCli } from '../lib/hub.mjs';
import { api, login, makeTenant, PASSWORD } from '../lib/client.mjs';

let hub, t, conv;
const acked = new Map(); // note id -> body, every note answered 201

before(async () => {
	hub = await startHub({ env: { SB_PWHASH: 'min' } });
	t = await makeTenant(hub, 'Crash Co');
	const c = await t.a.owner.api('POST', '/api/v1/contacts', { name: 'Crash Contact' });
	conv = (await t.a.owner.api('POST', '/api/v1/conversations', { contact_id: c.json.id })).json;
});
after(async () => {
	await hub?.cleanup();
});

async function allMessages(sess) {
	const out = [];
	let before = null;
	do {
		const r = await sess.api('GET', `/api/v1/conversations/${conv.id}/messages?limit=200${before ? `&before=${before}` : ''}`);
		assert.equal(r.status, 200, r.text);
		out.push(...r.json.messages);
		before = r.json.next_cursor;
	} while (before);
	return out;
}

async function check(db) {
	const r = await runHubCli(null, ['check'], { db });
	assert.equal(r.code, 0, r.stderr);
	assert.equal(r.stdout.trim(), 'ok');
}

test('kill -9 right after a 201, ten times with writes in flight: acknowledged notes survive, check says ok', async () => {
	for (let round = 0; round < 10; round++) {
		if (round > 0) await hub.restart();
		// cookies survive restarts (sessions are in the database)
		const sess = t.a.owner;
		const sent = new Set();
		let killed = false, k = 0;
		const writer = async () => {
			while (!killed) {
				const body = `round ${round} note ${k++}`;
				sent.add(body);
				let r;
				try {
					r = await sess.api('POST', `/api/v1/conversations/${conv.id}/notes`, { body, client_id: `r${round}-${body.split(' ').pop()}` });
				} catch {
					return; // the hub died under this request: no answer, no promise
				}
				if (r.status === 201) {
					acked.set(r.json.id, body);
					// kill as soon as the 20th answer of the round is in, while the others fly
					if (!killed && acked.size >= (round + 1) * 20) {
						killed = true;
						hub.stopping = true; /* asked for: no "exited unasked" report */
						hub.proc.kill('SIGKILL');
					}
				} else if (!killed) {
					assert.fail(`round ${round}: ${r.status} ${r.text}`);
				}
			}
		};
		await Promise.all(Array.from({ length: 8 }, writer));
		const exit = await hub.exited;
		assert.equal(exit.signal, 'SIGKILL', `round ${round}: hubd was killed, not stopped (${JSON.stringify(exit)})`);
		await check(hub.dbPath);
	}
	await hub.restart();
	const msgs = await allMessages(t.a.owner);
	const byId = new Map(msgs.map((m) => [m.id, m.body]));
	const lost = [...acked].filter(([id, body]) => byId.get(id) !== body);
	assert.deepEqual(lost, [], 'every acknowledged note is there with its body');
	assert.ok(acked.size >= 200, `${acked.size} acknowledged notes`);
	// unacknowledged writes may or may not have landed, but nothing half-written or doubled
	assert.equal(new Set(msgs.map((m) => m.client_id)).size, msgs.length, 'no client_id twice');
	for (const m of msgs) assert.match(m.body, /^round \d note \d+$/);
	// the event log agrees with the rows: one message.created per note, seq without gaps
	const ev = [];
	for (let after = 0; ;) {
		const r = await t.a.owner.api('GET', `/api/v1/events?after=${after}&limit=1000`);
		ev.push(...r.json.events);
		if (r.json.events.length < 1000) break;
		after = r.json.events[r.json.events.length - 1].seq;
	}
	assert.deepEqual(ev.map((e) => e.seq), Array.from({ length: ev.length }, (_, i) => i + 1));
	const created = new Set(ev.filter((e) => e.event === 'message.created').map((e) => e.data.id));
	assert.deepEqual([...created].sort((a, b) => a - b), msgs.map((m) => m.id).sort((a, b) => a - b));
});

test('hubd backup of a live hub with writes in flight passes check and holds the rows', async () => {
	if (hub.proc.exitCode !== null || hub.proc.signalCode) await hub.restart();
	const dest = join(hub.dir, 'backup.db');
	const before = await allMessages(t.a.owner);
	let stop = false, n = 0;
	const writer = (async () => {
		while (!stop) {
			const r = await t.a.owner.api('POST', `/api/v1/conversations/${conv.id}/notes`, { body: `during backup ${n++}` });
			assert.equal(r.status, 201);
		}
	})();
	const b = await runHubCli(null, ['backup', dest], { db: hub.dbPath });
	stop = true;
	await writer;
	assert.equal(b.code, 0, b.stderr);
	assert.match(b.stdout, /backed up/);
	await check(dest);
	const copy = await startHub({ env: { SB_PWHASH: 'min' }, argv: (x) => ['serve', '--listen', `${x.host}:${x.port}`, '--db', dest, '--public-url', x.url, '--web-root', x.webRoot] });
	try {
		const l = await login(copy.url, t.a.owner.email, PASSWORD);
		const r = await api('GET', `/api/v1/conversations/${conv.id}/messages?limit=200`, null, { base: copy.url, cookie: l.cookie });
		assert.equal(r.status, 200);
		let all = r.json.messages, cur = r.json.next_cursor;
		while (cur) {
			const p = await api('GET', `/api/v1/conversations/${conv.id}/messages?limit=200&before=${cur}`, null, { base: copy.url, cookie: l.cookie });
			all = p.json.messages.concat(all);
			cur = p.json.next_cursor;
		}
		const ids = new Set(all.map((m) => m.id));
		assert.ok(before.every((m) => ids.has(m.id)), 'every row from before the backup is in it');
		assert.ok(all.length >= before.length);
	} finally {
		await copy.cleanup();
	}
});
