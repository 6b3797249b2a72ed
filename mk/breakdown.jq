# make bench's breakdown: where one frame's time goes.  Input: the lines
# of an AIRLOCK_TRACE file (lib/trace.h), read raw (jq -R -s).  Output:
# one object per step with the p50 and p90 of its time in microseconds, over
# the records of $recs (the one-at-a-time frames, not the warm-up) that
# have both of its ends; then the CPU each stage used in all, per run
# ($runs: every frame the stages saw), from their trace_cpu lines, with the
# payloads' own CPU, page faults and notified calls from the records.

def pct(p): sort | .[((length - 1) * p + 0.5) | floor];

# The steps, in the order a frame meets them: [name, from, to].
def steps: [
	["muxd: frame read to wake", "muxd.in", "wake.in"],
	["wake: route and claim a pool sandbox", "wake.in", "wake.out"],
	["pipe: wake to snaft", "wake.out", "snaft.in"],
	["snaft: connect, send the run, payload started", "snaft.in", "snaft.started"],
	["  snaft: its own part, all of it", "snaft.in", "snaft.run_sent"],
	["  snaft: the run set up, input files in a memfd", "snaft.in", "snaft.files"],
	["  snaft: connect to the sandbox (the claim)", "snaft.files", "snaft.connected"],
	["  snaft: the run's memory limit in its cgroup", "snaft.connected", "snaft.cgroup"],
	["  snaft: payload memfd, pipes, send the run", "snaft.cgroup", "snaft.run_sent"],
	["  zygote: the run received", "snaft.run_sent", "zygote.run"],
	["  payload process: the run received", "zygote.run", "payload.run"],
	["  payload process: descriptors, limits, arming", "payload.run", "payload.arming"],
	["  zygote: arming received", "payload.arming", "zygote.arming"],
	["  zygote: listener taken", "zygote.arming", "zygote.listener"],
	["  snaft: started received", "zygote.listener", "snaft.started"],
	["payload: started to exit reported", "snaft.started", "snaft.exited"],
	["snaft: output drained, record written", "snaft.exited", "snaft.out"],
	["pipe: snaft to triage", "snaft.out", "triage.in"],
	["triage", "triage.in", "triage.out"],
	["pipe: triage to sign", "triage.out", "sign.in"],
	["sign: before the sync", "sign.in", "sign.sync_start"],
	["sign: the sync", "sign.sync_start", "sign.sync_end"],
	["sign: after the sync", "sign.sync_end", "sign.out"],
	["sign, all of it", "sign.in", "sign.out"],
	["muxd: signed to answer written", "sign.out", "muxd.out"],
	["the whole pipeline (wake in to sign out)", "wake.in", "sign.out"]
];

($recs | map(.id) | map({key: ., value: true}) | from_entries) as $kept |
split("\n") | map(select(length > 0) | split(" ")) as $lines |
($lines | map(select(.[0] != "-" and ($recs == [] or $kept[.[0]]))) |
    reduce .[] as $l ({}; .[$l[0]][$l[1]] = ($l[2] | tonumber))) as $ev |
($lines | map(select(.[0] == "-")) |
    reduce .[] as $l ({}; .[$l[1]] += ($l[2] | tonumber))) as $cpu |
(steps[] as $s |
    [$ev[] | select(.[$s[1]] != null and .[$s[2]] != null) |
	(.[$s[2]] - .[$s[1]]) / 1000] |
    select(length > 0) |
    {bench: "breakdown", step: $s[0], n: length,
     p50_us: (pct(0.5) | round), p90_us: (pct(0.9) | round)}),
({bench: "cpu_by_process", runs: $runs} +
    ($cpu | with_entries(.value = ((.value / $runs * 10 | round) / 10) |
    .key |= sub("\\.cpu_"; "_cpu_") + "_per_run")) +
    {payload_cpu_us_p50: ([$recs[].exec.cpu_us // empty] | pct(0.5)),
     payload_page_faults_p50: ([$recs[].exec.page_faults // empty] | pct(0.5)),
     notified_calls_p50: ([$recs[].exec.notified // empty] | pct(0.5))})
