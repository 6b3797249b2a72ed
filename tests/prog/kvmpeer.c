/*
 * kvmpeer: airlock-vmm's side of the control protocol for one run, for
 * testing airlock-snaft's kvm path where no /dev/kvm exists.  It runs
 * nothing: it is a stand-in for the protocol, never for a sandbox.
 *
 *   kvmpeer SOCKET REPORT SEEN [OUTPUT [OUTFILES]]
 *
 * Listens on SOCKET, accepts one claim, takes the SB_RUN and checks that it
 * is the kvm form (SB_RUN_KVM, no BPF, a struct sb_kvmpolicy, four
 * descriptors); writes what it received as one JSON line to SEEN, the
 * input files' records among it; writes OUTPUT to the run's standard
 * output; sends SB_STARTED with a pidfd of itself, then the contents of the
 * file REPORT as SB_REPORT, with a sealed memfd holding the bytes of the
 * file OUTFILES (struct sb_file records, as the VMM hands back /output;
 * empty without it).  KVMPEER_OUTFD=unsealed sends that memfd unsealed,
 * KVMPEER_OUTFD=none sends none.  Exits 0, or 1 with a message if the
 * request was not what a VMM accepts.
 *
 *   kvmpeer -r SOCKET INFILES [FILES]
 *
 * The other side, a stand-in for airlock-snaft, to show what a real
 * airlock-vmm -c does with the input files it is sent: claims the sandbox
 * listening on SOCKET with an empty payload, a policy that allows every
 * call, sb_kvmpolicy.files FILES (default 16), and the bytes of the file
 * INFILES (struct sb_file records) as the input files' sealed memfd.
 * Prints "error: TEXT" for an SB_ERROR, or "started" and then "report N"
 * for the SB_REPORT with its N descriptors, and exits 0; 1 if the sandbox
 * answered anything else.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/* The input files' records, as {"name":..., "bytes":..., "type":...}. */
static void
seeinputs(FILE *f, int fd)
{
	struct sb_file h;
	struct stat st;
	char name[256];
	uint64_t off = 0;
	const char *sep = "";
	int seals;

	seals = fcntl(fd, F_GET_SEALS);
	fprintf(f, ",\"inputs_sealed\":%s,\"inputs\":[",
	    seals != -1 && (seals & F_SEAL_WRITE) ? "true" : "false");
	if (fstat(fd, &st) == 0)
		while (off + sizeof(h) <= (uint64_t)st.st_size &&
		    pread(fd, &h, sizeof(h), (off_t)off) == sizeof(h) &&
		    h.name_len < sizeof(name) &&
		    pread(fd, name, h.name_len, (off_t)(off + sizeof(h))) ==
		    (ssize_t)h.name_len) {
			name[h.name_len] = '\0';
			fprintf(f, "%s{\"name\":\"%s\",\"bytes\":%llu,"
			    "\"type\":%u}", sep, name,
			    (unsigned long long)h.data_len, h.type);
			sep = ",";
			off += sizeof(h) + h.name_len + h.data_len;
		}
	fprintf(f, "]");
}

/* The bytes of a file (or none) into a memfd, sealed if seal. */
static int
memfile(const char *path, int seal)
{
	char buf[65536];
	ssize_t n;
	int fd, in;

	if ((fd = memfd_create("output", MFD_ALLOW_SEALING)) < 0)
		err(111, "memfd_create");
	if (path != NULL) {
		if ((in = open(path, O_RDONLY)) < 0)
			err(111, "%s", path);
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(fd, buf, (size_t)n) != n)
				err(111, "write");
		close(in);
	}
	if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_WRITE) != 0)
		err(111, "seal");
	return fd;
}

static int
claim(const char *path, const char *infiles, const char *files)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct {
		struct sb_run		run;
		struct sb_kvmpolicy	pol;
	} req;
	union {
		struct sb_error		er;
		char			buf[SB_REPORT_MAX];
	} ans;
	struct sb_hdr h;
	int conn, fds[4], got[4], ngot, nr;

	if (strlen(path) >= sizeof(sa.sun_path))
		errx(100, "%s: too long", path);
	strcpy(sa.sun_path, path);
	if ((conn = socket(AF_UNIX, SOCK_SEQPACKET, 0)) < 0 ||
	    connect(conn, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		err(111, "%s", path);
	memset(&req, 0, sizeof(req));
	req.run.wall_ms = 5000;
	req.run.flags = SB_RUN_KVM;
	for (nr = 0; nr < SYSCALL_MAX; nr++)
		req.pol.allowed[nr] = 1;
	req.pol.output_bytes = 4096;
	req.pol.files = files != NULL ? strtoull(files, NULL, 10) : 16;
	req.pol.outdir_bytes = 4096;
	fds[0] = memfile(NULL, 1);
	if ((fds[1] = open("/dev/null", O_WRONLY)) < 0)
		err(111, "/dev/null");
	fds[2] = fds[1];
	fds[3] = memfile(infiles, 1);
	if (sb_send(conn, SB_RUN, 1, &req.run, sizeof(req.run), &req.pol,
	    sizeof(req.pol), fds, 4) != 0)
		err(111, "run request");
	memset(&ans, 0, sizeof(ans));
	if (sb_recv(conn, 0, &h, &ans, sizeof(ans), got, 4, &ngot) <= 0)
		errx(1, "no answer");
	if (h.type == SB_ERROR) {
		ans.er.text[sizeof(ans.er.text) - 1] = '\0';
		printf("error: %s\n", ans.er.text);
		return 0;
	}
	if (h.type != SB_STARTED)
		errx(1, "answer of type %u", h.type);
	printf("started\n");
	fflush(stdout);
	if (sb_recv(conn, 0, &h, &ans, sizeof(ans), got, 4, &ngot) <= 0 ||
	    h.type != SB_REPORT)
		errx(1, "no report");
	printf("report %d\n", ngot);
	return 0;
}

static int
serve(int argc, char *argv[])
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
	const char *how = getenv("KVMPEER_OUTFD");
	ssize_t n, rlen;
	FILE *f;
	int ls, conn, fds[4], nfds = 0, pidfd, rfd, nr, allowed = 0, ofd;

	if (argc < 4 || argc > 6 || strlen(argv[1]) >= sizeof(sa.sun_path))
		errx(100, "usage: kvmpeer SOCKET REPORT SEEN [OUTPUT [OUTFILES]]");
	strcpy(sa.sun_path, argv[1]);
	if ((ls = socket(AF_UNIX, SOCK_SEQPACKET, 0)) < 0 ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(ls, 1) != 0)
		err(111, "%s", argv[1]);
	if ((conn = accept(ls, NULL, NULL)) < 0)
		err(111, "accept");
	memset(&req, 0, sizeof(req));
	n = sb_recv(conn, 0, &h, &req, sizeof(req), fds, 4, &nfds);
	if (n <= 0 || h.type != SB_RUN || h.len != sizeof(req) || nfds != 4 ||
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
	    "\"payload_bytes\":%llu,\"read\":%zd,\"files\":%llu,"
	    "\"outdir_bytes\":%llu", allowed,
	    req.pol.allowed[syscall_number("getpid")],
	    req.pol.allowed[syscall_number("socket")],
	    (unsigned long long)req.pol.output_bytes,
	    (unsigned long long)req.pol.tmp_bytes,
	    (unsigned long long)req.run.wall_ms,
	    (unsigned long long)req.run.payload_bytes, n,
	    (unsigned long long)req.pol.files,
	    (unsigned long long)req.pol.outdir_bytes);
	seeinputs(f, fds[3]);
	fprintf(f, "}\n");
	fclose(f);
	if (argc >= 5 && write(fds[1], argv[4], strlen(argv[4])) < 0)
		err(111, "write");
	close(fds[0]);
	close(fds[1]);
	close(fds[2]);
	close(fds[3]);

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
	ofd = memfile(argc == 6 ? argv[5] : NULL, how == NULL ||
	    strcmp(how, "unsealed") != 0);
	if (sb_send(conn, SB_REPORT, h.seq, report, (size_t)rlen, NULL, 0,
	    &ofd, how != NULL && strcmp(how, "none") == 0 ? 0 : 1) != 0)
		err(111, "report");
	/* Stay until snaft has read it all: it ends a run by killing us. */
	pause();
	return 0;
}

int
main(int argc, char *argv[])
{
	if (argc >= 4 && argc <= 5 && strcmp(argv[1], "-r") == 0)
		return claim(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
	return serve(argc, argv);
}
