// SPDX-License-Identifier: MIT
// Several workers (hubd serve --workers 4) sharing one port and one database, with a real
// nats-server started here: an agent receives, in order and exactly once, events committed by
// other workers; with nats-server killed every event still arrives (the store is polled), and
// again in order once it is back; a SIGKILLed worker is restarted and its agents resume by seq;
// an upgrade (SIGHUP) under a stream of signed webhooks refuses none and loses no event; each
// outbox row is sent once with 4 workers; a logout on one worker ends the session on all of
// them at once, though each had it cached.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { startHub, freePort, REPO_ROOT } from '../lib/hub.mjs';
import { makeTenant, agentSocket, sleep, api, login, PASSWORD } from '../lib/client.mjs';
import { twilioSignature, formEncode } from '../lib/twilio.mjs';

const TOKEN = 'workers_auth_token';
const ACCOUNT = 'AC' + 'a'.repeat(32);

function startNats(port) {
	const p = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
	return p;
}

async function waitFor(cond, timeoutMs, what) {
	const end = Date.now() + timeoutMs;
	while (Date.now() < end) {
		if (await cond()) return;
		await sleep(25);
	}
	throw new Error(`timed out waiting for ${what}`);
}

function workerPids(masterPid) {
	try {
		return execFileSync('pgrep', ['-P', String(masterPid)]).toString().trim().split('\n').map(Number).filter(Boolean);
	} catch {
		return [];
	}
}

async function startFake() {
	const p = spawn(process.execPath, [`${REPO_ROOT}/tests/fakes/fake_twilio.mjs`, '--port', '0', '--account', ACCOUNT, '--token', TOKEN], { stdio: ['ignore', 'pipe', 'inherit'] });
	const line = await new Promise((resolve) => createInterface({ input: p.stdout }).once('line', resolve));
	return { proc: p, ...JSON.parse(line) };
}

let natsPort, nats, hub, t, conv, fake, channel;

// A test on the shared hub: on failure its error carries the tail of hubd's log (the master's
// and the workers' lines), which is all CI shows of a run.
function htest(name, fn) {
	test(name, async (tc) => {
		try {
			await fn(tc);
		} catch (e) {
			e.message += `\n--- hubd log (last 30 lines) ---\n${hub.stderr().split('\n').slice(-30).join('\n')}`;
			throw e;
		}
	});
}

test.before(async () => {
	natsPort = await freePort();
	nats = startNats(natsPort);
	fake = await startFake();
	hub = await startHub({ env: { SB_PWHASH: 'min' }, args: ['--workers', '4', '--nats-url', `nats://127.0.0.1:${natsPort}`] });
	t = await makeTenant(hub, 'Workers');
	const c = await t.a.owner.api('POST', '/api/v1/contacts', { name: 'Wanda', phone: '+14155550142' });
	assert.equal(c.status, 201, c.text);
	const cv = await t.a.owner.api('POST', '/api/v1/conversations', { contact_id: c.json.id });
	assert.equal(cv.status, 201, cv.text);
	conv = cv.json.id;
	const ch = await t.a.owner.api('POST', '/api/v1/channels', {
		kind: 'sms', name: 'main',
		config: { account_sid: ACCOUNT, auth_token: TOKEN, from: '+15005550006', api_base: `http://127.0.0.1:${fake.port}` },
	});
	assert.equal(ch.status, 201, ch.text);
	channel = ch.json;
});

test.after(async () => {
	await hub?.stop();
	nats?.kill('SIGKILL');
	fake?.proc.kill('SIGKILL');
});

async function notes(n, tag) {
	const workers = new Set();
	for (let i = 0; i < n; i++) {
		const r = await t.a.owner.api('POST', `/api/v1/conversations/${conv}/notes`, { body: `${tag}-${i}` });
		assert.equal(r.status, 201, r.text);
		workers.add(r.headers['x-sb-worker']);
	}
	return workers;
}

function assertInOrder(sock, fromSeq, n, tag) {
	const evs = sock.events().filter((e) => e.seq > fromSeq && e.event === 'message.created' && e.data.body.startsWith(tag));
	assert.equal(evs.length, n, `${tag}: got ${evs.length} of ${n}`);
	const all = sock.events().map((e) => e.seq);
	assert.equal(new Set(all).size, all.length, 'no event twice');
	for (let i = 1; i < all.length; i++) assert.equal(all[i], all[i - 1] + 1, 'strict seq order, no gap');
	assert.deepEqual(evs.map((e) => e.data.body), Array.from({ length: n }, (_, i) => `${tag}-${i}`));
}

htest('an agent receives, in order and once, events committed by every worker', async () => {
	const sock = await agentSocket(hub.url, { cookie: t.a.agent.cookie });
	const w = await sock.next('welcome');
	const workers = await notes(60, 'a');
	assert.ok(workers.size >= 2, `requests spread over workers: ${[...workers]}`);
	await waitFor(() => sock.events().filter((e) => e.event === 'message.created').length >= 60, 5000, '60 events');
	assertInOrder(sock, w.seq, 60, 'a');
	await sock.close();
});

htest('with nats-server down every event still arrives, and in order once it is back', async () => {
	const sock = await agentSocket(hub.url, { cookie: t.a.agent.cookie });
	const w = await sock.next('welcome');
	nats.kill('SIGKILL');
	await sleep(300);
	await notes(30, 'down');
	await waitFor(() => sock.events().filter((e) => e.data?.body?.startsWith('down')).length >= 30, 5000, 'events without nats');
	nats = startNats(natsPort);
	await sleep(800);
	await notes(30, 'up');
	await waitFor(() => sock.events().filter((e) => e.data?.body?.startsWith('up')).length >= 30, 5000, 'events after nats is back');
	assertInOrder(sock, w.seq, 30, 'down');
	assertInOrder(sock, w.seq, 30, 'up');
	await sock.close();
});

htest('a SIGKILLed worker is restarted within a second; its agents resume with nothing lost or doubled', async () => {
	const before = workerPids(hub.proc.pid);
	assert.equal(before.length, 4, `4 workers: ${before}`);
	// sockets land on random workers: open enough that some are on the victim
	const socks = [];
	for (let i = 0; i < 12; i++) {
		const s = await agentSocket(hub.url, { cookie: t.a.agent.cookie });
		await s.next('welcome');
		socks.push(s);
	}
	const start = socks[0].frames.find((f) => f.type === 'welcome').seq;
	const victim = before[1];
	process.kill(victim, 'SIGKILL');
	const t0 = Date.now();
	await waitFor(() => { const p = workerPids(hub.proc.pid); return p.length === 4 && !p.includes(victim); }, 1000, 'a new worker');
	const restartMs = Date.now() - t0;
	await notes(20, 'crash');
	// every socket: if it was dropped, reconnect with its last seq (as the console does)
	for (let i = 0; i < socks.length; i++) {
		const s = socks[i];
		const closed = await Promise.race([s.closed, sleep(50).then(() => null)]);
		if (closed) {
			const last = s.events().reduce((m, e) => Math.max(m, e.seq), start);
			const r = await agentSocket(hub.url, { cookie: t.a.agent.cookie, lastSeq: last });
			await r.next('welcome');
			const prior = s.events();
			socks[i] = r;
			r.priorEvents = prior;
		}
	}
	for (const s of socks) {
		await waitFor(() => [...(s.priorEvents ?? []), ...s.events()].filter((e) => e.data?.body?.startsWith('crash')).length >= 20, 5000, 'crash events');
		const all = [...(s.priorEvents ?? []), ...s.events()].map((e) => e.seq).filter((q) => q > start);
		assert.equal(new Set(all).size, all.length, 'no duplicates across the reconnect');
		for (let i = 1; i < all.length; i++) assert.equal(all[i], all[i - 1] + 1, 'no gap across the reconnect');
		await s.close();
	}
	assert.ok(restartMs < 1000, `restarted in ${restartMs} ms`);
});

htest('an upgrade (hubd upgrade) under a stream of signed webhooks refuses none and loses none', async () => {
	const sock = await agentSocket(hub.url, { cookie: t.a.agent.cookie });
	const w = await sock.next('welcome');
	const url = channel.webhook_urls.inbound;
	let sent = 0;
	const bad = [];
	let stop = false;
	const sids = new Set();
	const sender = (async () => {
		while (!stop) {
			const sid = 'SM' + (sent++).toString(16).padStart(32, '0');
			const params = [['MessageSid', sid], ['SmsSid', sid], ['AccountSid', ACCOUNT], ['From', '+14155550177'], ['To', '+15005550006'], ['Body', `up-${sid}`], ['NumMedia', '0']];
			const body = formEncode(params);
			let r;
			for (let attempt = 0; attempt < 3; attempt++) {
				try {
					r = await api('POST', url, null, { rawBody: body, contentType: 'application/x-www-form-urlencoded', headers: { 'X-Twilio-Signature': twilioSignature(TOKEN, url, params) } });
					break;
				} catch (e) {
					r = { status: `error ${e.message}` };
				}
			}
			if (r.status !== 200) bad.push(r.status);
			else sids.add(sid);
			await sleep(5);
		}
	})();
	try {
		await sleep(500);
		const old = workerPids(hub.proc.pid);
		execFileSync(process.env.HUBD, ['upgrade', '--db', hub.dbPath]);
		await waitFor(() => { const p = workerPids(hub.proc.pid); return p.length === 4 && p.every((x) => !old.includes(x)); }, 30000, 'the new generation alone');
		await sleep(500);
	} finally {
		stop = true; // a failure above must not leave the sender running (node would never exit)
		await sender;
	}
	assert.deepEqual(bad, [], 'no webhook refused during the upgrade');
	assert.ok(sids.size > 50, `a real stream (${sids.size})`);
	// the socket was on an old worker: it was closed 1001; reconnect and catch up
	const c = await Promise.race([sock.closed, sleep(2000).then(() => null)]);
	assert.ok(c, 'the old worker closed its sockets');
	assert.equal(c.code, 1001);
	const last = sock.events().reduce((m, e) => Math.max(m, e.seq), w.seq);
	const again = await agentSocket(hub.url, { cookie: t.a.agent.cookie, lastSeq: last });
	await again.next('welcome');
	await waitFor(() => {
		const bodies = new Set([...sock.events(), ...again.events()].filter((e) => e.event === 'message.created').map((e) => e.data.body));
		return [...sids].every((s) => bodies.has(`up-${s}`));
	}, 10000, 'every webhook as an event');
	await again.close();
});

htest('a new worker killed while an upgrade starts is restarted, and the upgrade still completes in seconds', async () => {
	const old = workerPids(hub.proc.pid);
	assert.equal(old.length, 4, `4 workers: ${old}`);
	execFileSync(process.env.HUBD, ['upgrade', '--db', hub.dbPath]);
	const t0 = Date.now();
	let victim;
	await waitFor(() => {
		victim = workerPids(hub.proc.pid).find((p) => !old.includes(p));
		return victim !== undefined;
	}, 5000, 'a worker of the new generation');
	process.kill(victim, 'SIGKILL');
	await waitFor(() => {
		const p = workerPids(hub.proc.pid);
		return p.length === 4 && p.every((x) => !old.includes(x) && x !== victim);
	}, 15000, 'the new generation alone, the killed one replaced');
	const ms = Date.now() - t0;
	// a master that waited for the generation without reaping took its full 15 s here
	assert.ok(ms < 8000, `upgrade done in ${ms} ms`);
	assert.match(hub.stderr(), new RegExp(`msg=worker_died index=\\d+ gen=\\d+ pid=${victim} `));
	await notes(3, 'after-upgrade');
});

test('a master whose workers cannot start says why and exits 1', async () => {
	const t0 = Date.now();
	await assert.rejects(
		startHub({ env: { SB_PWHASH: 'min' }, webRoot: '/nonexistent-sb-web-root', args: ['--workers', '2'], readyTimeoutMs: 30000 }),
		(e) => {
			assert.match(e.message, /exited before it was ready \(\{"code":1/);
			assert.match(e.message, /msg=web_root_missing/);
			assert.match(e.message, /msg=workers_fail_to_start/);
			return true;
		},
	);
	assert.ok(Date.now() - t0 < 20000, 'it gave up, it did not restart them forever');
});

htest('each outbox row is sent once with 4 workers', async () => {
	const n = 40;
	for (let i = 0; i < n; i++) {
		const r = await t.a.owner.api('POST', `/api/v1/conversations/${conv}/messages`, { body: `out-${i}`, client_id: `w-${i}` });
		assert.equal(r.status, 201, r.text);
	}
	const created = async () => (await api('GET', `http://127.0.0.1:${fake.port}/_fake/messages`)).json.filter((m) => m.body.startsWith('out-'));
	await waitFor(async () => (await created()).length >= n, 10000, 'all created at the fake');
	await sleep(500);
	const got = await created();
	assert.equal(got.length, n, 'exactly once each');
	assert.equal(new Set(got.map((m) => m.body)).size, n);
});

htest('a logout on one worker ends the session on every worker at once', async () => {
	const l = await login(hub.url, t.a.agent.email, PASSWORD);
	const me = () => api('GET', '/api/v1/me', null, { base: hub.url, cookie: l.cookie });
	// every worker answers this session once (and so remembers it): connections spread over
	// the workers by the kernel's SO_REUSEPORT hash
	const seen = new Set();
	for (let i = 0; i < 400 && seen.size < 4; i++) {
		const r = await me();
		assert.equal(r.status, 200, r.text);
		seen.add(r.headers['x-sb-worker']);
	}
	assert.equal(seen.size, 4, `only workers ${[...seen]} answered`);
	const out = await api('POST', '/api/v1/auth/logout', null, { base: hub.url, cookie: l.cookie, csrf: l.csrf });
	assert.equal(out.status, 204, out.text);
	const refused = new Set();
	for (let i = 0; i < 400 && refused.size < 4; i++) {
		const r = await me();
		assert.equal(r.status, 401, `worker ${r.headers['x-sb-worker']} still took the session after the logout`);
		refused.add(r.headers['x-sb-worker']);
	}
	assert.equal(refused.size, 4, `only workers ${[...refused]} were asked after the logout`);
});
