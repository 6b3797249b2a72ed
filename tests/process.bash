# Helpers for the tests that run payloads through the real pipeline.
#
#   frame CHANNEL INTENT PAYLOAD [LIMITS_JSON]   one frame line
#   pipeline [WAKE_ARGS...] < frames             wake | snaft | triage
#   record CHANNEL                               that channel's record
#   needs_image                                  skip unless built
#   serve_pipeline [MUXD_ARGS...]                airlock-muxd with the real
#                                                pipeline for a whole file
#   stop_pipeline                                its end, in teardown_file

IMAGES=${AIRLOCK_TEST_IMAGES:-$TOP/build/images}
PTABLE=$DATA/process/intents

needs_image() {
	[ -f "$IMAGES/airlock-python/digest" ] ||
	    skip "the airlock-python image is not built (make images)"
}

frame() {
	jq -cn --argjson c "$1" --arg i "$2" --arg p "$3" \
	    --argjson l "${4:-null}" \
	    '{channel_id: $c, intent: $i, from_aint: "tests.aint", payload: $p}
	    + (if $l then {limits: $l} else {} end)'
}

pipeline() {
	mkdir -p "$BATS_FILE_TMPDIR/run"
	airlock-wake -q -t "$PTABLE" -I "$IMAGES" -r "$BATS_FILE_TMPDIR/run" \
	    "$@" | airlock-snaft -q -t "$PTABLE" -r "$BATS_FILE_TMPDIR/run" |
	    airlock-triage -q
}

# record CHANNEL [FILE]: the one record of that channel.
record() {
	jq -c --argjson c "$1" 'select(.frame.channel_id == $c)' \
	    "${2:-$BATS_FILE_TMPDIR/out.jsonl}"
}

# serve_pipeline [MUXD_ARGS...]: airlock-muxd with the real pipeline, as
# make run serves it, signing with a copy of the test key; its log is
# $BATS_FILE_TMPDIR/muxd.log.  Exports the stages' environment, PORT and
# MUXPID, for setup_file.
serve_pipeline() {
	cp "$DATA/test.sec" "$DATA/test.pub" "$BATS_FILE_TMPDIR/"
	export AIRLOCK_SIGN_KEY=$BATS_FILE_TMPDIR/test.sec
	export AIRLOCK_CHAIN=$BATS_FILE_TMPDIR/chain
	export AIRLOCK_INTENTS=$TOP/etc/intents AIRLOCK_IMAGES=$IMAGES
	export AIRLOCK_RUNDIR=$BATS_FILE_TMPDIR/run
	serve_muxd "$BATS_FILE_TMPDIR/muxd.log" airlock-muxd "$@"
	export PORT MUXPID
}

stop_pipeline() {
	[ -n "${MUXPID:-}" ] && kill -TERM "$MUXPID" 2>/dev/null
	wait "$MUXPID" 2>/dev/null || true
}
