/*
 * Small things every tool needs: run ids and levelled logging.
 */
#include <sys/random.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "airlock.h"

int log_level = 1;

int
record_newid(char *id)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char r[RECORD_ID_LEN / 2];
	ssize_t n;
	size_t i;

	/* Run ids must never repeat for one signer: 128 bits from the kernel. */
	do
		n = getrandom(r, sizeof(r), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(r))
		return -1;
	for (i = 0; i < sizeof(r); i++) {
		id[2 * i] = digits[r[i] >> 4];
		id[2 * i + 1] = digits[r[i] & 15];
	}
	id[RECORD_ID_LEN] = '\0';
	return 0;
}

uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int
parse_number(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static void __attribute__((format(printf, 1, 0)))
vlog(const char *fmt, va_list ap)
{
	extern const char *__progname;

	fprintf(stderr, "%s: ", __progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	if (log_level < 1)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_level < 2)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}
