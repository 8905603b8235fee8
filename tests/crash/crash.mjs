#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// kill -9 harness. A provider-like sender posts signed inbound webhooks (each retried until it
// gets a 2xx; 10% of acknowledged deliveries are delivered again), agents reply over REST through
// a fake Twilio that injects faults (500, 503, 429, timeouts, resets, truncated answers...), and a
// killer SIGKILLs hubd at random moments and restarts it (same DB, same port), K times.
// `hubd check` must print ok after every kill and every restart. At the end:
//   - every acknowledged webhook is stored exactly once (by MessageSid), nothing unknown stored;
//   - every outbound message was created at the fake exactly once, or is failed with a reason
//     (ambiguous outcomes are counted; none resent: no body is created twice at the fake);
//   - no outbox row is left pending/sending/retry/reconcile once the hub has been up long enough.
//
//   HUBD=build/release/hubd node tests/crash/crash.mjs --k 500 [--seed N] [--min-ms 300]
//        [--max-ms 2500] [--senders 6] [--agents 3] [--keep] [--all-faults | --skip-faults a,b]
import { startHub, runHubCli } from '../lib/hub.mjs';
import { startFake, tenantWithSms, newSid, inboundParams, signedWebhook, postWebhook, sql, sleep } from '../reliability/fixture.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
	const i = args.indexOf('--' + name);
	return i < 0 ? dflt : args[i + 1] === undefined || args[i + 1].startsWith('--') ? true : args[i + 1];
};
const K = Number(opt('k', 20));
const MIN_MS = Number(opt('min-ms', 300));
const MAX_MS = Number(opt('max-ms', 2500));
const SENDERS = Number(opt('senders', 6));
const AGENTS = Number(opt('agents', 3));
const KEEP = !!opt('keep', false);
let seed = Number(opt('seed', Date.now() % 1e9));
const SEED0 = seed;
// a small deterministic PRNG (mulberry32) so a failing run can be replayed with --seed
function rnd() {
	seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
	let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
	t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
	return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const log = (...a) => console.log(`[crash +${((Date.now() - T0) / 1000).toFixed(1)}s]`, ...a);
const T0 = Date.now();

// The fault mix of the fake's create endpoint (one step per create request).
const FAULTS = [
	...Array(14).fill('201'),
	'500', { action: '500', create: true }, '503', { action: '503', create: true },
	{ action: '429', retry_after: 0 }, { action: '429', retry_after: 1 },
	'timeout', 'timeout_before', 'reset', 'reset_before', 'close_after_headers', 'truncated',
	{ action: 'delay', ms: 300, then: '201' }, { action: 'slow', bytes_per_sec: 400 },
];
// Every fault by default (libcurl can no longer resend a create on its own: hub/httpc.c refuses a
// transfer's second attempt in the pre-request callback); --skip-faults a,b leaves some out.
const SKIP = opt('all-faults', false) ? [] : String(opt('skip-faults', '')).split(',').filter(Boolean);
for (let i = FAULTS.length - 1; i >= 0; i--) if (SKIP.includes(typeof FAULTS[i] === 'string' ? FAULTS[i] : FAULTS[i].action) && !FAULTS[i].create) FAULTS.splice(i, 1);
const faultName = (s) => (typeof s === 'string' ? s : s.action + (s.create ? '+create' : s.retry_after != null ? `(ra=${s.retry_after})` : ''));

const env = { SB_PWHASH: 'min', SB_RECONCILE_MS: '2000', SB_SEND_TIMEOUT_MS: '1000', SB_LOG_LEVEL: 'info' };
const fake = await startFake();
// the provider retries its status callbacks for ~15 s, as Twilio does, so a callback that meets a
// dead hub can still settle the row after the restart
await fake.ctl('POST', '/callbacks', { retries: 6, retry_base_ms: 250 });
const hub = await startHub({ env, readyTimeoutMs: 20000 });
const s = await tenantWithSms(hub, fake, 'Crash SMS');
log(`hub ${hub.url} db ${hub.dbPath} seed ${SEED0} K=${K}${SKIP.length ? ` (faults left out: ${SKIP})` : ''}`);

const failures = [];
const fail = (m) => {
	failures.push(m);
	console.log('FAIL:', m);
};
let alive = true; // the hub process is up (as far as the killer knows)
let stopping = false;

async function checkDb(when) {
	const r = await runHubCli(null, ['check'], { db: hub.dbPath, timeoutMs: 60000 });
	if (r.code !== 0 || r.stdout.trim() !== 'ok') fail(`hubd check ${when}: code ${r.code} out ${r.stdout.trim()} err ${r.stderr.trim()}`);
}

/* ---- inbound: a provider that retries until 2xx and duplicates 10% ---- */
const customers = Array.from({ length: 20 }, (_, i) => `+1646555${String(1000 + i)}`);
const inbound = new Map(); // sid -> {acks, posts, body}
const inStats = { posts: 0, acks: 0, dupDeliveries: 0, non2xx: {}, connErrors: 0 };

async function deliverUntil2xx(w, rec) {
	for (let attempt = 0; ; attempt++) {
		inStats.posts++;
		rec.posts++;
		const r = await postWebhook(w, { timeoutMs: 5000 });
		if (r.status >= 200 && r.status < 300) {
			rec.acks++;
			inStats.acks++;
			return;
		}
		if (r.status === 0) inStats.connErrors++;
		else inStats.non2xx[r.status] = (inStats.non2xx[r.status] ?? 0) + 1;
		if (r.status >= 400 && r.status < 500) {
			fail(`webhook ${rec.sid} answered ${r.status}: ${r.body}`);
			return;
		}
		await sleep(Math.min(1000, 50 * 2 ** Math.min(attempt, 5)));
	}
}

async function sender(idx) {
	let n = 0;
	while (!stopping) {
		const sid = newSid();
		const body = `in ${idx} ${n++}`;
		const rec = { sid, body, posts: 0, acks: 0 };
		inbound.set(sid, rec);
		const w = signedWebhook(s.inbound, s.token, inboundParams({ sid, from: pick(customers), to: s.from, body, account: s.account }));
		await deliverUntil2xx(w, rec);
		if (rnd() < 0.1) {
			inStats.dupDeliveries++;
			// a redelivery is a new HTTP request with the same signature and parameters
			await deliverUntil2xx({ ...w, headers: { ...w.headers } }, rec);
		}
		await sleep(5 + rnd() * 20);
	}
}

/* ---- outbound: agents replying (same client_id again when the answer was lost) ---- */
const outbound = new Map(); // client_id -> {body, conv, acked, tries}
const outStats = { sends: 0, acked: 0, retriedAfterLostAnswer: 0, non2xx: {} };

async function conversations() {
	for (;;) {
		const r = await s.owner.api('GET', '/api/v1/conversations?limit=200').catch(() => null);
		if (r && r.status === 200 && r.json.conversations.length) return r.json.conversations.map((c) => c.id);
		await sleep(200);
	}
}

async function agent(idx) {
	let convs = await conversations();
	let n = 0;
	while (!stopping) {
		if (rnd() < 0.05) convs = await conversations();
		const client_id = `a${idx}-${n++}`;
		const rec = { client_id, body: `out ${client_id}`, conv: pick(convs), acked: false, tries: 0 };
		outbound.set(client_id, rec);
		// retry the same client_id until the hub answers: a send is safe to repeat
		while (!rec.acked && (!stopping || rec.tries === 0)) {
			rec.tries++;
			outStats.sends++;
			if (rec.tries > 1) outStats.retriedAfterLostAnswer++;
			const r = await s.owner.api('POST', `/api/v1/conversations/${rec.conv}/messages`, { body: rec.body, client_id }, { timeoutMs: 5000 }).catch(() => null);
			if (r && (r.status === 201 || r.status === 200)) {
				rec.acked = true;
				rec.id = r.json.id;
				outStats.acked++;
			} else {
				if (r) outStats.non2xx[r.status] = (outStats.non2xx[r.status] ?? 0) + 1;
				if (r && r.status >= 400 && r.status < 500) {
					fail(`send ${client_id}: ${r.status} ${r.text}`);
					break;
				}
				await sleep(100);
			}
		}
		await sleep(20 + rnd() * 60);
	}
}

/* ---- faults at the fake: a long random script, refilled ---- */
const faultCount = {};
async function refillScript() {
	const steps = Array.from({ length: 400 }, () => pick(FAULTS));
	for (const st of steps) faultCount[faultName(st)] = (faultCount[faultName(st)] ?? 0) + 1;
	await fake.ctl('POST', '/script', { steps, default: '201' });
}

/* ---- run ---- */
// seed conversations: one message from each customer
await Promise.all(customers.map(async (from) => {
	const sid = newSid();
	const rec = { sid, body: `seed ${from}`, posts: 0, acks: 0 };
	inbound.set(sid, rec);
	await deliverUntil2xx(signedWebhook(s.inbound, s.token, inboundParams({ sid, from, to: s.from, body: rec.body, account: s.account })), rec);
}));
await refillScript();
const workers = [...Array.from({ length: SENDERS }, (_, i) => sender(i)), ...Array.from({ length: AGENTS }, (_, i) => agent(i))];

const restartMs = [];
for (let k = 1; k <= K; k++) {
	const wait = MIN_MS + rnd() * (MAX_MS - MIN_MS);
	await sleep(wait);
	const left = await fake.ctl('GET', '/requests');
	if (left.script_left < 100) await refillScript();
	hub.proc.kill('SIGKILL');
	alive = false;
	const ex = await hub.exited;
	if (ex.signal !== 'SIGKILL') fail(`cycle ${k}: hubd exited ${JSON.stringify(ex)} before the kill`);
	await checkDb(`after kill ${k}`);
	const t = Date.now();
	await hub.restart();
	restartMs.push(Date.now() - t);
	alive = true;
	await checkDb(`after restart ${k}`);
	if (k % 5 === 0 || k === K) log(`cycle ${k}/${K}: in acked ${inStats.acks} posts ${inStats.posts}, out acked ${outStats.acked}`);
}

// let the load run a little on the last incarnation, then stop it and drain
await sleep(1000);
stopping = true;
await Promise.all(workers);
// the provider recovers: every further create succeeds
await fake.ctl('POST', '/script', { steps: [], default: '201' });
log('load stopped; waiting for the outbox to settle');

const settleDeadline = Date.now() + 60000;
let open = [];
for (;;) {
	open = sql(hub.dbPath, 'SELECT id, state, attempts, next_at FROM outbox WHERE state < 4');
	if (!open.length || Date.now() > settleDeadline) break;
	await sleep(500);
}
// let late status callbacks land
await sleep(1500);

/* ---- verdicts ---- */
// inbound: exactly once per acknowledged MessageSid
const stored = sql(hub.dbPath, "SELECT provider_id AS sid, COUNT(*) AS n FROM messages WHERE direction = 0 AND kind = 0 GROUP BY provider_id");
const storedBy = new Map(stored.map((r) => [r.sid, r.n]));
let inLost = 0, inDup = 0, inUnknown = 0, inUnacked = 0, inUnackedStored = 0;
for (const rec of inbound.values()) {
	const n = storedBy.get(rec.sid) ?? 0;
	if (rec.acks === 0) {
		inUnacked++;
		if (n) inUnackedStored++;
		continue;
	}
	if (n === 0) { inLost++; fail(`inbound ${rec.sid} (${rec.body}) acknowledged ${rec.acks}x but not stored`); }
	if (n > 1) { inDup++; fail(`inbound ${rec.sid} stored ${n} times`); }
}
for (const r of stored) if (!inbound.has(r.sid)) { inUnknown++; fail(`stored inbound ${r.sid} was never sent`); }
if (inUnacked) fail(`${inUnacked} inbound deliveries never got a 2xx (the sender retries until it does)`);
const dedupe = sql(hub.dbPath, 'SELECT COUNT(*) AS n FROM inbound_dedupe')[0].n;

// outbound: the hub's rows against what the fake created
const rows = sql(hub.dbPath, "SELECT m.id, m.client_id, m.body, m.status, m.status_code, m.status_reason, m.provider_id, o.state AS ostate, o.attempts FROM messages m LEFT JOIN outbox o ON o.message_id = m.id WHERE m.direction = 1 AND m.kind = 0");
const fakeMsgs = await fake.ctl('GET', '/messages');
const created = new Map(); // body -> [sid...]
for (const m of fakeMsgs) created.set(m.body, [...(created.get(m.body) ?? []), m.sid]);
const byClient = new Map(rows.map((r) => [r.client_id, r]));
const o = { rows: rows.length, acked: 0, ackedMissing: 0, sentOnce: 0, failedWithReason: 0, failedNoReason: 0, duplicatesAtFake: 0, phantom: 0, notFinal: 0, unconfirmed: 0, unconfirmedButCreated: 0, failedByCode: {} };
const FINAL_OK = new Set(['queued', 'accepted', 'sending', 'sent', 'delivered', 'read']);
for (const rec of outbound.values()) {
	if (!rec.acked) continue;
	o.acked++;
	if (!byClient.has(rec.client_id)) { o.ackedMissing++; fail(`send ${rec.client_id} acknowledged but no message row`); }
}
for (const r of rows) {
	const n = (created.get(r.body) ?? []).length;
	if (n > 1) { o.duplicatesAtFake++; fail(`message ${r.id} (${r.client_id}) created ${n} times at the provider: ${created.get(r.body)}`); }
	if (r.ostate != null && r.ostate < 4) { o.notFinal++; fail(`message ${r.id} outbox state ${r.ostate} (attempts ${r.attempts}) still open, status ${r.status}`); continue; }
	if (r.status === 'failed' || r.status === 'undelivered') {
		o.failedByCode[r.status_code ?? 'null'] = (o.failedByCode[r.status_code ?? 'null'] ?? 0) + 1;
		if (r.status_code === 'unconfirmed') { o.unconfirmed++; if (n === 1) o.unconfirmedButCreated++; }
		if (r.status_reason && r.status_reason.length) o.failedWithReason++;
		else { o.failedNoReason++; fail(`message ${r.id} failed without a reason (code ${r.status_code})`); }
	} else if (FINAL_OK.has(r.status)) {
		if (n !== 1) fail(`message ${r.id} (${r.client_id}) is ${r.status} but was created ${n} times at the provider`);
		else if (r.provider_id && !created.get(r.body).includes(r.provider_id)) fail(`message ${r.id} provider_id ${r.provider_id} is not the fake's ${created.get(r.body)}`);
		else o.sentOnce++;
	} else {
		o.notFinal++;
		fail(`message ${r.id} (${r.client_id}) has status ${r.status}`);
	}
}
const hubBodies = new Set(rows.map((r) => r.body));
for (const b of created.keys()) if (!hubBodies.has(b)) { o.phantom++; fail(`the provider got "${b}", which the hub has no row for`); }
if (open.length) fail(`${open.length} outbox rows still open 60 s after the load stopped: ${JSON.stringify(open.slice(0, 5))}`);
await checkDb('at the end');

const fakeReq = await fake.ctl('GET', '/requests');
// ambiguous outcomes, from the hub's log: answers the bridge could not classify (timeouts, resets,
// 5xx) and rows a crash left SENDING; each was settled by a status callback or failed "unconfirmed"
const hubLog = hub.stderr();
o.ambiguous_answers = (hubLog.match(/msg=outbox_result [^\n]*state=3 /g) ?? []).length;
o.ambiguous_after_crash = [...hubLog.matchAll(/msg=outbox_recovered rows=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
o.reconciled_by_callback = o.ambiguous_answers + o.ambiguous_after_crash - o.unconfirmed;
const summary = {
	seed: SEED0, k: K, faults_left_out: SKIP, seconds: Math.round((Date.now() - T0) / 1000),
	restart_ms: { max: Math.max(...restartMs), mean: Math.round(restartMs.reduce((a, b) => a + b, 0) / restartMs.length) },
	inbound: { messages: inbound.size, acknowledged: inbound.size - inUnacked, posts: inStats.posts, duplicate_deliveries: inStats.dupDeliveries, non2xx: inStats.non2xx, conn_errors: inStats.connErrors, stored_rows: stored.reduce((a, r) => a + r.n, 0), dedupe_rows: dedupe, lost: inLost, duplicated: inDup, unknown: inUnknown },
	outbound: { ...o, requests_at_fake: fakeReq.requests, created_at_fake: fakeReq.created, lookups: fakeReq.lookups, sends: outStats.sends, resent_same_client_id: outStats.retriedAfterLostAnswer, non2xx: outStats.non2xx },
	faults_queued: faultCount,
	failures: failures.length,
};
console.log(JSON.stringify(summary, null, 1));
await hub.stop();
await fake.stop();
if (!KEEP && !failures.length) await hub.cleanup();
else log(`kept ${hub.dir}`);
process.exit(failures.length ? 1 : 0);
