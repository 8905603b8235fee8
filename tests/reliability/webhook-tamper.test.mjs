// SPDX-License-Identifier: MIT
// Signed webhooks: 1,000+ tampered deliveries (each body byte, each parameter, the signed URL's
// host, port, scheme, path and query, the token, the signature, and another tenant's secret) are
// all refused with 403 and write nothing; replays of a genuine delivery (sequential, concurrent,
// after a restart) answer 2xx and leave exactly one row.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub } from '../lib/hub.mjs';
import { pool } from '../lib/client.mjs';
import { twilioSignature, formEncode } from '../lib/twilio.mjs';
import { startFake, tenantWithSms, newSid, inboundParams, signedWebhook, postWebhook, sql, request } from './fixture.mjs';

let fake, hub, A, B;
before(async () => {
	fake = await startFake();
	hub = await startHub({ env: { SB_PWHASH: 'min' } });
	A = await tenantWithSms(hub, fake, 'Tamper A', { account: 'AC' + 'a'.repeat(32), token: 'token_of_tenant_a_0123456789' });
	B = await tenantWithSms(hub, fake, 'Tamper B', { account: 'AC' + 'b'.repeat(32), token: 'token_of_tenant_b_9876543210' });
});
after(async () => {
	await hub?.cleanup();
	await fake?.stop();
});

const counts = () => sql(hub.dbPath, "SELECT (SELECT COUNT(*) FROM messages) AS messages, (SELECT COUNT(*) FROM inbound_dedupe) AS dedupe, (SELECT COUNT(*) FROM events) AS events, (SELECT COUNT(*) FROM contacts) AS contacts, (SELECT COUNT(*) FROM conversations) AS conversations, (SELECT COUNT(*) FROM opt_outs) AS opt_outs")[0];

const HEX = '0123456789ABCDEF';
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

// Every tampered variant of one genuine delivery: {name, url, body, headers}.
function variants(w, params, token) {
	const out = [];
	const good = w.headers;
	const sig = good['X-Twilio-Signature'];
	const withHeaders = (name, h, body = w.body, url = w.url) => out.push({ name, url, body, headers: h });
	// each byte of the body, twice, replaced so the form stays well-formed (hex digits stay hex)
	const b = Buffer.from(w.body);
	for (let i = 0; i < b.length; i++) {
		const inEscape = (i >= 1 && b[i - 1] === 0x25) || (i >= 2 && b[i - 2] === 0x25);
		const alphabet = inEscape ? HEX : ALNUM;
		let n = 0;
		for (let j = (i * 7) % alphabet.length; n < 2; j = (j + 13) % alphabet.length) {
			const c = alphabet.charCodeAt(j);
			if (c === b[i] || (inEscape && String.fromCharCode(c).toUpperCase() === String.fromCharCode(b[i]).toUpperCase())) continue;
			const t = Buffer.from(b);
			t[i] = c;
			withHeaders(`byte ${i} ${String.fromCharCode(b[i])}->${String.fromCharCode(c)}`, good, t.toString());
			n++;
		}
	}
	// each parameter: value changed, removed, repeated with another value, name case changed
	for (let i = 0; i < params.length; i++) {
		const [k, v] = params[i];
		const changed = params.map((p, j) => (j === i ? [k, v + 'x'] : p));
		withHeaders(`param ${k} changed`, good, formEncode(changed));
		withHeaders(`param ${k} removed`, good, formEncode(params.filter((_, j) => j !== i)));
		withHeaders(`param ${k} repeated`, good, formEncode([...params, [k, v + '2']]));
		withHeaders(`param ${k} renamed`, good, formEncode(params.map((p, j) => (j === i ? [k.toLowerCase(), v] : p))));
	}
	withHeaders('param added', good, formEncode([...params, ['Extra', '1']]));
	withHeaders('body empty', good, '');
	// (not tampering: the same body twice, since Twilio signs each distinct value once, and a
	// signature with leading blanks, which HTTP strips from every header value)
	// the URL the signature covers: scheme, host, port, path, query, trailing bits
	const u = new URL(w.url);
	const signed = [
		u.href.replace('http:', 'https:'), u.href.replace('127.0.0.1', 'localhost'), u.href.replace('127.0.0.1', '127.0.0.2'),
		u.href.replace(`:${u.port}`, ''), u.href.replace(`:${u.port}`, `:${Number(u.port) + 1}`), u.href.replace(`:${u.port}`, ':80'), u.href.replace(`:${u.port}`, ':443'),
		u.href + '/', u.href + '?', u.href + '?a=1', u.href + '#x', u.href.replace('/webhooks/', '/webhooks//'), u.href.replace('/webhooks/sms/', '/webhooks/SMS/'),
		u.href.toUpperCase(), u.href.slice(0, -1), u.href.replace('/sms/', '/facebook/'), u.href + '/status', 'http://' + u.host, '',
		u.href.replace('http://', 'http://user@'), u.href.replace('http://', 'HTTP://'), u.href + '%20', B.inbound,
	];
	for (const s of signed) withHeaders(`signed url ${s}`, { ...good, 'X-Twilio-Signature': twilioSignature(token, s, params) });
	// posted with a query the signature did not cover
	withHeaders('posted with ?x=1', good, w.body, w.url + '?x=1');
	withHeaders('posted with ?o=1', good, w.body, w.url + '?o=1');
	// the token
	for (const t of [token + 'x', token.slice(0, -1), '', token.toUpperCase(), ' ' + token, token + '\n', 'x'.repeat(token.length), B.token])
		withHeaders(`token ${JSON.stringify(t).slice(0, 20)}`, { ...good, 'X-Twilio-Signature': twilioSignature(t, w.url, params) });
	// the signature: every character, then forms of it
	const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
	for (let i = 0; i < sig.length; i++)
		for (const d of [1, 32]) {
			const c = sig[i] === '=' ? 'A' : B64[(B64.indexOf(sig[i]) + d) % 64];
			withHeaders(`sig char ${i}+${d}`, { ...good, 'X-Twilio-Signature': sig.slice(0, i) + c + sig.slice(i + 1) });
		}
	const noSig = { ...good };
	delete noSig['X-Twilio-Signature'];
	withHeaders('sig missing', noSig);
	for (const s of ['', sig.slice(0, -1), sig + 'A', sig + '=', sig.toLowerCase(), sig + ',' + sig, Buffer.from(sig, 'base64').toString('hex'), 'A'.repeat(28), sig.replace('=', '')])
		withHeaders(`sig form ${s.slice(0, 12)}`, { ...good, 'X-Twilio-Signature': s });
	// another tenant's secret: B's token over A's URL; B's genuine delivery replayed at A
	withHeaders("tenant B's token on A's URL", { ...good, 'X-Twilio-Signature': twilioSignature(B.token, w.url, params) });
	const pb = inboundParams({ sid: newSid(), from: '+14155550177', to: B.from, body: 'for B', account: B.account });
	const wb = signedWebhook(B.inbound, B.token, pb);
	withHeaders("B's genuine delivery posted to A", wb.headers, wb.body);
	withHeaders("B's delivery re-signed for A's URL with B's token", { ...wb.headers, 'X-Twilio-Signature': twilioSignature(B.token, w.url, pb) }, wb.body);
	return out;
}

test('1,000+ tampered webhooks are all refused 403 and nothing is written', async () => {
	const params = inboundParams({ sid: newSid(), from: '+14155550123', to: A.from, body: 'tamper me: every byte of this delivery is varied', account: A.account });
	const w = signedWebhook(A.inbound, A.token, params);
	const vs = variants(w, params, A.token);
	assert.ok(vs.length >= 1000, `${vs.length} variants`);
	const before = counts();
	const res = await pool(vs, 16, async (v) => ({ v, r: await request('POST', v.url, v.body, v.headers) }));
	const wrong = res.filter(({ r }) => r.status !== 403).map(({ v, r }) => `${v.name}: ${r.status} ${r.body ?? r.error}`);
	assert.deepEqual(wrong, [], `${wrong.length} of ${vs.length} not refused 403`);
	assert.deepEqual(counts(), before, 'nothing written');
	const m = await request('GET', `${hub.url}/metrics`);
	const failures = Number(/sb_webhook_signature_failures_total\{kind="sms"\} (\d+)/.exec(m.body)?.[1] ?? 0);
	assert.ok(failures >= vs.length, `metrics count ${failures} signature failures`);
	console.log(`tamper: ${vs.length} variants, all 403, nothing written`);
	// and the genuine one still goes in
	const ok = await postWebhook(w);
	assert.equal(ok.status, 200, ok.body);
	assert.equal(sql(hub.dbPath, `SELECT COUNT(*) AS n FROM messages WHERE provider_id = '${params.find(([k]) => k === 'MessageSid')[1]}'`)[0].n, 1);
});

test('replays of a genuine delivery answer 2xx and leave one row, also after a restart', async () => {
	const sid = newSid();
	const w = signedWebhook(A.inbound, A.token, inboundParams({ sid, from: '+14155550124', to: A.from, body: 'replay me', account: A.account }));
	const rows = () => sql(hub.dbPath, `SELECT COUNT(*) AS n FROM messages WHERE provider_id = '${sid}'`)[0].n;
	for (let i = 0; i < 10; i++) assert.equal((await postWebhook(w)).status, 200);
	const conc = await Promise.all(Array.from({ length: 20 }, () => postWebhook(w)));
	assert.deepEqual(conc.map((r) => r.status), Array(20).fill(200));
	assert.equal(rows(), 1);
	await hub.restart();
	for (let i = 0; i < 5; i++) assert.equal((await postWebhook(w)).status, 200);
	assert.equal(rows(), 1);
	assert.equal(sql(hub.dbPath, `SELECT COUNT(*) AS n FROM inbound_dedupe WHERE provider_id = '${sid}'`)[0].n, 1);
	const ev = sql(hub.dbPath, `SELECT COUNT(*) AS n FROM events WHERE type = 'message.created' AND frame LIKE '%replay me%'`)[0].n;
	assert.equal(ev, 1, 'one message.created event');
});
