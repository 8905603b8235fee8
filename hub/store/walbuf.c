/* SPDX-License-Identifier: MIT
 * walbuf.c: the writer's WAL writes gathered into one pwrite per commit.
 *
 * Why: sqlite writes each WAL frame as two pwrites, its 24-byte header and then its page, at
 * offsets that run on from the last. A frame is 4,120 bytes, so the page's write spans two
 * page-cache pages and each frame costs the kernel three trips through ext4's write path
 * (write_begin, copy, write_end) and two system calls. B5 made ~4 such pwrites per agent
 * reply, 8% of the hub's CPU (perf: __x64_sys_pwrite64), and B3 likewise per webhook.
 *
 * How: a VFS named "sb-walbuf" that is the default (unix) VFS in every respect, except that
 * a file opened as a WAL gets io methods that keep writes running on from the previous one
 * in a buffer (1 MiB), and write it (in 124 KiB pwrites) before anything that could look at the
 * file: a sync, a read, a truncate, the file's size, a file control, the close, or a write
 * elsewhere in the file. Bytes and offsets written are the same, in the same order.
 *
 * Why it is safe: other connections learn of frames only through the WAL index, and sqlite
 * publishes a commit's frames in the index only after the WAL has been synced, which with
 * synchronous=FULL (the writer's setting) it does at every commit, so a frame is on disk
 * before any reader can look for it. The writer reads its own frames back (a spilled page,
 * a checkpoint) through xRead, which writes the buffer first. A write the buffer cannot take
 * whole goes straight through after a flush. A failed flush returns its error from the call
 * that caused it: the commit or the statement fails, and frames past the last commit are
 * never read. Only the writer connection uses this VFS, and only with synchronous=FULL;
 * SB_DB_WALBUF=0 turns it off.
 *
 * The unix file is the first part of ours (the VFS's szOsFile plus this state), so every
 * other file keeps the unix methods untouched and costs nothing.
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

#define WALBUF_CAP (1024 * 1024)

struct walbuf {
	const sqlite3_io_methods *inner; /* the unix methods of this file */
	char *buf;
	size_t len;
	sqlite3_int64 off; /* the file offset of buf[0] */
};

static sqlite3_vfs *base_vfs;
static sqlite3_vfs vfs;
static sqlite3_io_methods wal_methods;
static unsigned long n_writes, n_flushes; /* for tests: sqlite's WAL writes and ours */

/* where our part starts: after the unix file, 8-byte aligned */
static size_t wb_at(void)
{
	return ((size_t)base_vfs->szOsFile + 7) & ~(size_t)7;
}

static struct walbuf *wb_of(sqlite3_file *f)
{
	return (struct walbuf *)(void *)((char *)f + wb_at());
}

/* The unix VFS writes at most 0x1ffff bytes per call (it masks the length: a larger write
 * comes out short, or empty, and reads as a full disk), so the buffer leaves in chunks of
 * 124 KiB. */
#define WALBUF_CHUNK (124 * 1024)

static int wb_flush(sqlite3_file *f)
{
	struct walbuf *w = wb_of(f);
	size_t len = w->len;
	w->len = 0; /* on failure the bytes are dropped: the transaction fails with the error */
	for (size_t at = 0; at < len; at += WALBUF_CHUNK) {
		size_t n = len - at < WALBUF_CHUNK ? len - at : WALBUF_CHUNK;
		__atomic_add_fetch(&n_flushes, 1, __ATOMIC_RELAXED);
		int rc = w->inner->xWrite(f, w->buf + at, (int)n, w->off + (sqlite3_int64)at);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int wb_close(sqlite3_file *f)
{
	struct walbuf *w = wb_of(f);
	int rc = wb_flush(f);
	free(w->buf);
	w->buf = NULL;
	int rc2 = w->inner->xClose(f);
	return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *f, void *p, int amt, sqlite3_int64 off)
{
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : wb_of(f)->inner->xRead(f, p, amt, off);
}

static int wb_write(sqlite3_file *f, const void *p, int amt, sqlite3_int64 off)
{
	struct walbuf *w = wb_of(f);
	__atomic_add_fetch(&n_writes, 1, __ATOMIC_RELAXED);
	if (w->len && off == w->off + (sqlite3_int64)w->len && w->len + (size_t)amt <= WALBUF_CAP) {
		memcpy(w->buf + w->len, p, (size_t)amt);
		w->len += (size_t)amt;
		return SQLITE_OK;
	}
	int rc = wb_flush(f);
	if (rc != SQLITE_OK)
		return rc;
	if (!w->buf)
		w->buf = malloc(WALBUF_CAP);
	if (!w->buf || (size_t)amt > WALBUF_CHUNK)
		return w->inner->xWrite(f, p, amt, off); /* as sqlite would have */
	memcpy(w->buf, p, (size_t)amt);
	w->len = (size_t)amt;
	w->off = off;
	return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : wb_of(f)->inner->xTruncate(f, size);
}

static int wb_sync(sqlite3_file *f, int flags)
{
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : wb_of(f)->inner->xSync(f, flags);
}

static int wb_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : wb_of(f)->inner->xFileSize(f, size);
}

static int wb_lock(sqlite3_file *f, int level)
{
	return wb_of(f)->inner->xLock(f, level);
}

static int wb_unlock(sqlite3_file *f, int level)
{
	return wb_of(f)->inner->xUnlock(f, level);
}

static int wb_check_reserved(sqlite3_file *f, int *out)
{
	return wb_of(f)->inner->xCheckReservedLock(f, out);
}

static int wb_file_control(sqlite3_file *f, int op, void *arg)
{
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : wb_of(f)->inner->xFileControl(f, op, arg);
}

static int wb_sector_size(sqlite3_file *f)
{
	return wb_of(f)->inner->xSectorSize(f);
}

static int wb_device_chars(sqlite3_file *f)
{
	return wb_of(f)->inner->xDeviceCharacteristics(f);
}

static int vfs_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags,
		    int *out_flags)
{
	(void)v;
	struct walbuf *w = wb_of(f);
	memset(w, 0, sizeof *w);
	int rc = base_vfs->xOpen(base_vfs, name, f, flags, out_flags);
	/* version 1 methods: sqlite maps shared memory and memory-maps pages only through the
	 * database file's handle, never the WAL's */
	if (rc == SQLITE_OK && f->pMethods && (flags & SQLITE_OPEN_WAL)) {
		w->inner = f->pMethods;
		f->pMethods = &wal_methods;
	}
	return rc;
}

/* Everything else is the base VFS's own, called with the base VFS (unix keeps its locking
 * style finder in pAppData). */
static int vfs_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
	(void)v;
	return base_vfs->xDelete(base_vfs, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	(void)v;
	return base_vfs->xAccess(base_vfs, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
	(void)v;
	return base_vfs->xFullPathname(base_vfs, name, n, out);
}

static void *vfs_dl_open(sqlite3_vfs *v, const char *name)
{
	(void)v;
	return base_vfs->xDlOpen(base_vfs, name);
}

static void vfs_dl_error(sqlite3_vfs *v, int n, char *msg)
{
	(void)v;
	base_vfs->xDlError(base_vfs, n, msg);
}

static void (*vfs_dl_sym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	(void)v;
	return base_vfs->xDlSym(base_vfs, h, sym);
}

static void vfs_dl_close(sqlite3_vfs *v, void *h)
{
	(void)v;
	base_vfs->xDlClose(base_vfs, h);
}

static int vfs_randomness(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return base_vfs->xRandomness(base_vfs, n, out);
}

static int vfs_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	return base_vfs->xSleep(base_vfs, us);
}

static int vfs_current_time(sqlite3_vfs *v, double *out)
{
	(void)v;
	return base_vfs->xCurrentTime(base_vfs, out);
}

static int vfs_last_error(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return base_vfs->xGetLastError ? base_vfs->xGetLastError(base_vfs, n, out) : 0;
}

static int vfs_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	(void)v;
	return base_vfs->xCurrentTimeInt64(base_vfs, out);
}

const char *store__walbuf_vfs(void)
{
	static int state; /* 0 not tried, 1 registered, -1 unavailable */
	if (!state) {
		const char *e = getenv("SB_DB_WALBUF");
		base_vfs = sqlite3_vfs_find(NULL);
		state = (e && !strcmp(e, "0")) || !base_vfs || base_vfs->iVersion < 2 ||
				!base_vfs->xCurrentTimeInt64
			? -1
			: 1;
		if (state == 1) {
			wal_methods = (sqlite3_io_methods){
				.iVersion = 1,
				.xClose = wb_close,
				.xRead = wb_read,
				.xWrite = wb_write,
				.xTruncate = wb_truncate,
				.xSync = wb_sync,
				.xFileSize = wb_file_size,
				.xLock = wb_lock,
				.xUnlock = wb_unlock,
				.xCheckReservedLock = wb_check_reserved,
				.xFileControl = wb_file_control,
				.xSectorSize = wb_sector_size,
				.xDeviceCharacteristics = wb_device_chars,
			};
			vfs = (sqlite3_vfs){
				.iVersion = 2,
				.szOsFile = (int)(wb_at() + sizeof(struct walbuf)),
				.mxPathname = base_vfs->mxPathname,
				.zName = "sb-walbuf",
				.xOpen = vfs_open,
				.xDelete = vfs_delete,
				.xAccess = vfs_access,
				.xFullPathname = vfs_full_pathname,
				.xDlOpen = vfs_dl_open,
				.xDlError = vfs_dl_error,
				.xDlSym = vfs_dl_sym,
				.xDlClose = vfs_dl_close,
				.xRandomness = vfs_randomness,
				.xSleep = vfs_sleep,
				.xCurrentTime = vfs_current_time,
				.xGetLastError = vfs_last_error,
				.xCurrentTimeInt64 = vfs_current_time64,
			};
			if (sqlite3_vfs_register(&vfs, 0) != SQLITE_OK)
				state = -1;
		}
	}
	return state == 1 ? "sb-walbuf" : NULL;
}

void store__walbuf_counts(unsigned long *writes, unsigned long *flushes)
{
	*writes = __atomic_load_n(&n_writes, __ATOMIC_RELAXED);
	*flushes = __atomic_load_n(&n_flushes, __ATOMIC_RELAXED);
}
