// SPDX-License-Identifier: MIT
// SMS policy through a real hub (PROVIDERS.md §1.6): STOP-class keywords record an opt-out
// (the message is still stored, later sends are refused 422 before anything leaves), START
// lifts it, HELP answers the tenant's help text as TwiML, "STOP PLEASE" is not a keyword,
// 21610 from the provider records an opt-out; the REST segment counter at its boundaries
// (160/161 GSM-7, 70/71 UCS-2, an escape character and an emoji at a split) agrees with the
// reference in tests/lib/twilio.mjs; a 1601-character body is refused 413.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub } from '../lib/hub.mjs';
import { api, makeTenant, currentSeq, sleep } from '../lib/client.mjs';
import { smsSegments, smsEncoding } from '../lib/twilio.mjs';
import { startFake } from '../lib/fake.mjs';

const FROM = '+15005550006';
let hub, fake, T, ch, owner;

before(async () => {
	fake = await startFake();
	hub = await startHub({ env: { SB_PWHASH: 'min' } });
	T = await makeTenant(hub, 'Policy Co');
	owner = T.a.owner;
	const r = await owner.api('POST', '/api/v1/channels', { kind: 'sms', name: 'Main', config: { account_sid: fake.account, auth_token: fake.token, from: FROM, api_base: fake.base } });
	assert.equal(r.status, 201, r.text);
	ch = r.json;
});
after(async () => {
	await hub?.cleanup();
	fake?.stop();
});

let phoneN = 0;
const nextPhone = () => `+1415555${String(4000 + ++phoneN).padStart(4, '0')}`;

// The customer texts the business; resolves {res, conv, events} (events written by it).
async function text(from, body) {
	const seq0 = await currentSeq(owner);
	const res = await fake.ctl('POST', '/inbound', { url: ch.webhook_urls.inbound, from, to: FROM, body });
	assert.equal(res.status, 200, JSON.stringify(res));
	const events = (await owner.api('GET', `/api/v1/events?after=${seq0}&limit=100`)).json.events;
	const created = events.find((e) => e.event === 'message.created');
	return { res, conv: created?.data.conversation_id, events, msg: created?.data };
}

const reply = (conv, body) => T.a.agent.api('POST', `/api/v1/conversations/${conv}/messages`, { body });

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

test('STOP (any case, trimmed) and its synonyms opt the customer out; the message is still stored; sends are refused 422', async () => {
	for (const kw of ['STOP', 'stop', '  Stop  ', 'UNSUBSCRIBE', 'cancel', 'End', 'QUIT', 'STOPALL', 'optout', 'revoke']) {
		const phone = nextPhone();
		const { res, conv, msg } = await text(phone, kw);
		assert.match(res.body, /<Response\s*\/>/, 'no auto-reply of ours: Twilio answers STOP itself');
		assert.equal(msg.body, kw, 'the keyword message is stored like any other');
		const before = (await fake.ctl('GET', '/requests')).requests;
		const r = await reply(conv, 'are you sure?');
		assert.equal(r.status, 422, `${kw}: ${r.text}`);
		assert.equal(r.json.error.code, 'opted_out');
		await sleep(50);
		assert.equal((await fake.ctl('GET', '/requests')).requests, before, 'nothing left for the provider');
	}
});

test('START (and YES, UNSTOP) lifts the opt-out; the next send goes out', async () => {
	for (const kw of ['START', 'yes', 'Unstop']) {
		const phone = nextPhone();
		const { conv } = await text(phone, 'STOP');
		assert.equal((await reply(conv, 'blocked')).status, 422);
		await text(phone, kw);
		const r = await reply(conv, `after ${kw}`);
		assert.equal(r.status, 201, `${kw}: ${r.text}`);
		const m = await waitStatus(conv, r.json.id, ['delivered']);
		assert.equal(m.status_code, null);
		// and STOP again blocks again
		await text(phone, 'stop');
		assert.equal((await reply(conv, 'blocked again')).status, 422);
	}
});

test('"STOP PLEASE", "please stop" and "STOP." are not keywords: no opt-out', async () => {
	for (const body of ['STOP PLEASE', 'please stop', 'STOP.', 'HELP ME', 'STARTED']) {
		const { res, conv } = await text(nextPhone(), body);
		assert.doesNotMatch(res.body, /<Message>/, `${body}: no help reply`);
		const r = await reply(conv, `still allowed after ${body}`);
		assert.equal(r.status, 201, `${body}: ${r.text}`);
	}
});

test('HELP answers the tenant\'s help text as a TwiML <Message>, XML-escaped; INFO too', async () => {
	const help = 'Acme & Sons <support>: call +1 415 555 0100 "any time". Reply STOP to opt out.';
	const p = await owner.api('PUT', '/api/v1/settings', { sms_help_text: help });
	assert.equal(p.status, 200, p.text);
	for (const kw of ['HELP', ' help ', 'Info']) {
		const { res, msg } = await text(nextPhone(), kw);
		assert.match(res.content_type, /xml/);
		const m = /<Response><Message>(.*)<\/Message><\/Response>/s.exec(res.body);
		assert.ok(m, `${kw}: ${res.body}`);
		assert.equal(m[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&'), help);
		assert.ok(!/<support>/.test(m[1]) && !/& /.test(m[1]), `escaped: ${m[1]}`);
		assert.equal(msg.body, kw);
	}
	// HELP does not opt anyone out
	const phone = nextPhone();
	const { conv } = await text(phone, 'HELP');
	assert.equal((await reply(conv, 'here to help')).status, 201);
	// a changed help text is used at once
	assert.equal((await owner.api('PUT', '/api/v1/settings', { sms_help_text: 'New help text' })).status, 200);
	assert.match((await text(nextPhone(), 'HELP')).res.body, /<Message>New help text<\/Message>/);
});

test('21610 from the provider records the opt-out: the next send is refused 422', async () => {
	const { conv } = await text(nextPhone(), 'hi there');
	await fake.ctl('POST', '/script', { steps: [{ action: 'error', code: 21610 }] });
	const r = await reply(conv, 'a reply Twilio refuses');
	assert.equal(r.status, 201);
	const m = await waitStatus(conv, r.json.id, ['failed', 'delivered']);
	assert.equal(m.status, 'failed');
	assert.equal(m.status_code, '21610');
	const again = await reply(conv, 'again');
	assert.equal(again.status, 422, again.text);
	assert.equal(again.json.error.code, 'opted_out');
});

test('the magic opted-out number of the fake (21610 without scripting) is recorded too', async () => {
	const c = await owner.api('POST', '/api/v1/contacts', { name: 'Magic', phone: '+15005550004' });
	assert.equal(c.status, 201, c.text);
	const v = await owner.api('POST', '/api/v1/conversations', { contact_id: c.json.id, channel_id: ch.id });
	const r = await reply(v.json.id, 'to the magic number');
	const m = await waitStatus(v.json.id, r.json.id, ['failed', 'delivered']);
	assert.equal(m.status_code, '21610');
	assert.equal((await reply(v.json.id, 'again')).status, 422);
});

const count = async (body) => {
	const r = await owner.api('POST', '/api/v1/segments/count', { body });
	assert.equal(r.status, 200, r.text);
	return r.json;
};

test('segment counter boundaries: 160/161 GSM-7, 70/71 UCS-2, escapes and emoji at a split', async () => {
	const cases = [
		['a'.repeat(160), 'GSM-7', 1],
		['a'.repeat(161), 'GSM-7', 2],
		['a'.repeat(306), 'GSM-7', 2],
		['a'.repeat(307), 'GSM-7', 3],
		['a'.repeat(159) + '{', 'GSM-7', 2], // ESC + '(' : 161 septets
		['a'.repeat(158) + '{', 'GSM-7', 1], // exactly 160 septets
		['a'.repeat(158) + '€', 'GSM-7', 1],
		['a'.repeat(152) + '{' + 'a'.repeat(152), 'GSM-7', 3], // the ESC pair is not split across parts
		['é'.repeat(160), 'GSM-7', 1], // é is in the GSM basic table
		['你'.repeat(70), 'UCS-2', 1],
		['你'.repeat(71), 'UCS-2', 2],
		['a'.repeat(69) + 'ç', 'UCS-2', 1], // ç is not GSM (Ç is): the whole body goes UCS-2
		['a'.repeat(70) + 'ç', 'UCS-2', 2],
		['😀'.repeat(35), 'UCS-2', 1], // 70 UTF-16 units
		['😀'.repeat(36), 'UCS-2', 2],
		['a'.repeat(66) + '😀' + 'a'.repeat(66), 'UCS-2', 3], // the surrogate pair is not split
		['a'.repeat(159) + '😀', 'UCS-2', 3],
	];
	const bad = [];
	for (const [body, enc, segs] of cases) {
		// the reference implementation agrees with the table (so the table itself is right)
		assert.equal(smsEncoding(body), enc, `reference encoding of ${body.slice(-4)} (${[...body].length})`);
		assert.equal(smsSegments(body), segs, `reference segments of ${body.slice(-4)} (${[...body].length})`);
		const r = await count(body);
		if (r.encoding !== enc || r.segments !== segs) bad.push(`${JSON.stringify(body.slice(-3))}x${[...body].length}: hub ${r.encoding}/${r.segments}, want ${enc}/${segs}`);
	}
	assert.deepEqual(bad, []);
	const r = await count('a'.repeat(161));
	assert.equal(r.chars, 161);
	assert.equal(r.max_chars, 1600);
});

test('a 1600-character body is sent (segments agree with the counter); 1601 is refused 413 before anything leaves', async () => {
	const { conv } = await text(nextPhone(), 'long one please');
	const long = 'x'.repeat(1600);
	const seg = (await count(long)).segments;
	assert.equal(seg, smsSegments(long));
	const ok = await reply(conv, long);
	assert.equal(ok.status, 201, ok.text);
	assert.equal(ok.json.segments, seg);
	const m = await waitStatus(conv, ok.json.id, ['delivered']);
	const atFake = (await fake.ctl('GET', '/messages')).filter((f) => f.sid === m.provider_id);
	assert.equal(atFake.length, 1);
	assert.equal(atFake[0].body, long);
	assert.equal(atFake[0].num_segments, String(seg));

	const before = (await fake.ctl('GET', '/requests')).requests;
	const tooLong = await reply(conv, 'y'.repeat(1601));
	assert.equal(tooLong.status, 413, tooLong.text);
	assert.equal(tooLong.json.error.code, 'too_long');
	// characters, not bytes: 1600 two-byte characters are fine, 1601 are not
	assert.equal((await reply(conv, 'é'.repeat(1600))).status, 201);
	assert.equal((await reply(conv, 'é'.repeat(1601))).status, 413);
	await sleep(300);
	const reqs = (await fake.ctl('GET', '/requests')).requests;
	assert.equal(reqs - before, 1, 'only the 1600-character é message left');
});

test('a reply queued before the customer texts STOP never leaves: failed opted_out at dispatch', async () => {
	const phone = nextPhone();
	const { conv } = await text(phone, 'hello');
	// the provider asks to wait: the reply sits in the outbox while the customer opts out
	await fake.ctl('POST', '/script', { steps: [{ action: '429', retry_after: '2' }], default: '201' });
	const before = (await fake.ctl('GET', '/requests')).requests;
	const r = await reply(conv, 'queued before the STOP');
	assert.equal(r.status, 201, r.text);
	await sleep(300);
	await text(phone, 'STOP');
	const m = await waitStatus(conv, r.json.id, ['failed', 'delivered', 'sent', 'queued'], 6000);
	assert.equal(m.status, 'failed');
	assert.equal(m.status_code, 'opted_out');
	assert.match(m.status_reason, /STOP/);
	const after = (await fake.ctl('GET', '/requests')).requests;
	assert.equal(after - before, 1, 'only the refused first attempt reached the provider');
	await fake.ctl('POST', '/reset');
});

test('one mark job for several due rows: the opted-out customer\'s row fails opted_out, the others of the same batch leave once', async () => {
	// two replies wait as retries; one customer opts out; a restart finds both due in one
	// scan, so they are marked SENDING in one write job, where the opt-out is checked per row
	const pa = nextPhone(), pb = nextPhone(), pc = nextPhone();
	const a = await text(pa, 'hello a'), b = await text(pb, 'hello b'), c = await text(pc, 'hello c');
	await fake.ctl('POST', '/script', { steps: [{ action: '429', retry_after: '2' }, { action: '429', retry_after: '2' }, { action: '429', retry_after: '2' }], default: '201' });
	const before = (await fake.ctl('GET', '/requests')).requests;
	const ra = await reply(a.conv, 'to a, who opts out'), rb = await reply(b.conv, 'to b'), rc = await reply(c.conv, 'to c');
	for (const r of [ra, rb, rc]) assert.equal(r.status, 201, r.text);
	const end = Date.now() + 3000;
	while ((await fake.ctl('GET', '/requests')).requests - before < 3 && Date.now() < end) await sleep(20);
	await text(pa, 'STOP');
	await hub.stop();
	await sleep(2300); // all three retries are due before the hub is back
	await hub.restart();
	const mb = await waitStatus(b.conv, rb.json.id, ['queued', 'sent', 'delivered'], 6000);
	const mc = await waitStatus(c.conv, rc.json.id, ['queued', 'sent', 'delivered'], 6000);
	const ma = await waitStatus(a.conv, ra.json.id, ['failed', 'queued', 'sent', 'delivered'], 6000);
	assert.equal(ma.status, 'failed');
	assert.equal(ma.status_code, 'opted_out');
	assert.ok(mb.provider_id && mc.provider_id && mb.provider_id !== mc.provider_id);
	await sleep(300);
	const after = (await fake.ctl('GET', '/requests')).requests;
	assert.equal(after - before, 5, 'three refused first attempts, then b and c once each');
	const log = hub.stderr();
	assert.doesNotMatch(log, /outbox_mark_failed|outbox_settle_failed/);
	await fake.ctl('POST', '/reset');
});
