/* SPDX-License-Identifier: MIT
 * lws_timers.c: libwebsockets 4.1's sorted timer insert, walked from the far end.
 *
 * lws 4.1 keeps every pending timeout of a service thread (each HTTP connection's keep-alive
 * and body timeouts among them) in one list sorted by expiry, and inserts into it with
 * lws_dll2_add_sorted, which walks from the earliest entry to the first one not earlier.
 * Nearly every insert is "now + the same few seconds", later than everything already
 * there, so each one walked the whole list: one pointer chase into every other
 * connection's struct lws, per request, twice. At 256 keep-alive connections that was
 * 3.7-4.8% of the hub's CPU samples in B3, 0.05-0.10% with this one (docs/PERFORMANCE.md,
 * the fourth round), and it grows with the connections.
 *
 * lws calls lws_dll2_add_sorted through its PLT, so hubd's own definition, exported from
 * the executable (hub/CMakeLists.txt: --export-dynamic-symbol), is the one it runs. This one
 * puts the entry in the same place (after every entry that compares lower, before the first
 * that does not, so equal expiries keep lws's order) but looks from the latest entry
 * backwards: the usual insert is one comparison.
 *
 * Only for lws 4.1 (Debian 12's 4.1.6), whose list and its semantics this was checked
 * against; any other version keeps its own. tests/unit/hub/test_lws_timers.c checks the
 * order against a forward insert, and unit.hubd_exports that hubd exports the symbol.
 */
#include <libwebsockets.h>

/* inserts made through this function (a test checks that lws's own calls land here) */
unsigned long sb_lws_sorted_inserts;

#if LWS_LIBRARY_VERSION_MAJOR == 4 && LWS_LIBRARY_VERSION_MINOR == 1
__attribute__((visibility("default"))) void
lws_dll2_add_sorted(lws_dll2_t *d, lws_dll2_owner_t *own,
		    int (*compare)(const lws_dll2_t *d, const lws_dll2_t *i))
{
	sb_lws_sorted_inserts++;
	lws_dll2_t *p = own->tail;
	while (p && compare(p, d) >= 0)
		p = p->prev;
	if (!p)
		lws_dll2_add_head(d, own);
	else if (p->next)
		lws_dll2_add_before(d, p->next);
	else
		lws_dll2_add_tail(d, own);
}
#endif
