// SMS segment count, as the hub counts it (bridges/common/sb_segments.c): GSM 03.38 7-bit when
// every character is in the basic or extension table, else UCS-2; multipart parts are packed
// greedily and an escape pair or a surrogate pair never splits across parts.
const BASIC_HI = new Set([0x00a1, 0x00a3, 0x00a4, 0x00a5, 0x00a7, 0x00bf, 0x00c4, 0x00c5, 0x00c6, 0x00c7,
	0x00c9, 0x00d1, 0x00d6, 0x00d8, 0x00dc, 0x00df, 0x00e0, 0x00e4, 0x00e5, 0x00e6,
	0x00e8, 0x00e9, 0x00ec, 0x00f1, 0x00f2, 0x00f6, 0x00f8, 0x00f9, 0x00fc, 0x0393,
	0x0394, 0x0398, 0x039b, 0x039e, 0x03a0, 0x03a3, 0x03a6, 0x03a8, 0x03a9]);
const EXT = new Set([0x0c, 0x5b, 0x5c, 0x5d, 0x5e, 0x7b, 0x7c, 0x7d, 0x7e]);

export function gsm7Septets(cp) {
	if (cp < 0x80) {
		if (cp === 10 || cp === 13) return 1;
		if (EXT.has(cp)) return 2;
		if (cp < 0x20 || cp === 0x60 || cp === 0x7f) return 0;
		return 1;
	}
	if (cp === 0x20ac) return 2;
	return BASIC_HI.has(cp) ? 1 : 0;
}

export function countSegments(text) {
	const cps = Array.from(text, (c) => c.codePointAt(0));
	const gsm = cps.every((cp) => gsm7Septets(cp) > 0);
	const cap = gsm ? 153 : 67;
	let units = 0, parts = 0, fill = cap;
	for (const cp of cps) {
		const w = gsm ? gsm7Septets(cp) : (cp > 0xffff ? 2 : 1);
		units += w;
		if (fill + w > cap) {
			parts++;
			fill = 0;
		}
		fill += w;
	}
	const segments = units === 0 ? 0 : units <= (gsm ? 160 : 70) ? 1 : parts;
	return { encoding: gsm ? 'GSM-7' : 'UCS-2', chars: cps.length, units, segments };
}
