/*
 * Addresses as the tools take them on their command lines: "host:port",
 * or "[v6]:port" for an IPv6 address (airlock-muxd's -l and -M,
 * airlock-mcp's -c).
 */
#ifndef ADDR_H
#define ADDR_H

#include <stddef.h>

struct addrinfo;

/*
 * Resolve spec into *res for a stream socket (passive: to bind).
 * Returns 0, or -1 with why in err; free *res with freeaddrinfo(3).
 */
int	addr_resolve(const char *spec, int passive, struct addrinfo **res,
	    char *err, size_t errlen);

#endif
