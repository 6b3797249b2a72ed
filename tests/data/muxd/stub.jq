# Test-only first stage for tests/60-muxd.bats, never used by default: it
# stands in for airlock-wake and airlock-snaft, turning each frame (with
# the "id" airlock-muxd added) into a record with an "exec" section, so
# that airlock-muxd can be tested in front of the real airlock-triage and
# airlock-sign.  The payload says what the pretend run does:
#   "echo:TEXT"   exits 0 with TEXT on stdout
#   "exit:N"      exits with status N, "err" on stderr
#   "b64:DATA"    exits 0 with the base64 DATA as its stdout bytes
# An intent other than code:execute is rejected as airlock-wake would.
def out($b64; $n): {b64: $b64, bytes: $n, captured_bytes: $n,
    truncated: false, sha256: ("0" * 64)};
def exec($code; $o; $on; $e; $en): {exec: {backend: "process",
    mode: "observe", outcome: "exited", exit_code: $code, signal: null,
    kill_reason: null, run_us: 1, stdout: out($o; $on),
    stderr: out($e; $en), observed_syscalls: {}, violations: []}};
def reject($error; $reason): {reject: {status: 400, error: $error,
    reason: $reason, stage: "stub"}};
. as $f
| {v: 1, id: $f.id, frame: ($f | del(.id))}
+ if ($f.channel_id | type) != "number" then
	reject("wrong_type"; "\"channel_id\" must be an unsigned 32-bit integer")
  elif $f.intent != "code:execute" then
	reject("unknown_intent"; "unknown intent")
  elif ($f.payload | type) != "string" then
	reject("wrong_type"; "\"payload\" must be a string")
  elif ($f.payload | startswith("echo:")) then
	($f.payload[5:]) as $t
	| exec(0; ($t | @base64); ($t | utf8bytelength); ""; 0)
  elif ($f.payload | startswith("exit:")) then
	exec(($f.payload[5:] | tonumber); ""; 0; ("err" | @base64); 3)
  elif ($f.payload | startswith("b64:")) then
	exec(0; $f.payload[4:]; 0; ""; 0)
  else
	exec(0; ""; 0; ""; 0)
  end
