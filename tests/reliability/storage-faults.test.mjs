// SPDX-License-Identifier: MIT
// Storage faults: a full disk (the database on a 4 MiB tmpfs, filled) answers webhooks 503, never
// a 2xx for something not committed, and recovers once space returns; a database locked by
// another process (sqlite3 CLI holding BEGIN EXCLUSIVE) answers writes 503 after the 5 s busy
// timeout and recovers when the lock goes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, openSync, writeSync, closeSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHub, runHubCli } from '../lib/hub.mjs';
import { startFake, tenantWithSms, newSid, inboundParams, signedWebhook, postWebhook, sql, sleep } from './fixture.mjs';

let fake;
before(async () => {
	fake = await startFake();
});
after(async () => {
	await fake?.stop();
});

const hook = (A, body) => {
	const sid = newSid();
	return { sid, w: signedWebhook(A.inbound, A.token, inboundParams({ sid, from: '+14155550133', to: A.from, body, account: A.account })) };
};
const stored = (db, sid) => sql(db, `SELECT COUNT(*) AS n FROM messages WHERE provider_id = '${sid}'`)[0].n;

test('disk full: webhooks get 503, nothing acknowledged that was not committed; recovers when space returns', async (t) => {
	const mnt = mkdtempSync(join(tmpdir(), 'sb-full-'));
	try {
		execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt], { stdio: 'pipe' });
	} catch (e) {
		rmSync(mnt, { recursive: true, force: true });
		t.skip(`cannot mount a tmpfs here (${String(e.stderr ?? e.message).trim()}): run as root to test a full disk`);
		return;
	}
	let hub;
	try {
		const dbPath = join(mnt, 'hub.db');
		hub = await startHub({ env: { SB_PWHASH: 'min' }, argv: (x) => ['serve', '--listen', `${x.host}:${x.port}`, '--db', dbPath, '--public-url', x.url, '--web-root', x.webRoot] });
		hub.dbPath = dbPath;
		const A = await tenantWithSms(hub, fake, 'Full Co');
		const acked = [];
		for (let i = 0; i < 20; i++) {
			const h = hook(A, `before full ${i}`);
			assert.equal((await postWebhook(h.w)).status, 200);
			acked.push(h.sid);
		}
		// fill the file system
		const filler = join(mnt, 'filler');
		const fd = openSync(filler, 'w');
		const chunk = Buffer.alloc(64 * 1024, 1);
		try {
			for (;;) writeSync(fd, chunk);
		} catch (e) {
			assert.equal(e.code, 'ENOSPC');
		}
		try {
			for (;;) writeSync(fd, chunk.subarray(0, 512));
		} catch { /* the last blocks */ }
		closeSync(fd);
		const during = { ok: 0, s503: 0, other: [] };
		const tried = [];
		// a body big enough that the WAL must grow
		for (let i = 0; i < 40; i++) {
			const h = hook(A, `during full ${i} ` + 'x'.repeat(1400));
			const r = await postWebhook(h.w, { timeoutMs: 15000 });
			tried.push({ ...h, status: r.status });
			if (r.status === 200) { during.ok++; acked.push(h.sid); } else if (r.status === 503) during.s503++;
			else during.other.push(r.status);
		}
		console.log(`disk full: ${during.s503} answered 503, ${during.ok} answered 200, other ${JSON.stringify(during.other)}`);
		assert.deepEqual(during.other, [], 'only 200 or 503 while full');
		assert.ok(during.s503 > 0, 'a full disk must refuse (503) at least some webhooks');
		assert.equal(hub.proc.exitCode, null, 'hubd still runs');
		// space returns
		unlinkSync(filler);
		await sleep(200);
		for (const h of tried.filter((x) => x.status !== 200)) {
			const r = await postWebhook(h.w); // the provider's retry
			assert.equal(r.status, 200, `retry after space returned: ${r.status} ${r.body}`);
			acked.push(h.sid);
		}
		const h = hook(A, 'after recovery');
		assert.equal((await postWebhook(h.w)).status, 200);
		acked.push(h.sid);
		for (const sid of acked) assert.equal(stored(hub.dbPath, sid), 1, `acknowledged ${sid} stored once`);
		await hub.stop();
		const c = await runHubCli(null, ['check'], { db: hub.dbPath });
		assert.equal(c.stdout.trim(), 'ok', c.stderr);
	} finally {
		await hub?.stop();
		try { execFileSync('umount', ['-l', mnt]); } catch { /* */ }
		if (hub) rmSync(hub.dir, { recursive: true, force: true });
		rmSync(mnt, { recursive: true, force: true });
	}
});

test('database locked by another process: writes get 503 after the 5 s busy timeout, then recover', async () => {
	const hub = await startHub({ env: { SB_PWHASH: 'min' } });
	try {
		const A = await tenantWithSms(hub, fake, 'Locked Co');
		const first = hook(A, 'before lock');
		assert.equal((await postWebhook(first.w)).status, 200);
		const conv = (await A.owner.api('GET', '/api/v1/conversations')).json.conversations[0].id;
		const locker = spawn('sqlite3', [hub.dbPath], { stdio: ['pipe', 'pipe', 'pipe'] });
		locker.stdin.write('BEGIN EXCLUSIVE;\nSELECT \'locked\';\n');
		await new Promise((res) => locker.stdout.once('data', res));
		const h = hook(A, 'while locked');
		const t0 = Date.now();
		const [r, n] = await Promise.all([
			postWebhook(h.w, { timeoutMs: 12000 }),
			A.owner.api('POST', `/api/v1/conversations/${conv}/notes`, { body: 'locked note' }, { timeoutMs: 12000 }).catch((e) => ({ status: 0, text: e.message })),
		]);
		const secs = (Date.now() - t0) / 1000;
		console.log(`locked: webhook ${r.status} note ${n.status} after ${secs.toFixed(1)} s`);
		if (r.status !== 503) {
			locker.stdin.end('COMMIT;\n'); // let the hub go before failing
			await new Promise((res) => locker.once('exit', res));
		}
		assert.equal(r.status, 503, r.body ?? r.error);
		assert.equal(n.status, 503, n.text);
		assert.ok(secs >= 4.5 && secs <= 15, `answered after ${secs} s`);
		assert.ok(r.headers['retry-after'], 'Retry-After on the 503');
		locker.stdin.end('COMMIT;\n');
		await new Promise((res) => locker.once('exit', res));
		const r2 = await postWebhook(h.w);
		assert.equal(r2.status, 200, 'the provider retry goes in');
		assert.equal(stored(hub.dbPath, h.sid), 1);
		const n2 = await A.owner.api('POST', `/api/v1/conversations/${conv}/notes`, { body: 'after lock' });
		assert.equal(n2.status, 201);
	} finally {
		await hub.cleanup();
	}
});
