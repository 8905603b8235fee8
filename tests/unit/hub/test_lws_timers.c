/* SPDX-License-Identifier: MIT
 * test_lws_timers.c: hub/lws_timers.c's lws_dll2_add_sorted (walked from the latest entry)
 * against lws 4.1's order (each entry before the first one that does not compare lower):
 * random expiries from a small range so that ties are common, inserts at the head, the
 * tail and between, and removals; then lws's own timers (lws_sul_schedule on a real
 * context) go through it, which is what hubd relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <libwebsockets.h>

extern unsigned long sb_lws_sorted_inserts;

struct ent {
	lws_dll2_t list; /* first, as in lws_sorted_usec_list_t */
	int key;
};

static int cmp(const lws_dll2_t *a, const lws_dll2_t *b)
{
	int x = ((const struct ent *)a)->key, y = ((const struct ent *)b)->key;
	return x > y ? 1 : x < y ? -1 : 0;
}

#define N 300

static void test_order_matches_forward_insert(void **state)
{
	(void)state;
	static struct ent e[N];
	static struct ent *ref[N]; /* the list as lws's forward walk would leave it */
	bool in[N] = { false };
	int n = 0;
	lws_dll2_owner_t own;
	memset(&own, 0, sizeof own);
	uint32_t x = 2463534242u;
	for (int it = 0; it < 200000; it++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		int i = (int)(x % N);
		if (in[i]) { /* remove it */
			lws_dll2_remove(&e[i].list);
			int j = 0;
			while (ref[j] != &e[i])
				j++;
			memmove(&ref[j], &ref[j + 1], (size_t)(n - j - 1) * sizeof ref[0]);
			n--;
			in[i] = false;
		} else {
			memset(&e[i].list, 0, sizeof e[i].list);
			/* mostly later than everything (as timeouts are), sometimes anywhere */
			e[i].key = (x >> 20) % 4 ? it / 50 + (int)((x >> 8) % 3) : (int)((x >> 8) % (it / 50 + 1));
			int j = 0;
			while (j < n && cmp(&ref[j]->list, &e[i].list) < 0)
				j++;
			memmove(&ref[j + 1], &ref[j], (size_t)(n - j) * sizeof ref[0]);
			ref[j] = &e[i];
			n++;
			unsigned long before = sb_lws_sorted_inserts;
			lws_dll2_add_sorted(&e[i].list, &own, cmp);
			assert_int_equal(sb_lws_sorted_inserts, before + 1);
			in[i] = true;
		}
		assert_int_equal(own.count, (uint32_t)n);
		if (it % 97 == 0 || n < 3) {
			lws_dll2_t *p = own.head, *prev = NULL;
			for (int j = 0; j < n; j++, prev = p, p = p->next) {
				assert_ptr_equal(p, &ref[j]->list);
				assert_ptr_equal(p->prev, prev);
				assert_ptr_equal(p->owner, &own);
			}
			assert_null(p);
			assert_ptr_equal(own.tail, n ? &ref[n - 1]->list : NULL);
		}
	}
}

static void noop_cb(lws_sorted_usec_list_t *sul)
{
	(void)sul;
}

static void test_lws_uses_it(void **state)
{
	(void)state;
	lws_set_log_level(LLL_ERR, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	struct lws_context *cx = lws_create_context(&info);
	assert_non_null(cx);
	lws_sorted_usec_list_t s[3];
	memset(s, 0, sizeof s);
	unsigned long before = sb_lws_sorted_inserts;
	lws_sul_schedule(cx, 0, &s[0], noop_cb, 3 * LWS_US_PER_SEC);
	lws_sul_schedule(cx, 0, &s[1], noop_cb, 1 * LWS_US_PER_SEC);
	lws_sul_schedule(cx, 0, &s[2], noop_cb, 2 * LWS_US_PER_SEC);
	assert_int_equal(sb_lws_sorted_inserts - before, 3);
	for (int i = 0; i < 3; i++)
		lws_sul_schedule(cx, 0, &s[i], noop_cb, LWS_SET_TIMER_USEC_CANCEL);
	lws_context_destroy(cx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_matches_forward_insert),
		cmocka_unit_test(test_lws_uses_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
