/*
 * The fixed view of the machine (view.h; airlock-snaft(1) and
 * airlock-vmm(8) document it).
 */
#include <string.h>

#include "view.h"

void
view_uname(struct utsname *u)
{
	memset(u, 0, sizeof(*u));
	strcpy(u->sysname, "Linux");
	strcpy(u->nodename, "airlock");
	strcpy(u->release, "6.1.0-airlock");
	strcpy(u->version, "#1 SMP airlock");
	strcpy(u->machine, "x86_64");
	strcpy(u->domainname, "(none)");
}

void
view_sysinfo(struct sysinfo *si, uint64_t memory_bytes, uint64_t uptime_s)
{
	memset(si, 0, sizeof(*si));
	si->uptime = (long)uptime_s;
	si->totalram = (unsigned long)memory_bytes;
	si->freeram = (unsigned long)(memory_bytes / 2);
	si->procs = 1;
	si->mem_unit = 1;
}
