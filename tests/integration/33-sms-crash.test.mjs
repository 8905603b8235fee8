// SPDX-License-Identifier: MIT
// kill -9 of hubd between the agent's send and the provider's answer. The fake Twilio takes
// 300 ms before it creates a message (a client that hangs up first never gets it created);
// hubd is killed at a random 0-400 ms after the send is accepted and restarted on the same
// database and port, eight times. Afterwards every accepted message is there, in a final
// state that agrees with the fake: created once -> delivered (its callbacks reach the
// restarted hub), never created -> failed "unconfirmed" (visible, never resent blindly); the
// fake never holds two creates for one message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startHub, runHubCli } from '../lib/hub.mjs';
import { api, makeTenant, sleep } from '../lib/client.mjs';
import { startFake } from '../lib/fake.mjs';

const FROM = '+15005550006';
const RECONCILE_MS = 1500;
const ROUNDS = 8;

let hub, fake, T, ch;

before(async () => {
	fake = await startFake();
	// the create lands 300 ms after the request arrives; callbacks are retried long enough to
	// outlive a restart of the hub
	await fake.ctl('POST', '/script', { steps: [], default: { action: 'delay', ms: 300, then: '201' } });
	await fake.ctl('POST', '/callbacks', { mode: 'normal', retries: 8, retry_base_ms: 150 });
	hub = await startHub({ env: { SB_PWHASH: 'min', SB_SEND_TIMEOUT_MS: '3000', SB_RECONCILE_MS: String(RECONCILE_MS) } });
	T = await makeTenant(hub, 'Crash SMS');
	const r = await T.a.owner.api('POST', '/api/v1/channels', { kind: 'sms', name: 'Main', config: { account_sid: fake.account, auth_token: fake.token, from: FROM, api_base: fake.base } });
	assert.equal(r.status, 201, r.text);
	ch = r.json;
});
after(async () => {
	await hub?.cleanup();
	fake?.stop();
});

async function messagesOf(conv) {
	const r = await T.a.owner.api('GET', `/api/v1/conversations/${conv}/messages?limit=200`);
	assert.equal(r.status, 200, r.text);
	return r.json.messages;
}

test(`kill -9 at random points between the send and the provider's answer, ${ROUNDS} times: nothing lost, nothing sent twice`, async (t) => {
	const sent = []; // {conv, phone, id, body, round, killAfter}
	for (let round = 0; round < ROUNDS; round++) {
		const phone = `+1415555${String(3000 + round).padStart(4, '0')}`;
		const c = await T.a.owner.api('POST', '/api/v1/contacts', { name: `Crash ${round}`, phone });
		assert.equal(c.status, 201, c.text);
		const v = await T.a.owner.api('POST', '/api/v1/conversations', { contact_id: c.json.id, channel_id: ch.id });
		assert.equal(v.status, 201, v.text);
		// two sends per round, the second while the first is in flight
		const killAfter = Math.floor(Math.random() * 401);
		for (let k = 0; k < 2; k++) {
			const body = `crash round ${round} msg ${k}`;
			const r = await T.a.agent.api('POST', `/api/v1/conversations/${v.json.id}/messages`, { body, client_id: `crash-${round}-${k}` });
			assert.equal(r.status, 201, r.text);
			sent.push({ conv: v.json.id, phone, id: r.json.id, body, round, killAfter });
			if (k === 0) await sleep(Math.floor(killAfter / 2));
		}
		await sleep(Math.ceil(killAfter / 2));
		const exit = await hub.kill9();
		assert.equal(exit.signal, 'SIGKILL');
		const chk = await runHubCli(null, ['check'], { db: hub.dbPath });
		assert.equal(chk.code, 0, chk.stderr);
		await hub.restart();
	}

	// every accepted message reaches a final state
	const FINAL = ['delivered', 'failed', 'undelivered'];
	const deadline = Date.now() + RECONCILE_MS + 15000;
	let pending = sent;
	const byId = new Map();
	while (pending.length && Date.now() < deadline) {
		for (const conv of new Set(pending.map((s) => s.conv)))
			for (const m of await messagesOf(conv)) byId.set(m.id, m);
		pending = sent.filter((s) => !FINAL.includes(byId.get(s.id)?.status));
		if (pending.length) await sleep(100);
	}
	await sleep(500); // a blind resend, if any, would reach the fake now
	const all = await fake.ctl('GET', '/messages');
	const report = sent.map((s) => {
		const m = byId.get(s.id);
		return { round: s.round, kill_ms: s.killAfter, body: s.body, status: m?.status ?? 'LOST', code: m?.status_code ?? null, creates: all.filter((f) => f.body === s.body).length, sid: m?.provider_id ?? null };
	});
	const msg = JSON.stringify(report, null, 1);
	for (const r of report) {
		assert.notEqual(r.status, 'LOST', `message lost: ${msg}`);
		assert.ok(FINAL.includes(r.status), `not final: ${msg}`);
		assert.ok(r.creates <= 1, `created twice at the provider: ${msg}`);
		if (r.creates === 1) {
			assert.equal(r.status, 'delivered', `the provider has it, the hub must say so: ${msg}`);
			assert.equal(r.sid, all.find((f) => f.body === r.body).sid);
		} else {
			assert.equal(r.status, 'failed', `never created must not show as sent: ${msg}`);
			assert.equal(r.code, 'unconfirmed', msg);
		}
	}
	// each message once in its thread, bodies intact
	for (const conv of new Set(sent.map((s) => s.conv))) {
		const ms = await messagesOf(conv);
		assert.equal(ms.length, 2);
		assert.equal(new Set(ms.map((m) => m.client_id)).size, 2);
	}
	const c = await fake.ctl('GET', '/requests');
	assert.equal(c.created, all.length);
	assert.ok(c.created <= sent.length);
	t.diagnostic(`outcomes: ${report.map((r) => `${r.kill_ms}ms:${r.status}/${r.creates}`).join(' ')}`);
});
