#!/usr/bin/env python3
"""Runs a server with its threads' Linux scheduling changed from outside, for A/B runs of tail latency (issue 14 item 6).

Why: on a 2-core host an event loop woken while another thread holds its core waits for that thread's slice to end,
checked at the next tick (4 ms at HZ=250): EEVDF lets a running thread finish its protected slice unless the waker
has a shorter slice (PREEMPT_SHORT) or the running thread is SCHED_IDLE. Two ways to let the loop in at once, without
a code change, so that a quiet machine can rank them (bench/RESULTS.md, `tail6`):
  idle        the JIT's compiler threads (Bun `JITWorker`, Deno `V8 DefaultWorke...`) SCHED_IDLE, as they appear
  slice=US    the event loop's slice set to US microseconds (sched_setattr's sched_runtime on SCHED_OTHER, kernel
              >= 6.12); compiler threads created later inherit it and are put back to the default
  none        the same watcher, changing nothing (the A side: the watcher's own cost on both sides)

The server keeps this process's pid (exec), so the harness's pid, signals and RSS are the server's; the watcher is a
detached grandchild (not in the server's process tree) that polls /proc every 3 ms for 8 s and exits.

Usage: python3 bench/sched_wrap.py none|idle|slice=100 <server command...>
  e.g. /work/wt/bench.sh 16400 --server-bin /usr/sbin/nats-server \\
         --vs "python3 bench/sched_wrap.py idle node_modules/.bin/bun run mod.ts" --vs-name petrel-idle ...
"""
import ctypes
import os
import struct
import sys
import time

SYS_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}.get(os.uname().machine)
COMPILER_THREADS = ("JITWorker", "V8 DefaultWorke")
WATCH_S = 8.0


def set_slice(libc, tid: int, ns: int) -> None:
    # struct sched_attr (SCHED_ATTR_SIZE_VER1): size, policy, flags, nice, priority, runtime, deadline, period, util_min/max
    attr = struct.pack("IIQiIQQQII", 56, 0, 0, 0, 0, ns, 0, 0, 0, 0)
    if libc.syscall(SYS_SCHED_SETATTR, tid, ctypes.create_string_buffer(attr, 56), 0) != 0:
        print(f"sched_wrap: sched_setattr({tid}): {os.strerror(ctypes.get_errno())}", file=sys.stderr)


def watch(pid: int, mode: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    slice_ns = int(mode.split("=", 1)[1]) * 1000 if mode.startswith("slice=") else 0
    seen: set[str] = set()
    t0 = time.monotonic()
    sliced = 0
    while time.monotonic() - t0 < WATCH_S:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            return
        # The loop thread is the process's first thread; set a few times in case the exec had not happened yet.
        if slice_ns and sliced < 3 and time.monotonic() - t0 > 0.05 * (sliced + 1):
            set_slice(libc, pid, slice_ns)
            sliced += 1
        for tid in tids:
            if tid in seen:
                continue
            try:
                comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            except OSError:
                continue
            if comm.startswith(COMPILER_THREADS):
                if mode == "idle":
                    try:
                        os.sched_setscheduler(int(tid), os.SCHED_IDLE, os.sched_param(0))
                    except OSError as e:
                        print(f"sched_wrap: SCHED_IDLE {tid}: {e}", file=sys.stderr)
                elif slice_ns:
                    set_slice(libc, int(tid), 0)  # back to the default slice
                seen.add(tid)
        time.sleep(0.003)


def main() -> None:
    if len(sys.argv) < 3 or not (sys.argv[1] in ("none", "idle") or sys.argv[1].startswith("slice=")):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    mode, cmd = sys.argv[1], sys.argv[2:]
    if mode.startswith("slice=") and SYS_SCHED_SETATTR is None:
        sys.exit(f"sched_wrap: no sched_setattr number for {os.uname().machine}")
    pid = os.getpid()
    if os.fork() == 0:
        # Detach: the watcher's child is reparented, so it is not in the server's process tree (RSS, signals).
        os.setsid()
        if os.fork() == 0:
            try:
                watch(pid, mode)
            finally:
                os._exit(0)
        os._exit(0)
    os.wait()
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
