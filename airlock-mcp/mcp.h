/*
 * airlock-mcp: the MCP front end for agents (airlock-mcp(1) is the
 * contract).  A JSON-RPC 2.0 server on standard input and output whose
 * tools are the rows of the intent table; each call becomes one frame for
 * airlock-muxd, and its answer, with the signed token, the call's result.
 */
#ifndef MCP_H
#define MCP_H

#include <sys/queue.h>
#include <sys/types.h>

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "intents.h"

/* Defaults; airlock-mcp(1) lists them. */
#define MCP_MUXD	"127.0.0.1:4430"
#define MCP_INTENTS	"/etc/airlock/intents"
#define MCP_WAIT	330		/* seconds: muxd's deadline, and some */
#define MCP_LINE_MAX	(64u * 1024 * 1024)	/* one JSON-RPC message */
#define MCP_ANSWER_MAX	(256u * 1024 * 1024)	/* one answer from muxd */

/* JSON-RPC 2.0's error codes, the ones MCP uses. */
#define RPC_PARSE_ERROR		-32700
#define RPC_INVALID_REQUEST	-32600
#define RPC_METHOD_NOT_FOUND	-32601
#define RPC_INVALID_PARAMS	-32602
#define RPC_INTERNAL_ERROR	-32603

struct tool {
	char			*name;
	const struct intent	*row;
	char			*prefix;	/* a '*' row: the intent before it */
	int			 payload_optional;
	json_t			*json;		/* its tools/list entry */
};

struct link;

/* One tools/call on its way. */
struct call {
	json_t		*rpcid;		/* the request's id */
	uint32_t	 channel;	/* the frame's channel_id */
	struct link	*link;
	uint64_t	 deadline;
	int		 cancelled;	/* notifications/cancelled: no answer */
	TAILQ_ENTRY(call) lq;		/* on its link */
	LIST_ENTRY(call) all;
};

TAILQ_HEAD(callq, call);

/* tools.c */
int		 tools_load(const char *path, char *err, size_t errlen);
json_t		*tools_list(void);
const struct tool *tools_find(const char *name);
json_t		*tools_frame(const struct tool *, json_t *args, uint32_t channel,
		    const char *aint, const char **why);
json_t		*tools_result(json_t *answer);
json_t		*tools_error(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));

/* upstream.c */
void		 up_init(const char *address, const char *pipeline, int quiet);
int		 up_send(struct call *, json_t *frame);
void		 up_poll(struct pollfd **, size_t *, size_t *);
void		 up_events(const struct pollfd *, size_t n);
void		 up_forget(struct call *);
void		 up_close(void);

/* airlock-mcp.c */
void		 call_answered(struct call *, json_t *result);

#endif
