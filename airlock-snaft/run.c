/*
 * One run: claim a woken sandbox, hand it the payload, the compiled filter
 * and the limits, then monitor it.  The monitor holds the seccomp listener:
 * every notified system call of the payload waits here until we continue
 * it or kill the sandbox.  Everything that comes from the sandbox (messages,
 * output, notifications) is treated as hostile: sizes and types are checked
 * before use, and nothing it says can make a run look better than what the
 * kernel reported.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <linux/audit.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airlock.h"
#include "b64.h"
#include "jsonl.h"
#include "record_json.h"
#include "sandbox.h"
#include "snaft.h"
#include "trace.h"

#define X32_SYSCALL_BIT		0x40000000
#define DRAIN_US		1000000		/* output after exit */
#define WALL_GRACE_US		250000		/* sandbox's own kill first */


void
run_fail(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->error[0] != '\0')
		return;		/* the first failure is the one that counts */
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

static void
stream_init(struct stream *s, int fd, size_t cap)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	sha256_init(&s->hash);
	s->cap = cap;
	s->buf = malloc(cap ? cap : 1);
}

static void
closefd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Kill the payload process; the kernel then ends every pending call. */
static void
killrun(struct run *r, int reason)
{
	if (r->kill < 0)
		r->kill = reason;
	if (r->pidfd >= 0)
		(void)syscall(SYS_pidfd_send_signal, r->pidfd, SIGKILL, NULL, 0);
	else
		/* Not started yet: closing the connection makes it give up. */
		closefd(&r->conn);
}

/* The run request: the limits, then what the backend sends with them. */
static int
sendrun(struct run *r, size_t plen, int fds[4])
{
	struct sb_run run;

	memset(&run, 0, sizeof(run));
	run.wall_ms = r->limits.wall_ms;
	run.cpu_ms = r->limits.cpu_ms;
	run.memory_bytes = r->limits.memory_bytes;
	run.file_bytes = r->limits.file_bytes;
	run.payload_bytes = plen;
	return r->ops->sendrun(r, &run, fds);
}

const char *rundir = "/run/airlock";

/* Skip a wake's instance name "wake-PID-HEX" at *p; 0 if it is not one. */
static int
instance_ok(const char **p)
{
	const char *s;

	if (strncmp(*p, "wake-", 5) != 0)
		return 0;
	*p += 5;
	s = *p;
	while (**p >= '0' && **p <= '9')
		(*p)++;
	if (*p == s || **p != '-')
		return 0;
	s = ++*p;
	while ((**p >= '0' && **p <= '9') || (**p >= 'a' && **p <= 'f'))
		(*p)++;
	return *p - s == 8;
}

/* Skip digits at *p; 0 if there were none. */
static int
digits(const char **p)
{
	const char *s = *p;

	while (**p >= '0' && **p <= '9')
		(*p)++;
	return *p > s;
}

/*
 * A handle names a socket airlock-wake made: RUNDIR/wake-PID-HEX/sb-N.sock
 * and nothing else.  We connect to it and unlink it as root, so a record
 * must not be able to point us at any other socket on the machine.
 */
int
handle_ok(const char *h)
{
	struct stat st;
	size_t n = strlen(rundir);
	const char *p;

	if (strncmp(h, rundir, n) != 0 || h[n] != '/')
		return 0;
	p = h + n + 1;
	if (!instance_ok(&p) || strncmp(p, "/sb-", 4) != 0)
		return 0;
	p += 4;
	if (!digits(&p) || strcmp(p, ".sock") != 0)
		return 0;
	return lstat(h, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* A cgroup path airlock-wake made: ROOT/airlock/wake-PID-HEX/sb-N. */
static int
cgpath_ok(const char *path, const char *root)
{
	size_t n = strlen(root);
	const char *p;

	if (strncmp(path, root, n) != 0 ||
	    strncmp(path + n, "/airlock/", 9) != 0)
		return 0;
	p = path + n + 9;
	if (!instance_ok(&p) || strncmp(p, "/sb-", 4) != 0)
		return 0;
	p += 4;
	return digits(&p) && *p == '\0';
}

/*
 * The sandbox's cgroup, as airlock-wake made it.  Paths come from a record
 * and we write limits into them as root, so they must have the exact form
 * wake gives them (cgpath_ok) and belong to the same wake as the handle.
 */
static void
takecgroup(struct run *r, json_t *wake, const char *handle)
{
	char want[96];
	const char *inst;
	size_t ilen;
	json_t *j = json_object_get(wake, "cgroup");
	const char *mem, *pids;
	long long v;

	if (!json_is_object(j) || jsonl_get_int(j, "version", &v) != 0 ||
	    (v != 1 && v != 2))
		return;
	mem = jsonl_get_string(j, "memory");
	pids = jsonl_get_string(j, "pids");
	if (mem == NULL || pids == NULL ||
	    strlen(mem) >= sizeof(r->cg.memory) ||
	    strlen(pids) >= sizeof(r->cg.pids))
		return;
	/* The handle's wake-PID-HEX, already checked by handle_ok(). */
	inst = handle + strlen(rundir) + 1;
	ilen = strcspn(inst, "/");
	snprintf(want, sizeof(want), "/airlock/%.*s/", (int)ilen, inst);
	if ((v == 1 ? !cgpath_ok(mem, "/sys/fs/cgroup/memory") ||
	    !cgpath_ok(pids, "/sys/fs/cgroup/pids") :
	    !cgpath_ok(mem, "/sys/fs/cgroup") || strcmp(mem, pids) != 0) ||
	    strstr(mem, want) == NULL || strstr(pids, want) == NULL) {
		log_info("warning: ignoring cgroup paths not made by "
		    "airlock-wake: %s", mem);
		return;
	}
	r->cg.version = (int)v;
	strcpy(r->cg.memory, mem);
	strcpy(r->cg.pids, pids);
	/*
	 * This run's limit, which may be tighter than the intent's.  Only a
	 * limit set here makes the cgroup the run's memory limit; otherwise
	 * the runner falls back to an address-space rlimit.
	 */
	if (cgroup_set_memory(&r->cg, r->limits.memory_bytes) != 0)
		log_info("warning: setting the memory limit in %s: %s; this "
		    "run's memory limit is an rlimit", mem, strerror(errno));
	else
		r->memcg = 1;
	r->oom_before = cgroup_oom_kills(&r->cg);
}

/*
 * Claim the sandbox named by the record's handle and start the run.  On
 * any failure the run exists anyway, marked failed, so that the record
 * still comes out (as a 500).
 */
struct run *
run_start(json_t *rec, const struct intent *row, const struct policy *p,
    const struct limits *lim)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *handle, *payload, *backend;
	struct run *r;
	json_t *wake, *frame;
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, memfd = -1, fds[4];
	int filesfd = -1;
	json_t *files;
	size_t plen;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->rec = json_incref(rec);
	r->policy = p;
	r->limits = *lim;
	r->conn = r->listener = r->pidfd = r->outdir = -1;
	r->kill = -1;
	r->ops = &backend_process;
	stream_init(&r->out, -1, lim->output_bytes);
	stream_init(&r->err, -1, lim->output_bytes);
	r->violations = json_array();
	r->t_start = r->t_run = now_us();
	r->deadline = r->t_start + lim->wall_ms * 1000 + WALL_GRACE_US;
	if (row->mode == SNAFT_OBSERVE)
		r->counts = calloc(SYSCALL_MAX, sizeof(*r->counts));
	if (r->out.buf == NULL || r->err.buf == NULL || r->violations == NULL ||
	    (row->mode == SNAFT_OBSERVE && r->counts == NULL)) {
		run_fail(r, "out of memory");
		r->state = RUN_EXITED;
		return r;
	}

	wake = json_object_get(rec, "wake");
	frame = json_object_get(rec, "frame");
	handle = jsonl_get_string(wake, "handle");
	backend = jsonl_get_string(wake, "backend");
	if (backend != NULL && backend_parse(backend) == BACKEND_KVM)
		r->ops = &backend_kvm;
	payload = jsonl_get_string(frame, "payload");
	if (handle == NULL || payload == NULL) {
		run_fail(r, "record has no wake.handle or frame.payload");
		goto close_all;
	}
	files = json_object_get(frame, "files");
	if (files != NULL && !json_is_object(files)) {
		run_fail(r, "frame.files is not an object");
		goto close_all;
	}
	if (files_in(r, files, &filesfd) != 0) {
		run_fail(r, "input files: %s", strerror(errno));
		goto close_all;
	}
	TRACE_RECORD(r->rec, "snaft.files");
	plen = json_string_length(json_object_get(frame, "payload"));
	if (strlen(handle) >= sizeof(sa.sun_path) || !handle_ok(handle)) {
		run_fail(r, "wake.handle %.100s is not a sandbox of %s", handle,
		    rundir);
		goto close_all;
	}
	strcpy(sa.sun_path, handle);

	/* Claim: connect, then unlink, so no second snaft can have it. */
	if ((r->conn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(r->conn, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		run_fail(r, "cannot reach sandbox %s: %s", handle,
		    strerror(errno));
		goto close_all;
	}
	TRACE_RECORD(r->rec, "snaft.connected");
	unlink(handle);
	if (r->ops->cgroup)
		takecgroup(r, wake, handle);
	TRACE_RECORD(r->rec, "snaft.cgroup");

	/*
	 * The payload travels in a sealed memfd: the sandbox can read it but
	 * nobody can change it after we wrote it.
	 */
	if ((memfd = memfd_create("payload", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) < 0 ||
	    (plen > 0 && write(memfd, payload, plen) != (ssize_t)plen) ||
	    fcntl(memfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_WRITE) != 0) {
		run_fail(r, "payload memfd: %s", strerror(errno));
		goto close_all;
	}
	if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
		run_fail(r, "pipe: %s", strerror(errno));
		goto close_all;
	}
	fds[0] = memfd;
	fds[1] = outp[1];
	fds[2] = errp[1];
	fds[3] = filesfd;
	/* Traced before the send: the zygote notes its receipt at once. */
	TRACE_RECORD(r->rec, "snaft.run_sent");
	if (sendrun(r, plen, fds) != 0) {
		run_fail(r, "sending the run to the sandbox: %s",
		    strerror(errno));
		goto close_all;
	}
	close(memfd);
	close(filesfd);
	close(outp[1]);
	close(errp[1]);
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);
	r->out.fd = outp[0];
	r->err.fd = errp[0];
	r->state = RUN_CONNECTED;
	return r;

close_all:
	if (memfd >= 0)
		close(memfd);
	if (filesfd >= 0)
		close(filesfd);
	closefd(&outp[0]);
	closefd(&outp[1]);
	closefd(&errp[0]);
	closefd(&errp[1]);
	closefd(&r->conn);
	r->state = RUN_EXITED;
	return r;
}

/*
 * The sandbox's own stamps of its start's steps (struct sb_started), then
 * ours: the trace only, never the record.
 */
static void
tracestart(struct run *r, const struct sb_started *st)
{
	static const char *const name[SB_T_COUNT] = {
		[SB_T_ZYGOTE_RUN] = "zygote.run",
		[SB_T_PAYLOAD_RUN] = "payload.run",
		[SB_T_PAYLOAD_ARMING] = "payload.arming",
		[SB_T_ZYGOTE_ARMING] = "zygote.arming",
		[SB_T_ZYGOTE_LISTENER] = "zygote.listener",
	};
	const char *id;
	int i;

	if (!trace_on())
		return;
	id = jsonl_get_string(r->rec, "id");
	for (i = 0; i < SB_T_COUNT; i++)
		if (st->t_ns[i] != 0)
			trace_event_at(id, name[i], st->t_ns[i]);
	trace_event(id, "snaft.started");
}

static void
onmessage(struct run *r)
{
	union {
		struct sb_exit	 ex;
		struct sb_error	 er;
		struct sb_started st;
	} body;
	static char buf[SB_REPORT_MAX];
	struct sb_hdr h;
	int fds[3], nfds;
	ssize_t n;

	memset(&body, 0, sizeof(body));
	n = sb_recv(r->conn, MSG_DONTWAIT, &h, buf, sizeof(buf), fds, 3,
	    &nfds);
	if (n > 0 && h.type != SB_REPORT)
		memcpy(&body, buf, h.len < sizeof(body) ? h.len : sizeof(body));
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		/* The sandbox is gone.  Its payload died with it (PDEATHSIG). */
		if (!r->have_exit)
			run_fail(r, "sandbox went away %s",
			    r->state == RUN_CONNECTED ? "before the payload "
			    "started" : "without reporting how the payload "
			    "ended");
		closefd(&r->conn);
		r->state = RUN_EXITED;
		r->t_end = r->t_end ? r->t_end : now_us();
		r->drain_until = now_us() + DRAIN_US;
		return;
	}
	switch (h.type) {
	case SB_STARTED:
		/* A kvm sandbox is its own monitor: a pidfd, no listener. */
		if (r->state != RUN_CONNECTED || nfds != r->ops->startfds ||
		    h.len != sizeof(body.st) || body.st.pid <= 1) {
			run_fail(r, "sandbox sent a malformed start message");
			goto protocol;
		}
		if (nfds == 1)
			r->pidfd = fds[0];
		else {
			r->listener = fds[0];
			r->pidfd = fds[1];
			r->outdir = fds[2];
		}
		r->payload_pid = body.st.pid;
		r->tmp_dev = body.st.tmp_dev;
		r->cpu_base_us = body.st.cpu_base_us;
		r->state = RUN_RUNNING;
		r->t_run = now_us();
		r->cpu_check = r->t_run + r->limits.cpu_ms * 1000;
		tracestart(r, &body.st);
		return;
	case SB_REPORT:
		if (r->ops->report == NULL || r->state != RUN_RUNNING ||
		    nfds != r->ops->reportfds || r->ops->report(r, buf, h.len,
		    nfds > 0 ? fds[0] : -1) != 0) {
			run_fail(r, "sandbox sent a malformed report");
			goto protocol;
		}
		while (nfds > 0)
			close(fds[--nfds]);
		r->have_exit = 1;
		r->t_end = now_us();
		if (!r->exit_seen)	/* else traced at its exit_group */
			TRACE_RECORD(r->rec, "snaft.exited");
		r->state = RUN_EXITED;
		r->drain_until = r->t_end + DRAIN_US;
		closefd(&r->conn);
		return;
	case SB_EXIT:
		if (h.len != sizeof(body.ex) || nfds != 0 ||
		    (body.ex.how != SB_EXITED && body.ex.how != SB_SIGNALED)) {
			run_fail(r, "sandbox sent a malformed exit message");
			goto protocol;
		}
		r->have_exit = 1;
		r->exit_how = (int)body.ex.how;
		r->exit_code = body.ex.code;
		r->cpu_us = body.ex.cpu_us;
		r->page_faults = body.ex.minflt;
		r->have_faults = 1;
		r->wall_killed = body.ex.wall_killed != 0;
		r->t_end = now_us();
		if (!r->exit_seen)	/* else traced at its exit_group */
			TRACE_RECORD(r->rec, "snaft.exited");
		r->state = RUN_EXITED;
		r->drain_until = r->t_end + DRAIN_US;
		closefd(&r->conn);
		closefd(&r->listener);
		return;
	case SB_ERROR:
		body.er.text[sizeof(body.er.text) - 1] = '\0';
		run_fail(r, "sandbox: %s", body.er.text);
		goto protocol;
	default:
		run_fail(r, "sandbox sent message type %u", h.type);
		goto protocol;
	}
protocol:
	while (nfds > 0)
		close(fds[--nfds]);
	killrun(r, -1);
	closefd(&r->conn);
	r->state = RUN_EXITED;
	r->t_end = now_us();
	r->drain_until = r->t_end + DRAIN_US;
}

static void
onoutput(struct run *r, struct stream *s)
{
	char buf[65536];
	ssize_t n;
	size_t take;

	for (;;) {
		n = read(s->fd, buf, sizeof(buf));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			closefd(&s->fd);
			return;
		}
		sha256_update(&s->hash, buf, (size_t)n);
		s->bytes += (uint64_t)n;
		take = s->cap - s->captured < (size_t)n ? s->cap - s->captured :
		    (size_t)n;
		memcpy(s->buf + s->captured, buf, take);
		s->captured += take;
		if (s->bytes > s->cap)
			killrun(r, KILL_OUTPUT);
	}
}

/* The deciding argument of a violation, for the record. */
static void
describe(const struct seccomp_data *d, const char *family, char *buf,
    size_t len)
{
	if (strcmp(family, "socket") == 0)
		snprintf(buf, len, "domain=%llu type=0x%llx",
		    (unsigned long long)d->args[0],
		    (unsigned long long)d->args[1]);
	else if (strcmp(family, "dlopen") == 0)
		snprintf(buf, len, "prot=0x%llx", (unsigned long long)d->args[2]);
	else if (strcmp(family, "fork") == 0 || strcmp(family, "clone") == 0)
		snprintf(buf, len, "flags=0x%llx",
		    (unsigned long long)d->args[0]);
	else
		snprintf(buf, len, "args=0x%llx,0x%llx,0x%llx",
		    (unsigned long long)d->args[0],
		    (unsigned long long)d->args[1],
		    (unsigned long long)d->args[2]);
}

void
run_violation(struct run *r, const struct seccomp_data *d,
    const char *family, const char *name, enum abi arch, uint64_t at_us)
{
	struct violation v;

	v.family = family;
	v.syscall = name;
	v.nr = (int)d->nr;
	v.arch = arch;
	v.at_us = at_us;
	describe(d, family, v.arg, sizeof(v.arg));
	json_array_append_new(r->violations, violation_json(&v));
	if (r->kill < 0)
		r->kill = KILL_VIOLATION;
}

/* A violation the monitor saw: recorded, and the payload killed at once. */
static void
violation(struct run *r, const struct seccomp_data *d, const char *family,
    const char *name, enum abi arch)
{
	run_violation(r, d, family, name, arch, now_us() - r->t_run);
	killrun(r, KILL_VIOLATION);
}

/*
 * A signal the payload sends itself (abort(), os.kill(os.getpid(), ...)):
 * allowed whatever the policy, because it can only end the payload.  The
 * target is a register value compared with the pid the sandbox reported, so
 * kill(0, ...), kill(-1, ...) and any other process stay violations.
 */
static int
selfsignal(struct run *r, const struct seccomp_data *d)
{
	static int nkill = -2, ntkill = -2, ntgkill = -2;
	uint64_t self = (uint64_t)r->payload_pid, sig;

	if (nkill == -2) {
		nkill = syscall_number("kill");
		ntkill = syscall_number("tkill");
		ntgkill = syscall_number("tgkill");
	}
	if (r->payload_pid <= 1)
		return 0;
	if ((d->nr == nkill || d->nr == ntkill) && d->args[0] == self)
		sig = d->args[1];
	else if (d->nr == ntgkill && d->args[0] == self && d->args[1] == self)
		sig = d->args[2];
	else
		return 0;
	/*
	 * Remember it: a signal the payload sent itself is its own fate, and
	 * must never pass for a limit or a violation (SIGXCPU, SIGXFSZ, ...).
	 */
	if (sig < 64)
		r->selfsig |= 1ULL << sig;
	return 1;
}

/*
 * One notified call.  The decision uses only what the kernel put in the
 * notification (number, architecture, register arguments), never guest
 * memory, so it cannot be raced.
 */
static void
onnotify(struct run *r)
{
	static int nexit_group = -2, nexit = -2;
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;
	const struct seccomp_data *d = &req.data;
	const char *family, *name;
	char numname[32];

	if (nexit_group == -2) {
		nexit_group = syscall_number("exit_group");
		nexit = syscall_number("exit");
	}
	memset(&req, 0, sizeof(req));
	if (ioctl(r->listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
		if (errno == ENOENT || errno == EINTR || errno == EAGAIN)
			return;		/* the caller died meanwhile */
		closefd(&r->listener);
		return;
	}
	r->notified++;
	memset(&resp, 0, sizeof(resp));
	resp.id = req.id;

	if (d->arch != AUDIT_ARCH_X86_64) {
		/* i386 through int 0x80 is the only other entry point. */
		r->foreign++;
		snprintf(numname, sizeof(numname), "%s:%d",
		    d->arch == AUDIT_ARCH_I386 ? abi_name(ABI_I386) : "unknown",
		    (int)d->nr);
		violation(r, d, FAMILY_FOREIGN_ABI, numname, ABI_I386);
		resp.error = -EPERM;
	} else if (d->nr >= 0 && (d->nr & X32_SYSCALL_BIT)) {
		r->foreign++;
		snprintf(numname, sizeof(numname), "%s:%d", abi_name(ABI_X32),
		    (int)(d->nr & ~X32_SYSCALL_BIT));
		violation(r, d, FAMILY_FOREIGN_ABI, numname, ABI_X32);
		resp.error = -EPERM;
	} else if ((family = family_of_call_self(d->nr,
	    (const uint64_t *)d->args, (uint64_t)r->payload_pid)) != NULL) {
		name = syscall_name(d->nr);
		violation(r, d, family, name ? name : "unknown", ABI_X86_64);
		resp.error = -EPERM;
	} else if (selfsignal(r, d)) {
		if (r->counts != NULL)
			r->counts[d->nr]++;
		resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	} else if (d->nr < 0 || d->nr >= SYSCALL_MAX ||
	    !r->policy->row->allowed[d->nr]) {
		name = d->nr >= 0 && d->nr < SYSCALL_MAX ? syscall_name(d->nr) :
		    NULL;
		if (name == NULL) {
			snprintf(numname, sizeof(numname), "%d", (int)d->nr);
			name = numname;
		}
		violation(r, d, FAMILY_UNLISTED, name, ABI_X86_64);
		resp.error = -EPERM;
	} else {
		if (r->counts != NULL)
			r->counts[d->nr]++;
		/*
		 * A clean exit we let through: once its output has ended the
		 * run is over, and the record need not wait for the kernel to
		 * tear the interpreter's address space down.
		 */
		if ((d->nr == nexit_group || d->nr == nexit) &&
		    (d->args[0] & 0xff) == 0 && !r->exit_seen) {
			r->exit_seen = 1;
			TRACE_RECORD(r->rec, "snaft.exited");
		}
		/*
		 * Allowed: let the kernel run it as it stands, unless it is
		 * one we answer ourselves.  CONTINUE is safe here because the
		 * decision above read no memory the payload could change
		 * after we looked.
		 */
		if (!answer_call(r, d, &resp))
			resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	}
	if (ioctl(r->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0 &&
	    errno != ENOENT)
		log_debug("notif send: %s", strerror(errno));
}

int
run_pollfds(struct run *r, struct pollfd *p, int max)
{
	int n = 0;

	if (max < 4)
		return 0;
	p[n].fd = r->conn;
	p[n++].events = POLLIN;
	p[n].fd = r->listener;
	p[n++].events = POLLIN;
	p[n].fd = r->out.fd;
	p[n++].events = POLLIN;
	p[n].fd = r->err.fd;
	p[n++].events = POLLIN;
	return n;
}

void
run_events(struct run *r, struct pollfd *p, int n)
{
	if (n < 4)
		return;
	/* Notifications first: a payload waits on each one. */
	if (p[1].fd >= 0 && p[1].fd == r->listener && p[1].revents) {
		if (p[1].revents & POLLIN)
			onnotify(r);
		else
			closefd(&r->listener);	/* the filtered task is gone */
	}
	if (p[2].fd >= 0 && p[2].fd == r->out.fd && p[2].revents)
		onoutput(r, &r->out);
	if (p[3].fd >= 0 && p[3].fd == r->err.fd && p[3].revents)
		onoutput(r, &r->err);
	if (p[0].fd >= 0 && p[0].fd == r->conn && p[0].revents)
		onmessage(r);
}

/*
 * The run's CPU time so far, in us, read from its process CPU clock
 * (any process's may be read), or -1.  Its pid is looked up once, through
 * the pidfd; a pid whose process has ended (and so might be another's
 * now) is not believed.
 */
static int64_t
cpu_now(struct run *r)
{
	struct pollfd p = { .fd = r->pidfd, .events = POLLIN };
	struct timespec ts;
	clockid_t clk;
	uint64_t used;

	if (r->pidfd < 0 || (r->hostpid <= 0 &&
	    (r->hostpid = pidfd_hostpid(r->pidfd)) <= 0) ||
	    clock_getcpuclockid(r->hostpid, &clk) != 0 ||
	    clock_gettime(clk, &ts) != 0 || poll(&p, 1, 0) != 0)
		return -1;
	/* The run's own: not what its process used before the run. */
	used = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	return (int64_t)(used > r->cpu_base_us ? used - r->cpu_base_us : 0);
}

/*
 * The CPU limit, to the millisecond: the sandbox's RLIMIT_CPU counts whole
 * seconds (and a payload may ignore its SIGXCPU for one more), so snaft
 * looks at the payload's CPU clock itself.  No payload has a second thread,
 * so its CPU time grows no faster than the wall clock: looking again when
 * what is left of the limit has passed on the wall clock is never late by
 * more than the scheduler's tick.
 */
static void
cpu_limit(struct run *r, uint64_t now)
{
	uint64_t limit = r->limits.cpu_ms * 1000;
	int64_t used;

	if (!r->ops->cpu || r->state != RUN_RUNNING || limit == 0 ||
	    now < r->cpu_check)
		return;
	if ((used = cpu_now(r)) < 0) {
		r->cpu_check = UINT64_MAX;	/* gone: SB_EXIT says how */
		return;
	}
	if ((uint64_t)used >= limit) {
		r->cpu_us = (uint64_t)used;
		killrun(r, KILL_CPU_TIME);
		r->cpu_check = UINT64_MAX;
		return;
	}
	r->cpu_check = now + (limit - (uint64_t)used > 2000 ?
	    limit - (uint64_t)used : 2000);
}

/* Host-side limits: the sandbox's own enforcement may be wedged. */
void
run_timeout(struct run *r, uint64_t now)
{
	cpu_limit(r, now);
	if (r->state != RUN_EXITED && now >= r->deadline) {
		killrun(r, KILL_WALL_TIME);
		closefd(&r->conn);
		closefd(&r->listener);
		r->state = RUN_EXITED;
		r->t_end = now;
		r->drain_until = now + DRAIN_US;
	}
	if (r->state == RUN_EXITED && now >= r->drain_until) {
		closefd(&r->out.fd);
		closefd(&r->err.fd);
	}
}

int
run_done(const struct run *r)
{
	if (r->out.fd >= 0 || r->err.fd >= 0)
		return 0;
	return r->state == RUN_EXITED || (r->exit_seen &&
	    r->state == RUN_RUNNING && r->kill < 0);
}

static json_t *
streamjson(struct stream *s)
{
	uint8_t d[SHA256_LEN];
	char hex[SHA256_HEXLEN + 1], *b64;
	json_t *j;

	sha256_final(&s->hash, d);
	sha256_tohex(d, hex);
	if ((b64 = malloc(B64_ENCLEN(s->captured))) == NULL)
		return NULL;
	b64_encode(s->buf, s->captured, b64);
	j = json_pack("{s:s, s:I, s:I, s:b, s:s}", "b64", b64,
	    "bytes", (json_int_t)s->bytes, "captured_bytes",
	    (json_int_t)s->captured, "truncated", s->bytes > s->captured,
	    "sha256", hex);
	free(b64);
	return j;
}

/*
 * The exec section.  What the kernel and our monitor saw decides; what
 * the sandbox reported is used only where nothing better exists (exit
 * status, CPU time).
 */
json_t *
run_finish(struct run *r)
{
	enum outcome outcome;
	json_t *exec, *obs, *rec;
	int nr, sig = 0, own = 0, reason = r->kill;

	closefd(&r->conn);
	closefd(&r->listener);
	closefd(&r->out.fd);
	closefd(&r->err.fd);
	if (r->pidfd >= 0) {
		/* Whatever happened, nothing of this run keeps running. */
		(void)syscall(SYS_pidfd_send_signal, r->pidfd, SIGKILL, NULL, 0);
		closefd(&r->pidfd);
	}

	if (r->exit_seen && !r->have_exit && reason < 0 &&
	    r->error[0] == '\0') {
		/* exit_group(0), let through by us, and all output read. */
		r->have_exit = 1;
		r->exit_how = SB_EXITED;
		r->exit_code = 0;
		r->t_end = now_us();
		r->early = 1;
	}
	if (r->error[0] != '\0' && reason < 0)
		outcome = OUTCOME_FAILED;
	else if (!r->have_exit && reason < 0) {
		run_fail(r, "sandbox ended without an exit report");
		outcome = OUTCOME_FAILED;
	} else {
		if (r->have_exit && r->exit_how == SB_SIGNALED)
			sig = r->exit_code;
		/* A signal it sent itself explains nothing but itself. */
		own = sig > 0 && sig < 64 && (r->selfsig & (1ULL << sig));
		if (reason < 0 && r->wall_killed)
			reason = KILL_WALL_TIME;
		/*
		 * CPU time over the limit is the limit, whoever sent the
		 * signal (a payload could block SIGXCPU, send it itself early,
		 * and unblock it when the kernel's comes).
		 */
		if (reason < 0 && (sig == SIGXCPU || sig == SIGKILL) &&
		    r->cpu_us >= r->limits.cpu_ms * 1000)
			reason = KILL_CPU_TIME;
		if (reason < 0 && sig == SIGXCPU && !own)
			reason = KILL_CPU_TIME;
		if (reason < 0 && sig == SIGXFSZ && !own)
			reason = KILL_FILE_SIZE;
		/*
		 * Memory, only on the word of something the payload cannot
		 * write: a kvm sandbox's VMM, or the kernel's OOM killer,
		 * counted in the run's cgroup.  (A MemoryError a payload
		 * raised, or met under an rlimit, is its own exit.)
		 */
		if (reason < 0 && r->memory_refused)
			reason = KILL_MEMORY;
		if (reason < 0 && sig == SIGKILL && !own &&
		    r->cg.version != 0 &&
		    cgroup_oom_kills(&r->cg) > r->oom_before)
			reason = KILL_MEMORY;
		/*
		 * The cgroup is ours to remove now: airlock-wake keeps one
		 * whose payload the OOM killer ended until we have read that.
		 * A payload still on its way out (a clean exit we did not wait
		 * for) keeps it busy; airlock-wake removes it then.  Removed
		 * on snaft's remover thread: no record waits for the kernel
		 * to retire a cgroup.
		 */
		if (r->cg.version != 0)
			cgroup_remove_later(&r->cg);
		if (reason >= 0)
			outcome = OUTCOME_KILLED;
		else if (sig != 0)
			outcome = OUTCOME_SIGNALED;
		else
			outcome = OUTCOME_EXITED;
		if (reason >= 0 && sig == 0 && !r->have_exit)
			sig = SIGKILL;
		if (reason >= 0 && r->have_exit && r->exit_how == SB_EXITED)
			sig = 0;
	}

	obs = json_object();
	if (r->counts != NULL)
		for (nr = 0; nr < SYSCALL_MAX; nr++)
			if (r->counts[nr] > 0 && syscall_name(nr) != NULL)
				json_object_set_new(obs, syscall_name(nr),
				    json_integer(r->counts[nr]));

	exec = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o?, s:I, s:o, s:o, "
	    "s:o, s:o}",
	    "backend", backend_name(r->ops->id),
	    "mode", r->policy->row->mode == SNAFT_FAST ? "fast" : "observe",
	    "outcome", outcome_name(outcome),
	    "exit_code", outcome == OUTCOME_EXITED ?
		json_integer(r->exit_code) : json_null(),
	    "signal", sig ? json_integer(sig) : json_null(),
	    "kill_reason", reason >= 0 ? json_string(kill_name(reason)) :
		json_null(),
	    "run_us", (json_int_t)((r->t_end ? r->t_end : now_us()) - r->t_run),
	    "stdout", streamjson(&r->out),
	    "stderr", streamjson(&r->err),
	    "observed_syscalls", obs,
	    "violations", json_incref(r->violations));
	/* The files in and out, whatever the outcome: the record says what. */
	if (exec != NULL)
		files_out(r, exec);
	closefd(&r->outdir);
	json_decref(r->inputs);
	json_decref(r->outputs);
	json_decref(r->refused);
	if (exec != NULL && outcome == OUTCOME_FAILED)
		json_object_set_new(exec, "error", json_string(r->error));
	if (exec != NULL && r->have_exit && !r->early && r->ops->cpu)
		json_object_set_new(exec, "cpu_us", json_integer(
		    (json_int_t)r->cpu_us));
	/* What the run cost the machine beyond its time (make bench). */
	if (exec != NULL && r->have_exit && !r->early && r->have_faults)
		json_object_set_new(exec, "page_faults", json_integer(
		    (json_int_t)r->page_faults));
	/* A process sandbox's calls that took the monitor's round trip. */
	if (exec != NULL && r->ops->startfds > 1)
		json_object_set_new(exec, "notified", json_integer(
		    (json_int_t)r->notified));
	if (exec != NULL && own && outcome == OUTCOME_SIGNALED)
		json_object_set_new(exec, "self_signaled", json_true());
	/* Claiming the sandbox and starting the payload, before run_us. */
	if (exec != NULL)
		json_object_set_new(exec, "start_us", json_integer(
		    (json_int_t)(r->t_run - r->t_start)));
	rec = r->rec;
	if (exec == NULL || json_object_set_new(rec, "exec", exec) != 0)
		rec = NULL;
	else
		json_incref(rec);
	json_decref(r->rec);
	json_decref(r->violations);
	free(r->counts);
	free(r->out.buf);
	free(r->err.buf);
	free(r);
	return rec;
}
