/* fuzz_util: what the fuzz targets share (see fuzz_util.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_util.h"

static const char *prog = "fuzz";
static char dir[64];
static char path[sizeof(dir) + 32];

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

const char *
fz_file_init(const char *p, const char *name)
{
	prog = p;
	/* Rewriting a file on ext4 flushes it at close (auto_da_alloc), a
	 * few ms an input: tmpfs keeps the run fast. */
	snprintf(dir, sizeof(dir), "/dev/shm/%s.XXXXXX", prog);
	if (mkdtemp(dir) == NULL) {
		snprintf(dir, sizeof(dir), "/tmp/%s.XXXXXX", prog);
		if (mkdtemp(dir) == NULL) {
			perror("mkdtemp");
			abort();
		}
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	atexit(cleanup);
	return path;
}

void
fz_file_write(const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		fz_die("cannot write %s", path);
}

void
fz_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* abort() skips atexit(): leave no folder behind for a finding of
	 * ours (a sanitizer's report still does). */
	cleanup();
	abort();
}

int
fz_hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
