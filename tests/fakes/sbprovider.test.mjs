// SPDX-License-Identifier: MIT
// Self-test of bench/sbprovider (the Twilio create path in C that B5 sends to): it answers a
// create with HTTP Basic as Twilio does (201 and the message resource), refuses a wrong
// password or account with 401 and error 20003, counts creates at /_fake/requests, keeps the
// connection alive, and holds answers --latency-ms. SBPROVIDER is the binary (ctest sets it).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';

const BIN = process.env.SBPROVIDER;
const AC = 'AC' + 'f'.repeat(32);
const TOKEN = 'fake_twilio_auth_token';
const procs = [];
after(() => procs.forEach((p) => p.kill('SIGTERM')));

async function start(args = []) {
	assert.ok(BIN, 'SBPROVIDER is not set');
	const p = spawn(BIN, ['--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
	procs.push(p);
	const line = await new Promise((res, rej) => {
		let buf = '';
		p.stdout.on('data', (d) => {
			buf += d;
			if (buf.includes('\n')) res(buf.slice(0, buf.indexOf('\n')));
		});
		p.once('exit', (c) => rej(new Error(`sbprovider exited ${c}`)));
	});
	return JSON.parse(line);
}

function req(port, method, path, { body, auth, agent } = {}) {
	return new Promise((res, rej) => {
		const headers = {};
		if (body !== undefined) {
			headers['content-type'] = 'application/x-www-form-urlencoded';
			headers['content-length'] = Buffer.byteLength(body);
		}
		if (auth) headers.authorization = 'Basic ' + Buffer.from(auth).toString('base64');
		const r = http.request({ host: '127.0.0.1', port, method, path, headers, agent }, (resp) => {
			let t = '';
			resp.on('data', (d) => (t += d));
			resp.on('end', () => res({ status: resp.statusCode, text: t, json: t ? JSON.parse(t) : null, socket: resp.socket }));
		});
		r.on('error', rej);
		r.end(body);
	});
}

const form = (o) => new URLSearchParams(o).toString();
const create = (port, o, auth = `${AC}:${TOKEN}`, agent) =>
	req(port, 'POST', `/2010-04-01/Accounts/${AC}/Messages.json`, { body: form(o), auth, agent });

test('a create is 201 with the message resource; the control endpoint counts it', async () => {
	const info = await start();
	assert.equal(info.control, `http://127.0.0.1:${info.port}/_fake`);
	const r = await create(info.port, { To: '+15551230001', From: '+15005550006', Body: 'héllo "quoted"' });
	assert.equal(r.status, 201, r.text);
	assert.match(r.json.sid, /^SM[0-9a-f]{32}$/);
	assert.equal(r.json.account_sid, AC);
	assert.equal(r.json.to, '+15551230001');
	assert.equal(r.json.from, '+15005550006');
	assert.equal(r.json.body, 'héllo "quoted"');
	assert.equal(r.json.status, 'queued');
	assert.equal(r.json.num_segments, '1');
	assert.equal(r.json.uri, `/2010-04-01/Accounts/${AC}/Messages/${r.json.sid}.json`);
	const mg = await create(info.port, { To: '+15551230001', MessagingServiceSid: 'MG' + '1'.repeat(32), Body: 'x'.repeat(161) });
	assert.equal(mg.json.status, 'accepted');
	assert.equal(mg.json.from, null);
	assert.equal(mg.json.num_segments, '2');
	assert.notEqual(mg.json.sid, r.json.sid);
	const c = await req(info.port, 'GET', '/_fake/requests');
	assert.deepEqual(c.json, { created: 2, requests: 3, http2_requests: 0 });
});

test('a wrong password or account is 401 with error 20003 and creates nothing; no To is 400', async () => {
	const info = await start();
	const bad = await create(info.port, { To: '+1555', From: '+1555', Body: 'x' }, `${AC}:wrong`);
	assert.equal(bad.status, 401);
	assert.equal(bad.json.code, 20003);
	const other = await req(info.port, 'POST', `/2010-04-01/Accounts/AC${'0'.repeat(32)}/Messages.json`, { body: form({ To: '+1', From: '+1' }), auth: `AC${'0'.repeat(32)}:${TOKEN}` });
	assert.equal(other.status, 401);
	const noTo = await create(info.port, { From: '+1555', Body: 'x' });
	assert.equal(noTo.status, 400);
	assert.equal((await req(info.port, 'GET', '/_fake/requests')).json.created, 0);
});

test('answers are held --latency-ms on a kept-alive connection', async () => {
	const info = await start(['--latency-ms', '120']);
	const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const t0 = Date.now();
	const a = await create(info.port, { To: '+1', From: '+2', Body: 'a' }, undefined, agent);
	const b = await create(info.port, { To: '+1', From: '+2', Body: 'b' }, undefined, agent);
	const ms = Date.now() - t0;
	assert.equal(a.status, 201);
	assert.equal(b.status, 201);
	assert.equal(a.socket, b.socket, 'one connection for both');
	assert.ok(ms >= 230, `two held answers took ${ms} ms`);
	agent.destroy();
});

test('a bad option or number is refused with the usage line and exit 2', async () => {
	for (const args of [['--port', 'x'], ['--port', '70000'], ['--latency-ms', '-1'], ['--bogus']]) {
		const p = spawn(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
		let err = '';
		p.stderr.on('data', (d) => (err += d));
		const [code] = await once(p, 'exit');
		assert.equal(code, 2, `${args.join(' ')}: exit ${code}`);
		assert.match(err, /usage: sbprovider/);
	}
});
