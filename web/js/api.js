// REST client for /api/v1 (cookie session + X-CSRF-Token on every state-changing request).
let csrf = sessionStorage.getItem('sb.csrf') || null;
const listeners = new Set();

export class ApiError extends Error {
	constructor(status, code, message, retryAfter) {
		super(message || `HTTP ${status}`);
		this.status = status;
		this.code = code;
		this.retryAfter = retryAfter;
	}
}

export function setCsrf(t) {
	csrf = t || null;
	if (t) sessionStorage.setItem('sb.csrf', t);
	else sessionStorage.removeItem('sb.csrf');
}

// Called with no argument when any request answers 401 (the session is gone).
export function onUnauthenticated(fn) {
	listeners.add(fn);
}

export async function api(method, path, body) {
	const headers = { Accept: 'application/json' };
	if (body !== undefined) headers['Content-Type'] = 'application/json';
	if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
	let res;
	try {
		res = await fetch(`/api/v1${path}`, {
			method, headers, credentials: 'same-origin',
			body: body === undefined ? undefined : JSON.stringify(body),
		});
	} catch {
		throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
	}
	let data = null;
	if (res.status !== 204) {
		const text = await res.text();
		try {
			data = text ? JSON.parse(text) : null;
		} catch {
			data = null;
		}
	}
	if (!res.ok) {
		const e = data && data.error ? data.error : {};
		const ra = Number(res.headers.get('Retry-After')) || null;
		let msg = e.message || `The server answered ${res.status}.`;
		if (res.status === 429) msg = `Too many attempts. Please wait ${ra ?? 'a few'} second${ra === 1 ? '' : 's'} and try again.`;
		const err = new ApiError(res.status, e.code || String(res.status), msg, ra);
		if (res.status === 401 && !path.startsWith('/auth/login')) for (const fn of listeners) fn();
		throw err;
	}
	return data;
}

export const get = (p) => api('GET', p);
export const post = (p, b = {}) => api('POST', p, b);
export const patch = (p, b) => api('PATCH', p, b);
export const put = (p, b) => api('PUT', p, b);
export const del = (p) => api('DELETE', p);

export function qs(o) {
	const u = new URLSearchParams();
	for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
	const s = u.toString();
	return s ? `?${s}` : '';
}
