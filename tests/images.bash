# The frames of the images' functional tests, shared by
# tests/58-images-pipeline.bats (the process backend) and
# tests/59-kvm-images.bats (the same frames on both backends).
#
#   images_needed                  skip unless the three images are built
#   images_frames DIR              make the samples and media under DIR
#                                  (real files: the EICAR file, an ELF, a
#                                  PE, ZIPs, a zip bomb, nested and
#                                  malformed files, a pcap of a SIP call, a
#                                  WAV from sox, videos from ffmpeg's test
#                                  sources) and print the frames, one a
#                                  line
#
# Channels: 1-4 file:scan, 10 analyze_malware_sample, 20-21 call:voice:sip,
# 30-32 call:video:webrtc.  Needs process.bash loaded first ($IMAGES).

images_needed() {
	local i
	for i in airlock-scanner airlock-sip airlock-webrtc; do
		[ -f "$IMAGES/$i/digest" ] ||
		    skip "the $i image is not built (make images)"
	done
}

images_frames() {
	local t=$1 d=$DATA/images s m
	s=$t/samples
	m=$t/media
	mkdir -p "$s" "$m"
	# Samples: an ELF, a PE built by MinGW, and mksamples.py's.
	cp /usr/bin/true "$s/true.elf"
	printf '%s\n' '#include <windows.h>' \
	    'int main(void) { MessageBoxA(0, "hi", "airlock", 0); return 0; }' \
	    >"$t/hello.c"
	x86_64-w64-mingw32-gcc -O2 -s -o "$s/hello.exe" "$t/hello.c"
	/usr/bin/python3.11 "$d/mksamples.py" "$s"
	# A SIP call and a 1 kHz tone; videos from ffmpeg's test sources.
	/usr/bin/python3.11 "$d/mkcall.py" "$m"
	sox -n -r 8000 -b 16 -c 1 "$m/tone.wav" synth 1 sine 1000
	ffmpeg -v error -y -f lavfi -i testsrc=size=320x240:rate=25 \
	    -f lavfi -i sine=frequency=440:sample_rate=48000 -t 2 \
	    -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$m/clip.mp4"
	ffmpeg -v error -y -f lavfi -i testsrc2=size=160x120:rate=10 -t 1 \
	    -c:v libvpx "$m/clip.webm"
	head -c 3000 "$m/clip.mp4" >"$m/broken.mp4"
	head -c 20000 /dev/urandom >"$m/noise.mp4"
	head -c 100 "$m/call.pcap" >"$m/short.pcap"
	local all="eicar.com true.elf hello.exe samples.zip bomb.zip liar.zip nested.zip truncated.exe broken.elf"
	f() { /usr/bin/python3.11 "$d/mkframe.py" "$@"; }
	# shellcheck disable=SC2086 # the names are words
	f 1 file:scan - "$s" $all
	# shellcheck disable=SC2016 # YARA's $ names, not the shell's
	printf 'rule calls_messagebox { strings: $a = "MessageBoxA" condition: $a }\n' >"$t/rules.yar"
	f 2 file:scan "$t/rules.yar" "$s" hello.exe
	# shellcheck disable=SC2016 # YARA's $ names, not the shell's
	printf 'rule broken { condition: $nope }\n' >"$t/bad.yar"
	f 3 file:scan "$t/bad.yar" "$s" eicar.com
	f 4 file:scan - "$s"
	f 10 analyze_malware_sample "$d/analysis.py" "$s" hello.exe true.elf eicar.com
	f 20 call:voice:sip "$d/sip-call.py" "$m" call.pcap tone.wav
	printf 'not a pcap\n' >"$m/bad.pcap"
	printf 'import dpkt\nfor name in ("short.pcap", "bad.pcap"):\n    print(name, len(list(dpkt.pcap.Reader(open("/input/" + name, "rb")))))\n' >"$t/bad.py"
	f 21 call:voice:sip "$t/bad.py" "$m" short.pcap bad.pcap
	f 30 call:video:webrtc "$d/video.py" "$m" clip.mp4 clip.webm
	f 31 call:video:webrtc "$d/video-threads.py" "$m" clip.mp4
	f 32 call:video:webrtc "$d/video-bad.py" "$m" broken.mp4 noise.mp4
}
