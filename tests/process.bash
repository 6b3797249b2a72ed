# Helpers for the tests that run payloads through the real pipeline.
#
#   frame CHANNEL INTENT PAYLOAD [LIMITS_JSON]   one frame line
#   pipeline [WAKE_ARGS...] < frames             wake | snaft | triage
#   record CHANNEL                               that channel's record
#   needs_image                                  skip unless built

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
