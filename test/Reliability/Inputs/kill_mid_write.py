"""Runs a command and SIGKILLs it while it is writing its output file.

  kill_mid_write.py OUT_DIR -- command args...

Watches the command's open files (/proc/PID/fd) for one in OUT_DIR: a file
being written there (a temporary, named or not) that already holds bytes.
The kill lands after bytes were written and before the rename, which is the
moment a writer that writes in place would leave a truncated file. Exits 0
after such a kill, 1 if the command finished (or died) before one was seen:
then the test proves nothing, and says so.
"""
import os
import signal
import subprocess
import sys
import time

out_dir = os.path.realpath(sys.argv[1])
assert sys.argv[2] == "--"
proc = subprocess.Popen(sys.argv[3:], stdout=subprocess.DEVNULL)
fd_dir = f"/proc/{proc.pid}/fd"
deadline = time.monotonic() + 600
while proc.poll() is None and time.monotonic() < deadline:
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        break
    for fd in fds:
        link = os.path.join(fd_dir, fd)
        try:
            target = os.readlink(link)
            size = os.stat(link).st_size
        except OSError:
            continue
        if target.startswith(out_dir + "/") and size > 0:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            print(f"killed mid-write with {size} bytes in the temporary")
            sys.exit(0)
    time.sleep(0.001)
proc.kill()
proc.wait()
print(f"the command ended (status {proc.returncode}) before it was seen "
      f"writing to {out_dir}")
sys.exit(1)
