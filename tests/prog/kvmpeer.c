/*
 * kvmpeer: airlock-vmm's side of the control protocol for one run, for
 * testing airlock-snaft's kvm path where no /dev/kvm exists.  It runs
 * nothing: it is a stand-in for the protocol, never for a sandbox.
 *
 *   kvmpeer SOCKET REPORT SEEN [OUTPUT]
 *
 * Listens on SOCKET, accepts one claim, takes the SB_RUN and checks that it
 * is the kvm form (SB_RUN_KVM, no BPF, a struct sb_kvmpolicy, three
 * descriptors); writes what it received as one JSON line to SEEN; writes
 * OUTPUT to the run's standard output; sends SB_STARTED with a pidfd of
 * itself, then the contents of the file REPORT as SB_REPORT.  Exits 0, or
 * 1 with a message if the request was not what a VMM accepts.
 */
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock.h"
#include "sandbox.h"
#include "intents.h"

int
main(int argc, char *argv[])
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct {
		struct sb_run		run;
		struct sb_kvmpolicy	pol;
	} req;
	static char report[SB_REPORT_MAX];
	struct sb_started st;
	struct sb_hdr h;
	char payload[256];
	ssize_t n, rlen;
	FILE *f;
	int ls, conn, fds[3], nfds = 0, pidfd, rfd, nr, allowed = 0;

	if (argc < 4 || argc > 5 || strlen(argv[1]) >= sizeof(sa.sun_path))
		errx(100, "usage: kvmpeer SOCKET REPORT SEEN [OUTPUT]");
	strcpy(sa.sun_path, argv[1]);
	if ((ls = socket(AF_UNIX, SOCK_SEQPACKET, 0)) < 0 ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(ls, 1) != 0)
		err(111, "%s", argv[1]);
	if ((conn = accept(ls, NULL, NULL)) < 0)
		err(111, "accept");
	memset(&req, 0, sizeof(req));
	n = sb_recv(conn, 0, &h, &req, sizeof(req), fds, 3, &nfds);
	if (n <= 0 || h.type != SB_RUN || h.len != sizeof(req) || nfds != 3 ||
	    !(req.run.flags & SB_RUN_KVM) || req.run.bpf_len != 0)
		errx(1, "not a kvm run request (type %u, %u bytes, %d fds)",
		    h.type, h.len, nfds);
	for (nr = 0; nr < SB_KVM_NR; nr++)
		allowed += req.pol.allowed[nr] != 0;
	memset(payload, 0, sizeof(payload));
	n = pread(fds[0], payload, sizeof(payload) - 1, 0);
	if ((f = fopen(argv[3], "w")) == NULL)
		err(111, "%s", argv[3]);
	fprintf(f, "{\"allowed\":%d,\"getpid\":%d,\"socket\":%d,"
	    "\"output_bytes\":%llu,\"tmp_bytes\":%llu,\"wall_ms\":%llu,"
	    "\"payload_bytes\":%llu,\"read\":%zd}\n", allowed,
	    req.pol.allowed[syscall_number("getpid")],
	    req.pol.allowed[syscall_number("socket")],
	    (unsigned long long)req.pol.output_bytes,
	    (unsigned long long)req.pol.tmp_bytes,
	    (unsigned long long)req.run.wall_ms,
	    (unsigned long long)req.run.payload_bytes, n);
	fclose(f);
	if (argc == 5 && write(fds[1], argv[4], strlen(argv[4])) < 0)
		err(111, "write");
	close(fds[0]);
	close(fds[1]);
	close(fds[2]);

	if ((pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0)) < 0)
		err(111, "pidfd_open");
	st.pid = (int32_t)getpid();
	st.pad = 0;
	if (sb_send(conn, SB_STARTED, h.seq, &st, sizeof(st), NULL, 0, &pidfd,
	    1) != 0)
		err(111, "start");
	if ((rfd = open(argv[2], O_RDONLY)) < 0 ||
	    (rlen = read(rfd, report, sizeof(report))) <= 0)
		err(111, "%s", argv[2]);
	if (sb_send(conn, SB_REPORT, h.seq, report, (size_t)rlen, NULL, 0,
	    NULL, 0) != 0)
		err(111, "report");
	/* Stay until snaft has read it all: it ends a run by killing us. */
	pause();
	return 0;
}
