#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Soak: 1,000 agent WebSockets held open, 20 signed inbound webhooks and 5 outbound REST sends
// (through the fake Twilio) a second, for --minutes. Samples hubd's RSS and open files every 5 s
// (/proc/PID/status, /proc/PID/fd) and prints them. Passes when, after a 30 s warm-up, memory grew
// under 5% with no upward trend (mean of the last third within 5% of the first third) while the
// load ran (a last sample after it stops is printed, not judged), open files
// stayed flat (within 40: the load keeps up to 32 keep-alive connections), no request got a 5xx, and the webhook acknowledgement p99 < 300 ms.
//   HUBD=build/release/hubd node tests/reliability/soak.mjs --minutes 60 [--sockets 1000]
import { startHub, hubCliOk } from '../lib/hub.mjs';
import { Worker } from 'node:worker_threads';
import { startFake, tenantWithSms, newSid, inboundParams, signedWebhook, postWebhook, procSample, percentile, sleep } from './fixture.mjs';
import http from 'node:http';

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes('--' + n) ? args[args.indexOf('--' + n) + 1] : d);
const MINUTES = Number(opt('minutes', 2));
const SOCKETS = Number(opt('sockets', 1000));
const IN_RATE = Number(opt('in-rate', 20));
const OUT_RATE = Number(opt('out-rate', 5));
const WARMUP_S = 30;
const T0 = Date.now();
const log = (...a) => console.log(`[soak +${((Date.now() - T0) / 1000).toFixed(0)}s]`, ...a);

const fake = await startFake();
// sqlite's page cache (32 MiB per connection by default) fills as the database grows: in a
// short soak that growth would hide a leak or fake one, so the cache is held at 1 MiB here
// (SB_DB_CACHE_KB overrides) and any growth left is the hub's own.
// Under AddressSanitizer, freed memory waits in a 256 MiB quarantine, which would read as growth:
// a small quarantine keeps the figure about the hub (harmless for a build without ASan).
const asan = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=16'].filter(Boolean).join(':');
const hub = await startHub({ env: { SB_PWHASH: 'min', SB_LOG_LEVEL: 'warn', SB_DB_CACHE_KB: process.env.SB_DB_CACHE_KB ?? '1024', ASAN_OPTIONS: asan } });
const s = await tenantWithSms(hub, fake, 'Soak Co');
const apiKey = await hubCliOk(null, ['apikey', 'create', '--tenant', String(s.t.tenantId)], { db: hub.dbPath });

// 1,000 agent sockets (API key auth, the hub's Origin), read on a worker thread
const worker = new Worker(new URL('./soak_sockets.mjs', import.meta.url), { workerData: { url: hub.url, apiKey, n: SOCKETS } });
const ask = (m) => new Promise((res) => { worker.once('message', res); if (m) worker.postMessage(m); });
const opened = await ask(null);
log(`${opened.open} agent sockets open`);

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 32 });
const stats = { in: 0, out: 0, s5xx: 0, other: {}, errors: 0, retried: 0, netErrors: [] };
const ackMs = [];
let stopping = false;
const customers = Array.from({ length: 50 }, (_, i) => `+1917555${String(1000 + i)}`);
let convs = [];

function tick(rate, fn) {
	// open loop: fire on schedule, never wait for the previous request
	const every = 1000 / rate;
	let next = Date.now();
	return (async () => {
		while (!stopping) {
			next += every;
			fn();
			const wait = next - Date.now();
			if (wait > 0) await sleep(wait);
		}
	})();
}
const count = (st) => {
	if (st >= 500 || st === 0) {
		if (st >= 500) stats.s5xx++;
		else stats.errors++;
	}
	if (!(st >= 200 && st < 300)) stats.other[st] = (stats.other[st] ?? 0) + 1;
};
const pending = new Set();
const track = (p) => { pending.add(p); p.finally(() => pending.delete(p)); };

const inbound = () => track((async () => {
	const w = signedWebhook(s.inbound, s.token, inboundParams({ sid: newSid(), from: customers[stats.in++ % customers.length], to: s.from, body: `soak ${stats.in}`, account: s.account }));
	// like a provider: a keep-alive connection the hub closed as idle just as it was reused
	// fails on the network; the same delivery is sent again (deduped by MessageSid) on a new
	// connection, as RFC 9112 §9.3.1 has clients do (another pooled one may be as old)
	let r = await postWebhook(w, { agent: keepAlive });
	if (r.status === 0) {
		stats.retried++;
		stats.netErrors.push(r.error);
		r = await postWebhook(w, { agent: false });
	}
	count(r.status);
	if (Date.now() - T0 > WARMUP_S * 1000) ackMs.push(r.ms);
})());
const outbound = () => track((async () => {
	if (!convs.length) return;
	stats.out++;
	const n = stats.out;
	const send = (agent) => s.owner.api('POST', `/api/v1/conversations/${convs[n % convs.length]}/messages`, { body: `soak reply ${n}`, client_id: `soak-${n}` }, { agent }).catch((e) => ({ status: 0, error: e.message }));
	let r = await send(keepAlive);
	if (r.status === 0) { /* the same client_id on a new connection: one message whatever happened */
		stats.retried++;
		stats.netErrors.push(r.error);
		r = await send(false);
	}
	count(r.status);
})());

const samples = [];
const sample = () => {
	const x = procSample(hub.proc.pid);
	samples.push({ t: Math.round((Date.now() - T0) / 1000), rss_kb: x.rssKb, fds: x.fds, in: stats.in, out: stats.out, s5xx: stats.s5xx });
	const l = samples.at(-1);
	log(`sample rss ${l.rss_kb} kB fds ${l.fds} in ${l.in} out ${l.out} 5xx ${l.s5xx}`);
};
const loops = [tick(IN_RATE, inbound), tick(OUT_RATE, outbound)];
const sampler = (async () => {
	while (!stopping) {
		sample();
		if (!convs.length) {
			const r = await s.owner.api('GET', '/api/v1/conversations?limit=50').catch(() => null);
			if (r?.status === 200) convs = r.json.conversations.map((c) => c.id);
		}
		await sleep(5000);
	}
})();
await sleep(MINUTES * 60000);
stopping = true;
await Promise.all([...loops, sampler]);
await Promise.all([...pending]);
// one more sample once the load has stopped, for the record only: the load's last requests
// (and the keep-alive connections they opened, which the open-files check allows) are still
// in it, so it says nothing about a leak
sample();
samples.at(-1).after = true;

// verdicts
const fails = [];
const post = samples.filter((x) => x.t >= WARMUP_S && !x.after);
if (post.length < 3) fails.push(`only ${post.length} samples after the warm-up`);
const third = Math.max(1, Math.floor(post.length / 3));
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const base = post[0]?.rss_kb ?? 1;
const first = mean(post.slice(0, third).map((x) => x.rss_kb));
const last = mean(post.slice(-third).map((x) => x.rss_kb));
const growth = (Math.max(...post.map((x) => x.rss_kb)) - base) / base;
const trend = (last - first) / first;
const fdSamples = samples.filter((x) => x.t >= WARMUP_S); // the last one too
const fdMin = Math.min(...fdSamples.map((x) => x.fds)), fdMax = Math.max(...fdSamples.map((x) => x.fds));
ackMs.sort((a, b) => a - b);
const p99 = percentile(ackMs, 99);
if (growth >= 0.05) fails.push(`RSS grew ${(growth * 100).toFixed(1)}% after the warm-up`);
if (trend >= 0.05) fails.push(`RSS trend: last third ${(trend * 100).toFixed(1)}% above the first`);
if (fdMax - fdMin > 40) fails.push(`open files moved ${fdMin}..${fdMax}`);
if (stats.s5xx) fails.push(`${stats.s5xx} answers were 5xx`);
if (stats.errors) fails.push(`${stats.errors} requests failed on the network`);
if (p99 >= 300) fails.push(`webhook ack p99 ${p99.toFixed(1)} ms`);
const ws = await ask('stop');
if (ws.closed) fails.push(`${ws.closed} agent sockets were closed during the soak`);
const delivered = ws.frames;
const summary = {
	minutes: MINUTES, sockets: ws.open, inbound: stats.in, outbound: stats.out, non2xx: stats.other, s5xx: stats.s5xx, retried_after_network_error: stats.retried, network_errors: [...new Set(stats.netErrors)],
	webhook_ack_ms: { p50: +percentile(ackMs, 50).toFixed(2), p99: +p99.toFixed(2), max: +(ackMs.at(-1) ?? 0).toFixed(2) },
	rss_kb: { warm: base, first_third: Math.round(first), last_third: Math.round(last), max: Math.max(...post.map((x) => x.rss_kb)), growth_pct: +(growth * 100).toFixed(2), trend_pct: +(trend * 100).toFixed(2) },
	fds: { min: fdMin, max: fdMax }, events_delivered: delivered, fake_created: (await fake.ctl('GET', '/requests')).created,
};
console.log('samples (t s, rss kB, fds):', samples.map((x) => `${x.t}:${x.rss_kb}:${x.fds}`).join(' '));
console.log(JSON.stringify(summary, null, 1));
for (const f of fails) console.log('FAIL:', f);
stopping = true;
keepAlive.destroy();
await hub.cleanup();
await fake.stop();
process.exit(fails.length ? 1 : 0);
