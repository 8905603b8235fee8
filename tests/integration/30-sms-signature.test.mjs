// SPDX-License-Identifier: MIT
// X-Twilio-Signature on the SMS webhooks of a real hub (PROVIDERS.md §1.4): the SMS-shaped
// vector reproduced and then delivered signed over the channel's own webhook URL; every
// single-byte change of the body, a parameter, the signed URL (path, port, scheme, host), the
// token and the signature is refused 403 and writes nothing (event seq unchanged, the failure
// metric counts each one); the default-port spelling (:80) still verifies; a wrong channel key
// is 404; another tenant's token is refused.
// The hub runs with a public URL without a port (http://sms.example.test) so that the
// default-port variant can be exercised; requests go to its real loopback address.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startHub } from '../lib/hub.mjs';
import { makeTenant, currentSeq } from '../lib/client.mjs';
import { formEncode, formDecode, twilioSignature, twilioSignatureString } from '../lib/twilio.mjs';

const PUBLIC = 'http://sms.example.test';
const TOKEN = 'test_auth_token';
const OTHER_TOKEN = 'other_tenant_token_0123456789';
const SM1 = 'SM' + '1'.repeat(32);
const MG2 = 'MG' + '2'.repeat(32);
const AC3 = 'AC' + '3'.repeat(32);

// PROVIDERS.md §1.4, "Vectors computed for SMS-shaped traffic", body in Twilio's order.
const VECTOR_URL = 'https://hub.example.com/webhooks/twilio/sms?tenant=acme';
const VECTOR_BODY = `ToCountry=US&ToState=CA&SmsMessageSid=${SM1}&NumMedia=0&ToCity=&FromZip=94105&SmsSid=${SM1}` +
	`&FromState=CA&SmsStatus=received&FromCity=SAN+FRANCISCO&Body=Hello+there%21&FromCountry=US&To=%2B14155550100` +
	`&MessagingServiceSid=${MG2}&ToZip=&NumSegments=1&MessageSid=${SM1}&AccountSid=${AC3}&From=%2B14155550123&ApiVersion=2010-04-01`;
const VECTOR_SIG = 'eP9h7by6SQlrkzY9qmU6uDdwovE=';

let hub, a, b, chA, chB, pathA, urlA;

before(async () => {
	hub = await startHub({
		env: { SB_PWHASH: 'min' },
		argv: (x) => ['serve', '--listen', `${x.host}:${x.port}`, '--db', x.dbPath, '--public-url', PUBLIC, '--web-root', x.webRoot],
	});
	a = await makeTenant(hub, 'Sig A');
	b = await makeTenant(hub, 'Sig B');
	const mk = async (t, token, from) => {
		const r = await t.a.owner.api('POST', '/api/v1/channels', {
			kind: 'sms', name: 'SMS', config: { account_sid: AC3, auth_token: token, from, api_base: 'http://127.0.0.1:9' },
		});
		assert.equal(r.status, 201, r.text);
		return r.json;
	};
	chA = await mk(a, TOKEN, '+14155550100');
	chB = await mk(b, OTHER_TOKEN, '+14155550199');
	urlA = chA.webhook_urls.inbound;
	assert.ok(urlA.startsWith(`${PUBLIC}/webhooks/sms/`), urlA);
	pathA = urlA.slice(PUBLIC.length);
});
after(async () => {
	await hub?.cleanup();
});

// POST a raw form body to the hub's real address at `path`, with the given signature.
function postRaw(path, body, signature, extraHeaders = {}) {
	return new Promise((resolve, reject) => {
		const buf = Buffer.from(body);
		const headers = { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': buf.length, ...extraHeaders };
		if (signature !== null) headers['X-Twilio-Signature'] = signature;
		const req = http.request(`${hub.url}${path}`, { method: 'POST', headers, agent: false }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
		});
		req.on('error', reject);
		req.end(buf);
	});
}

async function sigFailures() {
	const r = await new Promise((resolve, reject) => {
		http.get(`${hub.url}/metrics`, { agent: false }, (res) => {
			let s = '';
			res.on('data', (c) => (s += c));
			res.on('end', () => resolve(s));
		}).on('error', reject);
	});
	const m = /^sb_webhook_signature_failures_total\{kind="sms"\} (\d+)/m.exec(r);
	return m ? Number(m[1]) : 0;
}

// A fresh SMS-shaped body (vector fields, a new MessageSid) for one delivery.
let nsid = 0;
function smsBody(over = {}) {
	const sid = 'SM' + String(++nsid).padStart(32, 'a');
	const pairs = formDecode(VECTOR_BODY).map(([k, v]) => [k, /Sid$/.test(k) && v === SM1 ? sid : v]);
	for (const [k, v] of Object.entries(over)) {
		const i = pairs.findIndex(([n]) => n === k);
		if (i >= 0) pairs[i][1] = v;
		else pairs.push([k, v]);
	}
	return { sid, pairs, body: formEncode(pairs) };
}

test('the lib reproduces the published and the SMS-shaped vectors', () => {
	const t2 = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };
	assert.equal(twilioSignatureString('https://mycompany.com/myapp.php?foo=1&bar=2', t2),
		'https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675309Digits1234From+14158675309To+18005551212');
	assert.equal(twilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', t2), 'RSOYDt4T1cUTdK1PDd93/VVr8B8=');
	assert.equal(twilioSignature(TOKEN, VECTOR_URL, formDecode(VECTOR_BODY)), VECTOR_SIG);
});

test('the SMS vector body, signed over the channel URL, is accepted: 200 TwiML and one message', async () => {
	const seq0 = await currentSeq(a.a.owner);
	const f0 = await sigFailures();
	const pairs = formDecode(VECTOR_BODY);
	const sig = twilioSignature(TOKEN, urlA, pairs);
	const r = await postRaw(pathA, VECTOR_BODY, sig);
	assert.equal(r.status, 200, r.text);
	assert.match(r.headers['content-type'], /^(text|application)\/xml/);
	assert.match(r.text, /<Response\s*\/>|<Response><\/Response>/);
	const ev = await a.a.owner.api('GET', `/api/v1/events?after=${seq0}&limit=100`);
	const msgs = ev.json.events.filter((e) => e.event === 'message.created');
	assert.equal(msgs.length, 1);
	assert.equal(msgs[0].data.body, 'Hello there!');
	assert.equal(msgs[0].data.provider_id, SM1);
	assert.equal(msgs[0].data.direction, 'in');
	assert.equal(await sigFailures(), f0, 'a good signature is not counted as a failure');
	// the other tenant saw nothing
	assert.equal((await b.a.owner.api('GET', '/api/v1/events?after=0&limit=100')).json.events.length, 0);
});

test('the default-port spelling of the URL (:80 added) still verifies', async () => {
	const { sid, pairs, body } = smsBody({ Body: 'via port 80' });
	const withPort = urlA.replace(PUBLIC, `${PUBLIC}:80`);
	const seq0 = await currentSeq(a.a.owner);
	const r = await postRaw(pathA, body, twilioSignature(TOKEN, withPort, pairs));
	assert.equal(r.status, 200, r.text);
	const ev = (await a.a.owner.api('GET', `/api/v1/events?after=${seq0}&limit=100`)).json.events;
	assert.ok(ev.some((e) => e.event === 'message.created' && e.data.provider_id === sid && e.data.body === 'via port 80'));
});

// Expect every case refused 403, nothing written, and each counted by the metric.
async function allRefused(cases) {
	const seqA = await currentSeq(a.a.owner);
	const seqB = await currentSeq(b.a.owner);
	const f0 = await sigFailures();
	const bad = [];
	for (const c of cases) {
		const r = await postRaw(c.path ?? pathA, c.body, c.sig);
		if (r.status !== 403 || !/bad_signature/.test(r.text)) bad.push(`${c.what}: ${r.status} ${r.text.slice(0, 120)}`);
	}
	assert.deepEqual(bad, [], 'every changed request is refused 403 bad_signature');
	assert.equal(await currentSeq(a.a.owner), seqA, 'nothing written for tenant A');
	assert.equal(await currentSeq(b.a.owner), seqB, 'nothing written for tenant B');
	assert.equal(await sigFailures(), f0 + cases.length, 'sb_webhook_signature_failures_total counts each refusal');
}

// A different byte for position i of s that keeps a form body well-formed.
function otherByte(ch) {
	return ch === 'x' ? 'y' : 'x';
}

test('every single-byte change of the body is refused 403 and writes nothing', async () => {
	const { pairs, body } = smsBody();
	const sig = twilioSignature(TOKEN, urlA, pairs);
	const cases = [];
	for (let i = 0; i < body.length; i++) {
		// the two hex digits of a %XX escape: a case change decodes the same and any other
		// byte makes the escape malformed; the '%' itself is changed like any other byte
		if (body[i - 1] === '%' || body[i - 2] === '%') continue;
		const mutated = body.slice(0, i) + otherByte(body[i]) + body.slice(i + 1);
		cases.push({ what: `body byte ${i} (${JSON.stringify(body[i])})`, body: mutated, sig });
	}
	// appending a parameter or dropping the last byte are changes too
	cases.push({ what: 'extra parameter', body: body + '&X=1', sig });
	cases.push({ what: 'last byte dropped', body: body.slice(0, -1), sig });
	assert.ok(cases.length > 400, `${cases.length} mutations`);
	await allRefused(cases);
});

test('a change of one parameter value or name (decoded) is refused', async () => {
	const { pairs } = smsBody();
	const sig = twilioSignature(TOKEN, urlA, pairs);
	const cases = [];
	for (let i = 0; i < pairs.length; i++) {
		const [k, v] = pairs[i];
		const pv = pairs.map((p) => p.slice());
		pv[i][1] = v + '0';
		cases.push({ what: `value of ${k}`, body: formEncode(pv), sig });
		const pn = pairs.map((p) => p.slice());
		pn[i][0] = k.slice(0, -1) + otherByte(k.at(-1));
		cases.push({ what: `name ${k}`, body: formEncode(pn), sig });
		const dropped = pairs.filter((_, j) => j !== i);
		cases.push({ what: `without ${k}`, body: formEncode(dropped), sig });
	}
	await allRefused(cases);
});

test('every single-byte change of the signed URL (scheme, host, port, path, query), the token and the signature is refused', async () => {
	const { pairs, body } = smsBody();
	const cases = [];
	for (let i = 0; i < urlA.length; i++) {
		const u = urlA.slice(0, i) + otherByte(urlA[i]) + urlA.slice(i + 1);
		cases.push({ what: `url byte ${i}`, body, sig: twilioSignature(TOKEN, u, pairs) });
	}
	for (const u of [urlA.replace('http://', 'https://'), urlA.replace(PUBLIC, `${PUBLIC}:81`), urlA.replace(PUBLIC, `${PUBLIC}:8080`),
		urlA.replace(PUBLIC, `${PUBLIC}:443`), urlA.replace(PUBLIC, hub.url), urlA + '/', urlA + '?', urlA + '?x=1', urlA.replace('/webhooks/', '/webhooks//')])
		cases.push({ what: `url ${u}`, body, sig: twilioSignature(TOKEN, u, pairs) });
	for (let i = 0; i < TOKEN.length; i++) {
		const tk = TOKEN.slice(0, i) + otherByte(TOKEN[i]) + TOKEN.slice(i + 1);
		cases.push({ what: `token byte ${i}`, body, sig: twilioSignature(tk, urlA, pairs) });
	}
	const good = twilioSignature(TOKEN, urlA, pairs);
	const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
	for (let i = 0; i < good.length; i++) {
		const c = good[i] === 'A' ? 'B' : 'A';
		cases.push({ what: `signature byte ${i}`, body, sig: good.slice(0, i) + c + good.slice(i + 1) });
	}
	// a change in the last digit's low bits, truncation, padding, no header, empty header
	const last = B64[(B64.indexOf(good[26]) ^ 1)];
	cases.push({ what: 'signature low bit', body, sig: good.slice(0, 26) + last + good.slice(27) });
	cases.push({ what: 'signature truncated', body, sig: good.slice(0, 27) });
	cases.push({ what: 'signature lengthened', body, sig: good + '=' });
	cases.push({ what: 'signature lowercased', body, sig: good.toLowerCase() });
	cases.push({ what: 'no signature header', body, sig: null });
	cases.push({ what: 'empty signature', body, sig: '' });
	await allRefused(cases);
	// and the unchanged request still goes through afterwards
	assert.equal((await postRaw(pathA, body, good)).status, 200);
});

test('a wrong channel key is 404; another tenant\'s token is refused on both channels', async () => {
	const { pairs, body } = smsBody();
	const key = pathA.split('/').pop();
	const seqA = await currentSeq(a.a.owner);
	for (let i = 0; i < key.length; i += 7) {
		const k2 = key.slice(0, i) + otherByte(key[i]) + key.slice(i + 1);
		const u = `${PUBLIC}/webhooks/sms/${k2}`;
		const r = await postRaw(`/webhooks/sms/${k2}`, body, twilioSignature(TOKEN, u, pairs));
		assert.equal(r.status, 404, `key byte ${i}: ${r.text}`);
	}
	assert.equal((await postRaw('/webhooks/sms/', body, twilioSignature(TOKEN, `${PUBLIC}/webhooks/sms/`, pairs))).status, 404);
	assert.equal((await postRaw(`/webhooks/mms/${key}`, body, twilioSignature(TOKEN, `${PUBLIC}/webhooks/mms/${key}`, pairs))).status, 404);
	assert.equal(await currentSeq(a.a.owner), seqA);

	const urlB = chB.webhook_urls.inbound;
	const pathB = urlB.slice(PUBLIC.length);
	await allRefused([
		{ what: "B's token on A's URL", path: pathA, body, sig: twilioSignature(OTHER_TOKEN, urlA, pairs) },
		{ what: "A's token on B's URL", path: pathB, body, sig: twilioSignature(TOKEN, urlB, pairs) },
		{ what: "A's signature replayed to B", path: pathB, body, sig: twilioSignature(TOKEN, urlA, pairs) },
		{ what: "B's URL signed with B's token, sent to A", path: pathA, body, sig: twilioSignature(OTHER_TOKEN, urlB, pairs) },
	]);
	// B's own signed delivery lands in B only
	const seqB = await currentSeq(b.a.owner);
	assert.equal((await postRaw(pathB, body, twilioSignature(OTHER_TOKEN, urlB, pairs))).status, 200);
	assert.ok(await currentSeq(b.a.owner) > seqB);
	assert.equal(await currentSeq(a.a.owner), seqA);
});

test('the status webhook is signed the same way', async () => {
	const urlS = chA.webhook_urls.status + '?o=999999';
	const pathS = urlS.slice(PUBLIC.length);
	const pairs = [['MessageStatus', 'delivered'], ['SmsStatus', 'delivered'], ['MessageSid', 'SM' + 'e'.repeat(32)], ['SmsSid', 'SM' + 'e'.repeat(32)], ['AccountSid', AC3], ['ApiVersion', '2010-04-01']];
	const body = formEncode(pairs);
	// the query string is part of the signed URL
	await allRefused([
		{ what: 'status without query in signed url', path: pathS, body, sig: twilioSignature(TOKEN, chA.webhook_urls.status, pairs) },
		{ what: 'status with another o', path: pathS, body, sig: twilioSignature(TOKEN, chA.webhook_urls.status + '?o=999998', pairs) },
	]);
	const ok = await postRaw(pathS, body, twilioSignature(TOKEN, urlS, pairs));
	assert.equal(ok.status, 200, ok.text);
});
