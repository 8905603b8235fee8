/* SPDX-License-Identifier: MIT
 * fuzz_config.c: the real config loader (hub/config.c, sb_config_load) on an arbitrary JSON
 * config file, in process so libFuzzer sees its coverage.
 * sb_config_load exit()s on a bad file (by design: errors stop the start). This target is
 * linked with -Wl,--wrap=exit: while a load runs, exit() longjmps back here instead. What the
 * abandoned load had allocated is then freed through the sanitizer allocator's malloc/free
 * hooks, which record every block allocated during the load (without a sanitizer the hooks
 * do not exist and such a load leaks, which only matters in long runs). The input is handed
 * over as a file (memfd), the way hubd reads it.
 */
#define _GNU_SOURCE
#include "fuzz.h"
#include "hub.h"

#include <setjmp.h>
#include <sys/mman.h>
#include <unistd.h>

void __real_exit(int status) __attribute__((noreturn));
void __wrap_exit(int status) __attribute__((noreturn));
int __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
					      void (*f)(const volatile void *))
	__attribute__((weak));

static jmp_buf back;
static volatile bool loading;
static int exit_status;

/* Live blocks allocated during a load: open addressing, no allocation in the hooks. */
#define LIVE_CAP 65536
static const volatile void *live[LIVE_CAP];
static size_t live_n;
static bool hooks;
static bool cleaning; /* freeing the recorded blocks: stop tracking */

static size_t slot(const volatile void *p)
{
	return ((uintptr_t)p >> 4) * 2654435761u % LIVE_CAP;
}

static void on_malloc(const volatile void *p, size_t n)
{
	(void)n;
	if (!loading || !p || live_n >= LIVE_CAP / 2)
		return;
	size_t i = slot(p);
	while (live[i])
		i = (i + 1) % LIVE_CAP;
	live[i] = p;
	live_n++;
}

static void on_free(const volatile void *p)
{
	if (!p || !live_n || cleaning)
		return;
	size_t i = slot(p);
	for (size_t k = 0; k < LIVE_CAP && live[i]; k++, i = (i + 1) % LIVE_CAP) {
		if (live[i] == p) {
			/* backward-shift deletion keeps probe chains intact */
			size_t j = i;
			live[i] = NULL;
			live_n--;
			for (j = (j + 1) % LIVE_CAP; live[j]; j = (j + 1) % LIVE_CAP) {
				const volatile void *q = live[j];
				live[j] = NULL;
				size_t t = slot(q);
				while (live[t])
					t = (t + 1) % LIVE_CAP;
				live[t] = q;
			}
			return;
		}
	}
}

void __wrap_exit(int status)
{
	if (loading) {
		exit_status = status;
		longjmp(back, 1);
	}
	__real_exit(status);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* only the file may configure the loader */
	static const char *const env[] = { "SB_CONFIG", "SB_LISTEN", "SB_DB", "SB_PUBLIC_URL",
		"SB_WEB_ROOT", "SB_LOG_LEVEL", "SB_PWHASH", "SB_PWHASH_THREADS",
		"SB_SESSION_DAYS", "SB_DEMO_FILE", "SB_DEMO", "SB_BRIDGE_DIR", "SB_SECRET_KEY",
		"SB_SECRET_KEY_FILE" };
	for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
		unsetenv(env[i]);
	if (__sanitizer_install_malloc_and_free_hooks)
		hooks = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1 << 20))
		return 0; /* the loader's own cap; past it, it would also leak a FILE */
	int fd = memfd_create("sb-fuzz-config", MFD_CLOEXEC);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size)) {
		perror("memfd");
		abort();
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

	static struct sb_config cfg; /* static: a longjmp must not leave it indeterminate */
	int saved_level = sb_log_level_max;
	FILE *saved_err = stderr;
	static FILE *null_err;
	if (!null_err)
		null_err = fopen("/dev/null", "w");
	stderr = null_err; /* die() prints one line per bad input */
	exit_status = -1;
	if (setjmp(back) == 0) {
		loading = true;
		int rc = sb_config_load(&cfg, path, 0, NULL);
		loading = false;
		stderr = saved_err;
		FUZZ_CHECK(rc == 0);
		/* what startup relies on after a successful load */
		FUZZ_CHECK(cfg.listen_host && cfg.db_path && cfg.public_url && cfg.web_root &&
			   cfg.pwhash && cfg.demo_file);
		FUZZ_CHECK(cfg.port >= 0 && cfg.port <= 65535);
		FUZZ_CHECK(!strncmp(cfg.public_url, "http://", 7) ||
			   !strncmp(cfg.public_url, "https://", 8));
		FUZZ_CHECK(cfg.pwhash_threads >= 1 && cfg.pwhash_threads <= 64);
		FUZZ_CHECK(cfg.session_days >= 1);
		FUZZ_CHECK(!cfg.secret_key || strlen(cfg.secret_key) == 64);
		FUZZ_CHECK(cfg.log_level >= SB_LOG_ERR && cfg.log_level <= SB_LOG_DEBUG);
		const char *origin = sb_config_origin(&cfg);
		FUZZ_CHECK(!strncmp(origin, cfg.public_url, strlen(origin)));
		sb_config_free(&cfg);
	} else {
		loading = false;
		stderr = saved_err;
		FUZZ_CHECK(exit_status == 2);
		/* the abandoned load's blocks (cfg's strings among them) */
		cleaning = true;
		if (hooks)
			for (size_t i = 0; i < LIVE_CAP; i++)
				if (live[i])
					free((void *)live[i]);
		cleaning = false;
		memset(&cfg, 0, sizeof cfg);
	}
	memset((void *)live, 0, sizeof live);
	live_n = 0;
	sb_log_level_max = saved_level;
	close(fd);
	return 0;
}
