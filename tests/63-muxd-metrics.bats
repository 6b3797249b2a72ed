#!/usr/bin/env bats
# airlock-muxd(8), METRICS: the Prometheus text format on a loopback
# address of its own (-M), checked by Debian's promtool and scraped by a
# real Prometheus server; and the metrics endpoint as an attack surface:
# only GET /metrics, a few connections at a time, each with a deadline.

load helpers
load process

LOADGEN=$TOP/build/tests/loadgen

setup_file() {
	needs_image
	# Port 0: the kernel picks, and the log says which.
	serve_pipeline -M 127.0.0.1:0
	MPORT=$(sed -n 's/.*metrics on 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
	    "$BATS_FILE_TMPDIR/muxd.log")
	export MPORT
}

teardown_file() {
	stop_pipeline
}

setup() {
	needs_image
	[ -n "$MPORT" ]
}

teardown() {
	exec 5>&- 6>&- 7>&- 8>&- 9>&-
	[ -z "${PROMPID:-}" ] || end_process "$PROMPID"
}

ask() {
	printf '%s' "$(frame "$1" code:execute "$2")" |
	    "$LOADGEN" -S -a "127.0.0.1:$PORT" -T 30
}

scrape() {
	curl -sS --max-time 10 "http://127.0.0.1:$MPORT/metrics"
}

# value NAME{LABELS}: the sample's value in the last scrape.
value() {
	awk -v k="$1" '$1 == k { print $2 }' "$BATS_TEST_TMPDIR/metrics"
}

@test "metrics: promtool checks the exposition, and it counts frames, verdicts, pool, stages, signer and bytes" {
	local i out
	for i in 1 2 3; do
		out=$(ask "$i" "print($i)")
		assert_equal "$(jq -r .status <<<"$out")" 200
	done
	out=$(ask 4 "import socket; socket.socket()")
	assert_equal "$(jq -r .status <<<"$out")" 403
	printf 'not json\n' | "$LOADGEN" -S -x -a "127.0.0.1:$PORT" -T 30 >/dev/null
	scrape >"$BATS_TEST_TMPDIR/metrics"
	run_tool 0 promtool check metrics <"$BATS_TEST_TMPDIR/metrics"
	assert_equal "$(value 'airlock_frames_total{intent="code:execute",status="200"}')" 3
	assert_equal "$(value 'airlock_frames_total{intent="code:execute",status="403"}')" 1
	assert_equal "$(value 'airlock_frames_total{intent="none",status="400"}')" 1
	assert_equal "$(value airlock_tokens_total)" 5
	assert_equal "$(value airlock_frames_received_total)" 5
	assert_equal "$(value airlock_frame_duration_seconds_count)" 5
	# Every frame that ran woke a sandbox, from the pool or not.
	assert_equal "$(($(value 'airlock_pool_wakes_total{intent="code:execute",pool="hit"}') +
	    $(value 'airlock_pool_wakes_total{intent="code:execute",pool="cold"}')))" 4
	# Each stage gave back what it got: the refused frame went to the
	# signer alone.
	assert_equal "$(value 'airlock_stage_duration_seconds_count{stage="0",program="airlock-wake"}')" 4
	assert_equal "$(value 'airlock_stage_duration_seconds_count{stage="3",program="airlock-sign"}')" 5
	assert_equal "$(value 'airlock_stage_up{stage="1",program="airlock-snaft"}')" 1
	# The signer's batches, on its own word.
	[ "$(value airlock_signer_batch_size_count)" -ge 1 ]
	assert_equal "$(value airlock_signer_batch_size_sum)" 5
	# One sync, the first batch's: it took a lease that covers the rest
	# (airlock-sign(1), Durability), and a batch that synced nothing
	# has no sync duration.
	assert_equal "$(value airlock_signer_sync_duration_seconds_count)" 1
	# Connections and bytes.
	[ "$(value airlock_connections_total)" -ge 5 ]
	[ "$(value airlock_client_received_bytes_total)" -gt 0 ]
	[ "$(value airlock_client_sent_bytes_total)" -gt 0 ]
}

@test "metrics: a stage killed is a restart, counted" {
	local before sp st
	scrape >"$BATS_TEST_TMPDIR/metrics"
	before=$(value 'airlock_stage_restarts_total{stage="2",program="airlock-triage"}')
	sp=$(pgrep -P "$MUXPID" -x airlock-spawner)
	st=$(pgrep -P "$sp" -x airlock-triage)
	kill -KILL "$st"
	for _ in $(seq 200); do
		grep -q 'airlock-triage restarted' "$BATS_FILE_TMPDIR/muxd.log" && break
		sleep 0.05
	done
	out=$(ask 10 "print(10)")
	assert_equal "$(jq -r .status <<<"$out")" 200
	scrape >"$BATS_TEST_TMPDIR/metrics"
	assert_equal "$(value 'airlock_stage_restarts_total{stage="2",program="airlock-triage"}')" "$((before + 1))"
	run_tool 0 promtool check metrics <"$BATS_TEST_TMPDIR/metrics"
}

@test "metrics: a real Prometheus server scrapes it, and its API has the series" {
	local d=$BATS_TEST_TMPDIR pport r
	ask 20 "print(20)" >/dev/null
	cat >"$d/prometheus.yml" <<-EOF
	global:
	  scrape_interval: 1s
	scrape_configs:
	  - job_name: airlock
	    static_configs:
	      - targets: ['127.0.0.1:$MPORT']
	EOF
	run_tool 0 promtool check config "$d/prometheus.yml"
	for _ in 1 2 3 4 5 6 7 8; do
		pport=$((20000 + RANDOM % 40000))
		prometheus --config.file="$d/prometheus.yml" \
		    --storage.tsdb.path="$d/tsdb" \
		    --web.listen-address="127.0.0.1:$pport" 2>"$d/prom.log" 3>&- &
		PROMPID=$!
		for _ in $(seq 200); do
			grep -q 'Server is ready to receive web requests' "$d/prom.log" && break
			kill -0 "$PROMPID" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$PROMPID" 2>/dev/null && break
		wait "$PROMPID" || true
		PROMPID=
		grep -q 'address already in use' "$d/prom.log" || break
	done
	[ -n "$PROMPID" ] || { cat "$d/prom.log" >&2; false; }
	# One scrape is enough: the target is up and the series is there.
	for _ in $(seq 300); do
		r=$(curl -sS --max-time 5 "http://127.0.0.1:$pport/api/v1/query?query=airlock_tokens_total" || true)
		[ "$(jq -r '.data.result | length' <<<"$r" 2>/dev/null)" = 1 ] && break
		sleep 0.1
	done
	assert_equal "$(jq -r '.status' <<<"$r")" success
	[ "$(jq -r '.data.result[0].value[1]' <<<"$r")" -ge 1 ]
	r=$(curl -sS --max-time 5 "http://127.0.0.1:$pport/api/v1/query?query=up%7Bjob%3D%22airlock%22%7D")
	assert_equal "$(jq -r '.data.result[0].value[1]' <<<"$r")" 1
	r=$(curl -sS --max-time 5 "http://127.0.0.1:$pport/api/v1/query?query=airlock_frames_total%7Bintent%3D%22code%3Aexecute%22%2Cstatus%3D%22200%22%7D")
	[ "$(jq -r '.data.result[0].value[1]' <<<"$r")" -ge 1 ]
}

@test "metrics: only GET /metrics is served, and its connections are few and bounded in time" {
	local code i
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$MPORT/metrics")
	assert_equal "$code" 405
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/")
	assert_equal "$code" 404
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/metrics/../etc/passwd" --path-as-is)
	assert_equal "$code" 404
	exec 5<>"/dev/tcp/127.0.0.1/$MPORT"
	printf 'garbage\r\n\r\n' >&5
	run timeout 10 head -1 <&5
	assert_output $'HTTP/1.1 400 Bad Request\r'
	exec 5<&-
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 5000 /dev/zero | tr '\0' a)" "http://127.0.0.1:$MPORT/metrics")
	assert_equal "$code" 431
	# Eight connections that say nothing take every slot: a ninth is
	# closed unanswered, while clients of the service are still served.
	for i in 5 6 7 8; do
		eval "exec $i<>/dev/tcp/127.0.0.1/$MPORT"
	done
	exec 9<>"/dev/tcp/127.0.0.1/$MPORT"
	local -a more
	for i in 1 2 3; do
		exec {fd}<>"/dev/tcp/127.0.0.1/$MPORT"
		more+=("$fd")
	done
	for _ in $(seq 100); do
		[ "$(ss -Htn state established "( sport = :$MPORT )" | wc -l)" -ge 8 ] && break
		sleep 0.05
	done
	run curl -sS --max-time 10 "http://127.0.0.1:$MPORT/metrics"
	[ "$status" -ne 0 ]
	out=$(ask 30 "print(30)")
	assert_equal "$(jq -r .status <<<"$out")" 200
	# The idle ones are closed at their deadline (EOF), and the slots
	# serve again.
	run timeout 30 cat <&9
	assert_success
	assert_output ''
	for fd in "${more[@]}"; do
		exec {fd}<&-
	done
	for _ in $(seq 200); do
		scrape >"$BATS_TEST_TMPDIR/metrics" 2>/dev/null && break
		sleep 0.1
	done
	[ "$(value airlock_metrics_refused_total)" -ge 5 ]
}

@test "metrics: the address must be loopback, and they are off by default" {
	run_tool 100 airlock-muxd -M 0.0.0.0:0 -P 'airlock-triage|airlock-sign'
	assert_equal "$stderr" "airlock-muxd: -M 0.0.0.0:0: the metrics address must be a loopback address"
	serve_muxd "$BATS_TEST_TMPDIR/default.log" airlock-muxd \
	    -P "airlock-triage|airlock-sign -k $BATS_TEST_TMPDIR/k.sec -c -s $BATS_TEST_TMPDIR/chain"
	TESTPID=$MUXPID
	! grep -q 'metrics on' "$BATS_TEST_TMPDIR/default.log"
	end_process "$TESTPID"
}
