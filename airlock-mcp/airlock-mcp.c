/*
 * airlock-mcp: airlock as a Model Context Protocol server on standard
 * input and output (airlock-mcp(1) is the contract).  Thin glue: JSON-RPC
 * 2.0 messages, one per line, in; one tool per intent table row; each
 * tools/call one frame for airlock-muxd, whose answer, signed token and
 * all, is the call's result.  One poll(2) loop, no threads.
 */
#include <sys/queue.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "airlock.h"
#include "jsonl.h"
#include "mcp.h"

/* Newest first; the first is what a client asking for another gets. */
static const char *const versions[] = {
	"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05",
};

static LIST_HEAD(, call)	 calls = LIST_HEAD_INITIALIZER(calls);
static uint32_t			 nextchannel;
static const char		*aint;
static char			*clientaint;
static uint64_t			 wait_us = (uint64_t)MCP_WAIT * 1000000;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: airlock-mcp [-pqVv] [-a aint] [-c address:port] "
	    "[-P pipeline]\n"
	    "                   [-t intents] [-w seconds]\n");
	exit(EXIT_USAGE);
}

/* One message to the client, on one line. */
static void
emit(json_t *msg)
{
	if (jsonl_write(stdout, msg) != 0)
		err(EXIT_SYSTEM, "write");
	json_decref(msg);
}

static void
reply(json_t *id, json_t *result)
{
	if (result == NULL) {
		emit(json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0",
		    "id", id, "error", "code", RPC_INTERNAL_ERROR, "message",
		    "out of memory"));
		return;
	}
	emit(json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id,
	    "result", result));
}

static void	fail(json_t *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* A JSON-RPC error; id is null when the request's id is not known. */
static void
fail(json_t *id, int code, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_debug("error %d: %s", code, text);
	emit(json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0",
	    "id", id != NULL ? id : json_null(), "error", "code", code,
	    "message", text));
}

void
call_answered(struct call *c, json_t *result)
{
	if (c->cancelled)
		json_decref(result);
	else
		reply(c->rpcid, result);
	LIST_REMOVE(c, all);
	json_decref(c->rpcid);
	free(c);
}

static void
initialize(json_t *id, json_t *params)
{
	const char *want, *name, *have;
	size_t i;

	want = json_string_value(json_object_get(params, "protocolVersion"));
	if (want == NULL) {
		fail(id, RPC_INVALID_PARAMS, "initialize: params.protocolVersion "
		    "must be a string");
		return;
	}
	have = versions[0];
	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
		if (strcmp(want, versions[i]) == 0)
			have = versions[i];
	/* Frames say who sent them: the client's name, unless -a says. */
	name = json_string_value(json_object_get(json_object_get(params,
	    "clientInfo"), "name"));
	free(clientaint);
	clientaint = NULL;
	if (name != NULL && asprintf(&clientaint, "mcp:%s", name) == -1)
		clientaint = NULL;
	log_debug("initialize: protocol %s (asked %s), client %s", have, want,
	    name != NULL ? name : "-");
	reply(id, json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:s}",
	    "protocolVersion", have,
	    "capabilities", "tools", "listChanged", 0,
	    "serverInfo", "name", "airlock-mcp", "title", "airlock",
	    "version", AIRLOCK_VERSION,
	    "instructions", "Each tool runs its payload in an airlock sandbox "
	    "under the intent's SNAFT policy and limits, and returns stdout, "
	    "stderr, the exit code, the verdict (status and token type) and a "
	    "signed TIBET token that anyone can verify with airlock-sign -V "
	    "and the signer's public key."));
}

static void
tools_call(json_t *id, json_t *params)
{
	const struct tool *t;
	const char *name, *why = NULL;
	struct call *c;
	json_t *args, *frame;

	if ((name = json_string_value(json_object_get(params, "name"))) ==
	    NULL) {
		fail(id, RPC_INVALID_PARAMS, "tools/call: params.name must be "
		    "a string");
		return;
	}
	if ((t = tools_find(name)) == NULL) {
		fail(id, RPC_INVALID_PARAMS, "tools/call: unknown tool: %s",
		    name);
		return;
	}
	args = json_object_get(params, "arguments");
	if (args != NULL && !json_is_object(args) && !json_is_null(args)) {
		fail(id, RPC_INVALID_PARAMS, "tools/call: params.arguments "
		    "must be an object");
		return;
	}
	if (nextchannel == UINT32_MAX)
		nextchannel = 0;
	frame = tools_frame(t, json_is_object(args) ? args : NULL,
	    ++nextchannel, aint != NULL ? aint : clientaint != NULL ?
	    clientaint : "mcp", &why);
	if (frame == NULL) {
		fail(id, RPC_INVALID_PARAMS, "tools/call %s: %s", name, why);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		json_decref(frame);
		fail(id, RPC_INTERNAL_ERROR, "out of memory");
		return;
	}
	c->rpcid = json_incref(id);
	c->channel = nextchannel;
	c->deadline = now_us() + wait_us;
	LIST_INSERT_HEAD(&calls, c, all);
	log_debug("tools/call %s: frame %u", name, c->channel);
	up_send(c, frame);
	json_decref(frame);
}

/* notifications/cancelled: the call's answer is not sent. */
static void
cancelled(json_t *params)
{
	json_t *rid = json_object_get(params, "requestId");
	struct call *c;

	LIST_FOREACH(c, &calls, all)
		if (rid != NULL && json_equal(c->rpcid, rid))
			c->cancelled = 1;
}

/*
 * One message from the client.  Requests get exactly one response, a
 * result or an error; notifications none; responses (we send no
 * requests) are ignored.
 */
static void
message(const char *line, size_t len)
{
	struct jsonl_error je;
	json_t *msg, *id, *params;
	const char *method, *ver;

	if ((msg = jsonl_parse(line, len, &je)) == NULL) {
		if (je.code == JSONL_NOT_OBJECT)
			fail(NULL, RPC_INVALID_REQUEST, "Invalid Request: a "
			    "message is one JSON object (batches are not "
			    "supported)");
		else
			fail(NULL, RPC_PARSE_ERROR, "Parse error: %s", je.text);
		return;
	}
	id = json_object_get(msg, "id");
	if (id != NULL && !json_is_string(id) && !json_is_integer(id)) {
		fail(NULL, RPC_INVALID_REQUEST, "Invalid Request: id must be a "
		    "string or an integer");
		goto done;
	}
	ver = json_string_value(json_object_get(msg, "jsonrpc"));
	if (ver == NULL || strcmp(ver, "2.0") != 0) {
		fail(id, RPC_INVALID_REQUEST, "Invalid Request: jsonrpc must "
		    "be \"2.0\"");
		goto done;
	}
	method = json_string_value(json_object_get(msg, "method"));
	if (method == NULL) {
		if (id != NULL && (json_object_get(msg, "result") != NULL ||
		    json_object_get(msg, "error") != NULL))
			goto done;	/* a response: we asked nothing */
		fail(id, RPC_INVALID_REQUEST, "Invalid Request: method must "
		    "be a string");
		goto done;
	}
	params = json_object_get(msg, "params");
	if (params != NULL && !json_is_object(params)) {
		if (id != NULL)
			fail(id, RPC_INVALID_PARAMS, "%s: params must be an "
			    "object", method);
		goto done;
	}
	if (id == NULL) {
		if (strcmp(method, "notifications/cancelled") == 0)
			cancelled(params);
		else
			log_debug("notification %s", method);
		goto done;
	}
	if (strcmp(method, "initialize") == 0)
		initialize(id, params);
	else if (strcmp(method, "ping") == 0)
		reply(id, json_object());
	else if (strcmp(method, "tools/list") == 0)
		reply(id, tools_list());
	else if (strcmp(method, "tools/call") == 0)
		tools_call(id, params);
	else
		fail(id, RPC_METHOD_NOT_FOUND, "Method not found: %s", method);
done:
	json_decref(msg);
}

static void
timers(uint64_t now, int *timeout)
{
	struct call *c, *nc;
	uint64_t next = now + 1000000;

	for (c = LIST_FIRST(&calls); c != NULL; c = nc) {
		nc = LIST_NEXT(c, all);
		if (now >= c->deadline) {
			up_forget(c);
			call_answered(c, tools_error("airlock-mcp: no answer "
			    "from airlock-muxd within %llu s; the frame may "
			    "still run, and its token will be in the chain",
			    (unsigned long long)(wait_us / 1000000)));
		} else if (c->deadline < next)
			next = c->deadline;
	}
	*timeout = (int)((next - now + 999) / 1000);
}

int
main(int argc, char *argv[])
{
	struct jsonl_reader *r;
	struct pollfd *pfds = NULL;
	size_t npfd, cap = 0;
	const char *address = NULL, *pipeline = NULL, *intents = NULL, *line;
	char errbuf[512];
	size_t len;
	long long secs;
	int ch, private = 0, rc, timeout, quiet = 0, inopen = 1;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("airlock-mcp %s\n", AIRLOCK_VERSION);
		return EXIT_OK;
	}
	while ((ch = getopt(argc, argv, "a:c:pP:qt:Vvw:")) != -1) {
		switch (ch) {
		case 'a':
			aint = optarg;
			break;
		case 'c':
			address = optarg;
			break;
		case 'p':
			private = 1;
			break;
		case 'P':
			private = 1;
			pipeline = optarg;
			break;
		case 'q':
			quiet = 1;
			log_level = 0;
			break;
		case 't':
			intents = optarg;
			break;
		case 'V':
			printf("airlock-mcp %s\n", AIRLOCK_VERSION);
			return EXIT_OK;
		case 'v':
			log_level = 2;
			break;
		case 'w':
			if (parse_number(optarg, 1, 86400, &secs) != 0) {
				warnx("-w must be a number from 1 to 86400: %s",
				    optarg);
				usage();
			}
			wait_us = (uint64_t)secs * 1000000;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (private && address != NULL) {
		warnx("-c and -p are exclusive");
		usage();
	}
	if (intents == NULL && (intents = getenv("AIRLOCK_INTENTS")) != NULL &&
	    *intents == '\0')
		intents = NULL;
	if (intents == NULL)
		intents = MCP_INTENTS;
	/* A private pipeline's stages read the same table as the tools. */
	if (private && setenv("AIRLOCK_INTENTS", intents, 1) == -1)
		err(EXIT_SYSTEM, "setenv");
	if (tools_load(intents, errbuf, sizeof(errbuf)) == -1)
		errx(EXIT_SYSTEM, "%s", errbuf);
	if (!private && address == NULL)
		address = MCP_MUXD;
	up_init(private ? NULL : address, pipeline, quiet);
	/* A client or muxd that goes away is an error return, not a death. */
	signal(SIGPIPE, SIG_IGN);

	if ((r = jsonl_reader_new(STDIN_FILENO, MCP_LINE_MAX)) == NULL)
		err(EXIT_SYSTEM, "jsonl_reader_new");
	if (fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) |
	    O_NONBLOCK) == -1)
		err(EXIT_SYSTEM, "stdin");
	log_debug("ready: %s", private ? "private pipeline" : address);
	for (;;) {
		while (inopen) {
			rc = jsonl_next(r, &line, &len);
			if (rc == -1 && (errno == EAGAIN || errno == EINTR))
				break;
			if (rc == -1)
				err(EXIT_SYSTEM, "read");
			if (rc == 0) {
				inopen = 0;
				break;
			}
			if (line == NULL)
				fail(NULL, RPC_INVALID_REQUEST, "Invalid "
				    "Request: a message of %zu bytes, over the "
				    "cap of %u", len, MCP_LINE_MAX);
			else
				message(line, len);
		}
		/*
		 * The client's end of input: calls on their way are still
		 * answered (a client may close its side and read on), then
		 * the server exits, as the stdio transport's shutdown asks.
		 */
		if (!inopen && LIST_EMPTY(&calls))
			break;
		timers(now_us(), &timeout);
		npfd = 0;
		if (cap == 0) {
			cap = 16;
			if ((pfds = calloc(cap, sizeof(*pfds))) == NULL)
				err(EXIT_SYSTEM, "calloc");
		}
		pfds[0].fd = inopen ? STDIN_FILENO : -1;
		pfds[0].events = POLLIN;
		pfds[0].revents = 0;
		npfd = 1;
		up_poll(&pfds, &npfd, &cap);
		if (poll(pfds, npfd, timeout) == -1) {
			if (errno == EINTR)
				continue;
			err(EXIT_SYSTEM, "poll");
		}
		up_events(pfds + 1, npfd - 1);
	}
	log_debug("standard input ended: done");
	up_close();
	jsonl_reader_free(r);
	free(pfds);
	return EXIT_OK;
}
