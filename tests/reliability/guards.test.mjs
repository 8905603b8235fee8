// SPDX-License-Identifier: MIT
// Hardening guards: h2 is never negotiated; the WebSocket Origin check does not live in the
// confirm-upgrade callback; libxml2 is never asked to expand entities, load DTDs or lift its
// limits, and never touches the network; yajl_tree (unbounded DOM) is never used. With
// SB_BUILD_DIR set, .ci/hardening.sh checks the ELF too (PIE, full RELRO, SSP, FORTIFY).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startHub, REPO_ROOT } from '../lib/hub.mjs';

let hub;
before(async () => {
	hub = await startHub({ env: { SB_PWHASH: 'min' } });
});
after(async () => {
	await hub?.cleanup();
});

// every C source and header of the daemon and the bridges
function sources() {
	const out = [];
	const walk = (d) => {
		for (const e of readdirSync(d, { withFileTypes: true })) {
			const p = join(d, e.name);
			if (e.isDirectory()) walk(p);
			else if (/\.[ch]$/.test(e.name)) out.push(p);
		}
	};
	for (const d of ['hub', 'bridges', 'reviews']) if (existsSync(join(REPO_ROOT, d))) walk(join(REPO_ROOT, d));
	return out.map((p) => ({ p: p.slice(REPO_ROOT.length + 1), text: readFileSync(p, 'utf8') }));
}
const strip = (t) => t.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');

for (const [name, args] of [['--http2-prior-knowledge', ['--http2-prior-knowledge']], ['--http2 (upgrade)', ['--http2']]]) {
	test(`h2 is never negotiated: curl ${name} gets HTTP/1.1 or a refusal`, () => {
		const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-m', '5', '-w', '%{http_version} %{http_code}', ...args, `${hub.url}/healthz`], { encoding: 'utf8' });
		const [ver, code] = r.stdout.trim().split(' ');
		console.log(`curl ${name}: exit ${r.status}, http_version ${ver}, status ${code}`);
		assert.notEqual(ver, '2', 'h2 was negotiated');
		if (r.status === 0 && code !== '000') assert.equal(ver, '1.1');
		assert.equal(hub.proc.exitCode, null, 'hubd survived');
	});
}

// The confirm-upgrade callback may only wave an "h2c" upgrade through as plain HTTP/1.1
// (return 1): refusing there (-1) reaches a use-after-free in lws 4.1.6, so no Origin or
// session check may live in it; those are in LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION.
test('the WebSocket Origin check is not in LWS_CALLBACK_HTTP_CONFIRM_UPGRADE (hub/*.c)', () => {
	const bad = [];
	let filters = 0;
	for (const f of sources().filter((x) => x.p.startsWith('hub/'))) {
		const t = strip(f.text);
		for (const m of t.matchAll(/case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:([\s\S]*?)(?=case LWS_CALLBACK|default:)/g)) {
			const body = m[1];
			if (/origin|authenticate|sb_auth|return\s+-1/i.test(body)) bad.push(`${f.p}: ${body.trim().slice(0, 120)}`);
		}
		if (/case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:[\s\S]*?authenticate\(/.test(t)) filters++;
	}
	assert.deepEqual(bad, []);
	assert.ok(filters >= 1, 'the socket is authenticated (Origin, session) in FILTER_PROTOCOL_CONNECTION');
});

test('libxml2: never XML_PARSE_NOENT, XML_PARSE_DTDLOAD or XML_PARSE_HUGE; XML_PARSE_NONET wherever it parses', () => {
	const bad = [];
	let parses = 0;
	for (const f of sources()) {
		const t = strip(f.text);
		for (const flag of ['XML_PARSE_NOENT', 'XML_PARSE_DTDLOAD', 'XML_PARSE_HUGE', 'XML_PARSE_DTDATTR', 'xmlSubstituteEntitiesDefault', 'xmlLoadExtDtdDefaultValue'])
			if (t.includes(flag)) bad.push(`${f.p}: ${flag}`);
		const calls = t.match(/\b(xmlReadMemory|xmlReadFile|xmlReadDoc|xmlReadFd|xmlCtxtReadMemory|xmlCtxtReadFile|xmlCtxtUseOptions|htmlReadMemory|xmlReaderForMemory|xmlParseMemory|xmlParseFile|xmlParseDoc|xmlSAXUserParseMemory)\s*\([^;]*;/g) ?? [];
		for (const c of calls) {
			parses++;
			if (/^xml(Parse(Memory|File|Doc)|SAXUserParseMemory)/.test(c)) bad.push(`${f.p}: ${c.slice(0, 40)} takes no options (no XML_PARSE_NONET)`);
			else if (!c.includes('XML_PARSE_NONET')) bad.push(`${f.p}: ${c.replace(/\s+/g, ' ').slice(0, 120)} without XML_PARSE_NONET`);
		}
	}
	console.log(`libxml2 parse calls: ${parses}`);
	assert.deepEqual(bad, []);
});

test('yajl_tree is never used', () => {
	const hits = sources().filter((f) => /yajl_tree|yajl\/yajl_tree\.h/.test(strip(f.text))).map((f) => f.p);
	assert.deepEqual(hits, []);
});

test('.ci/hardening.sh passes on the built hubd', (t) => {
	const dir = process.env.SB_BUILD_DIR;
	if (!dir) return t.skip('SB_BUILD_DIR not set');
	const r = spawnSync(join(REPO_ROOT, '.ci/hardening.sh'), [dir], { encoding: 'utf8' });
	console.log(r.stdout);
	assert.equal(r.status, 0, r.stdout + r.stderr);
});
