/*
 * The kvm backend's side of a run (airlock-snaft(1), "kvm sandboxes"): a
 * sandbox that is an airlock-vmm serving one run.  Its VMM is its own
 * monitor, so it gets the row's allow list rather than a filter, and at the
 * end it reports how the run went, and hands back what its /output held,
 * which become the exec section in the same terms as a process run.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <linux/audit.h>
#include <linux/seccomp.h>

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock.h"
#include "jsonl.h"
#include "record.h"
#include "sandbox.h"
#include "snaft.h"

/*
 * The run request: the limits, the allow list and the VMM's own caps,
 * with the payload memfd, the output pipes and the input files' memfd.
 */
static int
kvm_sendrun(struct run *r, struct sb_run *run, int fds[4])
{
	static struct sb_kvmpolicy kp;
	int nr;

	memset(&kp, 0, sizeof(kp));
	for (nr = 0; nr < SYSCALL_MAX && nr < SB_KVM_NR; nr++)
		kp.allowed[nr] = r->policy->row->allowed[nr] != 0;
	kp.output_bytes = r->limits.output_bytes;
	kp.tmp_bytes = r->limits.tmp_bytes;
	kp.files = r->limits.files;
	kp.outdir_bytes = r->limits.outdir_bytes;
	run->flags = SB_RUN_KVM;
	return sb_send(r->conn, SB_RUN, 0, run, sizeof(*run), &kp, sizeof(kp),
	    fds, 4);
}

/*
 * What the VMM's /output held: the sealed memfd of struct sb_file records
 * (lib/sandbox.h) that came with its report, one per entry at the top
 * level.  The memfd must be sealed against every change, no larger than
 * the row's caps allow, and exactly a sequence of records, each length
 * checked against what is left before it is used, each name one path
 * component (at most NAME_MAX bytes, no NUL, not "." or ".."), none twice,
 * no more of them than the row's files: anything else is a malformed
 * report.  Then each entry is taken or refused by the rules and in the
 * words of a process sandbox's /output (files.c).
 */
static int
kvm_outputs(struct run *r, int fd)
{
	const int need = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
	struct sb_file h;
	struct stat st;
	char name[NAME_MAX + 1], *buf = NULL, *names = NULL;
	const char *why;
	uint64_t size, max, off, n, i, left = r->limits.outdir_bytes;
	int seals, rc = -1;

	max = ((r->limits.outdir_bytes + 4095) & ~4095ULL) +
	    r->limits.files * (sizeof(h) + NAME_MAX);
	if ((seals = fcntl(fd, F_GET_SEALS)) == -1 ||
	    (seals & need) != need || fstat(fd, &st) != 0 ||
	    (size = (uint64_t)st.st_size) > max ||
	    (buf = malloc(size ? size : 1)) == NULL ||
	    (names = calloc(r->limits.files + 1, NAME_MAX + 1)) == NULL ||
	    preadall(fd, buf, size, 0) != 0 || files_out_start(r) != 0)
		goto free_buf;
	for (off = 0, n = 0; off < size; off += h.data_len, n++) {
		if (size - off < sizeof(h))
			goto free_buf;
		memcpy(&h, buf + off, sizeof(h));
		off += sizeof(h);
		if (h.name_len == 0 || h.name_len > NAME_MAX ||
		    h.name_len > size - off || n >= r->limits.files ||
		    (h.type != SB_FILE_REGULAR && (h.type != SB_FILE_OTHER ||
		    h.data_len != 0)))
			goto free_buf;
		memcpy(name, buf + off, h.name_len);
		name[h.name_len] = '\0';
		off += h.name_len;
		if (strlen(name) != h.name_len || strchr(name, '/') != NULL ||
		    strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    h.data_len > size - off)
			goto free_buf;
		for (i = 0; i < n; i++)
			if (strcmp(names + i * (NAME_MAX + 1), name) == 0)
				goto free_buf;
		strcpy(names + n * (NAME_MAX + 1), name);
		if ((why = files_admit(r, name)) == NULL)
			why = files_fits(h.type == SB_FILE_REGULAR, h.data_len,
			    left);
		if (why != NULL)
			files_refuse(r, name, why);
		else
			files_take(r, name, buf + off, (size_t)h.data_len,
			    &left);
	}
	rc = 0;
free_buf:
	if (rc != 0) {
		/* Nothing of a malformed one is taken. */
		json_decref(r->outputs);
		json_decref(r->refused);
		r->outputs = r->refused = NULL;
	}
	free(names);
	free(buf);
	return rc;
}

/*
 * Whether a violation's family and call name are the contract's
 * (lib/record.h, airlock-record(5)), which the VMM writes itself:
 * FAMILY_FOREIGN_ABI exactly for a call of another ABI, named "x32:39" or
 * "i386:1"; else FAMILY_UNLISTED, or the always-dangerous family the call
 * belongs to with these arguments, and the call's name, or its number for
 * one without a name.
 */
static int
kvm_names_ok(const char *family, const char *name, int arch,
    const struct seccomp_data *d)
{
	char want[48];
	const char *known;

	if (arch != ABI_X86_64) {
		snprintf(want, sizeof(want), "%s:%d", abi_name((enum abi)arch),
		    d->nr);
		return strcmp(family, FAMILY_FOREIGN_ABI) == 0 &&
		    strcmp(name, want) == 0;
	}
	if (strcmp(family, FAMILY_UNLISTED) != 0 &&
	    ((known = family_of_call(d->nr, (const uint64_t *)d->args)) ==
	    NULL || strcmp(family, known) != 0))
		return 0;
	if ((known = syscall_name(d->nr)) != NULL)
		return strcmp(name, known) == 0;
	snprintf(want, sizeof(want), "%d", d->nr);
	return strcmp(name, want) == 0;
}

/* A violation of a report: what run_violation() takes, all checked. */
struct kvmviolation {
	struct seccomp_data	 d;
	const char		*family;
	const char		*name;
	int			 arch;
	uint64_t		 at_us;
};

static int
kvm_violation(json_t *v, struct kvmviolation *kv)
{
	json_t *args;
	long long at, nr;
	size_t i;

	kv->name = jsonl_get_string(v, "syscall");
	kv->family = jsonl_get_string(v, "family");
	args = json_object_get(v, "args");
	if (kv->name == NULL || kv->family == NULL ||
	    (kv->arch = abi_parse(jsonl_get_string(v, "arch"))) == -1 ||
	    jsonl_get_int(v, "nr", &nr) != 0 || nr < INT32_MIN ||
	    nr > INT32_MAX ||
	    jsonl_get_int(v, "at_us", &at) != 0 || at < 0 ||
	    !json_is_array(args) || json_array_size(args) != 6)
		return -1;
	memset(&kv->d, 0, sizeof(kv->d));
	kv->d.nr = (int)nr;
	kv->d.arch = kv->arch == ABI_I386 ? AUDIT_ARCH_I386 :
	    AUDIT_ARCH_X86_64;
	for (i = 0; i < 6; i++) {
		if (!json_is_integer(json_array_get(args, i)))
			return -1;
		kv->d.args[i] = (uint64_t)json_integer_value(
		    json_array_get(args, i));
	}
	kv->at_us = (uint64_t)at;
	return kvm_names_ok(kv->family, kv->name, kv->arch, &kv->d) ? 0 : -1;
}

/*
 * How a kvm sandbox's run ended: its VMM's report (airlock-vmm(8), THE
 * REPORT), turned into this record's terms.  The VMM is the monitor there,
 * so its word on violations and counts is what the kernel's is here; still
 * every member is checked, nothing unknown is taken, and nothing of a
 * report is taken before all of it has been checked.
 */
static int
kvm_report(struct run *r, const char *text, size_t len, int fd)
{
	struct kvmviolation kv = { .arch = -1 };
	json_t *j, *v, *a, *obs;
	const char *key;
	long long code = 0, sig = 0, x, nr;
	int outcome, kill, rc = -1;

	if ((j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return -1;
	outcome = outcome_parse(jsonl_get_string(j, "outcome"));
	kill = kill_parse(jsonl_get_string(j, "kill_reason"));
	if (outcome < 0 || (outcome == OUTCOME_EXITED &&
	    (jsonl_get_int(j, "exit_code", &code) != 0 || code < 0 ||
	    code > 255)) || ((outcome == OUTCOME_SIGNALED ||
	    outcome == OUTCOME_KILLED) && (jsonl_get_int(j, "signal",
	    &sig) != 0 || sig < 1 || sig > 64)))
		goto decref_report;
	a = json_object_get(j, "violations");
	if (!json_is_array(a) || (json_array_size(a) > 0 &&
	    kvm_violation(json_array_get(a, 0), &kv) != 0))
		goto decref_report;
	/* The calls the VMM allowed, by name. */
	obs = json_object_get(j, "observed_syscalls");
	if (!json_is_object(obs))
		goto decref_report;
	json_object_foreach(obs, key, v) {
		nr = syscall_number(key);
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    nr < 0 || nr >= SYSCALL_MAX)
			goto decref_report;
	}
	x = -1;
	if (json_object_get(j, "page_faults") != NULL &&
	    (jsonl_get_int(j, "page_faults", &x) != 0 || x < 0))
		goto decref_report;
	/* The last to be checked, and kept only if all of it is good. */
	if (kvm_outputs(r, fd) != 0)
		goto decref_report;

	/* All of it checked: now taken. */
	if (x >= 0) {
		r->page_faults = (uint64_t)x;
		r->have_faults = 1;
	}
	switch (outcome) {
	case OUTCOME_EXITED:
		r->exit_how = SB_EXITED;
		r->exit_code = (int)code;
		/* A refused mapping and a failure exit: the memory limit. */
		if (json_is_true(json_object_get(j, "memory_refused")) &&
		    code != 0)
			r->memory_refused = 1;
		break;
	case OUTCOME_SIGNALED:
	case OUTCOME_KILLED:
		r->exit_how = SB_SIGNALED;
		r->exit_code = (int)sig;
		/* A kill reason we do not know is taken as the worst. */
		if (outcome == OUTCOME_KILLED && r->kill < 0)
			r->kill = kill >= 0 ? kill : KILL_VIOLATION;
		break;
	case OUTCOME_FAILED:
		v = json_object_get(j, "reason");
		run_fail(r, "sandbox: %.200s", json_is_string(v) ?
		    json_string_value(v) : "the VMM failed");
		break;
	}
	if (kv.arch >= 0)
		run_violation(r, &kv.d, kv.family, kv.name, (enum abi)kv.arch,
		    kv.at_us);
	/* Observe mode only: fast mode counts nothing. */
	if (r->counts != NULL)
		json_object_foreach(obs, key, v) {
			x = json_integer_value(v);
			r->counts[syscall_number(key)] =
			    (uint32_t)(x > UINT32_MAX ? UINT32_MAX : x);
		}
	rc = 0;
decref_report:
	json_decref(j);
	return rc;
}

const struct backend_ops backend_kvm = {
	.id = BACKEND_KVM,
	.sendrun = kvm_sendrun,
	.startfds = 1,
	.report = kvm_report,
	.reportfds = 1,
	.cgroup = 0,
	.cpu = 0,
};
