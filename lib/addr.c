/*
 * Addresses as the tools take them on their command lines (addr.h).
 */
#include <sys/socket.h>

#include <netdb.h>
#include <string.h>

#include "addr.h"
#include "airlock.h"

int
addr_resolve(const char *spec, int passive, struct addrinfo **res,
    char *err, size_t errlen)
{
	struct addrinfo hints;
	char host[256], *port;
	int e;

	if (strlen(spec) >= sizeof(host))
		return errorf(err, errlen, "address too long: %s", spec);
	strcpy(host, spec);
	if (host[0] == '[') {
		if ((port = strstr(host, "]:")) == NULL)
			return errorf(err, errlen, "bad address (want "
			    "[addr]:port): %s", spec);
		*port = '\0';
		port += 2;
		memmove(host, host + 1, strlen(host));
	} else {
		if ((port = strrchr(host, ':')) == NULL)
			return errorf(err, errlen, "bad address (want "
			    "addr:port): %s", spec);
		*port++ = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	if ((e = getaddrinfo(host, port, &hints, res)) != 0)
		return errorf(err, errlen, "%s: %s", spec, gai_strerror(e));
	return 0;
}
