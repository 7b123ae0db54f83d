#define _GNU_SOURCE
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Preloaded before libfaketime by the clock-jump test (tests/test_daemon_faults.py).
   libfaketime 0.9.10 answers EINVAL to every clock_nanosleep on the monotonic clock when
   DONT_FAKE_MONOTONIC is set, so Python's time.sleep fails; that clock is not faked,
   so this passes the call straight to the kernel. */
int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req, struct timespec *rem) {
    return syscall(SYS_clock_nanosleep, clock, flags, req, rem) == 0 ? 0 : errno;
}
