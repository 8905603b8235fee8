// SPDX-License-Identifier: MIT
// Runs a real hubd for an integration, crash or browser test: picks a free loopback port, makes a
// fresh temp dir (database, logs), spawns `hubd serve …`, waits for GET /healthz, and gives the
// test stop / kill9 / restart. Also runs hubd's admin subcommands (tenant, agent, …).
// Node built-ins only. The binary comes from the `bin` option or the HUBD environment variable.

import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import net from 'node:net';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '..', '..');

// Every hub started by this process, killed (SIGKILL) if the test process exits first.
const live = new Set();
process.on('exit', () => {
	for (const p of live) {
		try {
			p.kill('SIGKILL');
		} catch { /* already gone */ }
	}
});

function hubBin(bin) {
	const b = bin ?? process.env.HUBD;
	if (!b) throw new Error('hubd binary unknown: pass {bin} or set HUBD');
	return b;
}

// A port free on host right now: bind port 0, read it, close.
export function freePort(host = '127.0.0.1') {
	return new Promise((res, rej) => {
		const s = net.createServer();
		s.unref();
		s.once('error', rej);
		s.listen(0, host, () => {
			const { port } = s.address();
			s.close(() => res(port));
		});
	});
}

// GET url; resolves the status code, or 0 on a connection error. Never rejects.
export function httpStatus(url, timeoutMs = 1000) {
	return new Promise((res) => {
		const req = http.get(url, { timeout: timeoutMs, agent: false }, (r) => {
			r.resume();
			r.on('end', () => res(r.statusCode));
			r.on('error', () => res(0));
		});
		req.on('timeout', () => req.destroy(new Error('timeout')));
		req.on('error', () => res(0));
	});
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The default command line: `hubd serve --listen H:P --db DB --public-url URL --web-root DIR`.
export function defaultHubArgs({ host, port, dbPath, url, webRoot }) {
	return ['serve', '--listen', `${host}:${port}`, '--db', dbPath, '--public-url', url, '--web-root', webRoot];
}

/**
 * Start a hub. Options (all optional):
 *   bin          path of hubd (default: env HUBD)
 *   env          extra environment variables (merged over process.env)
 *   args         extra arguments appended to the command line
 *   argv         function(ctx) -> full argument list, replacing defaultHubArgs; ctx is
 *                {host, port, dbPath, dir, url, webRoot}
 *   host         listen address (default 127.0.0.1)
 *   port         port (default: a free one)
 *   dir          work dir to reuse (default: a new temp dir)
 *   webRoot      static console (default: <repo>/web)
 *   readyTimeoutMs  how long to wait for /healthz (default 10000)
 * Resolves {url, port, host, dbPath, dir, webRoot, proc, stderrPath, stop(signal, timeoutMs),
 * kill9(), restart(opts), stderr(), cleanup()}. stop/kill9 resolve {code, signal} of the exit.
 */
export async function startHub(o = {}) {
	const bin = hubBin(o.bin);
	const host = o.host ?? '127.0.0.1';
	const port = o.port ?? (await freePort(host));
	const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'sb-hub-'));
	const ctx = {
		host, port, dir,
		dbPath: join(dir, 'hub.db'),
		url: `http://${host}:${port}`,
		webRoot: o.webRoot ?? join(REPO_ROOT, 'web'),
	};
	const argv = (o.argv ?? defaultHubArgs)(ctx).concat(o.args ?? []);
	const env = { ...process.env, ...(o.env ?? {}) };
	const stderrPath = join(dir, 'hubd.stderr.log');
	const stdoutPath = join(dir, 'hubd.stdout.log');
	const readyTimeoutMs = o.readyTimeoutMs ?? (process.env.SB_HUBD_PREFIX ? 60000 : 10000);

	const hub = {
		...ctx, bin, argv, env, stderrPath, stdoutPath, proc: null, exited: null,
		stderr: () => (existsSync(stderrPath) ? readFileSync(stderrPath, 'utf8') : ''),
	};

	async function launch() {
		const errFd = openSync(stderrPath, 'a');
		const outFd = openSync(stdoutPath, 'a');
		// SB_HUBD_PREFIX runs the server under a tool (make valgrind: valgrind --error-exitcode=99 ...)
		const prefix = (process.env.SB_HUBD_PREFIX ?? '').split(' ').filter(Boolean);
		const proc = prefix.length
			? spawn(prefix[0], [...prefix.slice(1), bin, ...argv], { env, stdio: ['ignore', outFd, errFd] })
			: spawn(bin, argv, { env, stdio: ['ignore', outFd, errFd] });
		closeSync(errFd);
		closeSync(outFd);
		live.add(proc);
		hub.proc = proc;
		hub.stopping = false;
		hub.exited = new Promise((res) => {
			proc.once('exit', (code, signal) => {
				live.delete(proc);
				// an exit nobody asked for (a crash, a sanitizer's report): show why at once,
				// since the temp dir with the log is gone after the run
				if (!hub.stopping)
					console.error(`hubd (pid ${proc.pid}) exited unasked: code ${code} signal ${signal}\n${tail(hub.stderr())}`);
				res({ code, signal });
			});
			proc.once('error', (e) => {
				live.delete(proc);
				res({ code: null, signal: null, error: e });
			});
		});
		let gone = null;
		hub.exited.then((x) => (gone = x));
		const deadline = Date.now() + readyTimeoutMs;
		while (Date.now() < deadline) {
			if (gone) throw new Error(`hubd exited before it was ready (${JSON.stringify(gone)}): ${argv.join(' ')}\n${tail(hub.stderr())}`);
			if ((await httpStatus(`${hub.url}/healthz`, 500)) === 200) return hub;
			await sleep(25);
		}
		proc.kill('SIGKILL');
		await hub.exited;
		throw new Error(`hubd not healthy within ${readyTimeoutMs} ms: ${argv.join(' ')}\n${tail(hub.stderr())}`);
	}

	// Send signal (default SIGTERM); SIGKILL after timeoutMs. Resolves {code, signal}.
	hub.stop = async (signal = 'SIGTERM', timeoutMs = 10000) => {
		const p = hub.proc;
		if (!p || p.exitCode !== null || p.signalCode !== null) return hub.exited;
		hub.stopping = true;
		p.kill(signal);
		const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
		const r = await hub.exited;
		clearTimeout(t);
		return r;
	};
	hub.kill9 = () => hub.stop('SIGKILL');
	// Start again on the same port, database and dir (after a crash or a stop).
	hub.restart = async () => {
		await hub.stop();
		return launch();
	};
	hub.cleanup = async () => {
		await hub.stop();
		if (!process.env.SB_TEST_KEEP) rmSync(dir, { recursive: true, force: true });
	};
	return launch();
}

function tail(s, n = 40) {
	return s.split('\n').slice(-n).join('\n');
}

/**
 * Run a hubd subcommand: runHubCli(bin, ['tenant', 'create', '--name', 'Acme'], {db, stdin}).
 * bin may be null (env HUBD). `db` appends ['--db', db]; `stdin` is written then closed; `env`
 * merges over process.env. Resolves {code, signal, stdout, stderr}; never rejects on a non-zero exit.
 */
export function runHubCli(bin, args, o = {}) {
	const argv = args.concat(o.db ? ['--db', o.db] : []);
	return new Promise((res, rej) => {
		const p = spawn(hubBin(bin), argv, { env: { ...process.env, ...(o.env ?? {}) }, stdio: ['pipe', 'pipe', 'pipe'] });
		let stdout = '';
		let stderr = '';
		p.stdout.on('data', (c) => (stdout += c));
		p.stderr.on('data', (c) => (stderr += c));
		const t = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 30000);
		p.on('error', (e) => {
			clearTimeout(t);
			rej(e);
		});
		p.on('close', (code, signal) => {
			clearTimeout(t);
			res({ code, signal, stdout, stderr });
		});
		p.stdin.on('error', () => { /* the command may exit without reading stdin */ });
		p.stdin.end(o.stdin ?? '');
	});
}

// runHubCli that throws unless the exit code is 0; resolves trimmed stdout.
export async function hubCliOk(bin, args, o = {}) {
	const r = await runHubCli(bin, args, o);
	if (r.code !== 0) throw new Error(`hubd ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr}`);
	return r.stdout.trim();
}

// `hubd tenant create --name N` then `hubd agent create --tenant ID --email E --role owner`
// (password on stdin). Resolves {tenantId, agentOutput}.
export async function createTenantWithOwner(bin, db, { name, email, password, role = 'owner' }) {
	const tenantId = await hubCliOk(bin, ['tenant', 'create', '--name', name], { db });
	const agentOutput = await hubCliOk(bin, ['agent', 'create', '--tenant', tenantId, '--email', email, '--role', role], { db, stdin: password + '\n' });
	return { tenantId, agentOutput };
}
