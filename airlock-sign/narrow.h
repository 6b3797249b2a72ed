/* airlock-sign's seccomp filter for its signing loop (narrow.c). */
#ifndef NARROW_H
#define NARROW_H

/*
 * From now on only the calls the signing loop needs; any other kills the
 * process.  Sets no_new_privs.  Returns 0, or -1 with errno.
 */
int	narrow(void);

#endif
