/* SPDX-License-Identifier: MIT
 * test_idset.c: hub/idset.h against a plain array of flags: random adds, deletes and
 * lookups (ids crowded into a small range so probe runs collide and wrap), the count after
 * every step, growth, and ids whose probe runs cross the end of the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "idset.h"

#define RANGE 5000

static void test_against_reference(void **state)
{
	(void)state;
	static bool ref[RANGE];
	struct sb_idset s = { 0 };
	size_t n = 0;
	uint32_t x = 12345;
	for (int it = 0; it < 1000000; it++) {
		x = x * 1103515245u + 12345u;
		int64_t id = 1 + (int64_t)((x >> 8) % (RANGE - 1));
		switch ((x >> 4) & 3) {
		case 0:
		case 1:
			n += !ref[id];
			ref[id] = true;
			assert_true(sb_idset_add(&s, id));
			break;
		case 2:
			n -= ref[id];
			ref[id] = false;
			sb_idset_del(&s, id);
			break;
		default:
			assert_int_equal(sb_idset_has(&s, id), ref[id]);
		}
		assert_int_equal(s.n, n);
		assert_true(s.n * 2 <= s.cap);
	}
	for (int64_t id = 1; id < RANGE; id++)
		assert_int_equal(sb_idset_has(&s, id), ref[id]);
	sb_idset_free(&s);
	assert_false(sb_idset_has(&s, 1));
}

/* Ids that all want the table's last slot: their run wraps to slot 0; deleting from the
 * middle of the run must keep every other one findable. */
static void test_wrapping_runs(void **state)
{
	(void)state;
	struct sb_idset s = { 0 };
	assert_true(sb_idset_add(&s, 1)); /* cap 128 now */
	sb_idset_del(&s, 1);
	int64_t ids[24];
	int k = 0;
	for (int64_t id = 1; k < 24; id++)
		if (sb_idset_home(id, s.cap - 1) >= s.cap - 2)
			ids[k++] = id;
	for (int i = 0; i < 24; i++)
		assert_true(sb_idset_add(&s, ids[i]));
	assert_int_equal(s.cap, 128);
	for (int i = 0; i < 24; i += 3)
		sb_idset_del(&s, ids[i]);
	for (int i = 0; i < 24; i++)
		assert_int_equal(sb_idset_has(&s, ids[i]), i % 3 != 0);
	sb_idset_del(&s, 999999); /* absent: nothing changes */
	assert_int_equal(s.n, 16);
	sb_idset_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_reference),
		cmocka_unit_test(test_wrapping_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
