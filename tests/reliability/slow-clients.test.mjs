// SPDX-License-Identifier: MIT
// Slow-header and slow-body clients (slowloris) are closed by the hub's timeouts (20 s: lws
// timeout_secs for headers, PENDING_TIMEOUT_HTTP_CONTENT for bodies), while other clients are
// served as usual: every request 2xx, p99 under 100 ms.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startHub } from '../lib/hub.mjs';
import { startFake, tenantWithSms, newSid, inboundParams, signedWebhook, postWebhook, request, percentile, sleep } from './fixture.mjs';

const TIMEOUT_S = 20;
let fake, hub, A;
before(async () => {
	fake = await startFake();
	hub = await startHub({ env: { SB_PWHASH: 'min' } });
	A = await tenantWithSms(hub, fake, 'Slow Co');
});
after(async () => {
	await hub?.cleanup();
	await fake?.stop();
});

// Opens a socket, sends `head` then one byte of `drip` every second (nothing when drip is
// empty); resolves the seconds until the hub closed it (or null if still open after limitS).
function slowClient(head, drip, limitS) {
	return new Promise((resolve) => {
		const t0 = Date.now();
		const s = net.connect(hub.port, '127.0.0.1', () => s.write(head));
		let i = 0;
		const timer = setInterval(() => {
			if (Date.now() - t0 > limitS * 1000) {
				clearInterval(timer);
				s.destroy();
				resolve(null);
				return;
			}
			if (!s.destroyed && drip) s.write(drip[i++ % drip.length]);
		}, 1000);
		const done = () => {
			clearInterval(timer);
			resolve((Date.now() - t0) / 1000);
		};
		s.on('close', done);
		s.on('error', () => {});
		s.on('data', () => {});
	});
}

async function others(untilP) {
	const lat = [];
	const bad = [];
	let stop = false;
	untilP.then(() => (stop = true));
	await Promise.all(Array.from({ length: 4 }, async () => {
		while (!stop) {
			const w = signedWebhook(A.inbound, A.token, inboundParams({ sid: newSid(), from: '+14155550111', to: A.from, body: 'meanwhile', account: A.account }));
			const r = await postWebhook(w);
			const h = await request('GET', `${hub.url}/healthz`);
			if (r.status !== 200 || h.status !== 200) bad.push(`${r.status}/${h.status}`);
			lat.push(r.ms, h.ms);
			await sleep(50);
		}
	}));
	return { lat: lat.sort((a, b) => a - b), bad };
}

async function run(kind, head, drip) {
	const clients = Promise.all(Array.from({ length: 50 }, () => slowClient(head, drip, TIMEOUT_S + 10)));
	const o = await others(clients);
	const closedAfter = await clients;
	const open = closedAfter.filter((x) => x === null).length;
	const max = Math.max(...closedAfter.filter((x) => x !== null));
	console.log(`${kind}: 50 clients closed after max ${max.toFixed(1)} s (${open} still open); others: ${o.lat.length} requests, p99 ${percentile(o.lat, 99).toFixed(1)} ms, ${o.bad.length} not 2xx`);
	assert.equal(open, 0, `${open} slow clients still open after ${TIMEOUT_S + 10} s`);
	assert.ok(max <= TIMEOUT_S + 3, `closed after ${max} s (timeout ${TIMEOUT_S} s)`);
	assert.deepEqual(o.bad, []);
	assert.ok(percentile(o.lat, 99) < 100, `others' p99 ${percentile(o.lat, 99)} ms`);
}

test('slow-header clients are closed within the header timeout; others unaffected', async () => {
	await run('slow headers', 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n');
});

test('slow-body clients are closed within the body timeout; others unaffected', async () => {
	const path = new URL(A.inbound).pathname;
	await run('slow body', `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n`, 'a');
});

test('clients that send a body\'s headers and then nothing are closed within the body timeout', async () => {
	const path = new URL(A.inbound).pathname;
	await run('silent body', `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n`, '');
});
