/*
 * fuzz_util: what the fuzz targets share.  The loaders under fuzz_config
 * and fuzz_psk read a path, so their input is written to one file in a
 * private folder, on tmpfs when there is one, removed at exit and by
 * fz_die() (not after a sanitizer's report: /dev/shm/fuzz_* may be left).
 */
#ifndef MCX_FUZZ_UTIL_H
#define MCX_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Makes the folder for prog ("fuzz_psk") and returns the path of the
 * file name in it; aborts when it cannot. */
const char *fz_file_init(const char *prog, const char *name);
/* Replaces the file's content with data. */
void	fz_file_write(const uint8_t *data, size_t size);
/* Prints "prog: message" and aborts: a finding. */
void	fz_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* The value of a hex digit, or -1. */
int	fz_hexval(uint8_t);

#endif
