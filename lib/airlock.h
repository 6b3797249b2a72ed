/*
 * airlock: what every tool shares.  Exit codes, versions and the record
 * helpers of DESIGN.md section 2.
 */
#ifndef AIRLOCK_H
#define AIRLOCK_H

#include <stddef.h>
#include <stdint.h>

#define AIRLOCK_VERSION		"0.1.0"
#define RECORD_VERSION		1
/* The longest line a stage reads (JSON lines, DESIGN.md section 2). */
#define RECORD_LINE_MAX		(8u * 1024 * 1024)

/* Exit codes, the same in every tool (STYLE.md). */
#define EXIT_OK			0	/* success */
#define EXIT_NEGATIVE		1	/* verification failed, verdict not 200 */
#define EXIT_USAGE		100	/* bad command line */
#define EXIT_BADRECORD		101	/* bad input record (strict mode only) */
#define EXIT_SYSTEM		111	/* a system call failed */
#define EXIT_SANDBOX		112	/* sandbox could not be established */

/* Length of a run id in hex characters (128 random bits), without NUL. */
#define RECORD_ID_LEN		32

/*
 * Fill id (RECORD_ID_LEN + 1 bytes) with a fresh random run id from
 * getrandom(2).  Returns 0, or -1 with errno set.
 */
int	record_newid(char *id);

/*
 * Parse a whole decimal number in [min, max] (no sign games, no trailing
 * garbage, no overflow).  Returns 0, or -1 if s is not such a number.
 */
int	parse_number(const char *s, long long min, long long max,
	    long long *out);

/* Lowercase hex of len bytes into hex (2 * len + 1 bytes, NUL-terminated). */
void	hexencode(const void *bytes, size_t len, char *hex);

/*
 * Read or write exactly len bytes at offset off, through short transfers
 * and EINTR.  Return 0, or -1 (with errno, or 0 at an early end of file).
 */
int	preadall(int fd, void *buf, size_t len, uint64_t off);
int	pwriteall(int fd, const void *buf, size_t len, uint64_t off);

/* Write text to an existing file (procfs, cgroupfs).  Returns 0 or -1. */
int	write_file(const char *path, const char *text);

/* Drop trailing slashes ("/run/airlock/" is "/run/airlock"); keeps "/". */
void	trim_slashes(char *path);

/* Format a reason into err (errlen bytes) and return -1, for "return
 * errorf(err, errlen, ...)" in functions that explain their failures. */
int	errorf(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* CLOCK_MONOTONIC in microseconds. */
uint64_t	now_us(void);

/* Verbosity for log_*: 0 with -q, 1 by default, 2 with -v. */
extern int log_level;

void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif
