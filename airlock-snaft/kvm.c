/*
 * The kvm backend's side of a run (airlock-snaft(1), "kvm sandboxes"): a
 * sandbox that is an airlock-vmm serving one run.  Its VMM is its own
 * monitor, so it gets the row's allow list rather than a filter, and at the
 * end it reports how the run went, which becomes the exec section in the
 * same terms as a process run.
 */
#include <sys/socket.h>

#include <linux/audit.h>
#include <linux/seccomp.h>

#include <stdio.h>
#include <string.h>

#include "airlock.h"
#include "jsonl.h"
#include "record.h"
#include "sandbox.h"
#include "snaft.h"

/*
 * The run request: the limits, the allow list and the VMM's own caps.
 * The payload memfd and output pipes only: the VMM takes no files yet.
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
	run->flags = SB_RUN_KVM;
	return sb_send(r->conn, SB_RUN, 0, run, sizeof(*run), &kp, sizeof(kp),
	    fds, 3);
}

/* The first violation of a report, in snaft's own form. */
static int
kvm_violation(struct run *r, json_t *v)
{
	struct seccomp_data d;
	const char *family, *name;
	char numname[48];
	long long at, nr;
	json_t *args;
	int arch;
	size_t i;

	name = jsonl_get_string(v, "syscall");
	family = jsonl_get_string(v, "family");
	args = json_object_get(v, "args");
	if (name == NULL ||
	    (arch = abi_parse(jsonl_get_string(v, "arch"))) == -1 ||
	    jsonl_get_int(v, "nr", &nr) != 0 ||
	    jsonl_get_int(v, "at_us", &at) != 0 || at < 0 ||
	    !json_is_array(args) || json_array_size(args) != 6)
		return -1;
	memset(&d, 0, sizeof(d));
	d.nr = (int)nr;
	d.arch = arch == ABI_I386 ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64;
	for (i = 0; i < 6; i++)
		d.args[i] = (uint64_t)json_integer_value(json_array_get(args,
		    i));
	if (arch != ABI_X86_64) {
		snprintf(numname, sizeof(numname), "%s:%d",
		    abi_name((enum abi)arch), (int)nr);
		run_violation(r, &d, FAMILY_FOREIGN_ABI, numname,
		    (enum abi)arch, (uint64_t)at);
	} else
		run_violation(r, &d, family != NULL ? family : FAMILY_UNLISTED,
		    name, ABI_X86_64, (uint64_t)at);
	return 0;
}

/*
 * How a kvm sandbox's run ended: its VMM's report (airlock-vmm(8), THE
 * REPORT), turned into this record's terms.  The VMM is the monitor there,
 * so its word on violations and counts is what the kernel's is here; still
 * every member is checked, and nothing unknown is taken.
 */
static int
kvm_report(struct run *r, const char *text, size_t len)
{
	json_t *j, *v, *a;
	const char *key;
	long long code, sig, x, nr;
	int outcome, kill, rc = -1;

	if ((j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return -1;
	outcome = outcome_parse(jsonl_get_string(j, "outcome"));
	kill = kill_parse(jsonl_get_string(j, "kill_reason"));
	switch (outcome) {
	case OUTCOME_EXITED:
		if (jsonl_get_int(j, "exit_code", &code) != 0 || code < 0 ||
		    code > 255)
			goto decref_report;
		r->exit_how = SB_EXITED;
		r->exit_code = (int)code;
		/* A refused mapping and a failure exit: the memory limit. */
		if (json_is_true(json_object_get(j, "memory_refused")) &&
		    code != 0)
			r->memory_refused = 1;
		break;
	case OUTCOME_SIGNALED:
	case OUTCOME_KILLED:
		if (jsonl_get_int(j, "signal", &sig) != 0 || sig < 1 || sig > 64)
			goto decref_report;
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
	default:
		goto decref_report;
	}

	a = json_object_get(j, "violations");
	if (!json_is_array(a) ||
	    (json_array_size(a) > 0 &&
	    kvm_violation(r, json_array_get(a, 0)) != 0))
		goto decref_report;

	/* The calls the VMM allowed, by name (observe mode only). */
	v = json_object_get(j, "observed_syscalls");
	if (!json_is_object(v))
		goto decref_report;
	if (r->counts != NULL)
		json_object_foreach(v, key, a) {
			x = json_is_integer(a) ? json_integer_value(a) : -1;
			nr = syscall_number(key);
			if (x < 0 || nr < 0 || nr >= SYSCALL_MAX)
				goto decref_report;
			r->counts[nr] = (uint32_t)(x > UINT32_MAX ? UINT32_MAX : x);
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
	.cgroup = 0,
	.cpu = 0,
};
