// SPDX-License-Identifier: MIT
// No blind resends of an outbound message: when the provider took the request and the connection
// then dies before an answer, the hub must treat the outcome as ambiguous and reconcile it (status
// callback or lookup), never send it again. The kill -9 harness found libcurl doing exactly that
// on reused keep-alive connections; hub/httpc.c now refuses a transfer's second attempt in the
// pre-request callback, so libcurl fails the transfer instead, and tests/crash/crash.mjs runs the
// 'reset' fault.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub } from '../lib/hub.mjs';
import { startFake, tenantWithSms, newSid, inboundParams, signedWebhook, postWebhook, sql, sleep } from './fixture.mjs';

let fake, hub, s, conv;
before(async () => {
	fake = await startFake();
	hub = await startHub({ env: { SB_PWHASH: 'min', SB_RECONCILE_MS: '2000', SB_SEND_TIMEOUT_MS: '1000' } });
	s = await tenantWithSms(hub, fake, 'Resend Co');
	const r = await postWebhook(signedWebhook(s.inbound, s.token, inboundParams({ sid: newSid(), from: '+14155550142', to: s.from, body: 'hi', account: s.account })));
	assert.equal(r.status, 200);
	conv = (await s.owner.api('GET', '/api/v1/conversations')).json.conversations[0].id;
});
after(async () => {
	await hub?.cleanup();
	await fake?.stop();
});

async function sendWith(steps, tag) {
	await fake.ctl('POST', '/script', { steps, default: '201' });
	const body = `resend probe ${tag}`;
	const warm = await s.owner.api('POST', `/api/v1/conversations/${conv}/messages`, { body: `warm ${tag}`, client_id: `warm-${tag}` });
	assert.equal(warm.status, 201);
	await sleep(300); // the warm-up send leaves a kept-alive connection to the fake
	const r = await s.owner.api('POST', `/api/v1/conversations/${conv}/messages`, { body, client_id: `p-${tag}` });
	assert.equal(r.status, 201);
	for (let i = 0; i < 50; i++) {
		const row = sql(hub.dbPath, `SELECT state FROM outbox WHERE message_id = ${r.json.id}`)[0];
		if (row && row.state >= 4) break;
		await sleep(100);
	}
	const created = (await fake.ctl('GET', '/messages')).filter((m) => m.body === body).length;
	const row = sql(hub.dbPath, `SELECT m.status, m.status_code, o.attempts FROM messages m JOIN outbox o ON o.message_id = m.id WHERE m.id = ${r.json.id}`)[0];
	return { created, row };
}

test('a fresh connection reset after the provider created the message: created once, never resent', async () => {
	const { created, row } = await sendWith(['reset'], 'fresh');
	assert.ok(created <= 1, `created ${created} times`);
	assert.ok(row.status !== 'failed' || row.status_code, JSON.stringify(row));
});

test('a reused keep-alive connection reset after the provider created the message: created once, never resent', async () => {
	const { created, row } = await sendWith(['201', 'reset'], 'reused');
	assert.equal(created, 1, `the provider created it ${created} times (hub: ${JSON.stringify(row)})`);
});

test('a reused connection reset before the provider read it: the hub does not resend by itself (ambiguous -> unconfirmed)', async () => {
	const before = (await fake.ctl('GET', '/requests')).requests;
	const { row } = await sendWith(['201', 'reset_before'], 'reused-before');
	const after = (await fake.ctl('GET', '/requests')).requests;
	// warm-up (1) + probe (1): a third request is libcurl's blind resend
	assert.equal(after - before, 2, `the provider saw ${after - before} requests for 2 sends (hub: ${JSON.stringify(row)})`);
});
