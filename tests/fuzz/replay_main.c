/* SPDX-License-Identifier: MIT
 * replay_main.c: a main for the fuzz targets where libFuzzer is not linked (gcc builds):
 * runs LLVMFuzzerTestOneInput once on every file of the directories (or files) given, in
 * name order, so `ctest -L fuzz` replays the committed corpus under ASan and UBSan.
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include <dirent.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: cannot open %s\n", path);
		return 1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) || st.st_size > (64 << 20)) {
		fclose(f);
		fprintf(stderr, "replay: %s: cannot size or too big\n", path);
		return 1;
	}
	size_t n = (size_t)st.st_size;
	/* an exact-size copy, so a read past the end is caught as in libFuzzer */
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf || fread(buf, 1, n, f) != n) {
		fclose(f);
		free(buf);
		fprintf(stderr, "replay: cannot read %s\n", path);
		return 1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	int files = 0, bad = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st)) {
			fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad += run_file(argv[i]);
			files++;
			continue;
		}
		struct dirent **ents;
		int n = scandir(argv[i], &ents, NULL, by_name);
		for (int k = 0; k < n; k++) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[i], ents[k]->d_name);
			if (ents[k]->d_name[0] != '.' && !stat(path, &st) && S_ISREG(st.st_mode)) {
				bad += run_file(path);
				files++;
			}
			free(ents[k]);
		}
		free(ents);
	}
	if (sb_fuzz_replay_done && sb_fuzz_replay_done())
		bad++;
	printf("replay: %d inputs, %d unreadable\n", files, bad);
	/* an empty corpus is a broken test, not a passing one */
	return bad || !files ? 1 : 0;
}
