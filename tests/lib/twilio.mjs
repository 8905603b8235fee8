// SPDX-License-Identifier: MIT
// Twilio wire helpers shared by the fake provider (tests/fakes/fake_twilio.mjs) and the integration
// tests: X-Twilio-Signature (PROVIDERS.md §1.4), Twilio-style form encoding and parsing, the
// bodySHA256 URL form for JSON webhooks, and the GSM-7/UCS-2 segment count of §1.6.
// Node built-ins only, so the fake can import it without node_modules.

import { createHmac, createHash, timingSafeEqual } from 'node:crypto';

// Accepts [[name, value], ...], a Map, or a plain object whose values are strings or arrays of
// strings (a repeated name). Returns [[name, value], ...] with every value stringified.
export function toPairs(params) {
	if (params == null) return [];
	if (Array.isArray(params)) return params.map(([k, v]) => [String(k), v == null ? '' : String(v)]);
	const entries = params instanceof Map ? [...params.entries()] : Object.entries(params);
	const out = [];
	for (const [k, v] of entries) {
		if (Array.isArray(v)) for (const x of v) out.push([k, x == null ? '' : String(x)]);
		else out.push([k, v == null ? '' : String(v)]);
	}
	return out;
}

// Code-point order (what Python's sorted() and twilio-node use): compare the UTF-8 bytes.
function cmpCodePoint(a, b) {
	return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// The exact string Twilio signs: URL as configured, then for each parameter name in sorted
// order, each of its distinct values in sorted order, name + value with no separators.
export function twilioSignatureString(url, params) {
	const byName = new Map();
	for (const [k, v] of toPairs(params)) {
		if (!byName.has(k)) byName.set(k, new Set());
		byName.get(k).add(v);
	}
	let s = url;
	for (const name of [...byName.keys()].sort(cmpCodePoint))
		for (const value of [...byName.get(name)].sort(cmpCodePoint)) s += name + value;
	return s;
}

// base64(HMAC-SHA1(token, url + sorted params)); 28 characters ending in '='.
export function twilioSignature(token, url, params) {
	return createHmac('sha1', Buffer.from(token, 'utf8'))
		.update(Buffer.from(twilioSignatureString(url, params), 'utf8'))
		.digest('base64');
}

// Constant-time check of a received X-Twilio-Signature.
export function verifyTwilioSignature(token, url, params, signature) {
	const want = Buffer.from(twilioSignature(token, url, params));
	const got = Buffer.from(String(signature ?? ''));
	return want.length === got.length && timingSafeEqual(want, got);
}

// Percent-encoding as Twilio and Python's urlencode do it: unreserved characters stay,
// space becomes '+', everything else is %XX of its UTF-8 bytes ('!' becomes %21).
export function formEscape(s) {
	return encodeURIComponent(String(s))
		.replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
		.replace(/%20/g, '+');
}

// Pairs (or an object, see toPairs) to an application/x-www-form-urlencoded body, order kept.
export function formEncode(pairs) {
	return toPairs(pairs).map(([k, v]) => formEscape(k) + '=' + formEscape(v)).join('&');
}

// One form-encoded name or value to text ('+' is a space). Throws on a malformed escape.
export function formUnescape(s) {
	if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
	return decodeURIComponent(s.replace(/\+/g, ' '));
}

// application/x-www-form-urlencoded body to [[name, value], ...] in wire order. Throws on a
// malformed percent escape.
export function formDecode(body) {
	const out = [];
	if (!body) return out;
	for (const part of String(body).split('&')) {
		if (part === '') continue;
		const eq = part.indexOf('=');
		const k = eq < 0 ? part : part.slice(0, eq);
		const v = eq < 0 ? '' : part.slice(eq + 1);
		out.push([formUnescape(k), formUnescape(v)]);
	}
	return out;
}

// Lowercase hex SHA-256 of a body (string or Buffer).
export function sha256Hex(body) {
	return createHash('sha256').update(body).digest('hex');
}

// The URL Twilio signs for a JSON-bodied webhook: url + bodySHA256=<hex sha256 of body>,
// joined with '?' or '&' as the URL already has a query or not. Sign it with no params.
export function bodySha256Url(url, body) {
	return url + (url.includes('?') ? '&' : '?') + 'bodySHA256=' + sha256Hex(body);
}

// GSM 03.38 basic table (1 septet) and extension table (ESC + code, 2 septets), §1.6.
const GSM_BASIC = new Set(
	'\n\r !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz' +
	'¡£¤¥§¿ÄÅÆÇÉÑÖØÜßàäåæèéìñòöøùüΓΔΘΛΞΠΣΦΨΩ');
const GSM_EXT = new Set('\f[\\]^{|}~€');

// 'GSM-7' when every character is in the basic or extension table, else 'UCS-2'.
export function smsEncoding(body) {
	for (const ch of String(body)) if (!GSM_BASIC.has(ch) && !GSM_EXT.has(ch)) return 'UCS-2';
	return 'GSM-7';
}

// Septets per ASCII code under GSM-7: 1 basic, 2 extension, 0 not representable.
const ASCII_SEPTETS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
	const ch = String.fromCharCode(c);
	ASCII_SEPTETS[c] = GSM_BASIC.has(ch) ? 1 : GSM_EXT.has(ch) ? 2 : 0;
}

// Number of SMS segments Twilio bills for a body: 160 septets / 70 UTF-16 units in one part,
// 153 / 67 per part when split, never splitting an ESC pair or a surrogate pair.
// An empty body counts as 1 (as Twilio reports for MMS).
export function smsSegments(body) {
	const s = String(body ?? '');
	// Fast path: short GSM-7 text in plain ASCII (the common case on the fake's hot path).
	let septets = 0;
	let i = 0;
	for (; i < s.length; i++) {
		const c = s.charCodeAt(i);
		const n = c < 128 ? ASCII_SEPTETS[c] : 0;
		if (n === 0) break;
		septets += n;
	}
	if (i === s.length && septets <= 160) return 1;

	const gsm = smsEncoding(s) === 'GSM-7';
	const units = [];
	for (const ch of s) units.push(gsm ? (GSM_EXT.has(ch) ? 2 : 1) : ch.length);
	const total = units.reduce((a, b) => a + b, 0);
	const single = gsm ? 160 : 70;
	const part = gsm ? 153 : 67;
	if (total <= single) return 1;
	let segments = 1;
	let used = 0;
	for (const u of units) {
		if (used + u > part) {
			segments++;
			used = 0;
		}
		used += u;
	}
	return segments;
}
