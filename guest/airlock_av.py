"""PyAV without threads, for the airlock-webrtc image.

A sandbox forbids threads: a thread dies as "clone".  FFmpeg's decoders
and its own encoders start as many threads as av_cpu_count() says there
are CPUs when a codec context's thread count is 0 ("auto", which is
PyAV's default); importing this module, in the snapshot's preload list
after av, forces that count to 1 for the whole process, so that auto means
one thread.  Encoders from other libraries (libx264, libx265, libvpx, aom)
count CPUs themselves: single_threaded() sets a stream, a codec context or
every stream of a container to one thread explicitly, and open() is
av.open() followed by it.  numpy and scipy use OpenBLAS's serial build,
which starts no threads; the snapshot's env lines keep every other
threading library (OpenMP) at one.
"""
import ctypes

import av

# libavutil is mapped already, by av's own extension modules: this dlopen
# finds it loaded and maps nothing.
ctypes.CDLL("libavutil.so.57").av_cpu_force_count(1)


def single_threaded(obj):
    """Make a container's streams, a stream or a codec context decode and
    encode in the calling thread; return obj."""
    contexts = []
    if hasattr(obj, "streams"):
        contexts = [s.codec_context for s in obj.streams
                    if getattr(s, "codec_context", None) is not None]
    elif hasattr(obj, "codec_context"):
        contexts = [obj.codec_context]
    else:
        contexts = [obj]
    for cc in contexts:
        cc.thread_type = "NONE"
        cc.thread_count = 1
    return obj


def open(*args, **kwargs):
    """av.open(), with every stream of what it opens single-threaded."""
    return single_threaded(av.open(*args, **kwargs))
