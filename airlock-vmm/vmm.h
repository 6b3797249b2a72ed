/*
 * airlock-vmm: the kvm backend's virtual machine monitor (DESIGN.md
 * section 8).  No guest kernel: the image's x86-64 Linux program runs at
 * CPL3 in a KVM guest, a few stub instructions hand every system call and
 * every exception to this process with one I/O exit, and this process is
 * the sandbox's kernel.
 *
 * Guest physical memory is one anonymous host mapping, identity-mapped in
 * the guest (guest virtual = guest physical = offset into that mapping) by
 * page tables built once before the first instruction and never edited
 * afterwards.  Everything the guest hands us (registers, pointers, lengths,
 * paths, file descriptors) is hostile and goes through the checks in
 * mem.c before use.
 */
#ifndef VMM_H
#define VMM_H

#include <sys/stat.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <linux/kvm.h>

#include "airlock.h"
#include "intents.h"
#include "record.h"
#include "sha256.h"
#include "view.h"

#define PAGE_SIZE	4096ULL
#define PAGE_MASK	(~(PAGE_SIZE - 1))
#define HUGE_SIZE	(2ULL * 1024 * 1024)

/*
 * The guest physical (= virtual) layout of the first 2 MiB, which holds the
 * structures only the CPU and the VMM may touch.  All of them except the
 * syscall stub are mapped supervisor-only, so the guest program (CPL3) can
 * neither read nor write them; page 0 is not mapped at all, so a NULL
 * pointer faults as it would under Linux.
 */
#define GPA_PML4	0x1000ULL
#define GPA_PDPT	0x2000ULL
#define GPA_PT0		0x3000ULL	/* 4 KiB pages of the first 2 MiB */
#define GPA_PD		0x4000ULL	/* one PD per GiB, MEM_MAX_GB of them */
#define GPA_GDT		0x8000ULL
#define GPA_IDT		0x9000ULL
#define GPA_TSS		0xa000ULL	/* 104 bytes + I/O bitmap: 3 pages */
#define GPA_HANDLERS	0xd000ULL	/* ring-0 exception handlers */
#define GPA_KSTACK	0xe000ULL	/* 2 pages; RSP0 = GPA_KSTACK_TOP */
#define GPA_KSTACK_TOP	0x10000ULL
#define GPA_STUB	0x10000ULL	/* user-mode syscall stub, read/exec */
#define STUB_OUT_LEN	2		/* its first instruction, the `out` */
#define GPA_USER	HUGE_SIZE	/* guest program memory starts here */

#define MEM_MAX_GB	4

/* The end of the user half of Linux's x86-64 address space. */
#define USER_TOP	0x0000800000000000ULL

/*
 * I/O ports.  The syscall stub writes PORT_SYSCALL, the only port the
 * TSS I/O bitmap opens to CPL3.  The ring-0 handler for exception vector v
 * writes PORT_EXC_BASE + v; CPL3 cannot reach those ports, so an exit on
 * one means the CPU really delivered vector v.
 */
#define PORT_SYSCALL	0x10
#define PORT_EXC_BASE	0x100

/* The guest's user and group, "nobody": no identity of the host. */
#define GUEST_ID	65534

/* Segment selectors, as Linux uses them. */
#define SEL_KCODE	0x10
#define SEL_KDATA	0x18
#define SEL_UDATA	0x2b
#define SEL_UCODE	0x33
#define SEL_TSS		0x38

/*
 * How far a run is.  Once it has ended, struct vm says how in the stage
 * contract's own terms (lib/record.h): outcome, exit code or signal, and
 * the kill reason of a killed run.
 */
enum vmstate {
	VM_RUNNING = 0,
	VM_ENDED,
	VM_SNAPSHOT,		/* -S: the program blocked on its payload */
};

/* vm_end()'s kill reason for a run that was not killed. */
#define NO_KILL		(-1)

/* Per-page bookkeeping: the guest's view of its address space. */
#define PG_READ		0x01
#define PG_WRITE	0x02
#define PG_EXEC		0x04
/*
 * Mapped when the VM was restored: the snapshot's page, shared copy-on-
 * write by every VM of it, which the run's memory limit does not count
 * (mem.c).  Mapping it again makes it the run's.
 */
#define PG_BASE		0x40
#define PG_MAPPED	0x80

/*
 * The system call that was a violation, as the report gives it: in the
 * names of lib/record.h (a family, FAMILY_FOREIGN_ABI or FAMILY_UNLISTED;
 * "x32:39" for a call of another ABI) with the entry point it came
 * through, and all six argument registers, from which airlock-snaft
 * describes the one that mattered.
 */
struct vmviolation {
	int		 nr;
	const char	*name;		/* syscall name, or numname */
	char		 numname[24];	/* "x32:39", "i386:1", "-1" */
	const char	*family;
	enum abi	 arch;
	uint64_t	 args[6];
	uint64_t	 at_us;
};

#define FD_MAX		256

enum fdkind {
	FD_NONE = 0,
	FD_STDIN,
	FD_STDOUT,
	FD_STDERR,
	FD_FILE,	/* regular file of the image, host fd read-only */
	FD_DIR,		/* directory of the image, host fd */
	FD_TMPFILE,	/* file of /tmp, /input or /output */
	FD_TMPDIR,	/* a directory of one of them, or its root */
	FD_NULL,	/* /dev/null */
	FD_URANDOM,	/* /dev/urandom and /dev/random */
};

/*
 * The file systems the VMM keeps in its own memory (tmpfs.c): the
 * private /tmp, the run's input files read-only under /input, and
 * /output, whose files go back to airlock-snaft at the end of a served
 * run.  Each has a cap on its file data (counted in whole pages, as
 * tmpfs counts it) and on its files and directories, and a device of its
 * own.
 */
enum { FS_TMP, FS_INPUT, FS_OUTPUT, FS_MAX };

struct tmpnode;

struct tmpfs {
	const char	*path;		/* "/tmp": where it is, always there */
	size_t		 pathlen;
	uint64_t	 dev;		/* st_dev of all in it */
	mode_t		 rootmode;	/* of its root directory */
	mode_t		 filemode, dirmode;	/* of what it holds */
	int		 readonly;	/* the guest's writes fail: EROFS */
	uint64_t	 cap;		/* file data, a multiple of pages */
	uint64_t	 bytes;		/* file data held, in whole pages */
	int		 max_nodes;	/* files and directories */
	int		 nodes;
	uint64_t	 ino;		/* the last inode number given */
	struct tmpnode	*list;		/* every node, newest first */
};

/* A file or directory of one of them. */
struct tmpnode {
	char		*name;		/* its name in its directory */
	uint8_t		*data;
	uint64_t	 size, cap;
	uint64_t	 ino;
	int		 refs;		/* open descriptions */
	int		 unlinked;
	int		 dir;		/* a directory: no data */
	uint32_t	 nchild;	/* a directory's entries */
	mode_t		 mode;		/* its permission bits, chmod(2)'s */
	struct tmpfs	*fs;		/* the file system it is in */
	struct tmpnode	*parent;	/* its directory; NULL: the root */
	struct tmpnode	*next;		/* every node of fs, from fs->list */
	struct tmpnode	*hnext;		/* the hash chain of its name */
};

#define TMP_NODES_MAX	1024
#define TMP_HASH	1024

/* st_dev of /input and /output; /tmp's is VIEW_DEV_TMP (lib/view.h). */
#define DEV_INPUT	0x002b		/* 0:43 */
#define DEV_OUTPUT	0x002c		/* 0:44 */

/* The kernel's struct sigaction for x86-64 rt_sigaction(2). */
struct ksigaction {
	uint64_t	handler;
	uint64_t	flags;
	uint64_t	restorer;
	uint64_t	mask;
};

/*
 * A growing byte buffer for the VMM state in a snapshot (snap.c), and a
 * bounds-checked reader over one.  A read past the end sets bad and
 * yields zeros; the caller checks bad once at the end.
 */
struct ser {
	uint8_t		*buf;
	size_t		 len, cap, off;
	int		 bad;
};
void	 ser_put(struct ser *, const void *, size_t);
void	 ser_get(struct ser *, void *, size_t);
void	 ser_putstr(struct ser *, const char *);
void	 ser_getstr(struct ser *, char *, size_t);

/* An open file description, shared by dup'd descriptors. */
struct ofile {
	enum fdkind	 kind;
	int		 hostfd;	/* FD_FILE, FD_DIR: read-only host fd */
	struct tmpfs	*fs;		/* FD_TMPFILE, FD_TMPDIR */
	struct tmpnode	*node;		/* FD_TMPFILE; FD_TMPDIR, NULL: root */
	uint64_t	 off;
	int		 flags;		/* O_* status flags as opened */
	char		*path;		/* canonical path inside the image */
	int		 refs;
};

struct outbuf {
	int		 hostfd;	/* where the bytes go, or -1 */
	uint64_t	 bytes;		/* produced by the guest */
	uint64_t	 captured;	/* passed on, at most the cap */
	int		 truncated;
	struct sha256	 hash;
};

struct vm {
	/* KVM handles. */
	int		 kvm, vmfd, vcpufd;
	struct kvm_run	*run;
	size_t		 runsize;

	/* Guest memory: [0, memsize) in the guest is [mem, mem + memsize). */
	uint8_t		*mem;
	uint64_t	 memsize;
	uint8_t		*pages;		/* PG_* per 4 KiB page */
	uint64_t	 brk_start, brk_cur, brk_max;
	uint64_t	 mmap_top;	/* top-down mmap search starts here */
	uint64_t	 stack_lo;
	uint64_t	 vdso;		/* guest address of the vDSO, or 0 */
	uint64_t	 tsc_offset;	/* guest TSC - host TSC */
	/*
	 * The guest's CLOCK_MONOTONIC and CLOCK_BOOTTIME are the time since
	 * the VM started, never the host's uptime: host minus mono_off ns.
	 */
	uint64_t	 mono_off;

	/* The image root and the program. */
	int		 rootfd;
	const char	*execfn;	/* the program's path in the image */
	char		 cwd[4096];
	uint32_t	 umask;		/* umask(2)'s, saved in a snapshot */

	/* Files. */
	struct ofile	*fds[FD_MAX];
	uint8_t		 cloexec[FD_MAX];
	struct tmpfs	 fs[FS_MAX];	/* /tmp, /input, /output */
	struct tmpnode	*tmphash[TMP_HASH];	/* their nodes, by name */
	const uint8_t	*stdin_buf;
	size_t		 stdin_len, stdin_off;
	struct outbuf	 out[2];	/* stdout, stderr */
	uint64_t	 out_cap;

	/* Signals: recorded, never delivered. */
	uint64_t	 sigmask;
	struct ksigaction sigacts[65];

	/* Policy. */
	uint8_t		 allowed[SYSCALL_MAX];
	int		 have_allowlist;
	int		 forbid_exec;	/* PROT_EXEC is a violation too */

	/* Accounting. */
	uint64_t	 nexits;
	uint64_t	 faults;	/* host page faults during the run */
	uint64_t	 counts[SYSCALL_MAX];
	uint64_t	 unknown_calls;
	uint64_t	 start_us;
	uint64_t	 run_us;
	uint64_t	 first_out_us;	/* first byte of stdout/stderr */
	uint64_t	 wall_ms;
	uint64_t	 cpu_ms;		/* 0: no CPU-time timer */
	timer_t		 timer, cputimer;
	int		 have_timer, have_cputimer;
	volatile int	 timed_out, cpu_out;

	/* Memory: pages mapped for the program, and its cap. */
	uint64_t	 mapped_pages;
	uint64_t	 base_pages;	/* of them PG_BASE: the snapshot's */
	uint64_t	 mem_limit_pages;	/* 0: the guest size only */
	int		 mem_refused;		/* a mapping hit the cap */
	int		 snapbacked;	/* memory is a private file mapping */

	/* Snapshots: -S saves at the first read of stdin; -R resumes it. */
	int		 snap_mode;
	int		 resume;		/* redo the pending call first */
	struct kvm_regs	 pend_regs;
	struct kvm_sregs pend_sregs;

	/* The end. */
	enum vmstate	 state;
	enum outcome	 outcome;	/* once VM_ENDED */
	int		 exit_code;
	int		 signal;
	int		 kill;		/* enum kill_reason, for OUTCOME_KILLED */
	char		 reason[256];	/* human detail */
	struct vmviolation viol;
	int		 nviol;

	int		 verbose;
};

/* vm.c */
int	 vm_create(struct vm *, uint64_t memsize, int memfd, uint64_t mem_off);
int	 vm_timers(struct vm *);
int	 vm_start(struct vm *, uint64_t rip, uint64_t rsp);
int	 vm_arm(struct vm *);
int	 vm_run(struct vm *);
void	 vm_destroy(struct vm *);
uint64_t vm_host_mono_ns(void);
uint64_t vm_mono_ns(struct vm *);
int	 vm_set_fsbase(struct vm *, uint64_t);
uint64_t vm_get_fsbase(struct vm *);
void	 vm_end(struct vm *, enum outcome, int code, int kill,
	    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void	 vm_snapshot_point(struct vm *);

/* vdso.c */
int	 vdso_build(struct vm *);
void	 vdso_update(struct vm *);
void	 vdso_restored(struct vm *);

/* snap.c */
int	 snap_save(struct vm *, int fd, char *digest, char *err, size_t errlen);
int	 snap_restore(struct vm *, int memfd, char *digest, char *err,
	    size_t errlen);

/* jail.c */
int	 jail_enter(struct vm *, const char *rootfs, int sock);

/* mem.c: the one accessor for guest memory, and the address-space map. */
void	*gm_ptr(struct vm *, uint64_t gaddr, uint64_t len, int prot);
int	 gm_copyin(struct vm *, void *dst, uint64_t gaddr, uint64_t len);
int	 gm_copyout(struct vm *, uint64_t gaddr, const void *src,
	    uint64_t len);
int	 gm_string(struct vm *, uint64_t gaddr, char *dst, size_t dstlen);
void	*gm_sys(struct vm *, uint64_t gaddr, uint64_t len);
int	 gm_range_ok(struct vm *, uint64_t gaddr, uint64_t len);
/*
 * Whether len more bytes of fresh mappings would take the run past its
 * memory limit: then the limit is what refused it (mem_refused), even
 * where the address space could not have held them either, as a process
 * sandbox meets its cgroup before anything else.
 */
int	gm_over_limit(struct vm *, uint64_t len);
void	 gm_mark_base(struct vm *);
int	 gm_map(struct vm *, uint64_t gaddr, uint64_t len, int prot);
void	 gm_unmap(struct vm *, uint64_t gaddr, uint64_t len);
void	 gm_zero(struct vm *, uint64_t gaddr, uint64_t len);
int	 gm_protect(struct vm *, uint64_t gaddr, uint64_t len, int prot);
uint64_t gm_find_free(struct vm *, uint64_t len);
int	 gm_is_free(struct vm *, uint64_t gaddr, uint64_t len);

/* elf.c */
struct elfinfo {
	uint64_t	 entry;		/* relocated */
	uint64_t	 base;		/* load bias */
	uint64_t	 phdr;		/* guest address of the phdrs */
	uint64_t	 phnum, phent;
	uint64_t	 end;		/* highest byte mapped */
	char		 interp[4096];	/* PT_INTERP, or "" */
};
int	 elf_load(struct vm *, int fd, int is_interp, uint64_t dyn_base,
	    struct elfinfo *, char *err, size_t errlen);

/* stack.c */
int	 stack_build(struct vm *, const struct elfinfo *prog,
	    const struct elfinfo *interp, int argc, char **argv,
	    uint64_t *rsp);

/* sys.c */
void	 sys_dispatch(struct vm *, struct kvm_regs *);
int	 sys_policy_load(struct vm *, const char *path);
void	 sys_violation(struct vm *, int nr, const char *name,
	    const char *family, enum abi, const uint64_t args[6]);
void	 sys_signal_end(struct vm *, int sig, const char *why);

/* path.c: every guest path resolved inside the image root. */
int	 path_resolve(struct vm *, const char *base, const char *path,
	    int follow, char *out, int *exists);
int	 path_lookup(struct vm *, const char *canon, struct stat *);
int	 path_open(struct vm *, const char *canon, int dir);
enum fdkind path_device(const char *canon);

/* tmpfs.c: /tmp, /input and /output. */
void	 tmpfs_init(struct vm *);
void	 tmpfs_setcaps(struct tmpfs *, uint64_t bytes, int nodes);
struct tmpfs *tmpfs_of(struct vm *, const char *canon);
int	 tmpfs_root(const struct tmpfs *, const char *canon);
struct tmpnode *tmp_find(struct vm *, const char *canon);
struct tmpnode *tmp_lookup(struct vm *, const struct tmpfs *,
	    const struct tmpnode *dir, const char *name);
struct tmpnode *tmp_create(struct vm *, const char *canon, int dir, int *e);
int	 tmp_put(struct vm *, struct tmpfs *, const char *name,
	    const void *data, uint64_t len);
int	 tmp_remove(struct vm *, struct tmpnode *, int rmdir);
int	 tmp_rename(struct vm *, struct tmpnode *, const char *canon,
	    int noreplace);
void	 tmp_release(struct tmpnode *);
int64_t	 tmp_read(struct tmpnode *, void *, uint64_t len, uint64_t off);
int64_t	 tmp_write(struct tmpnode *, const void *, uint64_t len,
	    uint64_t off);
int	 tmp_truncate(struct tmpnode *, uint64_t size);
int64_t	 tmp_getdents(struct tmpfs *, struct tmpnode *dir, uint64_t *off,
	    uint8_t *buf, uint64_t len);

/* sys_file.c */
void	 fs_init(struct vm *);
int	 fs_open_exec(struct vm *, const char *path, char *canon,
	    size_t canonlen);
int64_t	 sys_file(struct vm *, int nr, const uint64_t a[6], int *handled);
void	 fs_output(struct vm *, int which, const void *buf, size_t len);
int64_t	 fs_mappable(struct vm *, int fd);
int64_t	 fs_pread_host(struct vm *, int fd, void *dst, uint64_t len,
	    uint64_t off);
int	 fs_save(struct vm *, struct ser *);
int	 fs_restore(struct vm *, struct ser *);

/* sys_mem.c */
int64_t	 sys_mem(struct vm *, int nr, const uint64_t a[6], int *handled);


#endif
