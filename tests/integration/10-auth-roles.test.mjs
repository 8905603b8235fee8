// SPDX-License-Identifier: MIT
// Roles and agent management: invitations, who may manage agents, canned responses and
// settings, owners protected from admins, no self-deactivation, and a deactivated agent
// locked out (sessions gone, sockets closed 4003, login refused).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub } from '../lib/hub.mjs';
import { api, login, agentSocket, makeTenant, currentSeq, PASSWORD } from '../lib/client.mjs';

let hub, t;

before(async () => {
	hub = await startHub({ env: { SB_PWHASH: 'min' } });
	t = await makeTenant(hub, 'Roles Co', [
		{ key: 'owner', email: 'owner@roles.test', role: 'owner' },
		{ key: 'owner2', email: 'owner2@roles.test', role: 'owner' },
		{ key: 'admin', email: 'admin@roles.test', role: 'admin' },
		{ key: 'agent', email: 'agent@roles.test', role: 'agent' },
		{ key: 'victim', email: 'victim@roles.test', role: 'agent' },
	]);
});
after(async () => {
	await hub?.cleanup();
});

test('invite, accept-invite, then log in as the invited agent', async () => {
	const inv = await t.a.admin.api('POST', '/api/v1/agents', { email: 'invited@roles.test', name: 'Ivy', role: 'agent' });
	assert.equal(inv.status, 201, inv.text);
	assert.equal(inv.json.agent.email, 'invited@roles.test');
	assert.equal(inv.json.agent.role, 'agent');
	assert.equal(inv.json.agent.invited, true);
	assert.match(inv.json.invite_token, /^[A-Za-z0-9_-]{20,}$/);
	// not yet usable: no password
	const early = await api('POST', '/api/v1/auth/login', { email: 'invited@roles.test', password: 'anything-1' }, { base: hub.url });
	assert.equal(early.status, 401);
	// bad tokens and weak passwords
	const bad = await api('POST', '/api/v1/auth/accept-invite', { token: 'x'.repeat(43), password: 'long enough pw' }, { base: hub.url });
	assert.equal(bad.status, 404);
	assert.equal(bad.json.error.code, 'not_found');
	const weak = await api('POST', '/api/v1/auth/accept-invite', { token: inv.json.invite_token, password: 'short' }, { base: hub.url });
	assert.equal(weak.status, 400);
	assert.equal(weak.json.error.code, 'weak_password');
	const ok = await api('POST', '/api/v1/auth/accept-invite', { token: inv.json.invite_token, password: 'ivy-password-1' }, { base: hub.url });
	assert.equal(ok.status, 204, ok.text);
	const reuse = await api('POST', '/api/v1/auth/accept-invite', { token: inv.json.invite_token, password: 'other-password-2' }, { base: hub.url });
	assert.equal(reuse.status, 404, 'an invitation works once');
	const l = await login(hub.url, 'invited@roles.test', 'ivy-password-1');
	assert.equal(l.me.id, inv.json.agent.id);
	assert.equal(l.me.invited, false);
	assert.equal(l.me.name, 'Ivy');
	const me = await api('GET', '/api/v1/me', null, { base: hub.url, cookie: l.cookie });
	assert.equal(me.json.tenant_id, t.tenantId);
	// the token of the second accept did not replace the password
	const old = await api('POST', '/api/v1/auth/login', { email: 'invited@roles.test', password: 'other-password-2' }, { base: hub.url });
	assert.equal(old.status, 401);
	// the same email cannot be invited twice
	const dup = await t.a.owner.api('POST', '/api/v1/agents', { email: 'INVITED@roles.test', role: 'agent' });
	assert.equal(dup.status, 409);
});

test('invite validation: email, role, unknown fields', async () => {
	const o = t.a.owner;
	const cases = [
		[{ email: 'no-at-sign', role: 'agent' }, 400, 'invalid'],
		[{ email: 'x@roles.test', role: 'boss' }, 400, 'invalid'],
		[{ email: 'x@roles.test' }, 400, 'invalid'],
		[{ role: 'agent' }, 400, 'invalid'],
		[{ email: 'x@roles.test', role: 'agent', admin: true }, 400, 'unknown_field'],
		[{ email: 'x@roles.test', role: 'agent', name: 'n'.repeat(101) }, 400, 'too_long'],
	];
	for (const [body, status, code] of cases) {
		const r = await o.api('POST', '/api/v1/agents', body);
		assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
		assert.equal(r.json.error.code, code, JSON.stringify(body));
	}
	const list = await o.api('GET', '/api/v1/agents');
	assert.ok(!list.json.agents.some((a) => a.email === 'x@roles.test'));
});

test('an agent cannot manage agents, canned responses or settings (403), but can read them', async () => {
	const g = t.a.agent;
	const seq0 = await currentSeq(g);
	const canned = await t.a.owner.api('POST', '/api/v1/canned-responses', { shortcut: 'roles-hi', body: 'Hi' });
	assert.equal(canned.status, 201);
	const tries = [
		['POST', '/api/v1/agents', { email: 'sneak@roles.test', role: 'agent' }],
		['PATCH', `/api/v1/agents/${t.a.victim.id}`, { active: false }],
		['PATCH', `/api/v1/agents/${g.id}`, { role: 'owner' }],
		['PATCH', `/api/v1/agents/${g.id}`, { role: 'admin' }],
		['POST', '/api/v1/canned-responses', { shortcut: 'sneak', body: 'x' }],
		['PATCH', `/api/v1/canned-responses/${canned.json.id}`, { body: 'changed' }],
		['DELETE', `/api/v1/canned-responses/${canned.json.id}`, null],
		['PUT', '/api/v1/settings', { auto_reply: 'sneaky' }],
	];
	for (const [m, p, b] of tries) {
		const r = await g.api(m, p, b);
		assert.equal(r.status, 403, `${m} ${p}: ${r.text}`);
		assert.equal(r.json.error.code, 'forbidden');
	}
	assert.equal(await currentSeq(g), seq0);
	assert.equal((await g.api('GET', '/api/v1/agents')).status, 200);
	const cl = await g.api('GET', '/api/v1/canned-responses');
	assert.equal(cl.status, 200);
	assert.equal(cl.json.canned_responses.find((c) => c.id === canned.json.id).body, 'Hi');
	assert.equal((await g.api('GET', '/api/v1/settings')).status, 200);
	const me = await g.api('GET', `/api/v1/agents/${g.id}`);
	assert.equal(me.json.role, 'agent');
	assert.equal((await g.api('GET', '/api/v1/agents')).json.agents.find((a) => a.email === 'sneak@roles.test'), undefined);
});

test('an admin manages agents but cannot touch or make an owner', async () => {
	const ad = t.a.admin;
	for (const [m, p, b] of [
		['PATCH', `/api/v1/agents/${t.a.owner.id}`, { name: 'Demoted?' }],
		['PATCH', `/api/v1/agents/${t.a.owner.id}`, { active: false }],
		['PATCH', `/api/v1/agents/${t.a.owner.id}`, { role: 'agent' }],
		['PATCH', `/api/v1/agents/${t.a.agent.id}`, { role: 'owner' }],
		['PATCH', `/api/v1/agents/${ad.id}`, { role: 'owner' }],
		['POST', '/api/v1/agents', { email: 'owner3@roles.test', role: 'owner' }],
	]) {
		const r = await ad.api(m, p, b);
		assert.equal(r.status, 403, `${m} ${p} ${JSON.stringify(b)}: ${r.text}`);
	}
	const owner = await t.a.owner.api('GET', `/api/v1/agents/${t.a.owner.id}`);
	assert.equal(owner.json.role, 'owner');
	assert.equal(owner.json.active, true);
	assert.equal(owner.json.name, '');
	const ren = await ad.api('PATCH', `/api/v1/agents/${t.a.agent.id}`, { name: 'Renamed by admin' });
	assert.equal(ren.status, 200);
	assert.equal(ren.json.name, 'Renamed by admin');
	// an owner may change another owner
	const o2 = await t.a.owner.api('PATCH', `/api/v1/agents/${t.a.owner2.id}`, { name: 'Second Owner' });
	assert.equal(o2.status, 200);
	assert.equal(o2.json.name, 'Second Owner');
	// bad fields
	const bf = await t.a.owner.api('PATCH', `/api/v1/agents/${t.a.agent.id}`, { active: 'no' });
	assert.equal(bf.status, 400);
	const br = await t.a.owner.api('PATCH', `/api/v1/agents/${t.a.agent.id}`, { role: 'king' });
	assert.equal(br.status, 400);
	const nf = await t.a.owner.api('PATCH', '/api/v1/agents/999999', { name: 'ghost' });
	assert.equal(nf.status, 404);
});

test('nobody can deactivate or demote themselves', async () => {
	for (const k of ['owner', 'admin', 'agent']) {
		const a = t.a[k];
		const r = await a.api('PATCH', `/api/v1/agents/${a.id}`, { active: false });
		// an agent may not manage agents at all (403); an owner or admin is refused as 409
		assert.equal(r.status, k === 'agent' ? 403 : 409, `${k}: ${r.status} ${r.text}`);
		const me = await a.api('GET', '/api/v1/me');
		assert.equal(me.status, 200, `${k} still logged in`);
		assert.equal(me.json.agent.active, true);
	}
	const dem = await t.a.owner.api('PATCH', `/api/v1/agents/${t.a.owner.id}`, { role: 'admin' });
	assert.equal(dem.status, 409);
	const dem2 = await t.a.admin.api('PATCH', `/api/v1/agents/${t.a.admin.id}`, { role: 'agent' });
	assert.equal(dem2.status, 409);
	assert.equal((await t.a.owner.api('GET', `/api/v1/agents/${t.a.owner.id}`)).json.role, 'owner');
	assert.equal((await t.a.owner.api('GET', `/api/v1/agents/${t.a.admin.id}`)).json.role, 'admin');
});

test('a deactivated agent: sockets close 4003, sessions dead, login refused, unassigned', async () => {
	const v = t.a.victim;
	const c = await t.a.owner.api('POST', '/api/v1/contacts', { name: 'Assigned To Victim' });
	const conv = await t.a.owner.api('POST', '/api/v1/conversations', { contact_id: c.json.id });
	const asg = await t.a.owner.api('POST', `/api/v1/conversations/${conv.json.id}/assign`, { agent_id: v.id });
	assert.equal(asg.json.assignee_id, v.id);
	const s = await agentSocket(hub.url, { cookie: v.cookie });
	await s.next('welcome');
	const watcher = await agentSocket(hub.url, { cookie: t.a.owner.cookie });
	await watcher.next('welcome');
	const r = await t.a.admin.api('PATCH', `/api/v1/agents/${v.id}`, { active: false });
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.active, false);
	const closed = await Promise.race([s.closed, new Promise((res) => setTimeout(() => res('timeout'), 3000))]);
	assert.equal(closed.code, 4003, JSON.stringify(closed));
	const ev = await watcher.next((f) => f.type === 'event' && f.event === 'agent.updated' && f.data.id === v.id);
	assert.equal(ev.data.active, false);
	await watcher.close();
	assert.equal((await v.api('GET', '/api/v1/me')).status, 401);
	assert.equal((await v.api('POST', '/api/v1/contacts', { name: 'after' })).status, 401);
	const li = await api('POST', '/api/v1/auth/login', { email: v.email, password: PASSWORD }, { base: hub.url });
	assert.equal(li.status, 401);
	assert.equal(li.json.error.code, 'invalid_credentials');
	await assert.rejects(agentSocket(hub.url, { cookie: v.cookie }), (e) => e.status === 403);
	const cv = await t.a.owner.api('GET', `/api/v1/conversations/${conv.json.id}`);
	assert.equal(cv.json.assignee_id, null);
	const re = await t.a.owner.api('POST', `/api/v1/conversations/${conv.json.id}/assign`, { agent_id: v.id });
	assert.equal(re.status, 400, 'an inactive agent cannot be assigned');
	// reactivated, the agent logs in again
	const back = await t.a.owner.api('PATCH', `/api/v1/agents/${v.id}`, { active: true });
	assert.equal(back.json.active, true);
	const l = await login(hub.url, v.email, PASSWORD);
	assert.equal(l.me.id, v.id);
});

test('a role change applies to the sessions already in use (no stale credential cache)', async () => {
	const o = await makeTenant(hub, 'Role Cache Co', [
		{ key: 'owner', email: 'owner@rolecache.test', role: 'owner' },
		{ key: 'admin', email: 'admin@rolecache.test', role: 'admin' },
	]);
	const ad = o.a.admin;
	// used (and so remembered by the hub) as an admin first
	const before = await ad.api('POST', '/api/v1/agents', { email: 'new1@rolecache.test', role: 'agent' });
	assert.equal(before.status, 201, before.text);
	assert.equal((await ad.api('GET', '/api/v1/me')).json.agent.role, 'admin');
	const dem = await o.a.owner.api('PATCH', `/api/v1/agents/${ad.id}`, { role: 'agent' });
	assert.equal(dem.status, 200, dem.text);
	// the same session, at once: an agent now
	const after = await ad.api('POST', '/api/v1/agents', { email: 'new2@rolecache.test', role: 'agent' });
	assert.equal(after.status, 403, after.text);
	assert.equal((await ad.api('GET', '/api/v1/me')).json.agent.role, 'agent');
	const back = await o.a.owner.api('PATCH', `/api/v1/agents/${ad.id}`, { role: 'admin' });
	assert.equal(back.status, 200, back.text);
	const again = await ad.api('POST', '/api/v1/agents', { email: 'new3@rolecache.test', role: 'agent' });
	assert.equal(again.status, 201, again.text);
});
