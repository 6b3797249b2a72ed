/*
 * airlock-vmm: run one program of an image root inside a KVM microVM
 * whose kernel is this process (DESIGN.md section 8).
 *
 *	airlock-vmm [-jvx] [-a allow_list] [-m mem_mb] [-o out_cap]
 *	    -r rootfs [-t wall_ms] -- program [arg ...]
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
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock.h"
#include "vmm.h"

#define PAYLOAD_MAX	(64ULL * 1024 * 1024)
#define STACK_RESERVE	(8ULL * 1024 * 1024)
#define PIE_BASE	(2 * HUGE_SIZE)

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: airlock-vmm [-jvx] [-a allow_list] "
	    "[-m mem_mb] [-o out_cap] -r rootfs\n"
	    "                   [-t wall_ms] -- program [arg ...]\n");
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
	const unsigned char *p;

	putc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			putc(*p, f);
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

static void
report(struct vm *vm, uint64_t create_us, uint64_t setup_us,
    uint64_t jail_us, uint64_t run_us)
{
	static const char *const oname[] = { "running", "exited", "signaled",
	    "killed", "failed" };
	FILE *f;
	char *buf = NULL;
	size_t len = 0, off;
	ssize_t n;
	int fd, i, first = 1;

	if ((f = open_memstream(&buf, &len)) == NULL) {
		warn("open_memstream");
		return;
	}
	fprintf(f, "{\"backend\":\"kvm\",\"outcome\":\"%s\"",
	    oname[vm->outcome]);
	if (vm->outcome == OUT_EXITED)
		fprintf(f, ",\"exit_code\":%d,\"signal\":null", vm->exit_code);
	else
		fprintf(f, ",\"exit_code\":null,\"signal\":%d", vm->signal);
	fprintf(f, ",\"kill_reason\":");
	if (vm->kill_reason != NULL)
		json_str(f, vm->kill_reason);
	else
		fputs("null", f);
	fprintf(f, ",\"reason\":");
	json_str(f, vm->reason);
	fprintf(f, ",\"exits\":%llu,\"create_us\":%llu,\"setup_us\":%llu,"
	    "\"jail_us\":%llu,\"run_us\":%llu,\"first_output_us\":%llu",
	    (unsigned long long)vm->nexits, (unsigned long long)create_us,
	    (unsigned long long)setup_us, (unsigned long long)jail_us,
	    (unsigned long long)run_us,
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
		if (vm->viol.family != NULL)
			json_str(f, vm->viol.family);
		else
			fputs("null", f);
		fprintf(f, ",\"syscall\":");
		json_str(f, vm->viol.name);
		fprintf(f, ",\"nr\":%d,\"arch\":\"%s\",\"args\":[", vm->viol.nr,
		    strcmp(vm->viol.name, "int 0x80") == 0 ? "i386" :
		    strcmp(vm->viol.name, "x32") == 0 ? "x32" : "x86_64");
		for (i = 0; i < 6; i++)
			fprintf(f, "%s%llu", i ? "," : "",
			    (unsigned long long)vm->viol.args[i]);
		fprintf(f, "],\"at_us\":%llu}",
		    (unsigned long long)vm->viol.at_us);
	}
	fprintf(f, "]}\n");
	if (fclose(f) != 0) {
		warn("json");
		free(buf);
		return;
	}
	/* One line, on fd 3 if the caller opened it, else on stderr. */
	fd = fcntl(3, F_GETFL) != -1 && (fcntl(3, F_GETFL) & O_ACCMODE) !=
	    O_RDONLY ? 3 : STDERR_FILENO;
	for (off = 0; off < len; off += (size_t)n)
		if ((n = write(fd, buf + off, len - off)) <= 0) {
			warn("write json");
			break;
		}
	free(buf);
}

int
main(int argc, char *argv[])
{
	static struct vm vm;
	struct elfinfo prog, interp;
	char canon[4096], errbuf[256];
	const char *rootfs = NULL, *allow = NULL;
	long long mem_mb = 256, wall_ms = 10000, out_cap = 1 << 20;
	uint64_t t0, t1, t2, rsp, jail_us;
	uint8_t *payload;
	size_t plen;
	int ch, json = 0, fd, ifd, status;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("airlock-vmm %s\n", AIRLOCK_VERSION);
		return EXIT_OK;
	}
	while ((ch = getopt(argc, argv, "a:jm:o:r:t:vVx")) != -1) {
		switch (ch) {
		case 'a':
			allow = optarg;
			break;
		case 'j':
			json = 1;
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
		case 'r':
			rootfs = optarg;
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
		case 'x':
			vm.forbid_exec = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || rootfs == NULL)
		usage();

	/* A closed stdout must not kill the VMM: writes fail instead. */
	signal(SIGPIPE, SIG_IGN);
	if (allow != NULL && sys_policy_load(&vm, allow) == -1)
		return EXIT_USAGE;
	payload = read_payload(&plen);
	vm.stdin_buf = payload;
	vm.stdin_len = plen;
	vm.wall_ms = (uint64_t)wall_ms;
	vm.out_cap = (uint64_t)out_cap;
	vm.out[0].hostfd = STDOUT_FILENO;
	vm.out[1].hostfd = STDERR_FILENO;
	vm.tmp_cap = 16ULL << 20;
	vm.kvm = -1;

	/* The image root: every guest path is resolved beneath it. */
	if ((vm.rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		err(EXIT_SANDBOX, "open %s", rootfs);

	t0 = now_us();
	if (vm_create(&vm, (uint64_t)mem_mb << 20) == -1)
		return EXIT_SANDBOX;
	t1 = now_us();
	fs_init(&vm);

	/*
	 * Address space: the program at its own addresses (a PIE at
	 * PIE_BASE), its break after it, the stack at the top, and mmap
	 * (the interpreter included) top-down below the stack.
	 */
	vm.brk_max = GPA_USER;
	vm.mmap_top = vm.memsize - STACK_RESERVE - PAGE_SIZE;
	if ((fd = fs_open_exec(&vm, argv[0], canon, sizeof(canon))) < 0)
		errx(EXIT_SANDBOX, "%s: %s", argv[0], strerror(-fd));
	vm.execfn = argv[0];
	if (elf_load(&vm, fd, 0, PIE_BASE, &prog, errbuf,
	    sizeof(errbuf)) == -1)
		errx(EXIT_SANDBOX, "%s: %s", argv[0], errbuf);
	close(fd);
	vm.brk_start = vm.brk_cur = prog.end;
	vm.brk_max = prog.end + vm.memsize / 4;
	if (vm.brk_max > vm.mmap_top)
		vm.brk_max = vm.mmap_top;
	if (prog.interp[0] != '\0') {
		if ((ifd = fs_open_exec(&vm, prog.interp, canon,
		    sizeof(canon))) < 0)
			errx(EXIT_SANDBOX, "%s: %s", prog.interp,
			    strerror(-ifd));
		if (elf_load(&vm, ifd, 1, 0, &interp, errbuf,
		    sizeof(errbuf)) == -1)
			errx(EXIT_SANDBOX, "%s: %s", prog.interp, errbuf);
		close(ifd);
	}
	/* Without a vDSO, clock calls are exits: slower, still right. */
	if (vdso_build(&vm) == -1 && vm.verbose)
		warnx("no vDSO: clock_gettime will exit to the VMM");
	if (stack_build(&vm, &prog, prog.interp[0] != '\0' ? &interp : NULL,
	    argc, argv, &rsp) == -1)
		errx(EXIT_SANDBOX, "cannot build the initial stack");
	if (vm_start(&vm, prog.interp[0] != '\0' ? interp.entry : prog.entry,
	    rsp) == -1)
		return EXIT_SANDBOX;
	t2 = now_us();

	/*
	 * From here on the VMM needs neither /dev/kvm itself nor any host
	 * path: arm the timer, then jail ourselves before the guest's first
	 * instruction.
	 */
	close(vm.kvm);
	vm.kvm = -1;
	if (vm_arm(&vm) == -1) {
		warn("wall-time timer");
		return EXIT_SANDBOX;
	}
	if (jail_enter(&vm, rootfs) == -1)
		errx(EXIT_SANDBOX, "cannot jail the VMM");
	jail_us = now_us() - t2;
	if (vm_run(&vm) == -1)
		return EXIT_SANDBOX;

	if (vm.outcome == OUT_FAILED)
		warnx("%s", vm.reason);
	else if (vm.outcome != OUT_EXITED && vm.verbose)
		warnx("%s", vm.reason);
	if (json)
		report(&vm, t1 - t0, t2 - t0, jail_us, vm.run_us);
	vm_destroy(&vm);
	free(payload);

	switch (vm.outcome) {
	case OUT_EXITED:
		status = vm.exit_code;
		break;
	case OUT_SIGNALED:
	case OUT_KILLED:
		status = 128 + vm.signal;
		break;
	default:
		status = EXIT_SANDBOX;
		break;
	}
	return status;
}
