/*
 * airlock-sign -V: offline verification of tokens and their chain with
 * only the public key.
 */
#ifndef VERIFY_H
#define VERIFY_H

#include <stddef.h>

/*
 * Verify the tokens in files (stdin if nfiles is 0) against pubpath.
 * rooted: the first token must be seq 1.  exportdir, if not NULL,
 * receives <seq>.json and <seq>.json.sig for signify.  verbose prints a
 * summary.  Problems go to stderr one per line unless quiet.  Returns
 * the exit status: 0 if everything verified, 1 otherwise.
 */
int	verify_main(const char *pubpath, char **files, size_t nfiles,
	    int rooted, const char *exportdir, int quiet, int verbose);

#endif
