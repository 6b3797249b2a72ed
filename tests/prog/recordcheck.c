/*
 * recordcheck: print the stage contract's tables (lib/record.c) in the
 * form the man pages give them, so that tests can hold each against the
 * other:
 *
 *   recordcheck verdicts    status token_type severity, one row a line
 *   recordcheck kills       reason status limit_key ("-" for none)
 *   recordcheck names       outcomes, ABIs and backends, one a line
 */
#include <stdio.h>
#include <string.h>

#include "record.h"

int
main(int argc, char *argv[])
{
	size_t i;
	int k;

	if (argc == 2 && strcmp(argv[1], "verdicts") == 0) {
		for (i = 0; i < verdict_count; i++)
			printf("%d %s %s\n", verdict_table[i].status,
			    verdict_table[i].token_type,
			    verdict_table[i].severity);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "kills") == 0) {
		for (k = 0; k < KILL_MAX; k++)
			printf("%s %d %s\n", kill_name((enum kill_reason)k),
			    kill_table[k].status, kill_table[k].limit_key ?
			    kill_table[k].limit_key : "-");
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "names") == 0) {
		for (k = 0; k < OUTCOME_MAX; k++)
			printf("outcome %s\n", outcome_name((enum outcome)k));
		for (k = 0; k < ABI_MAX; k++)
			printf("abi %s\n", abi_name((enum abi)k));
		for (k = 0; k < BACKEND_MAX; k++)
			printf("backend %s\n", backend_name((enum backend)k));
		return 0;
	}
	fprintf(stderr, "usage: recordcheck verdicts | kills | names\n");
	return 100;
}
