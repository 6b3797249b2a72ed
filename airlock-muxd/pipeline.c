/*
 * The pipeline: each stage a child process whose stdin and stdout are pipes
 * to muxd.  muxd carries every record from one stage to the next itself,
 * so it always knows which stage holds which frame: when a stage dies, the
 * frames it held (and only those) get 500 tokens, and the rest carry on.
 * The last stage is the signer; muxd keeps every record it gave the signer
 * until the token comes back, and gives it again to a restarted signer, so
 * one signer and one chain sign everything, muxd's own refusals included.
 */
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "airlock.h"
#include "jsonl.h"
#include "muxd.h"

#define READ_CHUNK	(1024 * 1024)
#define RESTART_MIN_US	100000		/* first delay after a quick death */
#define RESTART_MAX_US	10000000
#define QUICK_DEATH_US	1000000		/* dying sooner than this is quick */
#define EOF_WAIT_US	1000000		/* output still owed after exit */
#define TERM_WAIT_US	5000000		/* EOF to SIGTERM, SIGTERM to SIGKILL */

static int	stopping;

static int
isname(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || !(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') ||
	    (s[0] >= 'a' && s[0] <= 'z')))
		return 0;
	for (i = 1; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

/* Split one stage command into NAME=value words and argv. */
static int
stage_add(const char *cmd)
{
	struct stage *s;
	char *copy, *w, *save, *eq;
	size_t nw = 0, na = 0, ne = 0;

	if (mx.nstages == MUXD_MAX_STAGES) {
		warnx("more than %d stages", MUXD_MAX_STAGES);
		return -1;
	}
	s = &mx.stages[mx.nstages];
	if ((s->cmd = strdup(cmd)) == NULL || (copy = strdup(cmd)) == NULL)
		return -1;
	for (w = copy; *w != '\0'; w++)
		if (*w != ' ' && *w != '\t' && (w == copy || w[-1] == ' ' ||
		    w[-1] == '\t'))
			nw++;
	if ((s->argv = calloc(nw + 1, sizeof(char *))) == NULL ||
	    (s->envv = calloc(nw + 1, sizeof(char *))) == NULL)
		return -1;
	for (w = strtok_r(copy, " \t", &save); w != NULL;
	    w = strtok_r(NULL, " \t", &save)) {
		eq = strchr(w, '=');
		if (na == 0 && eq != NULL && isname(w, (size_t)(eq - w)))
			s->envv[ne++] = w;
		else
			s->argv[na++] = w;
	}
	if (na == 0) {
		warnx("empty stage command: \"%s\"", cmd);
		return -1;
	}
	s->name = s->argv[0];
	if (strrchr(s->name, '/') != NULL)
		s->name = strrchr(s->name, '/') + 1;
	s->index = mx.nstages++;
	TAILQ_INIT(&s->queue);
	return 0;
}

/* "cmd1 | cmd2 | ..." (-P), or one command (-s; a | splits it too). */
int
stage_parse(const char *spec)
{
	char *copy, *p, *bar;
	int rc = 0;

	if ((copy = strdup(spec)) == NULL)
		return -1;
	for (p = copy; rc == 0; p = bar + 1) {
		if ((bar = strchr(p, '|')) != NULL)
			*bar = '\0';
		rc = stage_add(p);
		if (bar == NULL)
			break;
	}
	free(copy);
	return rc;
}

static void
setnonblock(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) != -1)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Start one instance of stage s, through the spawner (spawn.c). */
static struct inst *
inst_spawn(struct stage *s)
{
	struct inst *in;
	int wfd, rfd;
	pid_t pid;

	if ((pid = spawn_stage(s->index, &wfd, &rfd)) == -1)
		return NULL;
	if ((in = calloc(1, sizeof(*in))) == NULL) {
		spawn_signal(pid, SIGKILL);
		close(wfd);
		close(rfd);
		return NULL;
	}
	in->stage = s;
	in->pid = pid;
	in->wfd = wfd;
	in->rfd = rfd;
	in->started = now_us();
	/* A line, and the read that went past it. */
	in->rbuf.max = mx.record_max + READ_CHUNK + 1;
	setnonblock(in->wfd);
	setnonblock(in->rfd);
	LIST_INSERT_HEAD(&mx.insts, in, link);
	log_debug("stage %d: %s started (pid %d)", s->index, s->name, (int)pid);
	return in;
}

int
pipeline_start(void)
{
	struct stage *s;
	int i;

	for (i = 0; i < mx.nstages; i++) {
		s = &mx.stages[i];
		if ((s->cur = inst_spawn(s)) == NULL) {
			warn("exec %s", s->argv[0]);
			return -1;
		}
	}
	return 0;
}

void
inst_kill(struct inst *in, const char *why)
{
	if (in->exited)
		return;
	log_info("stage %d: %s (pid %d): %s; killing it", in->stage->index,
	    in->stage->name, (int)in->pid, why);
	spawn_signal(in->pid, SIGKILL);
}

void
pipeline_write(struct inst *in)
{
	struct stage *s = in->stage;
	struct frame *f;
	ssize_t n;

	while (in->wfd >= 0) {
		if ((f = in->cur) == NULL) {
			if (in->draining || s->cur != in ||
			    (f = TAILQ_FIRST(&s->queue)) == NULL)
				break;
			TAILQ_REMOVE(&s->queue, f, q);
			f->queued = 0;
			f->inst = in;
			in->nheld++;
			in->cur = f;
			in->curoff = 0;
			if (s->index == mx.nstages - 1)
				f->tries++;
		}
		n = write(in->wfd, f->rec + in->curoff, f->reclen - in->curoff);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			/* It closed its input: it cannot take any more. */
			close(in->wfd);
			in->wfd = -1;
			if (errno != EPIPE || !in->exited)
				inst_kill(in, "its input is closed");
			return;
		}
		in->curoff += (size_t)n;
		if (in->curoff == f->reclen)
			in->cur = NULL;
	}
	if (in->draining && in->cur == NULL && in->wfd >= 0) {
		close(in->wfd);
		in->wfd = -1;
	}
}

/*
 * f waits for a stage that will never run again: muxd is draining, and
 * restarts nothing.  It is answered now, not at the deadline: a 500 from
 * the signer, or, if the signer is the stage that is gone, without a
 * token, logged "unsigned".
 */
static void
nostage(struct frame *f, struct stage *s)
{
	char reason[256];

	snprintf(reason, sizeof(reason), "%s (stage %d) is gone and "
	    "airlock-muxd is shutting down", s->name, s->index);
	if (s->index == mx.nstages - 1)
		frame_unsigned(f, reason);
	else
		frame_fail(f, "stage_died", reason);
}

/* Everything queued for s, whose instance is gone for good. */
static void
stage_gone(struct stage *s)
{
	struct frame *f;

	while ((f = TAILQ_FIRST(&s->queue)) != NULL) {
		TAILQ_REMOVE(&s->queue, f, q);
		f->queued = 0;
		nostage(f, s);
	}
}

void
pipeline_enqueue(struct frame *f, int stage, int front)
{
	struct stage *s = &mx.stages[stage];

	if (s->cur == NULL && mx.draining) {
		f->stage = stage;
		nostage(f, s);
		return;
	}
	f->stage = stage;
	f->stage_t0 = now_us();
	f->queued = 1;
	if (front)
		TAILQ_INSERT_HEAD(&s->queue, f, q);
	else
		TAILQ_INSERT_TAIL(&s->queue, f, q);
	if (s->cur != NULL)
		pipeline_write(s->cur);
}

/* One line of a stage's output: route it on by its id. */
static void
online(struct inst *in, char *line, size_t len)
{
	struct stage *s = in->stage;
	struct jsonl_error je;
	struct frame *f;
	const char *id;
	json_t *rec;
	char *copy;

	if ((rec = jsonl_parse(line, len, &je)) == NULL) {
		/* A stage that breaks the protocol cannot be trusted with more. */
		log_info("stage %d: %s: bad output line: %s", s->index, s->name,
		    je.text);
		inst_kill(in, "protocol error");
		return;
	}
	id = jsonl_get_string(rec, "id");
	if (id == NULL || strlen(id) != RECORD_ID_LEN) {
		log_info("stage %d: %s: output line without a run id",
		    s->index, s->name);
		inst_kill(in, "protocol error");
		goto out;
	}
	if ((f = frame_find(id)) == NULL || f->inst != in || f == in->cur) {
		/*
		 * Late (its frame already got a deadline token) or never
		 * ours, as when a first stage does not keep the id muxd gave.
		 */
		log_info("stage %d: %s: record %s for no frame it holds; "
		    "dropped", s->index, s->name, id);
		goto out;
	}
	in->nheld--;
	f->inst = NULL;
	metrics_stage(s->index, now_us() - f->stage_t0);
	if (s->index == mx.nstages - 1) {
		frame_signed(f, rec);
		goto out;
	}
	if ((copy = malloc(len + 1)) == NULL) {
		frame_fail(f, "out_of_memory", "airlock-muxd: out of memory");
		goto out;
	}
	memcpy(copy, line, len);
	copy[len] = '\n';
	frame_set_rec(f, copy, len + 1);
	pipeline_enqueue(f, s->index + 1, 0);
out:
	json_decref(rec);
}

void
pipeline_read(struct inst *in)
{
	static char rbuf[READ_CHUNK];
	char *p, *nl;
	size_t off, start;
	ssize_t n;

	do
		n = read(in->rfd, rbuf, sizeof(rbuf));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		if (in->rbuf.len > 0)
			log_info("stage %d: %s: %zu bytes without a newline "
			    "at end of output; dropped", in->stage->index,
			    in->stage->name, in->rbuf.len);
		close(in->rfd);
		in->rfd = -1;
		buf_free(&in->rbuf);
		if (in->exited || in->stage->cur != in)
			return;
		/*
		 * Serving, a stage that closes its output is broken.
		 * Draining, it is ending in order (airlock-wake closes its
		 * output on SIGTERM, then stops its sandboxes and removes
		 * their sockets and cgroups): it gets no more records and is
		 * left to exit, or made to.
		 */
		if (mx.draining) {
			in->stage->cur = NULL;
			in->draining = 1;
			if (in->wfd >= 0) {
				close(in->wfd);
				in->wfd = -1;
			}
			stage_gone(in->stage);
		} else
			inst_kill(in, "closed its output");
		return;
	}
	/* Only the new bytes can hold a newline. */
	off = in->rbuf.len;
	buf_add(&in->rbuf, rbuf, (size_t)n);
	p = in->rbuf.p;
	start = 0;
	while ((nl = memchr(p + off, '\n', in->rbuf.len - off)) != NULL) {
		*nl = '\0';
		if (nl > p + start)
			online(in, p + start, (size_t)(nl - p) - start);
		start = off = (size_t)(nl - p) + 1;
	}
	buf_consume(&in->rbuf, start);
	if (in->rbuf.len == 0 && in->rbuf.cap > 4 * READ_CHUNK)
		buf_free(&in->rbuf);
	if (in->rbuf.len > mx.record_max) {
		inst_kill(in, "output line over the cap");
		in->rbuf.len = 0;
	}
}

static void
describe(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st),
		    strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "ended");
}

static void
schedule_restart(struct stage *s, uint64_t ran)
{
	uint64_t delay = 0;

	if (ran >= QUICK_DEATH_US)
		s->fails = 0;
	else
		s->fails++;
	if (s->fails > 0) {
		delay = RESTART_MIN_US << (s->fails > 10 ? 10 : s->fails - 1);
		if (delay > RESTART_MAX_US)
			delay = RESTART_MAX_US;
	}
	s->restart_at = now_us() + delay + 1;
}

/* The spawner reports that stage process pid ended with status st. */
void
pipeline_exited(pid_t pid, int st)
{
	struct inst *in;
	char how[96];

	LIST_FOREACH(in, &mx.insts, link)
		if (in->pid == pid && !in->exited)
			break;
	if (in == NULL)
		return;
	in->exited = 1;
	in->wstatus = st;
	in->exited_at = now_us();
	describe(st, how, sizeof(how));
	if (in->draining || stopping)
		log_debug("stage %d: %s (pid %d) %s", in->stage->index,
		    in->stage->name, (int)pid, how);
	else
		log_info("stage %d: %s (pid %d) %s; %d frames held",
		    in->stage->index, in->stage->name, (int)pid, how,
		    in->nheld);
	if (in->wfd >= 0) {
		close(in->wfd);
		in->wfd = -1;
	}
	if (in->stage->cur == in) {
		in->stage->cur = NULL;
		/*
		 * Not while draining: the stage most likely got the same
		 * SIGTERM as muxd (its whole process group was told to
		 * stop), and a new one would outlive the drain.
		 */
		if (mx.draining)
			stage_gone(in->stage);
		else
			schedule_restart(in->stage,
			    in->exited_at - in->started);
	}
}

/*
 * The spawner is gone (killed, since it never exits while muxd runs), and
 * with it every stage (their parent-death signal): nothing can be started
 * again.  Every instance counts as ended, and muxd drains.
 */
void
pipeline_orphaned(void)
{
	struct inst *in;

	LIST_FOREACH(in, &mx.insts, link)
		if (!in->exited)
			pipeline_exited(in->pid, SIGKILL);
}

/*
 * An instance that has exited and whose output is read to its end: what it
 * held and never gave back gets a 500 token (or, for the signer, goes to
 * the next signer).
 */
static void
finalize(struct inst *in)
{
	struct frame *f, *nf;
	struct stage *s = in->stage;
	char reason[256], how[96];
	int last = s->index == mx.nstages - 1;

	if (in->rfd >= 0)
		close(in->rfd);
	describe(in->wstatus, how, sizeof(how));
	snprintf(reason, sizeof(reason), "%s (stage %d) %s while holding this "
	    "frame", s->name, s->index, how);
	for (f = LIST_FIRST(&mx.frames); f != NULL; f = nf) {
		nf = LIST_NEXT(f, link);
		if (f->inst != in)
			continue;
		f->inst = NULL;
		in->nheld--;
		if (!last)
			frame_fail(f, "stage_died", reason);
		else if (f->tries < MUXD_SIGN_TRIES)
			pipeline_enqueue(f, s->index, 1);
		else
			frame_unsigned(f, reason);
	}
	buf_free(&in->rbuf);
	LIST_REMOVE(in, link);
	free(in);
}

void
pipeline_timers(uint64_t now, uint64_t *next)
{
	struct inst *in, *nin;
	struct stage *s;
	int i;

	for (in = LIST_FIRST(&mx.insts); in != NULL; in = nin) {
		nin = LIST_NEXT(in, link);
		if (in->exited) {
			if (in->rfd < 0 || now >= in->exited_at + EOF_WAIT_US)
				finalize(in);
			else if (in->exited_at + EOF_WAIT_US < *next)
				*next = in->exited_at + EOF_WAIT_US;
			continue;
		}
		/*
		 * A replaced or stopping instance has its input closed and
		 * should end by itself once it has given back what it holds
		 * (or cannot, its output closed); one that does not is made
		 * to.
		 */
		if ((in->draining || stopping) && in->wfd < 0 &&
		    (in->nheld == 0 || in->rfd < 0)) {
			if (in->term_at == 0)
				in->term_at = now + TERM_WAIT_US;
			else if (now >= in->term_at) {
				spawn_signal(in->pid, in->termsent ? SIGKILL :
				    SIGTERM);
				in->termsent = 1;
				in->term_at = now + TERM_WAIT_US;
			}
			if (in->term_at < *next)
				*next = in->term_at;
		}
	}
	if (mx.draining)
		return;
	for (i = 0; i < mx.nstages; i++) {
		s = &mx.stages[i];
		if (s->cur != NULL || s->restart_at == 0)
			continue;
		if (now < s->restart_at) {
			if (s->restart_at < *next)
				*next = s->restart_at;
			continue;
		}
		s->restart_at = 0;
		if ((s->cur = inst_spawn(s)) == NULL) {
			log_info("stage %d: restart %s: %s", i, s->name,
			    strerror(errno));
			schedule_restart(s, 0);
			if (s->restart_at < *next)
				*next = s->restart_at;
			continue;
		}
		s->restarts++;
		log_info("stage %d: %s restarted (pid %d)", i, s->name,
		    (int)s->cur->pid);
		pipeline_write(s->cur);
	}
}

/*
 * SIGHUP: every stage but the signer is replaced by a fresh instance that
 * reads the intent table anew.  The old instance gets no new records; its
 * input is closed once it has what it was given, it finishes what it holds
 * and exits.  The signer stays: two signers would fork the chain.
 */
void
pipeline_reload(void)
{
	struct stage *s;
	struct inst *old;
	int i;

	log_info("reload: replacing %d stages", mx.nstages - 1);
	for (i = 0; i < mx.nstages - 1; i++) {
		s = &mx.stages[i];
		old = s->cur;
		if ((s->cur = inst_spawn(s)) == NULL) {
			log_info("stage %d: reload %s: %s; keeping the old one",
			    i, s->name, strerror(errno));
			s->cur = old;
			continue;
		}
		if (old != NULL) {
			old->draining = 1;
			pipeline_write(old);
		}
		pipeline_write(s->cur);
	}
}

/*
 * SIGTERM: from now on no stage is restarted.  One that is down already
 * will not come back, so what waits for it is answered now.
 */
void
pipeline_drain(void)
{
	int i;

	for (i = 0; i < mx.nstages; i++)
		if (mx.stages[i].cur == NULL) {
			mx.stages[i].restart_at = 0;
			stage_gone(&mx.stages[i]);
		}
}

/* Shutdown: close every stage's input; each ends at its EOF. */
void
pipeline_stop(void)
{
	struct inst *in;

	if (stopping)
		return;
	stopping = 1;
	LIST_FOREACH(in, &mx.insts, link) {
		in->stage->cur = NULL;
		if (in->wfd >= 0) {
			close(in->wfd);
			in->wfd = -1;
		}
	}
}

int
pipeline_idle(void)
{
	return LIST_EMPTY(&mx.insts);
}
