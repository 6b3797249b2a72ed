/*
 * Tools: one per row of the intent table.  A tool's input schema is the
 * frame's members a caller may set (payload, files, limits no looser than
 * the row's, and for a row whose pattern ends in '*' the rest of the
 * intent's name); its output schema is what tools_result() makes of
 * airlock-muxd's answer.  airlock-mcp checks nothing a frame's own checks
 * would: arguments go into the frame as they came, and airlock judges
 * them, with a signed token, like any other frame.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "airlock.h"
#include "intents.h"
#include "mcp.h"
#include "record.h"

/* The shipped intents' tools, by the names agents know them by. */
static const struct {
	const char	*pattern;
	const char	*name;
	const char	*title;
	const char	*what;		/* the description's first sentence */
	const char	*payload;	/* what the payload is */
	int		 payload_optional;
} known[] = {
	{ "code:execute", "run_python", "Run Python in an airlock sandbox",
	    "Run Python 3 source in a fresh, pre-warmed sandbox: no network, "
	    "a read-only image, a private /tmp, and every system call checked "
	    "against the intent's SNAFT policy (the first forbidden call kills "
	    "the run, status 403).",
	    "Python source to run, as for python3 -c.", 0 },
	{ "analyze_malware_sample", "analyze_malware_sample",
	    "Analyze a malware sample with Python in an airlock sandbox",
	    "Run the analyst's Python source against a sample given in files, "
	    "which the sandbox sees read-only under /input; no network, and "
	    "every system call checked against the intent's SNAFT policy.",
	    "Python source that analyzes the sample.", 0 },
	{ "file:scan", "scan_file", "Scan files in an airlock sandbox",
	    "Scan the given files in a sandbox with the image's scanner and "
	    "return its report.",
	    "Options for the scanner, if any; the files are what is scanned.",
	    1 },
	{ "call:voice:*", "call_voice", "Process a voice call in an airlock "
	    "sandbox",
	    "Run Python source with telephony and audio libraries on the "
	    "given files (a pcap, audio) in a sandbox.",
	    "Python source to run.", 0 },
	{ "call:video:*", "call_video", "Process video in an airlock sandbox",
	    "Run Python source with media libraries on the given files in a "
	    "sandbox.",
	    "Python source to run.", 0 },
};

static struct intent_table	*table;
static struct tool		*tools;
static size_t			 ntools;

json_t *
tools_error(const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text",
	    "text", text, "isError", 1);
}

/* A tool name from a pattern no entry of known[] names. */
static char *
derive(const char *pattern)
{
	size_t i, n = strlen(pattern);
	char *s;

	while (n > 0 && (pattern[n - 1] == '*' || pattern[n - 1] == ':'))
		n--;
	if (n > 64)
		n = 64;
	if ((s = strndup(n > 0 ? pattern : "intent", n > 0 ? n : 6)) == NULL)
		return NULL;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			s[i] = '_';
	return s;
}

static const char *
human(uint64_t bytes, char *buf, size_t len)
{
	if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0)
		snprintf(buf, len, "%llu MiB",
		    (unsigned long long)(bytes / (1024 * 1024)));
	else if (bytes >= 1024 && bytes % 1024 == 0)
		snprintf(buf, len, "%llu KiB",
		    (unsigned long long)(bytes / 1024));
	else
		snprintf(buf, len, "%llu bytes", (unsigned long long)bytes);
	return buf;
}

static json_t *
limit(const char *what, uint64_t min, uint64_t max)
{
	return json_pack("{s:s, s:s, s:I, s:I}", "type", "integer",
	    "description", what, "minimum", (json_int_t)min,
	    "maximum", (json_int_t)max);
}

static json_t *
inschema(const struct tool *t, const char *payload)
{
	const struct limits *l = &t->row->limits;
	json_t *props, *req, *lim, *s;

	lim = json_pack("{s:s, s:s, s:{s:o, s:o, s:o, s:o, s:o}, s:b}",
	    "type", "object",
	    "description", "Limits tighter than the intent's, for this call "
	    "only; a limit can be tightened, never loosened.",
	    "properties",
	    "wall_ms", limit("Wall-clock time, in milliseconds.", 1,
	    l->wall_ms),
	    "cpu_ms", limit("CPU time, in milliseconds.", 1, l->cpu_ms),
	    "memory_bytes", limit("Memory, in bytes.", LIMIT_MEMORY_MIN,
	    l->memory_bytes),
	    "output_bytes", limit("Standard output and error captured, "
	    "each, in bytes.", 1, l->output_bytes),
	    "file_bytes", limit("The largest file the payload may write, in "
	    "bytes.", 1, l->file_bytes),
	    "additionalProperties", 0);
	props = json_pack("{s:{s:s, s:s}, s:{s:s, s:s, s:{s:s, s:s}}, s:o}",
	    "payload", "type", "string", "description", payload,
	    "files", "type", "object",
	    "description", "Input files: each member a file name (one path "
	    "component) and its content in base64. The sandbox sees them "
	    "read-only under /input; files the run leaves in /output come "
	    "back in the result's files.",
	    "additionalProperties", "type", "string",
	    "contentEncoding", "base64",
	    "limits", lim);
	req = t->payload_optional ? json_array() : json_pack("[s]", "payload");
	if (t->prefix != NULL) {
		json_object_set_new(props, "intent_suffix", json_pack(
		    "{s:s, s:s, s:i}", "type", "string", "description",
		    "The rest of the intent's name, after the table's pattern: "
		    "the intent is the pattern with this in place of its '*'.",
		    "minLength", 1));
		json_array_append_new(req, json_string("intent_suffix"));
	}
	s = json_pack("{s:s, s:o, s:o, s:b}", "type", "object",
	    "properties", props, "required", req,
	    "additionalProperties", 0);
	return s;
}

/* What tools_result() makes, for clients that check it. */
static const char outschema_text[] =
    "{\"type\": \"object\", \"required\": [\"status\", \"verdict\", \"reason\","
    " \"run_id\", \"token\"], \"properties\": {"
    "\"status\": {\"type\": \"integer\", \"description\": \"The verdict's status:"
    " 200, 400, 403, 408, 413, 500 or 503.\"},"
    "\"verdict\": {\"type\": [\"string\", \"null\"], \"description\": \"The token"
    " type: SAFE_EXECUTION, INTENT_REJECTED, INCIDENT_KILL, LIMIT_KILL,"
    " SANDBOX_FAILURE or OVERLOADED.\"},"
    "\"reason\": {\"type\": [\"string\", \"null\"], \"description\": \"Why, in"
    " words.\"},"
    "\"exit_code\": {\"type\": [\"integer\", \"null\"], \"description\": \"The"
    " payload's exit code, if it exited.\"},"
    "\"signal\": {\"type\": [\"integer\", \"null\"], \"description\": \"The signal"
    " that ended it, if one did.\"},"
    "\"stdout\": {\"type\": [\"string\", \"null\"], \"description\": \"Standard"
    " output as text; bytes that are not UTF-8 are U+FFFD, and stdout_b64"
    " then holds the exact bytes.\"},"
    "\"stderr\": {\"type\": [\"string\", \"null\"], \"description\": \"Standard"
    " error as text.\"},"
    "\"stdout_truncated\": {\"type\": \"boolean\"},"
    "\"stderr_truncated\": {\"type\": \"boolean\"},"
    "\"stdout_b64\": {\"type\": \"string\"},"
    "\"stderr_b64\": {\"type\": \"string\"},"
    "\"files\": {\"type\": \"object\", \"description\": \"Output files, as"
    " airlock-muxd's answer gives them.\"},"
    "\"intent\": {\"type\": [\"string\", \"null\"]},"
    "\"run_id\": {\"type\": [\"string\", \"null\"], \"description\":"
    " \"airlock-muxd's run id, the token's token_id.\"},"
    "\"from_aint\": {\"type\": [\"string\", \"null\"]},"
    "\"token\": {\"type\": [\"object\", \"null\"], \"description\": \"The signed"
    " TIBET token (airlock-token(5)); null only if the signer could not sign."
    " airlock-sign -V verifies it.\"}}}";

static json_t *
outschema(void)
{
	return json_loads(outschema_text, 0, NULL);
}

static json_t *
describe(const struct tool *t, const char *what)
{
	const struct limits *l = &t->row->limits;
	char text[2048], mem[32], out[32], pay[32];

	snprintf(text, sizeof(text), "%s Intent %s, image %s; limits: "
	    "wall %llu ms, CPU %llu ms, memory %s, output %s per stream, "
	    "payload up to %s. Every call gets exactly one signed TIBET "
	    "token, in the result's token: status 200 if the payload ran to "
	    "its end (whatever its exit code), 400 for a frame airlock "
	    "refused, 403 for a policy violation, 408 and 413 for a limit, "
	    "500 if the sandbox failed, 503 if airlock is overloaded.",
	    what, t->row->pattern, t->row->image,
	    (unsigned long long)l->wall_ms, (unsigned long long)l->cpu_ms,
	    human(l->memory_bytes, mem, sizeof(mem)),
	    human(l->output_bytes, out, sizeof(out)),
	    human(l->payload_bytes, pay, sizeof(pay)));
	return json_string(text);
}

int
tools_load(const char *path, char *err, size_t errlen)
{
	const struct intent *row;
	struct tool *t;
	const char *what, *payload, *title;
	size_t i, j, k, len;
	char *name;

	if ((table = intents_load(path, err, errlen)) == NULL)
		return -1;
	if ((tools = calloc(table->nrows, sizeof(*tools))) == NULL)
		return errorf(err, errlen, "out of memory");
	for (i = 0; i < table->nrows; i++) {
		row = &table->rows[i];
		t = &tools[ntools];
		t->row = row;
		what = "Run the payload in an airlock sandbox.";
		payload = "What to run.";
		title = NULL;
		name = NULL;
		for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			if (strcmp(known[k].pattern, row->pattern) == 0) {
				name = strdup(known[k].name);
				what = known[k].what;
				payload = known[k].payload;
				title = known[k].title;
				t->payload_optional = known[k].payload_optional;
			}
		if (name == NULL && (name = derive(row->pattern)) == NULL)
			return errorf(err, errlen, "out of memory");
		/* Two rows that derive one name: the later one is name_2. */
		for (j = 0; j < ntools; j++)
			if (strcmp(tools[j].name, name) == 0) {
				len = strlen(name) + 16;
				if ((name = realloc(name, len)) == NULL)
					return errorf(err, errlen,
					    "out of memory");
				snprintf(name + strlen(name), 16, "_%zu",
				    ntools + 1);
			}
		t->name = name;
		len = strlen(row->pattern);
		if (len > 0 && row->pattern[len - 1] == '*' &&
		    (t->prefix = strndup(row->pattern, len - 1)) == NULL)
			return errorf(err, errlen, "out of memory");
		t->json = json_pack("{s:s, s:s?, s:o, s:o, s:o, s:{s:b, s:b, "
		    "s:b, s:b}}",
		    "name", t->name, "title", title,
		    "description", describe(t, what),
		    "inputSchema", inschema(t, payload),
		    "outputSchema", outschema(),
		    "annotations", "readOnlyHint", 1, "destructiveHint", 0,
		    "idempotentHint", 0, "openWorldHint", 0);
		if (t->json == NULL)
			return errorf(err, errlen, "out of memory");
		ntools++;
	}
	return 0;
}

json_t *
tools_list(void)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < ntools; i++)
		json_array_append(a, tools[i].json);
	return json_pack("{s:o}", "tools", a);
}

const struct tool *
tools_find(const char *name)
{
	size_t i;

	for (i = 0; i < ntools; i++)
		if (strcmp(tools[i].name, name) == 0)
			return &tools[i];
	return NULL;
}

/*
 * The frame for a call to t with args (an object).  Its members come from
 * the arguments as given, unchecked: airlock's own checks judge them and
 * sign the verdict.  NULL with *why set when no intent can be named (a
 * '*' row without a string intent_suffix): no frame, so no token.
 */
json_t *
tools_frame(const struct tool *t, json_t *args, uint32_t channel,
    const char *aint, const char **why)
{
	json_t *frame, *v;
	const char *suffix;
	char *intent;

	if (t->prefix != NULL) {
		suffix = json_string_value(json_object_get(args,
		    "intent_suffix"));
		if (suffix == NULL || *suffix == '\0') {
			*why = "intent_suffix must be a non-empty string: "
			    "it completes the intent's name";
			return NULL;
		}
		if (asprintf(&intent, "%s%s", t->prefix, suffix) == -1) {
			*why = "out of memory";
			return NULL;
		}
	} else if ((intent = strdup(t->row->pattern)) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	frame = json_pack("{s:I, s:s, s:s}", "channel_id", (json_int_t)channel,
	    "intent", intent, "from_aint", aint);
	free(intent);
	if (frame == NULL) {
		*why = "out of memory";
		return NULL;
	}
	if ((v = json_object_get(args, "payload")) != NULL)
		json_object_set(frame, "payload", v);
	else if (t->payload_optional)
		json_object_set_new(frame, "payload", json_string(""));
	if ((v = json_object_get(args, "files")) != NULL)
		json_object_set(frame, "files", v);
	if ((v = json_object_get(args, "limits")) != NULL)
		json_object_set(frame, "limits", v);
	return frame;
}

static json_t *
copy_or_null(json_t *v, int (*is)(const json_t *))
{
	return v != NULL && is(v) ? json_incref(v) : json_null();
}

static int
isint(const json_t *v)
{
	return json_is_integer(v);
}

static int
isstr(const json_t *v)
{
	return json_is_string(v);
}

/*
 * The result of a call, from airlock-muxd's answer (airlock-muxd(8),
 * ANSWERS): structured content, and the same as JSON text for clients
 * that read only text.  A verdict other than 200 is a tool error to the
 * agent, token and all.
 */
json_t *
tools_result(json_t *ans)
{
	const struct verdict_row *vr;
	json_t *res, *sc, *token, *v, *out;
	const char *type = NULL;
	char *text;
	int status = 500;

	if (json_is_integer(json_object_get(ans, "status")))
		status = (int)json_integer_value(json_object_get(ans,
		    "status"));
	res = json_object_get(ans, "result");
	token = json_object_get(ans, "tibet_provenance");
	if (!json_is_object(token))
		token = NULL;
	if (token != NULL)
		type = json_string_value(json_object_get(token, "token_type"));
	if (type == NULL && (vr = verdict_for(status)) != NULL)
		type = vr->token_type;
	if ((sc = json_object()) == NULL)
		return tools_error("airlock-mcp: out of memory");
	json_object_set_new(sc, "status", json_integer(status));
	json_object_set_new(sc, "verdict", type != NULL ? json_string(type) :
	    json_null());
	json_object_set_new(sc, "reason",
	    copy_or_null(json_object_get(ans, "reason"), isstr));
	json_object_set_new(sc, "exit_code",
	    copy_or_null(json_object_get(res, "exit_code"), isint));
	json_object_set_new(sc, "signal",
	    copy_or_null(json_object_get(res, "signal"), isint));
	json_object_set_new(sc, "stdout",
	    copy_or_null(json_object_get(res, "stdout"), isstr));
	json_object_set_new(sc, "stderr",
	    copy_or_null(json_object_get(res, "stderr"), isstr));
	json_object_set_new(sc, "stdout_truncated",
	    json_boolean(json_is_true(json_object_get(res,
	    "stdout_truncated"))));
	json_object_set_new(sc, "stderr_truncated",
	    json_boolean(json_is_true(json_object_get(res,
	    "stderr_truncated"))));
	if (json_is_string(v = json_object_get(res, "stdout_b64")))
		json_object_set(sc, "stdout_b64", v);
	if (json_is_string(v = json_object_get(res, "stderr_b64")))
		json_object_set(sc, "stderr_b64", v);
	v = json_object_get(res, "files");
	json_object_set_new(sc, "files", json_is_object(v) ? json_incref(v) :
	    json_object());
	json_object_set_new(sc, "intent",
	    copy_or_null(json_object_get(ans, "intent"), isstr));
	json_object_set_new(sc, "run_id",
	    copy_or_null(json_object_get(ans, "id"), isstr));
	json_object_set_new(sc, "from_aint", copy_or_null(token != NULL ?
	    json_object_get(token, "ains_identity") : NULL, isstr));
	json_object_set_new(sc, "token", token != NULL ? json_incref(token) :
	    json_null());
	if ((text = json_dumps(sc, JSON_COMPACT)) == NULL) {
		json_decref(sc);
		return tools_error("airlock-mcp: out of memory");
	}
	out = json_pack("{s:[{s:s, s:s}], s:o, s:b}", "content",
	    "type", "text", "text", text,
	    "structuredContent", sc, "isError", status != 200);
	free(text);
	if (out == NULL)
		return tools_error("airlock-mcp: out of memory");
	return out;
}
