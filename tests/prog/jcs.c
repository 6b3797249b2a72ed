/*
 * jcs: print the RFC 8785 canonical form of the JSON document on stdin,
 * using airlock-sign's canonicalizer, for tests/33-jcs.bats.
 *
 *   exit 0  canonical bytes on stdout, no newline added
 *   exit 1  the document has no canonical form here (stderr says why)
 *   exit 2  the input is not JSON
 *
 * The Makefile links test programs with lib/ only, so the canonicalizer
 * is compiled in from its source.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "../../airlock-sign/jcs.c"

int
main(void)
{
	struct jcsbuf buf = { 0 };
	json_error_t je;
	json_t *v;
	char err[256];
	int rc = 0;

	/* \u0000 is allowed here so that its escaping can be tested. */
	v = json_loadf(stdin, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY |
	    JSON_ALLOW_NUL, &je);
	if (v == NULL) {
		fprintf(stderr, "jcs: not JSON: %s\n", je.text);
		return 2;
	}
	if (jcs_encode(v, &buf, err, sizeof(err)) != 0) {
		fprintf(stderr, "jcs: %s\n", err);
		rc = 1;
	} else
		fwrite(buf.data, 1, buf.len, stdout);
	json_decref(v);
	jcsbuf_free(&buf);
	return rc;
}
