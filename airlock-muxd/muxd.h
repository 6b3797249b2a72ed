/*
 * airlock-muxd: the pipeline as a service (DESIGN.md section 6;
 * airlock-muxd(8) is the contract).  One process, one poll(2) loop: client
 * connections on one side, the pipeline's stages on the other, and every
 * record between two stages passes through muxd so that it always knows
 * which stage holds which frame.
 */
#ifndef MUXD_H
#define MUXD_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "airlock.h"

/* Defaults; airlock-muxd(8) lists them. */
#define MUXD_PORT		"4430"
#define MUXD_FRAME_MAX		(1024 * 1024 + 64 * 1024)
#define MUXD_CONN_MAX		256
#define MUXD_FLIGHT_MAX		256
#define MUXD_CONN_FLIGHT_MAX	32
#define MUXD_READ_TIMEOUT	10		/* seconds */
#define MUXD_IDLE_TIMEOUT	60		/* seconds */
#define MUXD_WRITE_TIMEOUT	30		/* seconds */
#define MUXD_DEADLINE		300		/* seconds */
#define MUXD_MAX_STAGES		16
#define MUXD_FRAME_CAP		(64 * 1024 * 1024)	/* most -m allows */
/* Unsent answer bytes after which muxd takes no frame from a client. */
#define MUXD_OUT_MAX		(1024 * 1024)
/* A stage's output line may carry a whole run's output; refuse beyond. */
#define MUXD_RECORD_MAX		(32 * 1024 * 1024)
/* What a line muxd writes a stage may add to the frame (-m) in it. */
#define MUXD_LINE_SLACK		1024
/* How long the first frame of a dribbling client waits for its newline. */
#define MUXD_MODE_GRACE_US	20000
/* How long a finished connection waits for the client's EOF. */
#define MUXD_LINGER_US		2000000
/* Tries to have a record signed before giving up on the signer. */
#define MUXD_SIGN_TRIES		3

struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	size_t	 max;		/* most it ever holds, if known, for its size */
};

enum conn_mode {
	MODE_UNKNOWN,		/* first frame not yet classified */
	MODE_SINGLE,		/* original airlock: one frame, pretty answer */
	MODE_LINES,		/* JSON lines: many frames, compact answers */
};

struct conn {
	int		 rfd;		/* socket, or 0 in inetd mode */
	int		 wfd;		/* socket, or 1 in inetd mode */
	int		 issock;
	char		 peer[64];
	enum conn_mode	 mode;
	struct buf	 in;		/* received, not yet consumed */
	size_t		 scan;		/* bytes of in already scanned */
	int		 started;	/* a frame's first byte has arrived */
	int		 isvalue;	/* first frame opened with { or [ */
	int		 depth, instr, esc;	/* scanner for the first frame */
	int		 reads;		/* reads that fed the first frame */
	int		 dribbled;	/* first frame came in several reads */
	int		 first_done;	/* first frame dispatched */
	int		 discarding;	/* skipping an over-long line */
	uint64_t	 frame_t0;	/* first byte of the frame being read */
	uint64_t	 first_at;	/* when the first frame completed */
	uint64_t	 last_io;	/* last frame byte, or answer written */
	uint64_t	 last_write;	/* last write progress */
	int		 nframes;	/* frames whose answer is not written */
	int		 nflight;	/* of those, the ones in flight */
	TAILQ_HEAD(, frame) answers;	/* answered, text not yet all in out */
	struct buf	 out;		/* answer text not yet written */
	size_t		 outoff;
	int		 rdeof;		/* the client sent EOF */
	int		 dead;		/* gone; freed at the end of the loop */
	int		 stopread;	/* frames after this are not read */
	int		 closing;	/* all answered; waiting for EOF */
	uint64_t	 linger_until;
	LIST_ENTRY(conn) link;
};

struct stage;
struct inst;
struct answer;

struct frame {
	char		 id[RECORD_ID_LEN + 1];
	struct conn	*conn;		/* NULL once its client is gone */
	/*
	 * channel_id and intent as sent, as compact JSON (or NULL): text,
	 * since jansson holds a value such as [{},{},...] in 78 times its
	 * size; and printable for the log.
	 */
	char		*chan_json, *intent_json;
	char		 chan_log[32], intent_log[80];
	int		 stage;		/* stage it is queued for or held by */
	struct inst	*inst;		/* instance holding it, or NULL */
	char		*rec;		/* line (with newline) for that stage */
	size_t		 reclen;
	int		 queued;	/* in its stage's queue */
	int		 tries;		/* times sent to the signer */
	int		 inflight;	/* counts against the in-flight caps */
	struct answer	*ans;		/* its answer, once it has one */
	uint64_t	 t0;		/* when the frame was complete */
	uint64_t	 stage_t0;	/* when it was queued for its stage */
	uint64_t	 deadline;
	struct frame	*hnext;		/* id hash chain */
	TAILQ_ENTRY(frame) q;		/* in its stage's queue */
	TAILQ_ENTRY(frame) aq;		/* in its connection's answers */
	LIST_ENTRY(frame) link;		/* every live frame */
};

TAILQ_HEAD(frameq, frame);

struct inst {
	struct stage	*stage;
	pid_t		 pid;
	int		 wfd;		/* its stdin; -1 once closed */
	int		 rfd;		/* its stdout; -1 at EOF */
	struct frame	*cur;		/* record being written */
	size_t		 curoff;
	struct buf	 rbuf;		/* output not yet a whole line */
	int		 nheld;
	int		 draining;	/* replaced; finishing what it holds */
	int		 exited;
	int		 wstatus;
	uint64_t	 started;
	uint64_t	 exited_at;
	uint64_t	 term_at;	/* when to send the next signal */
	int		 termsent;	/* SIGTERM sent; SIGKILL next */
	LIST_ENTRY(inst) link;
};

struct stage {
	int		 index;
	char		*cmd;		/* as given */
	char		*name;		/* program name, for messages */
	char		**argv;
	char		**envv;		/* NAME=value words before the program */
	struct inst	*cur;		/* takes new records; NULL while down */
	struct frameq	 queue;
	int		 fails;		/* quick deaths in a row */
	uint64_t	 restarts;	/* for the metrics */
	uint64_t	 restart_at;	/* 0: not waiting to restart */
};

struct muxd {
	/* Configuration. */
	size_t		 frame_max;
	int		 conn_max;
	int		 flight_max;
	int		 conn_flight_max;
	size_t		 out_max;
	size_t		 record_max;
	uint64_t	 read_us;
	uint64_t	 idle_us;
	uint64_t	 write_us;
	uint64_t	 deadline_us;
	const char	*selfdir;
	const char	*user;		/* -u: whom muxd serves as */

	/* State. */
	struct stage	 stages[MUXD_MAX_STAGES];
	int		 nstages;
	LIST_HEAD(, inst) insts;
	LIST_HEAD(, conn) conns;
	LIST_HEAD(, frame) frames;
	int		 nconns;
	int		 nframes;	/* live frames, any kind */
	int		 nflight;	/* frames in the pipeline proper */
	int		 draining;	/* SIGTERM seen */
	int		 fatal;		/* the spawner died: exit 111 */
	uint64_t	 frames_in;
	uint64_t	 tokens_out;
	uint64_t	 unsigned_out;
	uint64_t	 refused;
};

extern struct muxd mx;

/* What only the metrics count. */
struct mstats {
	uint64_t	 conns;		/* connections served */
	uint64_t	 bytes_in;	/* from clients */
	uint64_t	 bytes_out;	/* to clients */
	uint64_t	 mrefused;	/* metrics requests refused */
};

extern struct mstats ms;
struct mconn;

/* airlock-muxd.c */
void		 buf_reserve(struct buf *, size_t);
void		 buf_add(struct buf *, const void *, size_t);
void		 buf_consume(struct buf *, size_t);
void		 buf_free(struct buf *);

/* answer.c */
struct answer	*answer_new(const struct frame *, json_t *rec, int *status);
int		 answer_write(struct answer *, int pretty, struct buf *,
		    size_t room);
void		 answer_free(struct answer *);

/* client.c */
struct conn	*conn_new(int rfd, int wfd, int issock, const char *peer);
void		 conn_free(struct conn *);
void		 conn_read(struct conn *);
void		 conn_resume(struct conn *);
void		 conn_hangup(struct conn *);
void		 conn_write(struct conn *);
void		 conn_timers(struct conn *, uint64_t now, uint64_t *next);
void		 conn_answer(struct conn *, struct frame *);
void		 conn_frame_done(struct conn *, int inflight);
void		 conn_drain(struct conn *);
int		 conn_wants_read(const struct conn *);
int		 conn_wants_write(const struct conn *);

/* frame.c */
struct frame	*frame_new(struct conn *);
void		 frame_free(struct frame *);
struct frame	*frame_find(const char *id);
void		 frame_dispatch(struct conn *, const char *, size_t);
void		 frame_reject(struct frame *, const char *frametext,
		    size_t len, json_t *frame, int status, const char *error,
		    const char *reason);
void		 frame_fail(struct frame *, const char *error,
		    const char *reason);
void		 frame_signed(struct frame *, json_t *rec);
void		 frame_unsigned(struct frame *, const char *reason);
void		 frame_timers(uint64_t now, uint64_t *next);
void		 frame_set_rec(struct frame *, char *line, size_t len);

/* metrics.c */
void		 metrics_frame(json_t *rec, int status, uint64_t t0);
void		 metrics_stage(int stage, uint64_t us);
void		 metrics_accept(int lfd);
void		 metrics_io(struct mconn *, short revents);
short		 metrics_events(const struct mconn *);
int		 metrics_fd(const struct mconn *);
struct mconn	*metrics_first(void);
struct mconn	*metrics_next(struct mconn *);
void		 metrics_timers(uint64_t now, uint64_t *next);

/* pipeline.c */
int		 stage_parse(const char *spec);
int		 pipeline_start(void);
void		 pipeline_enqueue(struct frame *, int stage, int front);
void		 pipeline_read(struct inst *);
void		 pipeline_write(struct inst *);
void		 pipeline_exited(pid_t, int status);
void		 pipeline_orphaned(void);
void		 pipeline_timers(uint64_t now, uint64_t *next);
void		 pipeline_reload(void);
void		 pipeline_drain(void);
void		 pipeline_stop(void);
int		 pipeline_idle(void);
void		 inst_kill(struct inst *, const char *why);

/* spawn.c */
void		 spawn_init(void);
pid_t		 spawn_pid(void);
int		 spawn_fd(void);
pid_t		 spawn_stage(int stage, int *wfd, int *rfd);
void		 spawn_signal(pid_t, int sig);
int		 spawn_read(void (*)(pid_t, int));

#endif
