/*
 * What a runner's language part provides.  guest/runner.c is everything
 * else: the sandbox, the listener hand-over, the zygote's supervision.
 * A new image's program is one file that implements these (guest/NAME.c,
 * built as build/guest/NAME-runner by the Makefile's pattern rule), never
 * a copy of the runner.
 *
 * The three calls run in this order: lang_init() once in the zygote; in
 * each payload process lang_after_fork(), before its run is even claimed,
 * and then lang_run() under the SNAFT filter.  Any failure before the
 * filter is die(): the sandbox is not established, and the payload never
 * runs.
 */
#ifndef LANG_H
#define LANG_H

#include <stddef.h>

/* The program's name, for diagnostics: "python-runner". */
extern const char	*const lang_name;

/*
 * In the zygote: start the language and load what every run needs,
 * argv[1] and on being the snapshot's preload list.  Whatever it holds is
 * shared with every sandbox copy-on-write, so it must hold nothing secret
 * and nothing of any run.
 */
void	lang_init(int argc, char *argv[]);

/*
 * In a payload process, before its run: what a fork must do (reseed every
 * generator of randomness) and what it should (warm up, so that a run does
 * not pay for first touches).  Standard output and error are /dev/null.
 */
void	lang_after_fork(void);

/*
 * Run the payload: len bytes at src (NUL-terminated, and holding no other
 * NUL), standard input /dev/null, output on descriptors 1 and 2.  The
 * filter is in place: only what the policy allows works.  Returns the
 * exit status (0 to 255); everything it buffered is written by then.
 */
int	lang_run(const char *src, size_t len);

/* Report a failure that keeps the sandbox from being established, exit. */
void	die(const char *fmt, ...)
	    __attribute__((noreturn, format(printf, 1, 2)));

#endif
