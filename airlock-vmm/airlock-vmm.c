/*
 * airlock-vmm: run one program of an image root inside a KVM microVM
 * whose kernel is this process (DESIGN.md section 8).
 *
 *	airlock-vmm [-jvx] [-a allow_list] [-m mem_mb] [-o out_cap]
 *	    -r rootfs [-t wall_ms] -- program [arg ...]
 *	airlock-vmm -S snapshot [options] -r rootfs -- program [arg ...]
 *	airlock-vmm -R snapshot [-jv] [-a allow_list] [-o out_cap]
 *	    [-t wall_ms] [-c sock -w ready [-l lease_ms]] -r rootfs
 *
 * (The man page, airlock-vmm(8), is the contract; this is a summary.)
 *
 * program is a path inside rootfs, the image's root directory (-r / runs
 * the host's own binaries, for tests only).  The payload (the guest's
 * stdin) is read from our stdin first; the guest's stdout and stderr go to
 * ours, capped at out_cap bytes each (default 1 MiB; more kills the run);
 * the exit status is the guest's, or 128 + n for a run that ended like
 * signal n (137 for a violation or a limit), 112 if the VM could not be
 * set up.  -a names an allow list (system call or SNAFT family names);
 * without it every emulated call not always-dangerous is allowed.  -x
 * makes executable mappings ("dlopen") violations from the start.  -m is
 * guest memory in MiB (default 256), -t the wall-time limit in ms
 * (default 10000, 0 for none).  -j writes one JSON line about the run on
 * fd 3 if it is open, else on stderr; -v traces every system call.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock.h"
#include "sandbox.h"
#include "snapfile.h"
#include "utf8.h"
#include "vmm.h"

#define PAYLOAD_MAX	(64ULL * 1024 * 1024)
#define STACK_RESERVE	(8ULL * 1024 * 1024)
#define PIE_BASE	(2 * HUGE_SIZE)
#define OUTDIR_MAX	(1ULL << 30)	/* most bytes of /output, -c */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: airlock-vmm [-jvx] [-a allow_list] "
	    "[-m mem_mb] [-o out_cap] -r rootfs\n"
	    "                   [-t wall_ms] -- program [arg ...]\n"
	    "       airlock-vmm -S snapshot [options] -r rootfs -- program "
	    "[arg ...]\n"
	    "       airlock-vmm -R snapshot [-jv] [-a allow_list] [-o out_cap] "
	    "[-t wall_ms]\n"
	    "                   [-c sock -w ready [-l lease_ms]] -r rootfs\n");
	exit(EXIT_USAGE);
}

static uint8_t *
read_payload(size_t *len)
{
	uint8_t *buf = NULL, *nb;
	size_t cap = 0, n = 0;
	ssize_t r;

	for (;;) {
		if (n == cap) {
			if (cap >= PAYLOAD_MAX)
				errx(EXIT_USAGE, "payload over %llu bytes",
				    (unsigned long long)PAYLOAD_MAX);
			cap = cap == 0 ? 65536 : cap * 2;
			if ((nb = realloc(buf, cap)) == NULL)
				err(EXIT_SYSTEM, "realloc");
			buf = nb;
		}
		r = read(STDIN_FILENO, buf + n, cap - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			err(EXIT_SYSTEM, "read stdin");
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

static void
json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, j;
	long c;

	/*
	 * Valid UTF-8 goes out as it is; a byte that is not part of a valid
	 * sequence (a guest path may hold any) becomes U+FFFD.
	 */
	putc('"', f);
	while (i < len) {
		if (p[i] == '"' || p[i] == '\\')
			fprintf(f, "\\%c", p[i++]);
		else if (p[i] < 0x20 || p[i] == 0x7f)
			fprintf(f, "\\u%04x", p[i++]);
		else if (p[i] < 0x80)
			putc(p[i++], f);
		else {
			j = i;
			if ((c = utf8_decode(p, len, &j)) < 0) {
				fputs("\\ufffd", f);
				i++;
			} else {
				fwrite(p + i, 1, j - i, f);
				i = j;
			}
		}
	}
	putc('"', f);
}

static void
json_out(FILE *f, const char *key, struct outbuf *o)
{
	uint8_t d[SHA256_LEN];
	char hex[SHA256_HEXLEN + 1];

	sha256_final(&o->hash, d);
	sha256_tohex(d, hex);
	fprintf(f, ",\"%s\":{\"bytes\":%llu,\"captured_bytes\":%llu,"
	    "\"truncated\":%s,\"sha256\":\"%s\"}", key,
	    (unsigned long long)o->bytes, (unsigned long long)o->captured,
	    o->truncated ? "true" : "false", hex);
}

/*
 * The report: one JSON object about the run.  Returned as a malloc'd
 * line (with its newline), or NULL.
 */
static char *
report(struct vm *vm, const char *digest, uint64_t create_us,
    uint64_t setup_us, uint64_t jail_us, size_t *lenp)
{
	/* A run that never ended (the VMM gave up on it) failed. */
	enum outcome o = vm->state == VM_ENDED ? vm->outcome : OUTCOME_FAILED;
	FILE *f;
	char *buf = NULL;
	size_t len = 0;
	int i, first = 1;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	fprintf(f, "{\"backend\":\"%s\",\"outcome\":\"%s\"",
	    backend_name(BACKEND_KVM), outcome_name(o));
	if (o == OUTCOME_EXITED)
		fprintf(f, ",\"exit_code\":%d,\"signal\":null", vm->exit_code);
	else if (o == OUTCOME_SIGNALED || o == OUTCOME_KILLED)
		fprintf(f, ",\"exit_code\":null,\"signal\":%d", vm->signal);
	else
		fprintf(f, ",\"exit_code\":null,\"signal\":null");
	fprintf(f, ",\"kill_reason\":");
	if (o == OUTCOME_KILLED)
		json_str(f, kill_name((enum kill_reason)vm->kill));
	else
		fputs("null", f);
	fprintf(f, ",\"reason\":");
	json_str(f, vm->reason);
	fprintf(f, ",\"snapshot_digest\":");
	if (digest != NULL)
		json_str(f, digest);
	else
		fputs("null", f);
	fprintf(f, ",\"memory_refused\":%s,\"mapped_bytes\":%llu",
	    vm->mem_refused ? "true" : "false",
	    (unsigned long long)(vm->mapped_pages * PAGE_SIZE));
	fprintf(f, ",\"exits\":%llu,\"page_faults\":%llu,\"create_us\":%llu,"
	    "\"setup_us\":%llu,\"jail_us\":%llu,\"run_us\":%llu,"
	    "\"first_output_us\":%llu",
	    (unsigned long long)vm->nexits, (unsigned long long)vm->faults,
	    (unsigned long long)create_us,
	    (unsigned long long)setup_us, (unsigned long long)jail_us,
	    (unsigned long long)vm->run_us,
	    (unsigned long long)(vm->first_out_us == 0 ? 0 :
	    vm->first_out_us - vm->start_us));
	json_out(f, "stdout", &vm->out[0]);
	json_out(f, "stderr", &vm->out[1]);
	fprintf(f, ",\"observed_syscalls\":{");
	for (i = 0; i < SYSCALL_MAX; i++) {
		if (vm->counts[i] == 0)
			continue;
		fprintf(f, "%s\"%s\":%llu", first ? "" : ",",
		    syscall_name(i), (unsigned long long)vm->counts[i]);
		first = 0;
	}
	fprintf(f, "},\"unknown_syscalls\":%llu,\"violations\":[",
	    (unsigned long long)vm->unknown_calls);
	if (vm->nviol > 0) {
		fprintf(f, "{\"family\":");
		json_str(f, vm->viol.family);
		fprintf(f, ",\"syscall\":");
		json_str(f, vm->viol.name);
		fprintf(f, ",\"nr\":%d,\"arch\":\"%s\",\"args\":[", vm->viol.nr,
		    abi_name(vm->viol.arch));
		/*
		 * Signed: a register over 2^63 (a -1 argument) as an
		 * unsigned number is more than JSON readers (jansson) take.
		 */
		for (i = 0; i < 6; i++)
			fprintf(f, "%s%lld", i ? "," : "",
			    (long long)vm->viol.args[i]);
		fprintf(f, "],\"at_us\":%llu}",
		    (unsigned long long)vm->viol.at_us);
	}
	fprintf(f, "]}\n");
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*lenp = len;
	return buf;
}

/* -j: the report on fd 3 if the caller opened it for writing, else stderr. */
static void
report_write(const char *buf, size_t len)
{
	size_t off;
	ssize_t n;
	int fd, fl;

	fl = fcntl(3, F_GETFL);
	fd = fl != -1 && (fl & O_ACCMODE) != O_RDONLY ? 3 : STDERR_FILENO;
	for (off = 0; off < len; off += (size_t)n)
		if ((n = write(fd, buf + off, len - off)) <= 0) {
			warn("write json");
			break;
		}
}

static int
exit_status(struct vm *vm)
{
	if (vm->state != VM_ENDED)
		return EXIT_SANDBOX;
	switch (vm->outcome) {
	case OUTCOME_EXITED:
		return vm->exit_code;
	case OUTCOME_SIGNALED:
	case OUTCOME_KILLED:
		return 128 + vm->signal;
	default:
		return EXIT_SANDBOX;
	}
}

/*
 * Load the program and its interpreter into a fresh VM: the address space
 * is the program at its own addresses (a PIE at PIE_BASE), its break after
 * it, the stack at the top, and mmap (the interpreter included) top-down
 * below the stack.
 */
static void
setup_program(struct vm *vm, int argc, char *argv[])
{
	struct elfinfo prog, interp;
	char canon[4096], errbuf[256];
	uint64_t rsp;
	int fd, ifd;

	fs_init(vm);
	vm->brk_max = GPA_USER;
	vm->mmap_top = vm->memsize - STACK_RESERVE - PAGE_SIZE;
	if ((fd = fs_open_exec(vm, argv[0], canon, sizeof(canon))) < 0)
		errx(EXIT_SANDBOX, "%s: %s", argv[0], strerror(-fd));
	vm->execfn = argv[0];
	if (elf_load(vm, fd, 0, PIE_BASE, &prog, errbuf, sizeof(errbuf)) == -1)
		errx(EXIT_SANDBOX, "%s: %s", argv[0], errbuf);
	close(fd);
	vm->brk_start = vm->brk_cur = prog.end;
	vm->brk_max = prog.end + vm->memsize / 4;
	if (vm->brk_max > vm->mmap_top)
		vm->brk_max = vm->mmap_top;
	if (prog.interp[0] != '\0') {
		if ((ifd = fs_open_exec(vm, prog.interp, canon,
		    sizeof(canon))) < 0)
			errx(EXIT_SANDBOX, "%s: %s", prog.interp,
			    strerror(-ifd));
		if (elf_load(vm, ifd, 1, 0, &interp, errbuf,
		    sizeof(errbuf)) == -1)
			errx(EXIT_SANDBOX, "%s: %s", prog.interp, errbuf);
		close(ifd);
	}
	/* Without a vDSO, clock calls are exits: slower, still right. */
	if (vdso_build(vm) == -1 && vm->verbose)
		warnx("no vDSO: clock_gettime will exit to the VMM");
	if (stack_build(vm, &prog, prog.interp[0] != '\0' ? &interp : NULL,
	    argc, argv, &rsp) == -1)
		errx(EXIT_SANDBOX, "cannot build the initial stack");
	if (vm_start(vm, prog.interp[0] != '\0' ? interp.entry : prog.entry,
	    rsp) == -1)
		exit(EXIT_SANDBOX);
}

/*
 * -R: the snapshot is either the sealed, verified memfd airlock-wake hands
 * its pool VMs (as /dev/fd/N), or a packed file, whose digest is checked
 * against FILE.digest before anything in it is used.
 */
static int
open_snapshot(const char *path)
{
	struct snapmem hdr;
	char errbuf[512];
	int fd;

	char magic[8];

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		err(EXIT_SANDBOX, "%s", path);
	/* Unpacked ("ALSNMEM1"): usable only sealed, as wake makes it. */
	if (pread(fd, magic, sizeof(magic), 0) == (ssize_t)sizeof(magic) &&
	    memcmp(magic, "ALSNMEM1", sizeof(magic)) == 0) {
		if (snap_check(fd, &hdr, errbuf, sizeof(errbuf)) != 0)
			errx(EXIT_SANDBOX, "%s: %s", path, errbuf);
		return fd;
	}
	close(fd);
	if ((fd = snap_load(path, NULL, &hdr, errbuf, sizeof(errbuf))) == -1)
		errx(EXIT_SANDBOX, "%s", errbuf);
	return fd;
}

/* -c: say why a run request is refused, as a process sandbox does. */
static int
refuse(int conn, uint32_t seq, const char *why)
{
	struct sb_error er;

	memset(&er, 0, sizeof(er));
	snprintf(er.text, sizeof(er.text), "%s", why);
	(void)sb_send(conn, SB_ERROR, seq, &er, sizeof(er), NULL, 0, NULL, 0);
	warnx("%s", er.text);
	return EXIT_SANDBOX;
}

/*
 * The run's input files, from snaft's sealed memfd of struct sb_file
 * records, into /input, which the guest can only read.  snaft made the
 * records, but they are checked here all the same, as the process
 * backend's runner checks them: each name one path component of at most
 * FILE_NAME_MAX bytes, not "." or "..", no NUL, no two alike; at most
 * files of them and SB_INPUT_BYTES of data, every length within the
 * memfd.  Returns NULL, or why not.
 */
static const char *
takeinputs(struct vm *vm, int fd, uint64_t files)
{
	struct sb_file h;
	struct stat st;
	char name[FILE_NAME_MAX + 1];
	const char *why = NULL;
	uint8_t *buf;
	uint64_t off, n = 0, size;

	if (fstat(fd, &st) != 0)
		return "input files: cannot stat the memfd";
	size = (uint64_t)st.st_size;
	if (size > SB_INPUT_BYTES + files * (sizeof(h) + FILE_NAME_MAX))
		return "input files: more than the sandbox takes";
	if ((buf = malloc(size ? size : 1)) == NULL ||
	    preadall(fd, buf, size, 0) != 0) {
		free(buf);
		return "input files: cannot read the memfd";
	}
	for (off = 0; off < size && why == NULL; off += h.data_len) {
		/* Every length is checked against what is left first. */
		if (size - off < sizeof(h)) {
			why = "input files: a malformed record";
			break;
		}
		memcpy(&h, buf + off, sizeof(h));
		off += sizeof(h);
		if (h.type != SB_FILE_REGULAR || h.name_len == 0 ||
		    h.name_len > FILE_NAME_MAX || h.name_len > size - off) {
			why = "input files: a malformed record";
			break;
		}
		memcpy(name, buf + off, h.name_len);
		name[h.name_len] = '\0';
		off += h.name_len;
		if (strlen(name) != h.name_len || strchr(name, '/') != NULL ||
		    strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			why = "input files: a malformed name";
			break;
		}
		if (h.data_len > size - off || ++n > files) {
			why = "input files: a malformed record";
			break;
		}
		switch (tmp_put(vm, &vm->fs[FS_INPUT], name, buf + off,
		    h.data_len)) {
		case 0:
			break;
		case -EEXIST:
			why = "input files: a name given twice";
			break;
		case -ENOSPC:
			why = "input files: more than the sandbox takes";
			break;
		default:
			why = "input files: out of memory";
			break;
		}
	}
	free(buf);
	return why;
}

/* Write all of len bytes to fd (write(2) only: the jail allows it). */
static int
writeall(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * What /output holds at the end of a served run, whatever its outcome,
 * into the memfd made before the jail, as struct sb_file records: every
 * entry at its top level, a regular file with its data, anything else
 * (a directory) by its name alone; then sealed, so that airlock-snaft
 * reads what we wrote and nothing else.  Returns 0 or -1.
 */
static int
giveoutputs(struct vm *vm, int fd)
{
	struct sb_file h;
	struct tmpnode *t;

	for (t = vm->fs[FS_OUTPUT].list; t != NULL; t = t->next) {
		if (t->parent != NULL)
			continue;
		memset(&h, 0, sizeof(h));
		h.name_len = (uint32_t)strlen(t->name);
		h.type = t->dir ? SB_FILE_OTHER : SB_FILE_REGULAR;
		h.data_len = t->dir ? 0 : t->size;
		if (writeall(fd, &h, sizeof(h)) != 0 ||
		    writeall(fd, t->name, h.name_len) != 0 ||
		    (h.data_len > 0 && writeall(fd, t->data,
		    (size_t)h.data_len) != 0))
			return -1;
	}
	return fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_WRITE);
}

/*
 * -c: serve one run over airlock-snaft's control protocol (sandbox.h) on
 * the listening socket sock.  Wait for the claim up to the lease, take the
 * run (payload, stdout and stderr, input files, policy, limits), say it
 * started, run, and send the report with what /output holds (in outfd).
 * Everything in the request is checked: snaft is trusted, but a message is
 * still only bytes.
 */
static int
serve(struct vm *vm, int sock, uint64_t lease_ms, int pidfd, int outfd,
    const char *digest, uint64_t create_us, uint64_t setup_us,
    uint64_t jail_us)
{
	struct {
		struct sb_run		run;
		struct sb_kvmpolicy	pol;
	} req;
	struct sb_started st;
	struct sb_hdr h;
	struct pollfd pfd = { sock, POLLIN, 0 };
	const char *why;
	uint8_t *payload;
	char *rep;
	size_t replen;
	ssize_t n;
	int conn, fds[SB_MAXFDS], nfds = 0, i, rc;

	rc = poll(&pfd, 1, lease_ms > INT32_MAX ? -1 : (int)lease_ms);
	if (rc == 0)
		return 0;		/* the lease ran out unclaimed */
	if (rc < 0 || (conn = accept4(sock, NULL, NULL, SOCK_CLOEXEC)) < 0)
		err(EXIT_SANDBOX, "accept");
	close(sock);
	memset(&req, 0, sizeof(req));
	n = sb_recv(conn, 0, &h, &req, sizeof(req), fds, SB_MAXFDS, &nfds);
	if (n <= 0 || h.type != SB_RUN || h.len != sizeof(req) || nfds != 4 ||
	    !(req.run.flags & SB_RUN_KVM) || req.run.bpf_len != 0 ||
	    req.pol.files > TMP_NODES_MAX ||
	    req.pol.outdir_bytes > OUTDIR_MAX) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		return refuse(conn, h.seq, "malformed run request for a kvm "
		    "sandbox");
	}
	if (req.run.payload_bytes > PAYLOAD_MAX ||
	    (payload = malloc(req.run.payload_bytes + 1)) == NULL ||
	    pread(fds[0], payload, req.run.payload_bytes, 0) !=
	    (ssize_t)req.run.payload_bytes) {
		warnx("cannot read the payload");
		return EXIT_SANDBOX;
	}
	close(fds[0]);
	vm->stdin_buf = payload;
	vm->stdin_len = req.run.payload_bytes;
	vm->out[0].hostfd = fds[1];
	vm->out[1].hostfd = fds[2];
	for (i = 0; i < SYSCALL_MAX && i < SB_KVM_NR; i++)
		vm->allowed[i] = req.pol.allowed[i] != 0;
	vm->have_allowlist = 1;
	vm->forbid_exec = 1;
	vm->wall_ms = req.run.wall_ms;
	vm->cpu_ms = req.run.cpu_ms;
	vm->out_cap = req.pol.output_bytes;
	if (req.pol.tmp_bytes != 0)
		tmpfs_setcaps(&vm->fs[FS_TMP], req.pol.tmp_bytes,
		    TMP_NODES_MAX);
	/* /input as the process backend sizes it; /output the row's. */
	tmpfs_setcaps(&vm->fs[FS_INPUT], SB_INPUT_BYTES, (int)req.pol.files);
	tmpfs_setcaps(&vm->fs[FS_OUTPUT], req.pol.outdir_bytes,
	    (int)req.pol.files);
	if (req.run.memory_bytes != 0)
		vm->mem_limit_pages = req.run.memory_bytes / PAGE_SIZE;
	why = takeinputs(vm, fds[3], req.pol.files);
	close(fds[3]);
	if (why != NULL)
		return refuse(conn, h.seq, why);

	memset(&st, 0, sizeof(st));
	st.pid = (int32_t)getpid();
	if (sb_send(conn, SB_STARTED, h.seq, &st, sizeof(st), NULL, 0, &pidfd,
	    1) != 0) {
		warn("start message");
		return EXIT_SANDBOX;
	}
	if (vm_arm(vm) == -1) {
		warn("limit timers");
		return EXIT_SANDBOX;
	}
	if (vm_run(vm) == -1)
		return EXIT_SANDBOX;
	/* The output first, so snaft sees its end before the report. */
	close(vm->out[0].hostfd);
	close(vm->out[1].hostfd);
	/*
	 * Without its output files the report is incomplete: sent without
	 * them, it is one airlock-snaft refuses, and the run fails.
	 */
	i = giveoutputs(vm, outfd);
	if (i != 0)
		warnx("cannot hand back the output files");
	if ((rep = report(vm, digest, create_us, setup_us, jail_us,
	    &replen)) == NULL || replen > SB_REPORT_MAX ||
	    sb_send(conn, SB_REPORT, h.seq, rep, replen, NULL, 0, &outfd,
	    i == 0 ? 1 : 0) != 0)
		warnx("cannot send the report");
	free(rep);
	return exit_status(vm);
}

int
main(int argc, char *argv[])
{
	static struct vm vm;
	char errbuf[512], digest[SNAP_DIGEST_LEN + 1], line[SNAP_DIGEST_LEN + 2];
	const char *rootfs = NULL, *allow = NULL, *snapout = NULL;
	const char *snapin = NULL;
	long long mem_mb = 256, wall_ms = 10000, out_cap = 1 << 20;
	long long sock = -1, readyfd = -1, lease_ms = 60000;
	uint64_t t0, t1, t2, jail_us;
	uint8_t *payload = NULL;
	size_t plen, replen;
	char *rep;
	int ch, json = 0, status, snapfd = -1, dfd = -1, memfd, pidfd = -1;
	int outfd = -1;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("airlock-vmm %s\n", AIRLOCK_VERSION);
		return EXIT_OK;
	}
	while ((ch = getopt(argc, argv, "a:c:jl:m:o:R:r:S:t:vVw:x")) != -1) {
		switch (ch) {
		case 'a':
			allow = optarg;
			break;
		case 'c':
			if (parse_number(optarg, 3, 1 << 20, &sock) == -1)
				errx(EXIT_USAGE, "-c: bad descriptor");
			break;
		case 'j':
			json = 1;
			break;
		case 'l':
			if (parse_number(optarg, 1, 86400000, &lease_ms) == -1)
				errx(EXIT_USAGE, "-l: bad lease");
			break;
		case 'm':
			if (parse_number(optarg, 32, MEM_MAX_GB * 1024,
			    &mem_mb) == -1 || mem_mb % 2 != 0)
				errx(EXIT_USAGE, "-m: even number of MiB, "
				    "32 to %d", MEM_MAX_GB * 1024);
			break;
		case 'o':
			if (parse_number(optarg, 0, 1LL << 30, &out_cap) == -1)
				errx(EXIT_USAGE, "-o: bad output cap");
			break;
		case 'R':
			snapin = optarg;
			break;
		case 'r':
			rootfs = optarg;
			break;
		case 'S':
			snapout = optarg;
			break;
		case 't':
			if (parse_number(optarg, 0, 86400000, &wall_ms) == -1)
				errx(EXIT_USAGE, "-t: bad wall time");
			break;
		case 'v':
			vm.verbose = 1;
			break;
		case 'V':
			printf("airlock-vmm %s\n", AIRLOCK_VERSION);
			return EXIT_OK;
		case 'w':
			if (parse_number(optarg, 3, 1 << 20, &readyfd) == -1)
				errx(EXIT_USAGE, "-w: bad descriptor");
			break;
		case 'x':
			vm.forbid_exec = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (rootfs == NULL || (snapout != NULL && snapin != NULL) ||
	    (snapin == NULL && argc < 1) || (snapin != NULL && argc > 0) ||
	    (sock >= 0 && (snapin == NULL || readyfd < 0)))
		usage();

	/* A closed stdout must not kill the VMM: writes fail instead. */
	signal(SIGPIPE, SIG_IGN);
	if (allow != NULL && sys_policy_load(&vm, allow) == -1)
		return EXIT_USAGE;
	if (snapout == NULL && sock < 0) {
		payload = read_payload(&plen);
		vm.stdin_buf = payload;
		vm.stdin_len = plen;
	}
	vm.wall_ms = (uint64_t)wall_ms;
	vm.out_cap = (uint64_t)out_cap;
	vm.out[0].hostfd = STDOUT_FILENO;
	vm.out[1].hostfd = STDERR_FILENO;
	tmpfs_init(&vm);
	vm.kvm = -1;

	/* The image root: every guest path is resolved beneath it. */
	if ((vm.rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		err(EXIT_SANDBOX, "open %s", rootfs);
	if (snapout != NULL) {
		/* Opened now: the jail leaves no host path to write to. */
		if ((snapfd = open(snapout, O_WRONLY | O_CREAT | O_TRUNC |
		    O_CLOEXEC, 0644)) == -1)
			err(EXIT_SANDBOX, "%s", snapout);
		if (snprintf(errbuf, sizeof(errbuf), "%s.digest", snapout) >=
		    (int)sizeof(errbuf) || (dfd = open(errbuf, O_WRONLY |
		    O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) == -1)
			err(EXIT_SANDBOX, "%s.digest", snapout);
		vm.snap_mode = 1;
	}

	t0 = now_us();
	digest[0] = '\0';
	if (snapin != NULL) {
		memfd = open_snapshot(snapin);
		if (snap_restore(&vm, memfd, digest, errbuf,
		    sizeof(errbuf)) == -1)
			errx(EXIT_SANDBOX, "%s: %s", snapin, errbuf);
		close(memfd);
		/* Executable mappings happened before the snapshot point. */
		vm.forbid_exec = 1;
		t1 = t2 = now_us();
	} else {
		if (vm_create(&vm, (uint64_t)mem_mb << 20, -1, 0) == -1)
			return EXIT_SANDBOX;
		t1 = now_us();
		setup_program(&vm, argc, argv);
		t2 = now_us();
	}

	/*
	 * From here on the VMM needs neither /dev/kvm itself nor any host
	 * path: make the limit timers and a pidfd of ourselves (for snaft's
	 * kill), then jail ourselves before the guest's first instruction.
	 */
	close(vm.kvm);
	vm.kvm = -1;
	if (vm_timers(&vm) == -1) {
		warn("limit timers");
		return EXIT_SANDBOX;
	}
	if (sock >= 0 && (pidfd = (int)syscall(SYS_pidfd_open, getpid(),
	    0)) == -1)
		err(EXIT_SANDBOX, "pidfd_open");
	/* -c: where /output goes back to snaft, written at the end. */
	if (sock >= 0 && (outfd = memfd_create("output", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) == -1)
		err(EXIT_SANDBOX, "memfd_create");
	if (jail_enter(&vm, rootfs, (int)sock) == -1)
		errx(EXIT_SANDBOX, "cannot jail the VMM");
	jail_us = now_us() - t2;
	if (readyfd >= 0) {
		/* Ready to be claimed; wake hands us out from now on. */
		if (write((int)readyfd, "r", 1) != 1)
			return EXIT_SANDBOX;
		close((int)readyfd);
	}
	if (sock >= 0)
		return serve(&vm, (int)sock, (uint64_t)lease_ms, pidfd, outfd,
		    digest, t1 - t0, t2 - t0, jail_us);

	if (vm_arm(&vm) == -1) {
		warn("wall-time timer");
		return EXIT_SANDBOX;
	}
	if (vm_run(&vm) == -1)
		return EXIT_SANDBOX;

	if (snapout != NULL) {
		if (snap_save(&vm, snapfd, digest, errbuf, sizeof(errbuf)) != 0)
			errx(EXIT_SANDBOX, "snapshot: %s", errbuf);
		snprintf(line, sizeof(line), "%s\n", digest);
		if (write(dfd, line, strlen(line)) != (ssize_t)strlen(line) ||
		    fsync(dfd) != 0)
			err(EXIT_SANDBOX, "%s.digest", snapout);
		if (vm.verbose)
			warnx("snapshot %s: %s", snapout, digest);
		return EXIT_OK;
	}
	if (vm.state != VM_ENDED || vm.outcome == OUTCOME_FAILED)
		warnx("%s", vm.reason);
	else if (vm.outcome != OUTCOME_EXITED && vm.verbose)
		warnx("%s", vm.reason);
	if (json && (rep = report(&vm, digest[0] ? digest : NULL, t1 - t0,
	    t2 - t0, jail_us, &replen)) != NULL) {
		report_write(rep, replen);
		free(rep);
	}
	status = exit_status(&vm);
	vm_destroy(&vm);
	free(payload);
	return status;
}
