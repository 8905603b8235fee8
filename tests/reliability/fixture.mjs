// SPDX-License-Identifier: MIT
// Shared by the crash harness (tests/crash) and the reliability tests (tests/reliability): the
// fake Twilio as a child process, a tenant with an owner and an SMS channel pointing at the fake,
// signed inbound webhooks (as a provider sends them), read-only sqlite queries, /proc sampling.
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import { REPO_ROOT } from '../lib/hub.mjs';
import { makeTenant } from '../lib/client.mjs';
import { twilioSignature, formEncode } from '../lib/twilio.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Start tests/fakes/fake_twilio.mjs on a free port. Resolves {port, control, account, token,
// base, ctl(method, path, body), stop()}.
export async function startFake(extraArgs = []) {
	const p = spawn(process.execPath, [join(REPO_ROOT, 'tests/fakes/fake_twilio.mjs'), '--port', '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
	const line = await new Promise((res, rej) => {
		const rl = createInterface({ input: p.stdout });
		rl.once('line', res);
		p.once('exit', (c) => rej(new Error(`fake_twilio exited ${c}`)));
	});
	const info = JSON.parse(line);
	process.on('exit', () => { try { p.kill('SIGKILL'); } catch { /* gone */ } });
	const base = `http://127.0.0.1:${info.port}`;
	return {
		...info, base, proc: p,
		ctl: async (method, path, body) => {
			const r = await request(method, `${base}/_fake${path}`, body == null ? null : JSON.stringify(body), { 'Content-Type': 'application/json' });
			return JSON.parse(r.body || 'null');
		},
		stop: () => new Promise((res) => { p.once('exit', res); p.kill('SIGTERM'); }),
	};
}

// One HTTP request; resolves {status, body, headers} or {status: 0, error}. Never rejects.
export function request(method, url, body, headers = {}, { timeoutMs = 10000, agent = false } = {}) {
	return new Promise((resolve) => {
		const t0 = process.hrtime.bigint();
		const h = { ...headers };
		if (body != null) h['Content-Length'] = Buffer.byteLength(body);
		const req = http.request(url, { method, headers: h, agent, timeout: timeoutMs }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
			res.on('error', (e) => resolve({ status: 0, error: e.message }));
		});
		req.on('timeout', () => req.destroy(new Error('timeout')));
		req.on('error', (e) => resolve({ status: 0, error: e.message, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
		req.end(body ?? undefined);
	});
}

// A tenant (owner) plus an SMS channel whose api_base is the fake. Resolves
// {t, owner, channel, inbound, status, token, account, from}.
export async function tenantWithSms(hub, fake, name, { account, token } = {}) {
	const t = await makeTenant(hub, name, [{ key: 'owner', email: `owner@${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.test`, role: 'owner' }]);
	const acct = account ?? fake.account;
	const tok = token ?? fake.token;
	if (account) await fake.ctl('POST', '/accounts', { sid: acct, token: tok });
	const from = '+1415555' + String(1000 + Math.floor(Math.random() * 8999));
	const r = await t.a.owner.api('POST', '/api/v1/channels', { kind: 'sms', name: 'main', config: { account_sid: acct, auth_token: tok, from, api_base: fake.base } });
	if (r.status !== 201 && r.status !== 200) throw new Error(`create channel: ${r.status} ${r.text}`);
	const ch = r.json;
	return { t, owner: t.a.owner, channel: ch, inbound: ch.webhook_urls.inbound, status: ch.webhook_urls.status, token: tok, account: acct, from };
}

export function newSid() {
	return 'SM' + randomBytes(16).toString('hex');
}

// Twilio's inbound parameters for one message (the shape of PROVIDERS.md §1.1).
export function inboundParams({ sid, from, to, body, account }) {
	return [
		['ToCountry', 'US'], ['ToState', ''], ['SmsMessageSid', sid], ['NumMedia', '0'], ['ToCity', ''], ['FromZip', ''],
		['SmsSid', sid], ['FromState', ''], ['SmsStatus', 'received'], ['FromCity', ''], ['Body', body], ['FromCountry', 'US'],
		['To', to], ['ToZip', ''], ['NumSegments', '1'], ['MessageSid', sid], ['AccountSid', account], ['From', from], ['ApiVersion', '2010-04-01'],
	];
}

// A signed webhook ready to post: {url, body, headers}. signUrl defaults to url.
export function signedWebhook(url, token, params, { signUrl } = {}) {
	const body = formEncode(params);
	return { url, body, headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': twilioSignature(token, signUrl ?? url, params), 'I-Twilio-Idempotency-Token': randomBytes(8).toString('hex') } };
}

export function postWebhook(w, opts) {
	return request('POST', w.url, w.body, w.headers, opts);
}

// Read-only query through the sqlite3 CLI (-readonly, JSON output). Retries while locked.
// The answer may be large (the crash harness reads every inbound MessageSid: ~1 MB at K=60,
// past execFileSync's default 1 MiB buffer, so `make crash K=500` failed in its checks).
export function sql(db, query) {
	for (let i = 0; ; i++) {
		try {
			const out = execFileSync('sqlite3', ['-readonly', '-json', '-cmd', '.timeout 5000', db, query], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
			return out.trim() ? JSON.parse(out) : [];
		} catch (e) {
			if (i >= 5) throw e;
			execFileSync('sleep', ['0.2']);
		}
	}
}

// RSS (kB) and open file count of a pid, from /proc.
export function procSample(pid) {
	const st = readFileSync(`/proc/${pid}/status`, 'utf8');
	const rss = Number(/VmRSS:\s+(\d+)/.exec(st)?.[1] ?? 0);
	const fds = readdirSync(`/proc/${pid}/fd`).length;
	return { rssKb: rss, fds };
}

export function percentile(sorted, p) {
	if (!sorted.length) return 0;
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
