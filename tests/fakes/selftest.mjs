// SPDX-License-Identifier: MIT
// Self-test of the fake Twilio provider and of tests/lib/twilio.mjs (node:test): the published
// signature vectors of PROVIDERS.md §1.4, Basic auth refusal, magic numbers, validation, scripted
// faults (429 then 201, timeout, reset), lookups, signed status callbacks and signed inbound
// webhooks checked by a receiver started here. Run: node --test tests/fakes/selftest.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import {
	twilioSignature, verifyTwilioSignature, formEncode, formDecode, bodySha256Url, smsSegments,
} from '../lib/twilio.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ACCOUNT = 'AC' + '3'.repeat(32);
const TOKEN = 'selftest_token';

/* ---- signature vectors (no fake needed) ---------------------------------------------------- */

const T_URL = 'https://mycompany.com/myapp.php?foo=1&bar=2';

test('T1: Twilio docs example', () => {
	const params = { CallSid: 'CA1234567890ABCDE', Caller: '+12349013030', Digits: '1234', From: '+12349013030', To: '+18005551212' };
	assert.equal(twilioSignature('12345', T_URL, params), '0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
});

test('T2: SDK test vector, as pairs in any order', () => {
	const pairs = [['To', '+18005551212'], ['Digits', '1234'], ['From', '+14158675309'], ['Caller', '+14158675309'], ['CallSid', 'CA1234567890ABCDE']];
	assert.equal(twilioSignature('12345', T_URL, pairs), 'RSOYDt4T1cUTdK1PDd93/VVr8B8=');
	assert.ok(verifyTwilioSignature('12345', T_URL, pairs, 'RSOYDt4T1cUTdK1PDd93/VVr8B8='));
	assert.ok(!verifyTwilioSignature('12345', T_URL, pairs, 'RSOYDt4T1cUTdK1PDd93/VVr8B8A'));
});

test('T7: JSON body via bodySHA256', () => {
	const url = bodySha256Url(T_URL, '{"property": "value", "boolean": true}');
	assert.equal(url, T_URL + '&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620');
	assert.equal(twilioSignature('12345', url, []), 'a9nBmqA0ju/hNViExpshrM61xv4=');
});

const S1 = 'SM' + '1'.repeat(32);
const MG = 'MG' + '2'.repeat(32);
const AC3 = 'AC' + '3'.repeat(32);
const S4 = 'SM' + '4'.repeat(32);

test('SMS-shaped inbound vector (empty fields signed, body round-trips)', () => {
	const body = `ToCountry=US&ToState=CA&SmsMessageSid=${S1}&NumMedia=0&ToCity=&FromZip=94105&SmsSid=${S1}&FromState=CA&SmsStatus=received&FromCity=SAN+FRANCISCO&Body=Hello+there%21&FromCountry=US&To=%2B14155550100&MessagingServiceSid=${MG}&ToZip=&NumSegments=1&MessageSid=${S1}&AccountSid=${AC3}&From=%2B14155550123&ApiVersion=2010-04-01`;
	const pairs = formDecode(body);
	assert.equal(formEncode(pairs), body);
	assert.equal(twilioSignature('test_auth_token', 'https://hub.example.com/webhooks/twilio/sms?tenant=acme', pairs), 'eP9h7by6SQlrkzY9qmU6uDdwovE=');
});

test('SMS-shaped status vector', () => {
	const body = `SmsSid=${S4}&SmsStatus=undelivered&MessageStatus=undelivered&To=%2B14155550123&MessagingServiceSid=${MG}&MessageSid=${S4}&AccountSid=${AC3}&From=%2B14155550100&ApiVersion=2010-04-01&ErrorCode=30003`;
	assert.equal(twilioSignature('test_auth_token', 'https://hub.example.com/webhooks/twilio/status', formDecode(body)), '6w45Of5ey9S7xIsbUut+LkIc27o=');
});

test('repeated names: values sorted, duplicates dropped', () => {
	const a = twilioSignature('k', 'http://x/', [['MediaUrl', 'b'], ['MediaUrl', 'a'], ['MediaUrl', 'b']]);
	assert.equal(a, twilioSignature('k', 'http://x/', { MediaUrl: ['a', 'b'] }));
});

test('segment vectors (§1.6)', () => {
	assert.equal(smsSegments('{' + '1'.repeat(158)), 1);
	assert.equal(smsSegments('{' + '1'.repeat(159)), 2);
	assert.equal(smsSegments('😜' + 'a'.repeat(68)), 1);
	assert.equal(smsSegments('😜' + 'a'.repeat(69)), 2);
	assert.equal(smsSegments('`'), 1);
	assert.equal(smsSegments('a'.repeat(306)), 2);
	assert.equal(smsSegments('a'.repeat(307)), 3);
});

/* ---- the fake, as a process ---------------------------------------------------------------- */

let fake; // { proc, base, control }
let receiver; // { server, url, hits: [{url, headers, body}], status }

before(async () => {
	const proc = spawn(process.execPath, [join(here, 'fake_twilio.mjs'), '--port', '0', '--host', '127.0.0.1', '--account', ACCOUNT, '--token', TOKEN], { stdio: ['ignore', 'pipe', 'inherit'] });
	let buf = '';
	const line = await new Promise((resolve, reject) => {
		proc.stdout.on('data', (c) => {
			buf += c;
			if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
		});
		proc.once('exit', (code) => reject(new Error(`fake exited ${code}`)));
	});
	const ready = JSON.parse(line);
	fake = { proc, base: `http://127.0.0.1:${ready.port}`, control: ready.control };
	assert.equal(ready.control, `${fake.base}/_fake`);

	receiver = { hits: [], status: 200 };
	receiver.server = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			receiver.hits.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
			const st = typeof receiver.status === 'function' ? receiver.status() : receiver.status;
			res.writeHead(st, { 'Content-Type': 'text/xml' });
			res.end('<?xml version="1.0" encoding="UTF-8"?><Response/>');
		});
	});
	receiver.server.listen(0, '127.0.0.1');
	await once(receiver.server, 'listening');
	receiver.url = `http://127.0.0.1:${receiver.server.address().port}`;
});

after(async () => {
	fake?.proc.kill('SIGTERM');
	if (fake) await once(fake.proc, 'exit');
	receiver?.server.closeAllConnections();
	receiver?.server.close();
});

async function ctl(method, path, body) {
	const r = await fetch(`${fake.control}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
	return r.json();
}

function basic(sid = ACCOUNT, token = TOKEN) {
	return 'Basic ' + Buffer.from(`${sid}:${token}`).toString('base64');
}

async function create(pairs, { auth = basic(), account = ACCOUNT, signal } = {}) {
	const r = await fetch(`${fake.base}/2010-04-01/Accounts/${account}/Messages.json`, {
		method: 'POST', body: formEncode(pairs), signal,
		headers: { Authorization: auth, 'Content-Type': 'application/x-www-form-urlencoded' },
	});
	return { status: r.status, headers: r.headers, json: await r.json() };
}

async function waitFor(pred, ms = 3000) {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		const v = await pred();
		if (v) return v;
		await new Promise((r) => setTimeout(r, 10));
	}
	throw new Error('condition not met in time');
}

const FROM = '+15005550006';
const TO = '+14155550100';

test('create: 201 with the fixture shape', async () => {
	await ctl('POST', '/reset');
	const r = await create([['To', TO], ['From', FROM], ['Body', 'Hello!']]);
	assert.equal(r.status, 201);
	const j = r.json;
	assert.deepEqual(Object.keys(j), ['account_sid', 'api_version', 'body', 'date_created', 'date_sent', 'date_updated', 'direction', 'error_code', 'error_message', 'from', 'messaging_service_sid', 'num_media', 'num_segments', 'price', 'price_unit', 'sid', 'status', 'subresource_uris', 'to', 'uri']);
	assert.match(j.sid, /^SM[0-9a-f]{32}$/);
	assert.equal(j.status, 'queued');
	assert.equal(j.num_segments, '1');
	assert.equal(j.num_media, '0');
	assert.equal(j.direction, 'outbound-api');
	assert.match(j.date_created, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
	assert.equal(j.uri, `/2010-04-01/Accounts/${ACCOUNT}/Messages/${j.sid}.json`);
	const msgs = await ctl('GET', '/messages');
	assert.equal(msgs.length, 1);
	assert.equal(msgs[0].sid, j.sid);
	assert.equal(msgs[0].body, 'Hello!');
});

test('create: UCS-2 segments, MessagingServiceSid only -> accepted, repeated MediaUrl', async () => {
	const u = await create([['To', TO], ['From', FROM], ['Body', '😜' + 'a'.repeat(69)]]);
	assert.equal(u.json.num_segments, '2');
	const s = await create([['To', TO], ['MessagingServiceSid', MG], ['Body', 'hi'], ['MediaUrl', 'http://127.0.0.1/a.jpg'], ['MediaUrl', 'http://127.0.0.1/b.jpg']]);
	assert.equal(s.status, 201);
	assert.equal(s.json.status, 'accepted');
	assert.equal(s.json.num_segments, '0');
	assert.equal(s.json.from, null);
	assert.equal(s.json.num_media, '2');
	const m = await ctl('GET', `/messages/${s.json.sid}`);
	assert.deepEqual(m.media, ['http://127.0.0.1/a.jpg', 'http://127.0.0.1/b.jpg']);
});

test('Basic auth refusal: 20003 envelope', async () => {
	const r = await create([['To', TO], ['From', FROM], ['Body', 'x']], { auth: basic(ACCOUNT, 'wrong') });
	assert.equal(r.status, 401);
	assert.deepEqual(r.json, { code: 20003, detail: 'Your AccountSid or AuthToken was incorrect.', message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 });
	const other = await create([['To', TO], ['From', FROM], ['Body', 'x']], { account: 'AC' + '9'.repeat(32) });
	assert.equal(other.status, 401);
});

test('validation: 21604, 21603, 21602, 21617', async () => {
	assert.equal((await create([['From', FROM], ['Body', 'x']])).json.code, 21604);
	assert.equal((await create([['To', TO], ['Body', 'x']])).json.code, 21603);
	assert.equal((await create([['To', TO], ['From', FROM]])).json.code, 21602);
	const long = await create([['To', TO], ['From', FROM], ['Body', 'x'.repeat(1601)]]);
	assert.equal(long.status, 400);
	assert.equal(long.json.code, 21617);
	assert.equal((await create([['To', TO], ['From', FROM], ['Body', 'x'.repeat(1600)]])).status, 201);
});

test('magic numbers', async () => {
	const cases = [
		[['To', '+15005550001'], ['From', FROM], 21211], [['To', '+15005550002'], ['From', FROM], 21612],
		[['To', '+15005550003'], ['From', FROM], 21408], [['To', '+15005550004'], ['From', FROM], 21610],
		[['To', '+15005550009'], ['From', FROM], 21614], [['To', TO], ['From', '+15005550001'], 21212],
		[['To', TO], ['From', '+15005550007'], 21606], [['To', TO], ['From', '+15005550008'], 21611],
	];
	for (const [to, from, code] of cases) {
		const r = await create([to, from, ['Body', 'x']]);
		assert.equal(r.status, 400, `${to[1]} ${from[1]}`);
		assert.deepEqual(Object.keys(r.json), ['code', 'message', 'more_info', 'status']);
		assert.equal(r.json.code, code);
		assert.equal(r.json.more_info, `https://www.twilio.com/docs/errors/${code}`);
	}
	const ok = await create([['To', '+15005550006'], ['From', FROM], ['Body', 'x']]);
	assert.equal(ok.status, 201);
});

test('script: 429 with Retry-After, then 201; request counters', async () => {
	await ctl('POST', '/reset');
	await ctl('POST', '/script', { steps: [{ action: '429', retry_after: '2' }, { action: 'error', code: 21610 }], default: '201' });
	const a = await create([['To', TO], ['From', FROM], ['Body', 'x']]);
	assert.equal(a.status, 429);
	assert.equal(a.headers.get('retry-after'), '2');
	assert.equal(a.json.code, 20429);
	const b = await create([['To', TO], ['From', FROM], ['Body', 'x']]);
	assert.equal(b.status, 400);
	assert.equal(b.json.code, 21610);
	const c = await create([['To', TO], ['From', FROM], ['Body', 'x']]);
	assert.equal(c.status, 201);
	const st = await ctl('GET', '/requests');
	assert.equal(st.requests, 3);
	assert.equal(st.created, 1);
	assert.ok(st.max_concurrent >= 1);
});

test('script: timeout creates the message and never answers; timeout_before does not create', async () => {
	await ctl('POST', '/reset');
	await ctl('POST', '/script', { steps: ['timeout', 'timeout_before'] });
	for (const expectCreated of [1, 1]) {
		await assert.rejects(create([['To', TO], ['From', FROM], ['Body', 'x']], { signal: AbortSignal.timeout(300) }), /abort|timeout/i);
		assert.equal((await ctl('GET', '/requests')).created, expectCreated);
	}
	assert.equal((await ctl('GET', '/messages')).length, 1);
});

test('script: reset after creating, reset_before without', async () => {
	await ctl('POST', '/reset');
	await ctl('POST', '/script', { steps: ['reset', 'reset_before', { action: 'delay', ms: 60, then: '500' }] });
	await assert.rejects(create([['To', TO], ['From', FROM], ['Body', 'x']]));
	await assert.rejects(create([['To', TO], ['From', FROM], ['Body', 'x']]));
	const t0 = Date.now();
	const r = await create([['To', TO], ['From', FROM], ['Body', 'x']]);
	assert.equal(r.status, 500);
	assert.ok(Date.now() - t0 >= 55);
	assert.equal((await ctl('GET', '/requests')).created, 1);
	assert.equal((await ctl('GET', '/requests')).requests, 3);
});

test('lookup: message JSON, status moves on; 404 envelope for unknown sid', async () => {
	await ctl('POST', '/reset');
	const c = await create([['To', TO], ['From', FROM], ['Body', 'look me up']]);
	await new Promise((r) => setTimeout(r, 60));
	const r = await fetch(`${fake.base}/2010-04-01/Accounts/${ACCOUNT}/Messages/${c.json.sid}.json`, { headers: { Authorization: basic() } });
	assert.equal(r.status, 200);
	const j = await r.json();
	assert.equal(j.sid, c.json.sid);
	assert.equal(j.status, 'delivered');
	assert.notEqual(j.date_sent, null);
	const sid404 = 'SM' + '0'.repeat(32);
	const n = await fetch(`${fake.base}/2010-04-01/Accounts/${ACCOUNT}/Messages/${sid404}.json`, { headers: { Authorization: basic() } });
	assert.equal(n.status, 404);
	assert.equal((await n.json()).code, 20404);
});

test('status callbacks: sent then delivered, signed, idempotency token, retried on 5xx', async () => {
	await ctl('POST', '/reset');
	receiver.hits = [];
	let calls = 0;
	receiver.status = () => (++calls === 1 ? 500 : 200); // the first delivery fails once
	await ctl('POST', '/callbacks', { mode: 'normal', delays_ms: [20, 150], retry_base_ms: 10 });
	const cbUrl = `${receiver.url}/webhooks/sms/status-key?x=1`;
	const c = await create([['To', TO], ['From', FROM], ['Body', 'cb'], ['StatusCallback', cbUrl]]);
	await waitFor(() => receiver.hits.length >= 3);
	receiver.status = 200;
	const byStatus = (st) => receiver.hits.filter((h) => Object.fromEntries(formDecode(h.body)).MessageStatus === st);
	const [first, retry] = byStatus('sent');
	const [second] = byStatus('delivered');
	assert.equal(receiver.hits[0], first);
	assert.equal(receiver.hits.length, 3);
	for (const h of receiver.hits) {
		const params = formDecode(h.body);
		assert.equal(h.headers['content-type'], 'application/x-www-form-urlencoded');
		assert.ok(verifyTwilioSignature(TOKEN, cbUrl, params, h.headers['x-twilio-signature']), 'signature');
		assert.ok(h.headers['i-twilio-idempotency-token']);
		const p = Object.fromEntries(params);
		assert.equal(p.MessageSid, c.json.sid);
		assert.equal(p.SmsSid, c.json.sid);
		assert.equal(p.MessageStatus, p.SmsStatus);
		assert.equal(p.AccountSid, ACCOUNT);
		assert.equal(p.ApiVersion, '2010-04-01');
	}
	assert.equal(first.headers['i-twilio-idempotency-token'], retry.headers['i-twilio-idempotency-token']);
	assert.equal(first.body, retry.body);
	assert.equal(Object.fromEntries(formDecode(second.body)).MessageStatus, 'delivered');
	assert.notEqual(first.headers['i-twilio-idempotency-token'], second.headers['i-twilio-idempotency-token']);
	assert.equal(formDecode(first.body)[0][0], 'MessageStatus');
});

test('status callbacks: undelivered with ErrorCode, out_of_order and duplicate modes', async () => {
	await ctl('POST', '/reset');
	receiver.hits = [];
	await ctl('POST', '/callbacks', { mode: 'out_of_order', statuses: ['sent', 'undelivered'], error_code: 30003, delays_ms: [10, 100] });
	await create([['To', TO], ['From', FROM], ['Body', 'x'], ['StatusCallback', `${receiver.url}/s`]]);
	await waitFor(() => receiver.hits.length >= 2);
	const ps = receiver.hits.map((h) => Object.fromEntries(formDecode(h.body)));
	assert.deepEqual(ps.map((p) => p.MessageStatus), ['undelivered', 'sent']);
	assert.equal(ps[0].ErrorCode, '30003');
	assert.equal(ps[1].ErrorCode, undefined);

	await ctl('POST', '/reset');
	receiver.hits = [];
	await ctl('POST', '/callbacks', { mode: 'duplicate', delays_ms: [10, 100] });
	await create([['To', TO], ['From', FROM], ['Body', 'x'], ['StatusCallback', `${receiver.url}/s`]]);
	await waitFor(() => receiver.hits.length >= 4);
	assert.deepEqual(receiver.hits.map((h) => Object.fromEntries(formDecode(h.body)).MessageStatus), ['sent', 'sent', 'delivered', 'delivered']);
	await ctl('POST', '/callbacks', { mode: 'normal' });
});

test('inbound: Twilio order, empty geo fields, signed; repeated deliveries share the token', async () => {
	await ctl('POST', '/reset');
	receiver.hits = [];
	const url = `${receiver.url}/webhooks/sms/key123`;
	const r = await ctl('POST', '/inbound', { url, token: TOKEN, from: '+14155550123', to: '+14155550100', body: 'Hello there!', times: 2, concurrent: true });
	assert.equal(r.status, 200);
	assert.match(r.body, /<Response\/>/);
	assert.equal(r.results.length, 2);
	assert.equal(receiver.hits.length, 2);
	const [h1, h2] = receiver.hits;
	assert.equal(h1.body, h2.body);
	assert.equal(h1.headers['i-twilio-idempotency-token'], h2.headers['i-twilio-idempotency-token']);
	const params = formDecode(h1.body);
	assert.ok(verifyTwilioSignature(TOKEN, url, params, h1.headers['x-twilio-signature']));
	const names = params.map(([k]) => k);
	assert.deepEqual(names.slice(0, 6), ['ToCountry', 'ToState', 'SmsMessageSid', 'NumMedia', 'ToCity', 'FromZip']);
	const p = Object.fromEntries(params);
	assert.equal(p.ToCity, '');
	assert.equal(p.MessageSid, p.SmsSid);
	assert.equal(p.MessageSid, p.SmsMessageSid);
	assert.equal(p.SmsStatus, 'received');
	assert.equal(p.Body, 'Hello there!');
	assert.equal(p.NumSegments, '1');
	assert.match(h1.body, /Body=Hello\+there%21/);
});

test('inbound STOP blocks the pair with 21610 until START', async () => {
	await ctl('POST', '/reset');
	const url = `${receiver.url}/webhooks/sms/key123`;
	await ctl('POST', '/inbound', { url, token: TOKEN, from: '+14155550123', to: FROM, body: ' stop ' });
	const blocked = await create([['To', '+14155550123'], ['From', FROM], ['Body', 'x']]);
	assert.equal(blocked.json.code, 21610);
	await ctl('POST', '/inbound', { url, token: TOKEN, from: '+14155550123', to: FROM, body: 'START' });
	assert.equal((await create([['To', '+14155550123'], ['From', FROM], ['Body', 'x']])).status, 201);
});
