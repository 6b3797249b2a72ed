/*
 * A program's report: a snapshot that names one ("report NAME",
 * airlock-image(5)) has its program write NAME to /output, a JSON object
 * with a "summary" member.  The summary, small and checked, goes into the
 * verdict, where the token binds it beside the report's digest: what the
 * scanner found is signed, not only the bytes it wrote.
 *
 * The report is the sandbox's word, as the rest of its output is: a
 * program that a hostile file subverted can write any summary.  The token
 * says which program wrote it; it does not vouch for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "airlock.h"
#include "b64.h"
#include "report.h"

#define INT53	9007199254740991LL	/* signed numbers: |n| < 2^53 */

/* Why v cannot be signed as it is, or NULL: reals, huge integers, depth. */
static const char *
unsignable(json_t *v, int depth)
{
	const char *k, *why;
	json_t *m;
	size_t i;

	if (depth > REPORT_DEPTH_MAX)
		return "it nests too deep";
	switch (json_typeof(v)) {
	case JSON_REAL:
		return "it holds a real number (signed numbers are integers "
		    "only)";
	case JSON_INTEGER:
		if (json_integer_value(v) > INT53 ||
		    json_integer_value(v) < -INT53)
			return "it holds an integer beyond 2^53-1";
		return NULL;
	case JSON_OBJECT:
		json_object_foreach(v, k, m)
			if ((why = unsignable(m, depth + 1)) != NULL)
				return why;
		return NULL;
	case JSON_ARRAY:
		json_array_foreach(v, i, m)
			if ((why = unsignable(m, depth + 1)) != NULL)
				return why;
		return NULL;
	default:
		return NULL;
	}
}

/* The file of that name among the run's output files, or NULL. */
static json_t *
outfile(json_t *exec, const char *name)
{
	json_t *list, *f;
	size_t i;

	list = json_object_get(exec, "output_files");
	json_array_foreach(list, i, f)
		if (json_is_string(json_object_get(f, "name")) &&
		    strcmp(json_string_value(json_object_get(f, "name")),
		    name) == 0)
			return f;
	return NULL;
}

json_t *
report_of(json_t *rec)
{
	json_t *route, *exec, *f, *b64, *doc = NULL, *sum, *out;
	const char *name, *why;
	char err[200];
	json_error_t je;
	unsigned char *buf = NULL;
	size_t blen;
	long n;
	char *text;

	route = json_object_get(rec, "route");
	exec = json_object_get(rec, "exec");
	if (!json_is_string(json_object_get(route, "report")) ||
	    !json_is_object(exec))
		return NULL;
	name = json_string_value(json_object_get(route, "report"));
	out = json_pack("{s:s, s:n, s:n, s:n}", "name", name, "bytes",
	    "sha256", "summary");
	if (out == NULL)
		return NULL;
	err[0] = '\0';
	if ((f = outfile(exec, name)) == NULL) {
		snprintf(err, sizeof(err), "the run left no %s in /output",
		    name);
		goto done;
	}
	if (json_is_integer(json_object_get(f, "bytes")))
		json_object_set(out, "bytes", json_object_get(f, "bytes"));
	if (json_is_string(json_object_get(f, "sha256")))
		json_object_set(out, "sha256", json_object_get(f, "sha256"));
	b64 = json_object_get(f, "b64");
	blen = json_string_length(b64);
	if (!json_is_string(b64) || (buf = malloc(blen / 4 * 3 + 1)) == NULL ||
	    (n = b64_decode(json_string_value(b64), blen, buf)) < 0) {
		snprintf(err, sizeof(err), "%s: its content is not base64",
		    name);
		goto done;
	}
	if ((doc = json_loadb((const char *)buf, (size_t)n,
	    JSON_REJECT_DUPLICATES, &je)) == NULL) {
		/* Not je.text: it may quote the report's own bytes. */
		snprintf(err, sizeof(err), "%s is not JSON (at byte %d)",
		    name, je.position);
		goto done;
	}
	if (!json_is_object(sum = json_object_get(doc, "summary"))) {
		snprintf(err, sizeof(err), "%s has no \"summary\" object", name);
		goto done;
	}
	if ((why = unsignable(sum, 1)) != NULL) {
		snprintf(err, sizeof(err), "%s: its summary cannot be signed: "
		    "%s", name, why);
		goto done;
	}
	if ((text = json_dumps(sum, JSON_COMPACT)) == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto done;
	}
	n = (long)strlen(text);
	free(text);
	if (n > REPORT_SUMMARY_MAX) {
		snprintf(err, sizeof(err), "%s: its summary is %ld bytes, over "
		    "%d", name, n, REPORT_SUMMARY_MAX);
		goto done;
	}
	json_object_set(out, "summary", sum);
done:
	if (err[0] != '\0')
		json_object_set_new(out, "error", json_string(err));
	json_decref(doc);
	free(buf);
	return out;
}
