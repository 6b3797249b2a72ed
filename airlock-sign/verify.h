/*
 * airlock-sign -V: offline verification of tokens and their chain with
 * only the public key.
 */
#ifndef VERIFY_H
#define VERIFY_H

#include <stddef.h>

/*
 * Verify the tokens in files (stdin if nfiles is 0) against the public
 * keys at pubpaths (each a key file or a directory of *.pub files): with
 * one key, its chain; with several, each token in the chain of the key
 * it names, chain by chain.  rooted: each chain's first token must be seq
 * 1.  exportdir, if not NULL, receives <seq>.json and <seq>.json.sig for
 * signify (in a directory per key id with several keys).  verbose prints
 * a summary per chain.  Problems go to stderr one per line unless quiet.
 * Returns the exit status: 0 if everything verified, 1 otherwise.
 */
int	verify_main(char **pubpaths, size_t npub, char **files,
	    size_t nfiles, int rooted, const char *exportdir, int quiet,
	    int verbose);

#endif
