// SPDX-License-Identifier: MIT
// The sandbox channel: Twilio simulated inside hubd. A simulated customer SMS enters through
// the real signed webhook path and becomes a conversation; the agent's reply goes through the
// outbox to the simulated Messages API and ends delivered by its signed callbacks, both in the
// conversation and in the simulator's list; the magic invalid number (+15005550001) fails with
// its code and reason, and a retry after fixing the contact's phone is delivered; keywords
// work on the sandbox too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub } from '../lib/hub.mjs';
import { makeTenant, currentSeq, sleep } from '../lib/client.mjs';

let hub, T, owner, sb;
const CUSTOMER = '+14155550123';

before(async () => {
	hub = await startHub({ env: { SB_PWHASH: 'min' } });
	T = await makeTenant(hub, 'Sandbox Co');
	owner = T.a.owner;
	const r = await owner.api('POST', '/api/v1/channels', { kind: 'sms', name: 'Sandbox', sandbox: true, config: { from: '+15005550006' } });
	assert.equal(r.status, 201, r.text);
	assert.equal(r.json.sandbox, true);
	sb = r.json;
});
after(async () => {
	await hub?.cleanup();
});

const simulate = (from, body) => owner.api('POST', `/api/v1/channels/${sb.id}/simulate`, { from, body });
const simulator = async (customer) => {
	const r = await owner.api('GET', `/api/v1/channels/${sb.id}/simulator?customer=${encodeURIComponent(customer)}`);
	assert.equal(r.status, 200, r.text);
	return r.json.messages;
};

async function waitStatus(conv, id, want, ms = 5000) {
	const end = Date.now() + ms;
	let m;
	while (Date.now() < end) {
		m = (await owner.api('GET', `/api/v1/conversations/${conv}/messages?limit=200`)).json.messages.find((x) => x.id === id);
		if (want.includes(m?.status)) return m;
		await sleep(30);
	}
	assert.fail(`message ${id} never reached ${want}: ${JSON.stringify(m)}`);
}

async function waitFor(what, fn, ms = 5000) {
	const end = Date.now() + ms;
	let last;
	while (Date.now() < end) {
		if ((last = await fn())) return last;
		await sleep(30);
	}
	assert.fail(`timed out: ${what}; last ${JSON.stringify(last)}`);
}

test('the sandbox channel has a generated account and its own webhook URLs; credentials never come back', async () => {
	assert.match(sb.webhook_urls.inbound, new RegExp(`^${hub.url}/webhooks/sms/[A-Za-z0-9_-]{20,}$`));
	const g = await owner.api('GET', `/api/v1/channels/${sb.id}`);
	assert.equal(g.status, 200);
	assert.doesNotMatch(g.text, /auth_token|AC[0-9a-f]{32}/, 'no credential in the channel view');
	// simulate is refused on a real (non-sandbox) channel
	const real = await owner.api('POST', '/api/v1/channels', { kind: 'sms', name: 'Real', config: { account_sid: 'AC' + '1'.repeat(32), auth_token: 'x', from: '+15005550007', api_base: 'http://127.0.0.1:9' } });
	assert.equal(real.status, 201);
	const s = await owner.api('POST', `/api/v1/channels/${real.json.id}/simulate`, { from: CUSTOMER, body: 'x' });
	assert.equal(s.status, 409, s.text);
	assert.equal((await owner.api('PATCH', `/api/v1/channels/${real.json.id}`, { active: false })).status, 200);
	// an agent cannot simulate (a write on channels needs admin)
	assert.equal((await T.a.agent.api('POST', `/api/v1/channels/${sb.id}/simulate`, { from: CUSTOMER, body: 'x' })).status, 403);
	assert.equal((await simulate('12345', 'x')).status, 400, 'from must be E.164');
});

let simConv, simSid;
test('a simulated customer SMS goes through the signed webhook into a conversation', async () => {
	const seq0 = await currentSeq(owner);
	const s = await simulate(CUSTOMER, 'Hi, do you deliver on weekends? A&B <ok>');
	assert.equal(s.status, 202, s.text);
	assert.equal(s.json.webhook_status, 200, 'the signed webhook accepted it');
	assert.match(s.json.sid, /^SM[0-9a-f]{32}$/);
	const ev = (await owner.api('GET', `/api/v1/events?after=${seq0}&limit=100`)).json.events;
	const created = ev.find((e) => e.event === 'message.created');
	assert.equal(created.data.body, 'Hi, do you deliver on weekends? A&B <ok>');
	assert.equal(created.data.provider_id, s.json.sid);
	assert.equal(created.data.channel_id, sb.id);
	assert.equal(created.data.direction, 'in');
	assert.ok(ev.some((e) => e.event === 'contact.created' && e.data.phone === CUSTOMER));
	simConv = created.data.conversation_id;
	simSid = s.json.sid;
	const list = await simulator(CUSTOMER);
	assert.deepEqual(list.map((x) => [x.sid, x.direction, x.body, x.status]), [[s.json.sid, 'from_customer', 'Hi, do you deliver on weekends? A&B <ok>', 'received']]);
	// the simulated provider really signs: the failure metric did not move
	const met = await (await fetch(`${hub.url}/metrics`)).text();
	assert.doesNotMatch(met, /sb_webhook_signature_failures_total\{kind="sms"\} [1-9]/);
});

test('the reply is delivered by the sandbox, in the conversation and in the simulator', async () => {
	const r = await T.a.agent.api('POST', `/api/v1/conversations/${simConv}/messages`, { body: 'Yes, Saturdays 9-5 & Sundays.', client_id: 'sb-1' });
	assert.equal(r.status, 201, r.text);
	const m = await waitStatus(simConv, r.json.id, ['delivered', 'failed']);
	assert.equal(m.status, 'delivered', JSON.stringify(m));
	assert.match(m.provider_id, /^SM[0-9a-f]{32}$/);
	const list = await simulator(CUSTOMER);
	assert.deepEqual(list.map((x) => [x.direction, x.body, x.status]), [
		['from_customer', 'Hi, do you deliver on weekends? A&B <ok>', 'received'],
		['to_customer', 'Yes, Saturdays 9-5 & Sundays.', 'delivered'],
	]);
	assert.equal(list[0].sid, simSid);
	assert.equal(list[1].sid, m.provider_id, 'the simulator and the hub agree on the sid');
	assert.deepEqual(await simulator('+14155550999'), []);
});

test('the magic invalid number fails with 21211 and a reason; retry after fixing the phone is delivered', async () => {
	const c = await owner.api('POST', '/api/v1/contacts', { name: 'Typo', phone: '+15005550001' });
	assert.equal(c.status, 201, c.text);
	const v = await owner.api('POST', '/api/v1/conversations', { contact_id: c.json.id, channel_id: sb.id });
	assert.equal(v.status, 201, v.text);
	const r = await T.a.agent.api('POST', `/api/v1/conversations/${v.json.id}/messages`, { body: 'Your order is ready', client_id: 'sb-magic' });
	assert.equal(r.status, 201, r.text);
	const failed = await waitStatus(v.json.id, r.json.id, ['failed', 'delivered']);
	assert.equal(failed.status, 'failed');
	assert.equal(failed.status_code, '21211');
	assert.equal(failed.status_reason, "The customer's number is not a valid phone number.");
	assert.equal((await simulator('+15005550001')).length, 0, 'the simulated provider created nothing');

	const p = await owner.api('PATCH', `/api/v1/contacts/${c.json.id}`, { phone: '+14155550777' });
	assert.equal(p.status, 200, p.text);
	const rt = await owner.api('POST', `/api/v1/messages/${r.json.id}/retry`);
	assert.equal(rt.status, 200, rt.text);
	const ok = await waitStatus(v.json.id, r.json.id, ['delivered', 'failed']);
	assert.equal(ok.status, 'delivered', JSON.stringify(ok));
	assert.equal(ok.status_code, null);
	assert.equal(ok.status_reason, null);
	const list = await simulator('+14155550777');
	assert.deepEqual(list.map((x) => [x.direction, x.body, x.status]), [['to_customer', 'Your order is ready', 'delivered']]);
	assert.equal(list[0].sid, ok.provider_id);
});

test('other magic numbers fail with their codes', async () => {
	for (const [phone, code] of [['+15005550002', '21612'], ['+15005550009', '21614'], ['+15005550003', '21408']]) {
		const c = await owner.api('POST', '/api/v1/contacts', { name: `Magic ${code}`, phone });
		const v = await owner.api('POST', '/api/v1/conversations', { contact_id: c.json.id, channel_id: sb.id });
		const r = await T.a.agent.api('POST', `/api/v1/conversations/${v.json.id}/messages`, { body: `to ${phone}` });
		const m = await waitStatus(v.json.id, r.json.id, ['failed', 'delivered']);
		assert.equal(m.status, 'failed');
		assert.equal(m.status_code, code, `${phone}: ${JSON.stringify(m)}`);
		assert.ok(m.status_reason && m.status_reason.length > 10, 'a plain reason');
	}
});

test('keywords on the sandbox: HELP is answered and shown in the simulator; STOP blocks replies, START lifts it', async () => {
	const who = '+14155550444';
	assert.equal((await owner.api('PUT', '/api/v1/settings', { sms_help_text: 'Sandbox Co help: reply STOP to stop.' })).status, 200);
	const h = await simulate(who, 'HELP');
	assert.equal(h.status, 202);
	await waitFor('help reply in the simulator', async () => (await simulator(who)).find((x) => x.direction === 'to_customer'));
	const list = await simulator(who);
	assert.deepEqual(list.map((x) => [x.direction, x.body]), [['from_customer', 'HELP'], ['to_customer', 'Sandbox Co help: reply STOP to stop.']]);

	const seq0 = await currentSeq(owner);
	assert.equal((await simulate(who, 'STOP')).status, 202);
	const conv = (await owner.api('GET', `/api/v1/events?after=${seq0}&limit=100`)).json.events.find((e) => e.event === 'message.created').data.conversation_id;
	const blocked = await T.a.agent.api('POST', `/api/v1/conversations/${conv}/messages`, { body: 'still there?' });
	assert.equal(blocked.status, 422, blocked.text);
	assert.equal(blocked.json.error.code, 'opted_out');
	assert.equal((await simulate(who, 'START')).status, 202);
	const ok = await T.a.agent.api('POST', `/api/v1/conversations/${conv}/messages`, { body: 'welcome back' });
	assert.equal(ok.status, 201, ok.text);
	// accepted by the simulated provider (its delivery is covered above)
	const m = await waitStatus(conv, ok.json.id, ['queued', 'sent', 'delivered', 'failed']);
	assert.match(m.provider_id ?? '', /^SM[0-9a-f]{32}$/, JSON.stringify(m));
});

test('without a customer the simulator lists the whole channel: the latest rows, oldest first', async () => {
	const r = await owner.api('GET', `/api/v1/channels/${sb.id}/simulator`);
	assert.equal(r.status, 200, r.text);
	const all = r.json.messages;
	// everything the earlier tests put on this channel, per customer, in the same order
	for (const who of [CUSTOMER, '+14155550777', '+14155550444']) {
		const mine = await simulator(who);
		assert.ok(mine.length > 0, who);
		assert.deepEqual(all.filter((x) => x.customer === who).map((x) => x.sid), mine.map((x) => x.sid), who);
	}
	const when = all.map((x) => Date.parse(x.created_at));
	assert.deepEqual([...when].sort((a, b) => a - b), when, 'oldest first');
	assert.equal(new Set(all.map((x) => x.sid)).size, all.length, 'each row once');
});

test('the sandbox survives a restart: simulate and reply still work', async () => {
	await hub.restart();
	const seq0 = await currentSeq(owner);
	assert.equal((await simulate('+14155550555', 'after restart')).status, 202);
	const conv = (await owner.api('GET', `/api/v1/events?after=${seq0}&limit=100`)).json.events.find((e) => e.event === 'message.created').data.conversation_id;
	const r = await T.a.agent.api('POST', `/api/v1/conversations/${conv}/messages`, { body: 'still here' });
	assert.equal(r.status, 201);
	const m = await waitStatus(conv, r.json.id, ['queued', 'sent', 'delivered', 'failed']);
	assert.match(m.provider_id ?? '', /^SM[0-9a-f]{32}$/, 'the sandbox account still authenticates after the restart');
});

// Regression (found by the whole-server fuzzer): a client that hangs up while its simulated SMS
// is on its way used to make the hub touch the freed request (a use-after-free under ASan).
test('clients that hang up during a simulated SMS leave the hub healthy, and the SMS still lands', async () => {
	const http = await import('node:http');
	const seq0 = await currentSeq(owner);
	const n = 20;
	for (let i = 0; i < n; i++) {
		const body = JSON.stringify({ from: '+14155550999', body: `hang up ${i}` });
		await new Promise((resolve) => {
			const req = http.request(`${hub.url}/api/v1/channels/${sb.id}/simulate`, {
				method: 'POST',
				headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Cookie: owner.cookie, 'X-CSRF-Token': owner.csrf },
			});
			req.on('error', () => resolve());
			req.end(body, () => setImmediate(() => { req.destroy(); resolve(); }));
		});
	}
	const end = Date.now() + 5000;
	let got = 0;
	while (Date.now() < end) {
		const ev = (await owner.api('GET', `/api/v1/events?after=${seq0}&limit=1000`)).json.events;
		got = ev.filter((e) => e.event === 'message.created' && /^hang up /.test(e.data.body)).length;
		if (got === n) break;
		await sleep(50);
	}
	assert.equal(got, n, 'every simulated SMS entered through the webhook');
	assert.equal((await owner.api('GET', '/healthz')).status, 200);
	assert.equal(hub.proc.exitCode, null, 'hubd is alive');
});

// A stop right after a sandbox reply was accepted by the simulated API: its status callbacks
// (sent 40 and 100 ms later by a timer) are still to come. hubd stops cleanly, freeing the
// sequences that wait on their timer (sb_sandbox_stop says how many: without it they were
// left on a destroyed loop), and after a restart the simulator still lists the reply.
test('a stop while a sandbox reply still waits for its callbacks exits cleanly', async () => {
	const seq0 = await currentSeq(owner);
	assert.equal((await simulate('+14155550444', 'before the stop')).status, 202);
	let conv;
	for (const end = Date.now() + 5000; !conv && Date.now() < end; await sleep(20))
		conv = (await owner.api('GET', `/api/v1/events?after=${seq0}&limit=100`)).json.events.find((e) => e.event === 'message.created')?.data.conversation_id;
	assert.ok(conv, 'the simulated SMS made a conversation');
	const r = await T.a.agent.api('POST', `/api/v1/conversations/${conv}/messages`, { body: 'stopping soon' });
	assert.equal(r.status, 201, r.text);
	// queued: the simulated API took it (a timer holds both callbacks); sent: one is left
	const m = await waitStatus(conv, r.json.id, ['queued', 'sent', 'delivered', 'failed'], 5000);
	assert.notEqual(m.status, 'failed', JSON.stringify(m));
	const st = await hub.stop();
	assert.deepEqual(st, { code: 0, signal: null }, hub.stderr().split('\n').filter((l) => /Sanitizer|leak|assert/i.test(l)).slice(0, 20).join('\n'));
	// the drain runs timers, so a slow stop may have let the callbacks finish; a quick one
	// (the usual case) finds them waiting and frees them
	const dropped = /msg=sandbox_callbacks_dropped n=(\d+)/.exec(hub.stderr());
	await hub.restart();
	const list = await simulator('+14155550444');
	const mine = list.find((x) => x.direction === 'to_customer' && x.body === 'stopping soon');
	assert.ok(mine, JSON.stringify(list));
	if (mine.status !== 'delivered')
		assert.ok(dropped && Number(dropped[1]) >= 1, `its callbacks were still to come (${mine.status}) and not freed at the stop`);
});
