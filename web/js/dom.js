// Tiny DOM helpers: h('div.cls#id', {attrs, on: {click}}, ...children). No innerHTML with data.
export function h(sel, attrs, ...kids) {
	const m = sel.match(/^([a-z0-9-]+)?((?:[.#][\w-]+)*)$/i);
	const el = document.createElement(m[1] || 'div');
	for (const part of (m[2] || '').match(/[.#][\w-]+/g) || []) {
		if (part[0] === '.') el.classList.add(part.slice(1));
		else el.id = part.slice(1);
	}
	if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
		kids.unshift(attrs);
		attrs = null;
	}
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v == null || v === false) continue;
		if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
		else if (k === 'class') el.className = v;
		else if (k === 'text') el.textContent = v;
		else if (k === 'value') el.value = v;
		else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'hidden') el[k] = !!v;
		else el.setAttribute(k, v === true ? '' : String(v));
	}
	append(el, kids);
	return el;
}

function append(el, kids) {
	for (const k of kids) {
		if (k == null || k === false) continue;
		if (Array.isArray(k)) append(el, k);
		else el.append(k instanceof Node ? k : document.createTextNode(String(k)));
	}
}

export function clear(el) {
	while (el.firstChild) el.firstChild.remove();
	return el;
}

export function toast(msg, kind = 'info') {
	const box = document.getElementById('toasts');
	const t = h('div.toast', { class: `toast toast-${kind}` }, msg);
	box.append(t);
	setTimeout(() => t.remove(), 6000);
}

// Says text through the page's polite live region (#announcer): connection and status changes
// and new messages reach screen-reader users without moving focus. Each announcement is a new
// line (so the same text twice is said twice); old lines go after a while.
export function announce(text) {
	const box = document.getElementById('announcer');
	if (!box) return;
	const p = document.createElement('p');
	p.textContent = text;
	box.append(p);
	while (box.childElementCount > 5) box.firstElementChild.remove();
	setTimeout(() => p.remove(), 10000);
}

export function fmtTime(iso) {
	if (!iso) return '';
	const d = new Date(iso);
	const now = new Date();
	if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
	return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

export function fmtFull(iso) {
	return iso ? new Date(iso).toLocaleString() : '';
}

let uid = 0;
export const nextId = (p = 'id') => `${p}-${++uid}`;

// A labelled form field: returns [label, input] wrapped in a div.field.
export function field(label, input, hint) {
	if (!input.id) input.id = nextId('f');
	const kids = [h('label', { for: input.id }, label), input];
	if (hint) {
		const hid = nextId('hint');
		input.setAttribute('aria-describedby', hid);
		kids.push(h('small.hint', { id: hid }, hint));
	}
	return h('div.field', kids);
}

// Replace el's children with kids (arrays flattened, null skipped).
export function fill(el, ...kids) {
	clear(el);
	append(el, kids);
	return el;
}
