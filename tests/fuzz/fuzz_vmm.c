/*
 * fuzz_vmm: the kvm backend VMM's system call layer (airlock-vmm/),
 * entered through sys_dispatch() exactly as a guest `syscall` exit enters
 * it, with hostile registers and hostile guest memory.
 *
 * No KVM VM exists: guest memory is an anonymous mapping with a page map
 * of our making, and the vCPU descriptors are -1, so the few calls that
 * reach the vCPU (arch_prctl's FS base) fail as an ioctl on a closed
 * descriptor does.  The image root is a small tree made once under a
 * mkdtemp(3) directory, next to a directory "outside" that the guest must
 * never reach: symbolic links climb out of the root with "..", point at
 * it absolutely, and loop.
 *
 * Input: a flags byte (bit 0: -x, executable mappings are violations;
 * bit 1: an allow list, chosen by the second byte; bit 2: -S, the first
 * read of stdin ends the run for a snapshot; bit 3: a memory limit a
 * little above what is mapped at the start), then records until the input
 * or the run ends:
 *
 *   0xfe off16 len8 bytes	poke raw bytes into the scratch area
 *   0xff off16 len8 bytes	the same, NUL-terminated
 *   0xfd nr16 args		a raw system call number
 *   0xfc rax64 args		a raw rax: negative, huge, x32
 *   other b args		the b % NCALLS'th call the VMM emulates
 *
 * and args are six selectors, a byte each (kind in the high nibble, a
 * small parameter in the low one) followed by what the kind reads: raw
 * values, pointers into readable, writable, read-only, inaccessible or
 * unmapped pages, at the end of guest memory, into the VMM's own pages,
 * wrapping around 2^64, canned paths and structures (iovecs, pollfds,
 * timespecs), a fresh name in /tmp or /output, or an earlier call's
 * result.  Sleeps are
 * cut to a microsecond by rewriting their timespec in guest memory, and a
 * poll of no descriptors to a millisecond.
 *
 * Beyond "no crash, no leak, no undefined behaviour", after every call:
 * the run has not become a VMM failure; the result is a value or -errno;
 * reads and writes move no more than asked; mmap, mremap and brk answer
 * with mapped, page-aligned memory inside guest program memory; the count
 * of mapped pages is exact and
 * within the memory limit; /tmp and /output stay within their caps,
 * /input (one file, read-only) stays as it was, and stdout and stderr
 * stay within their caps; the VMM's own pages below GPA_USER are never
 * mapped for the guest; every descriptor the guest opens on the image is
 * a read-only host descriptor of a file of the image root (by device and
 * inode), never of anything outside it, under a canonical path.  After
 * every input, everything the guest opened is closed and everything it
 * made in /tmp and /output removed, through the guest's own system calls:
 * then both must be empty, their byte counts back at 0, they must not
 * have held more nodes than their caps, reference counts must add up,
 * and the process must hold exactly the host descriptors it held before.
 * Signal actions, the page map and the rest of struct vm that a run
 * changes are reset before the next input.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <asm/unistd_64.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"
#include "fuzz.h"

#define MEMSIZE		(32ULL << 20)
#define NPAGES		(MEMSIZE / PAGE_SIZE)

/* Guest program memory as the harness lays it out. */
#define G_STR		(GPA_USER)		/* canned strings, read-only */
#define G_STRUCT	(GPA_USER + 0x1000)	/* canned structures, rw */
#define G_SCRATCH	(GPA_USER + 0x2000)	/* what the input pokes, rw */
#define SCRATCH_SIZE	0x10000ULL
#define G_HOLE		(G_SCRATCH + SCRATCH_SIZE)	/* unmapped */
#define G_RO		(G_HOLE + 0x1000)	/* 4 pages read-only */
#define G_HOLE2		(G_RO + 0x4000)		/* unmapped */
#define G_NONE		(G_HOLE2 + 0x1000)	/* mapped, no access */
#define G_WONLY		(G_NONE + 0x1000)	/* write-only */
#define G_TEXT		(G_WONLY + 0x1000)	/* read and exec */
#define G_BRK		(0x400003ULL)		/* unaligned, as ELF ends */
#define G_BRK_MAX	(0x800000ULL)
#define G_STACK		(MEMSIZE - (1ULL << 20))	/* rw to the end */

#define CALLS_MAX	4096	/* system calls per input */

#define OUT_CAP		4096
#define TMP_CAP		(256ULL * 1024)
#define OUTDIR_CAP	(64ULL * 1024)
#define OUTDIR_FILES	16
#define INPUT_DATA	"input data\n"
#define NRET		8
#define LIMIT_EXTRA	512	/* pages the memory limit allows beyond */

/* The calls sys_dispatch() emulates, and a few it must refuse. */
static const int calls[] = {
	__NR_read, __NR_write, __NR_open, __NR_close, __NR_stat, __NR_fstat,
	__NR_lstat, __NR_poll, __NR_lseek, __NR_mmap, __NR_mprotect,
	__NR_munmap, __NR_brk, __NR_rt_sigaction, __NR_rt_sigprocmask,
	__NR_ioctl, __NR_pread64, __NR_pwrite64, __NR_readv, __NR_writev,
	__NR_access, __NR_select, __NR_sched_yield, __NR_mremap,
	__NR_madvise, __NR_dup, __NR_dup2, __NR_nanosleep, __NR_getpid,
	__NR_exit, __NR_kill, __NR_uname, __NR_fcntl, __NR_fsync,
	__NR_fdatasync, __NR_ftruncate, __NR_getcwd, __NR_chdir,
	__NR_fchdir, __NR_rename, __NR_mkdir, __NR_rmdir, __NR_unlink,
	__NR_readlink, __NR_chmod, __NR_umask, __NR_gettimeofday,
	__NR_getrlimit, __NR_sysinfo, __NR_getuid, __NR_getresuid,
	__NR_sigaltstack, __NR_statfs, __NR_fstatfs, __NR_arch_prctl,
	__NR_setrlimit, __NR_prctl, __NR_gettid, __NR_time, __NR_futex,
	__NR_sched_getaffinity, __NR_getdents64, __NR_set_tid_address,
	__NR_restart_syscall, __NR_clock_gettime, __NR_clock_getres,
	__NR_clock_nanosleep, __NR_exit_group, __NR_tgkill, __NR_openat,
	__NR_mkdirat, __NR_newfstatat, __NR_unlinkat, __NR_renameat,
	__NR_readlinkat, __NR_faccessat, __NR_pselect6,
	__NR_set_robust_list, __NR_dup3, __NR_prlimit64, __NR_getrandom,
	__NR_renameat2, __NR_rseq, __NR_faccessat2, __NR_tkill, __NR_wait4,
	__NR_getgroups, __NR_getppid,
	/* Refused: always-dangerous families, or unknown to the VMM. */
	__NR_clone, __NR_socket, __NR_execve, __NR_ptrace, __NR_mount,
	__NR_io_uring_setup, __NR_symlink, __NR_link,
	/* Paths again, so that they are drawn more often. */
	__NR_openat, __NR_openat, __NR_newfstatat, __NR_getdents64,
	__NR_read, __NR_write, __NR_mmap, __NR_unlink, __NR_mkdir,
};
#define NCALLS	(sizeof(calls) / sizeof(calls[0]))

/* Canned strings, kind 5 (0-15) and kind 15 (16-23). */
static const char *const strs[] = {
	"/etc/passwd", "/../../etc/passwd", "/proc/self/exe", "/tmp/a",
	"/tmp/d", "/tmp/d/b", "/dev/null", "/dev/urandom", "link-out",
	"/abs-link", "dir/rel-link", "dir", "/dir/file", "", "/fifo",
	NULL,		/* 15: no NUL before unmapped memory */
	"/loop", "/outside-link", "/tmp", "..", ".", "/input/in",
	"/dir/sub", NULL,	/* 23: the host path of the outside file */
};
#define NSTRS		(sizeof(strs) / sizeof(strs[0]))
#define STR_SLOT	128	/* bytes per canned string */

/* Canned structures in G_STRUCT, by kind 15 parameter 0-7. */
#define S_IOV		0x000	/* 4 struct iovec */
#define S_POLL		0x100	/* 4 struct pollfd */
#define S_TS		0x200	/* a zero timespec */
#define S_SIGACT	0x300	/* a struct sigaction of the kernel's */
#define S_FDSET		0x400	/* fd_set with 0, 1, 2 and 3 */
#define S_IOV_BAD	0x500	/* 2 iovecs, one into unmapped memory */
#define S_IOV_WRAP	0x600	/* an iovec whose length wraps */
#define S_TAIL		0xff8	/* 8 bytes before the page ends */

static struct vm	 vm;
static uint8_t		 pagemap[NPAGES];
static uint64_t		 npagemap;	/* pages mapped in pagemap */
static char		 top[PATH_MAX], outside[PATH_MAX];
static int		 devnull = -1, hostfds;
static const uint8_t	 stdin_data[] = "payload line 1\npayload line 2\n";

/* Device and inode of everything in the fake image root. */
static struct { dev_t dev; ino_t ino; } inodes[64];
static size_t		 ninodes;

/* One input's state. */
static const uint8_t	*in;
static size_t		 inlen, inpos;
static uint64_t		 rets[NRET];
static unsigned		 nret, tmpname;

static void
mkfile(const char *dir, const char *name, const char *text, size_t len)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	CHECK((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0755)) != -1);
	CHECK(write(fd, text, len) == (ssize_t)len);
	close(fd);
}

static void
mklink(const char *dir, const char *name, const char *target)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	CHECK(symlink(target, p) == 0);
}

static int
addinode(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)p;
	(void)type;
	(void)ftw;
	CHECK(ninodes < sizeof(inodes) / sizeof(inodes[0]));
	inodes[ninodes].dev = st->st_dev;
	inodes[ninodes].ino = st->st_ino;
	ninodes++;
	return 0;
}

static int
inroot(const struct stat *st)
{
	size_t i;

	for (i = 0; i < ninodes; i++)
		if (inodes[i].dev == st->st_dev && inodes[i].ino == st->st_ino)
			return 1;
	return 0;
}

static int
count_fds(void)
{
	struct dirent *d;
	DIR *dp;
	int n = 0;

	CHECK((dp = opendir("/proc/self/fd")) != NULL);
	while ((d = readdir(dp)) != NULL)
		if (d->d_name[0] != '.')
			n++;
	closedir(dp);
	return n;
}

/* The image: files, directories, links in and out, a FIFO. */
static void
mkimage(void)
{
	char root[PATH_MAX], p[PATH_MAX], big[10000];
	size_t i;

	snprintf(top, sizeof(top), "%s/fuzz_vmm.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	CHECK(mkdtemp(top) != NULL);
	snprintf(root, sizeof(root), "%s/root", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	CHECK(mkdir(root, 0755) == 0 && mkdir(outside, 0755) == 0);
	mkfile(outside, "secret", "outside the image\n", 18);
	snprintf(p, sizeof(p), "%s/etc", root);
	CHECK(mkdir(p, 0755) == 0);
	mkfile(p, "passwd", "root:x:0:0::/:/bin/sh\n", 22);
	mkfile(p, "hostname", "airlock\n", 8);
	snprintf(p, sizeof(p), "%s/bin", root);
	CHECK(mkdir(p, 0755) == 0);
	mkfile(p, "prog", "\177ELF not really", 15);
	snprintf(p, sizeof(p), "%s/dir", root);
	CHECK(mkdir(p, 0755) == 0);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	mkfile(p, "file", big, sizeof(big));
	mklink(p, "rel-link", "../etc/hostname");
	snprintf(p, sizeof(p), "%s/dir/sub", root);
	CHECK(mkdir(p, 0755) == 0);
	mkfile(root, "empty", "", 0);
	mklink(root, "link-out", "../../../../etc/passwd");
	mklink(root, "outside-link", "../outside/secret");
	mklink(root, "abs-link", "/etc/passwd");
	mklink(root, "loop", "loop");
	snprintf(p, sizeof(p), "%s/secret", outside);
	mklink(root, "host-link", p);
	snprintf(p, sizeof(p), "%s/fifo", root);
	CHECK(mkfifo(p, 0644) == 0);
	CHECK(nftw(root, addinode, 8, FTW_PHYS) == 0);
	CHECK((vm.rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) !=
	    -1);
}

static int
rmentry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p) == 0 ? 0 : -1;
}

/* At exit: the tree is ours, made by mkimage(), links not followed. */
static void
cleanup_image(void)
{
	if (nftw(top, rmentry, 8, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "fuzz_vmm: cannot remove %s\n", top);
}

static uint64_t
countmapped(const uint8_t *pages)
{
	uint64_t pg, n = 0;

	for (pg = 0; pg < NPAGES; pg++)
		n += (pages[pg] & PG_MAPPED) != 0;
	return n;
}

static void
setpages(uint64_t ga, uint64_t len, uint8_t prot)
{
	memset(pagemap + ga / PAGE_SIZE, prot, len / PAGE_SIZE);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	mkimage();
	atexit(cleanup_image);
	vm.kvm = vm.vmfd = vm.vcpufd = -1;
	vm.run = NULL;
	vm.memsize = MEMSIZE;
	vm.mem = mmap(NULL, MEMSIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(vm.mem != MAP_FAILED);
	CHECK((vm.pages = calloc(NPAGES, 1)) != NULL);
	setpages(G_STR, 0x1000, PG_MAPPED | PG_READ);
	setpages(G_STRUCT, 0x1000, PG_MAPPED | PG_READ | PG_WRITE);
	setpages(G_SCRATCH, SCRATCH_SIZE, PG_MAPPED | PG_READ | PG_WRITE);
	setpages(G_RO, 0x4000, PG_MAPPED | PG_READ);
	setpages(G_NONE, 0x1000, PG_MAPPED);
	setpages(G_WONLY, 0x1000, PG_MAPPED | PG_WRITE);
	setpages(G_TEXT, 0x1000, PG_MAPPED | PG_READ | PG_EXEC);
	setpages(G_STACK, MEMSIZE - G_STACK, PG_MAPPED | PG_READ | PG_WRITE);
	npagemap = countmapped(pagemap);
	vm.brk_start = vm.brk_cur = G_BRK;
	vm.brk_max = G_BRK_MAX;
	vm.mmap_top = G_STACK;
	vm.stack_lo = G_STACK;
	vm.execfn = "/bin/prog";
	/* /tmp, /output and /input with its one file, as a served run. */
	tmpfs_init(&vm);
	tmpfs_setcaps(&vm.fs[FS_TMP], TMP_CAP, TMP_NODES_MAX);
	tmpfs_setcaps(&vm.fs[FS_OUTPUT], OUTDIR_CAP, OUTDIR_FILES);
	tmpfs_setcaps(&vm.fs[FS_INPUT], PAGE_SIZE, 1);
	CHECK(tmp_put(&vm, &vm.fs[FS_INPUT], "in", INPUT_DATA,
	    sizeof(INPUT_DATA) - 1) == 0);
	vm.out_cap = OUT_CAP;
	CHECK((devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) != -1);
	vm.out[0].hostfd = devnull;
	vm.out[1].hostfd = -1;
	vm.stdin_buf = stdin_data;
	vm.stdin_len = sizeof(stdin_data) - 1;
	vm.start_us = now_us();
	/* FUZZ_VMM_VERBOSE=1 traces every call, as airlock-vmm -v does. */
	vm.verbose = getenv("FUZZ_VMM_VERBOSE") != NULL;
	return 0;
}

static uint64_t
take(size_t n)
{
	uint64_t v = 0;
	size_t i;

	/* Little-endian; past the end of the input, zeros. */
	for (i = 0; i < n && inpos < inlen; i++)
		v |= (uint64_t)in[inpos++] << (8 * i);
	return v;
}

static void
poke(const void *p, uint64_t ga, size_t len)
{
	memcpy(vm.mem + ga, p, len);
}

/* Canned strings and structures, rewritten before every input. */
static void
canned(void)
{
	struct iovec iov[4];
	struct pollfd pfd[4];
	uint64_t fdset = 0xf;
	size_t i;

	for (i = 0; i < NSTRS; i++)
		if (strs[i] != NULL)
			poke(strs[i], G_STR + i * STR_SLOT, strlen(strs[i]) + 1);
	snprintf((char *)vm.mem + G_STR + 23 * STR_SLOT, STR_SLOT,
	    "%s/secret", outside);
	memset(vm.mem + G_RO, 'A', 0x4000);
	iov[0].iov_base = (void *)(uintptr_t)G_SCRATCH;
	iov[0].iov_len = 16;
	iov[1].iov_base = (void *)(uintptr_t)(G_SCRATCH + 100);
	iov[1].iov_len = 0;
	iov[2].iov_base = (void *)(uintptr_t)(G_SCRATCH + 200);
	iov[2].iov_len = 5000;
	iov[3].iov_base = (void *)(uintptr_t)(G_STACK - 8);
	iov[3].iov_len = 64;
	poke(iov, G_STRUCT + S_IOV, sizeof(iov));
	iov[0].iov_len = 8;
	iov[1].iov_base = (void *)(uintptr_t)G_HOLE;
	iov[1].iov_len = 8;
	poke(iov, G_STRUCT + S_IOV_BAD, 2 * sizeof(iov[0]));
	iov[0].iov_base = (void *)(uintptr_t)(G_SCRATCH + 8);
	iov[0].iov_len = UINT64_MAX - 7;
	poke(iov, G_STRUCT + S_IOV_WRAP, sizeof(iov[0]));
	for (i = 0; i < 4; i++) {
		pfd[i].fd = (int)i + 2;
		pfd[i].events = POLLIN | POLLOUT;
		pfd[i].revents = 0;
	}
	poke(pfd, G_STRUCT + S_POLL, sizeof(pfd));
	poke(&fdset, G_STRUCT + S_FDSET, sizeof(fdset));
}

static uint64_t
arg(void)
{
	static const uint64_t sizes[16] = { 0, 1, 7, 8, 16, 24, 64, 4096,
	    4097, 65536, 1 << 20, (1 << 20) + 1, MEMSIZE, MEMSIZE + 1,
	    1ULL << 63, UINT64_MAX };
	static const uint64_t flags[16] = { O_RDONLY, O_CREAT | O_RDWR,
	    O_CREAT | O_EXCL | O_WRONLY, O_DIRECTORY, O_TRUNC | O_RDWR,
	    O_APPEND | O_WRONLY | O_CREAT, O_NOFOLLOW, O_CLOEXEC,
	    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, MAP_PRIVATE,
	    AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, MREMAP_MAYMOVE };
	static const uint64_t low[16] = { 0, 1, PAGE_SIZE, GPA_PML4,
	    GPA_GDT, GPA_TSS, GPA_KSTACK, GPA_STUB, GPA_USER - 1,
	    GPA_USER - 8, GPA_USER - PAGE_SIZE, HUGE_SIZE / 2, 0x1fff,
	    0x20, 0x10008, 0x80 };
	static const uint64_t structs[8] = { S_IOV, S_POLL, S_TS, S_SIGACT,
	    S_FDSET, S_IOV_BAD, S_IOV_WRAP, S_TAIL };
	uint8_t s = (uint8_t)take(1);
	unsigned k = s >> 4, p = s & 0xf;
	char name[32];

	switch (k) {
	case 0:
		return p;
	case 1:
		return take(8);
	case 2:
		return take(4);
	case 3:
		return p == 0 ? (uint64_t)(int64_t)AT_FDCWD :
		    (uint64_t)-(int64_t)p;
	case 4:
		return G_SCRATCH + take(2) % SCRATCH_SIZE;
	case 5:
		if (p == 15)	/* the 'A's up to the unmapped page */
			return G_RO + 0x4000 - 1 - take(1) * 16;
		return G_STR + p * STR_SLOT;
	case 6:
		return G_RO + take(1) * 16;
	case 7:
		/* Unmapped, inaccessible, write-only, exec pages. */
		return (p < 4 ? G_HOLE : p < 8 ? G_HOLE2 : p < 12 ? G_NONE :
		    p < 14 ? G_WONLY : G_TEXT) + take(1);
	case 8:
		return MEMSIZE - (take(1) + (uint64_t)p * 256);
	case 9:
		return p < 8 ? UINT64_MAX - take(2) :
		    0xfffffffffffff000ULL + take(2) % PAGE_SIZE;
	case 10:
		return low[p];
	case 11:
		return rets[(nret - 1 - p) % NRET];
	case 12:
		return GPA_USER + take(2) * PAGE_SIZE;
	case 13:
		return sizes[p];
	case 14:
		return flags[p];
	default:
		if (p < 8)
			return G_STRUCT + structs[p];
		if (p < 15)
			return G_STR + (16 + p - 8) * STR_SLOT;
		/* A name in /tmp or /output never used before in this input. */
		snprintf(name, sizeof(name), tmpname % 2 ? "/output/n%u" :
		    "/tmp/n%u", tmpname);
		tmpname++;
		poke(name, G_STR + 15 * STR_SLOT, strlen(name) + 1);
		return G_STR + 15 * STR_SLOT;
	}
}

/*
 * A sleep of the guest's choosing would stall the fuzzer: its timespec
 * becomes at most a microsecond before the VMM reads it.
 */
static void
shortsleep(uint64_t ga)
{
	struct timespec ts;

	if (!gm_range_ok(&vm, ga, sizeof(ts)))
		return;
	memcpy(&ts, vm.mem + ga, sizeof(ts));
	if (ts.tv_sec >= 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000) {
		ts.tv_sec = 0;
		ts.tv_nsec %= 1000;
		memcpy(vm.mem + ga, &ts, sizeof(ts));
	}
}

static int64_t
call(uint64_t rax, const uint64_t a[6])
{
	struct kvm_regs r;

	memset(&r, 0, sizeof(r));
	r.rax = rax;
	r.rdi = a[0];
	r.rsi = a[1];
	r.rdx = a[2];
	r.r10 = a[3];
	r.r8 = a[4];
	r.r9 = a[5];
	sys_dispatch(&vm, &r);
	return (int64_t)r.rax;
}

static int64_t
call3(int nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	const uint64_t a[6] = { a0, a1, a2, 0, 0, 0 };

	return call((uint64_t)nr, a);
}

/* A canonical image path: absolute, no "", "." or ".." component. */
static int
canonical(const char *p)
{
	size_t n = strlen(p);

	if (p[0] != '/' || n >= PATH_MAX)
		return 0;
	if (n == 1)
		return 1;
	return p[n - 1] != '/' && strstr(p, "//") == NULL &&
	    strstr(p, "/./") == NULL && strstr(p, "/../") == NULL &&
	    !(n >= 2 && strcmp(p + n - 2, "/.") == 0) &&
	    !(n >= 3 && strcmp(p + n - 3, "/..") == 0);
}

/* What an open description must be, whatever the guest did. */
static void
checkfd(int fd)
{
	struct ofile *f = vm.fds[fd];
	struct stat st;
	int fl;

	if (f == NULL)
		return;
	CHECK(f->refs > 0);
	switch (f->kind) {
	case FD_FILE:
	case FD_DIR:
		/* A read-only host descriptor of the image, nothing else. */
		CHECK(f->hostfd >= 0 && f->node == NULL);
		CHECK(fstat(f->hostfd, &st) == 0);
		CHECK(inroot(&st));
		CHECK(f->kind == FD_FILE ? S_ISREG(st.st_mode) :
		    S_ISDIR(st.st_mode));
		CHECK((fl = fcntl(f->hostfd, F_GETFL)) != -1);
		CHECK((fl & O_ACCMODE) == O_RDONLY);
		CHECK(f->path != NULL && canonical(f->path));
		CHECK(tmpfs_of(&vm, f->path) == NULL);
		break;
	case FD_TMPFILE:
		/* Of /tmp, /input or /output, under its canonical path. */
		CHECK(f->hostfd == -1 && f->node != NULL && f->fs != NULL);
		CHECK(f->node->fs == f->fs);
		CHECK(f->path != NULL && canonical(f->path) &&
		    tmpfs_of(&vm, f->path) == f->fs &&
		    !tmpfs_root(f->fs, f->path));
		/* /input is never open for writing. */
		CHECK(!f->fs->readonly || (f->flags & O_ACCMODE) == O_RDONLY);
		break;
	case FD_TMPDIR:
		CHECK(f->hostfd == -1 && f->path != NULL && f->fs != NULL &&
		    canonical(f->path) && tmpfs_of(&vm, f->path) == f->fs);
		CHECK(f->node == NULL ? tmpfs_root(f->fs, f->path) :
		    f->node->fs == f->fs && f->node->dir);
		break;
	case FD_STDIN:
	case FD_STDOUT:
	case FD_STDERR:
	case FD_NULL:
	case FD_URANDOM:
		CHECK(f->hostfd == -1 && f->node == NULL);
		break;
	default:
		CHECK(!"an open file of no known kind");
	}
}

static void
checkstate(void)
{
	size_t i;

	for (i = 0; i < FS_MAX; i++) {
		CHECK(vm.fs[i].bytes <= vm.fs[i].cap);
		CHECK(vm.fs[i].nodes >= 0 &&
		    vm.fs[i].nodes <= vm.fs[i].max_nodes);
	}
	/* Nothing the guest does changes /input. */
	CHECK(vm.fs[FS_INPUT].nodes == 1 && vm.fs[FS_INPUT].list != NULL &&
	    vm.fs[FS_INPUT].list->next == NULL &&
	    vm.fs[FS_INPUT].list->size == sizeof(INPUT_DATA) - 1 &&
	    memcmp(vm.fs[FS_INPUT].list->data, INPUT_DATA,
	    sizeof(INPUT_DATA) - 1) == 0);
	for (i = 0; i < 2; i++) {
		CHECK(vm.out[i].captured <= vm.out_cap);
		CHECK(vm.out[i].captured <= vm.out[i].bytes);
		CHECK(vm.out[i].truncated == (vm.out[i].bytes > vm.out_cap));
	}
	CHECK(vm.brk_start <= vm.brk_cur && vm.brk_cur <= vm.brk_max);
	/* What the memory limit counts is what is mapped, and stays in it. */
	CHECK(vm.mapped_pages == countmapped(vm.pages));
	CHECK(vm.mem_limit_pages == 0 ||
	    vm.mapped_pages <= vm.mem_limit_pages);
	CHECK(vm.stdin_off <= vm.stdin_len);
	CHECK(canonical(vm.cwd));
	/* The VMM's own pages are never the guest's. */
	for (i = 0; i < GPA_USER / PAGE_SIZE; i++)
		CHECK(vm.pages[i] == 0);
}

static void
checkmapped(int64_t ret, uint64_t len, int prot)
{
	uint64_t pg;

	CHECK(ret > 0 && ((uint64_t)ret & ~PAGE_MASK) == 0);
	CHECK((uint64_t)ret >= GPA_USER && len <= MEMSIZE &&
	    (uint64_t)ret <= MEMSIZE - len);
	for (pg = (uint64_t)ret / PAGE_SIZE;
	    pg < ((uint64_t)ret + len) / PAGE_SIZE; pg++)
		CHECK((vm.pages[pg] & PG_MAPPED) &&
		    (prot < 0 || (vm.pages[pg] & 7) == prot));
}

static uint64_t
pgup(uint64_t len)
{
	return (len + PAGE_SIZE - 1) & PAGE_MASK;
}

/* What one call answered must make sense for that call. */
static void
checkret(int nr, const uint64_t a[6], int64_t ret)
{
	int prot;

	/* Nothing a guest does is the VMM's own failure. */
	CHECK(vm.state != VM_ENDED || vm.outcome != OUTCOME_FAILED);
	if (vm.state != VM_RUNNING)
		return;
	CHECK(ret >= -4095);
	if (ret < 0)
		return;
	switch (nr) {
	case __NR_read:
	case __NR_write:
	case __NR_pread64:
	case __NR_pwrite64:
		CHECK((uint64_t)ret <= a[2]);
		break;
	case __NR_mmap:
		prot = ((a[2] & PROT_READ) ? PG_READ : 0) |
		    ((a[2] & PROT_WRITE) ? PG_WRITE : 0) |
		    ((a[2] & PROT_EXEC) ? PG_EXEC : 0);
		checkmapped(ret, pgup(a[1]), prot);
		if (a[3] & (MAP_FIXED | MAP_FIXED_NOREPLACE))
			CHECK((uint64_t)ret == a[0]);
		break;
	case __NR_mremap:
		checkmapped(ret, pgup(a[2]), -1);
		break;
	case __NR_brk:
		CHECK((uint64_t)ret >= vm.brk_start &&
		    (uint64_t)ret <= vm.brk_max);
		break;
	case __NR_open:
	case __NR_openat:
	case __NR_dup:
	case __NR_dup2:
	case __NR_dup3:
		CHECK(ret < FD_MAX && vm.fds[ret] != NULL);
		checkfd((int)ret);
		break;
	case __NR_fcntl:
		if (a[1] == F_DUPFD || a[1] == F_DUPFD_CLOEXEC) {
			CHECK(ret < FD_MAX && vm.fds[ret] != NULL);
			checkfd((int)ret);
		}
		break;
	}
}

/* Reference counts: each description is held by as many slots as say so. */
static void
checkrefs(void)
{
	int i, j, n;

	for (i = 0; i < FD_MAX; i++) {
		if (vm.fds[i] == NULL)
			continue;
		checkfd(i);
		for (n = 0, j = 0; j < FD_MAX; j++)
			n += vm.fds[j] == vm.fds[i];
		CHECK(vm.fds[i]->refs == n);
	}
}

/*
 * Empty /tmp or /output (root) the way a guest would: list a directory,
 * remove its first entry, go down into a directory that is not empty, up
 * when one is.
 * Listing again after every removal, because the VMM's directory offsets
 * are positions in a list that the removal shortens.  Returns how many
 * nodes there were.
 */
static size_t
rmtmp(const char *root)
{
	char path[PATH_MAX], *slash;
	const uint64_t gpath = G_SCRATCH, gbuf = G_SCRATCH + 0x2000;
	struct dirent64 d;
	int64_t fd, n, e, off;
	size_t steps, nodes = 0, len;
	int found;

	strcpy(path, root);
	for (steps = 0;; steps++) {
		CHECK(steps < 100000);
		poke(path, gpath, strlen(path) + 1);
		/*
		 * An input may have taken a directory's read bit away
		 * (chmod is emulated, and open obeys it): give it back, as
		 * the owner may.
		 */
		(void)call3(__NR_chmod, gpath, 0700, 0);
		fd = call3(__NR_open, gpath, O_RDONLY | O_DIRECTORY, 0);
		CHECK(fd >= 0);
		n = call3(__NR_getdents64, (uint64_t)fd, gbuf, 0x4000);
		CHECK(n >= 0);
		found = 0;
		for (off = 0; off < n; off += d.d_reclen) {
			memcpy(&d, vm.mem + gbuf + off, sizeof(d));
			CHECK(d.d_reclen > 0);
			if (strcmp(d.d_name, ".") != 0 &&
			    strcmp(d.d_name, "..") != 0) {
				found = 1;
				break;
			}
		}
		CHECK(call3(__NR_close, (uint64_t)fd, 0, 0) == 0);
		if (!found) {
			if (strcmp(path, root) == 0)
				break;
			/* Empty now: remove it and go up. */
			poke(path, gpath, strlen(path) + 1);
			CHECK(call3(__NR_rmdir, gpath, 0, 0) == 0);
			nodes++;
			slash = strrchr(path, '/');
			*slash = '\0';
			continue;
		}
		len = strlen(path);
		CHECK(len + 1 + strlen(d.d_name) < sizeof(path));
		path[len] = '/';
		strcpy(path + len + 1, d.d_name);
		poke(path, gpath, strlen(path) + 1);
		e = call3(__NR_unlink, gpath, 0, 0);
		if (e == -EISDIR) {
			e = call3(__NR_rmdir, gpath, 0, 0);
			if (e == -ENOTEMPTY)
				continue;	/* down into it */
		}
		CHECK(e == 0);
		nodes++;
		path[len] = '\0';
	}
	return nodes;
}

/*
 * After an input: close all, empty /tmp, reset what the VMM keeps in
 * statics, and check that nothing is left behind.
 */
static void
reset(void)
{
	uint64_t a[6] = { 0, 0, 0, 0, 0, 0 };
	int64_t n;
	int i;

	vm.state = VM_RUNNING;
	vm.have_allowlist = 0;
	vm.forbid_exec = 0;
	vm.snap_mode = 0;
	memcpy(vm.pages, pagemap, NPAGES);
	vm.mapped_pages = npagemap;
	checkrefs();
	for (i = 0; i < FD_MAX; i++) {
		a[0] = (uint64_t)i;
		n = call(__NR_close, a);
		CHECK(n == 0 || n == -EBADF);
		CHECK(vm.fds[i] == NULL);
	}
	/* Never more nodes at once than their caps. */
	CHECK(rmtmp("/tmp") <= TMP_NODES_MAX);
	CHECK(rmtmp("/output") <= OUTDIR_FILES);
	CHECK(vm.fs[FS_TMP].list == NULL && vm.fs[FS_TMP].bytes == 0);
	CHECK(vm.fs[FS_OUTPUT].list == NULL && vm.fs[FS_OUTPUT].bytes == 0);

	CHECK(count_fds() == hostfds);
}

static void
start(const uint8_t *data, size_t size)
{
	size_t i;
	int n;

	/* libFuzzer's own descriptors come and go between inputs. */
	hostfds = count_fds();
	in = data;
	inlen = size;
	inpos = 0;
	nret = 0;
	tmpname = 0;
	memset(rets, 0, sizeof(rets));

	/* Fresh memory (zeros, as a new mapping reads) and page map. */
	(void)madvise(vm.mem, MEMSIZE, MADV_DONTNEED);
	memcpy(vm.pages, pagemap, NPAGES);
	vm.mapped_pages = npagemap;
	vm.mem_refused = 0;
	canned();
	vm.brk_start = vm.brk_cur = G_BRK;
	vm.state = VM_RUNNING;
	vm.exit_code = vm.signal = 0;
	vm.kill = NO_KILL;
	vm.reason[0] = '\0';
	vm.nviol = 0;
	vm.sigmask = 0;
	memset(vm.sigacts, 0, sizeof(vm.sigacts));
	vm.stdin_off = 0;
	vm.unknown_calls = 0;
	vm.first_out_us = 0;
	for (i = 0; i < 2; i++) {
		vm.out[i].bytes = vm.out[i].captured = 0;
		vm.out[i].truncated = 0;
	}
	fs_init(&vm);

	/* The policy: -x, an allow list that the second byte picks, -S. */
	i = (size_t)take(1);
	vm.forbid_exec = (i & 1) != 0;
	vm.have_allowlist = (i & 2) != 0;
	vm.snap_mode = (i & 4) != 0;
	vm.mem_limit_pages = (i & 8) != 0 ? npagemap + LIMIT_EXTRA : 0;
	i = (size_t)take(1);
	if (vm.have_allowlist) {
		memset(vm.allowed, 1, sizeof(vm.allowed));
		for (n = 0; n < SYSCALL_MAX; n++)
			if (((size_t)n * 7 + i) % 11 == 0)
				vm.allowed[n] = 0;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t a[6], rax, off, len;
	int64_t ret;
	size_t ncalls;
	uint8_t op;
	int nr, i;

	start(data, size);
	for (ncalls = 0; ncalls < CALLS_MAX && inpos < inlen &&
	    vm.state == VM_RUNNING;) {
		op = (uint8_t)take(1);
		if (op == 0xfe || op == 0xff) {
			off = take(2) % SCRATCH_SIZE;
			len = take(1);
			if (len > inlen - inpos)
				len = inlen - inpos;
			if (len > SCRATCH_SIZE - off)
				len = SCRATCH_SIZE - off;
			poke(in + inpos, G_SCRATCH + off, len);
			inpos += len;
			if (op == 0xff && off + len < SCRATCH_SIZE)
				vm.mem[G_SCRATCH + off + len] = '\0';
			continue;
		}
		if (op == 0xfd)
			rax = take(2);
		else if (op == 0xfc)
			rax = take(8);
		else
			rax = (uint64_t)calls[op % NCALLS];
		for (i = 0; i < 6; i++)
			a[i] = arg();
		/* The VMM takes RAX's low 32 bits, as Linux does. */
		nr = (uint32_t)rax < SYSCALL_MAX ? (int)(uint32_t)rax : -1;
		if (nr == __NR_nanosleep)
			shortsleep(a[0]);
		else if (nr == __NR_clock_nanosleep)
			shortsleep(a[2]);
		else if (nr == __NR_futex)
			shortsleep(a[3]);
		else if (nr == __NR_poll && a[1] == 0 && (int)a[2] > 0)
			a[2] = 1;	/* poll of nothing sleeps: 1 ms */
		ret = call(rax, a);
		ncalls++;
		rets[nret++ % NRET] = (uint64_t)ret;
		checkret(nr, a, ret);
		checkstate();
	}
	reset();
	return 0;
}
