/*
 * Sending and receiving the messages of lib/sandbox.h: one SOCK_SEQPACKET
 * datagram each, header first, descriptors as SCM_RIGHTS.  Compiled into
 * the tools and into the runner inside the sandbox, so both ends frame
 * messages the same way.  The receiving side checks framing here and
 * types and lengths in its caller; a malformed message has its
 * descriptors closed before anyone sees them.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"

int
sb_send(int sock, uint16_t type, uint32_t seq, const void *body, size_t blen,
    const void *tail, size_t tlen, const int *fds, int nfds)
{
	struct sb_hdr h = { SB_MAGIC, SB_VERSION, type,
	    (uint32_t)(blen + tlen), seq };
	struct iovec iov[3] = { { &h, sizeof(h) }, { (void *)body, blen },
	    { (void *)tail, tlen } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * SB_MAXFDS)];
		struct cmsghdr align;
	} u;
	struct msghdr m;
	struct cmsghdr *c;

	if (nfds < 0 || nfds > SB_MAXFDS) {
		errno = EINVAL;
		return -1;
	}
	memset(&m, 0, sizeof(m));
	m.msg_iov = iov;
	m.msg_iovlen = 3;
	if (nfds > 0) {
		memset(&u, 0, sizeof(u));
		m.msg_control = u.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(sock, &m, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

ssize_t
sb_recv(int sock, int flags, struct sb_hdr *h, void *body, size_t len,
    int *fds, int maxfds, int *nfds)
{
	struct iovec iov[2] = { { h, sizeof(*h) }, { body, len } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * SB_MAXFDS)];
		struct cmsghdr align;
	} u;
	struct msghdr m;
	struct cmsghdr *c;
	ssize_t n;
	int i, k;

	*nfds = 0;
	memset(&m, 0, sizeof(m));
	m.msg_iov = iov;
	m.msg_iovlen = 2;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n;
	/* Take every descriptor that came, keeping at most maxfds. */
	for (c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + (size_t)i * sizeof(int),
			    sizeof(fd));
			if (*nfds < maxfds)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if ((size_t)n < sizeof(*h) || h->magic != SB_MAGIC ||
	    h->version != SB_VERSION || h->len != (size_t)n - sizeof(*h) ||
	    (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		for (i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		errno = EPROTO;
		return -1;
	}
	return n;
}
