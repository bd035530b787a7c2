#define _GNU_SOURCE
#include "CLinux.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define SPAWN_STACK_SIZE (256 * 1024)

// Moves fd to a number >= 100 so the dup2() calls below cannot clobber each other's sources.
static int lift_fd(int fd) {
    if (fd < 0) return fd;
    int lifted = fcntl(fd, F_DUPFD, 100);
    return lifted < 0 ? fd : lifted;
}

static void write_exec_error(int fd, int err) {
    if (fd < 0) return;
    char buf[32] = "exec:";
    int n = 5, value = err, digits = 0;
    char tmp[16];
    do { tmp[digits++] = (char)('0' + value % 10); value /= 10; } while (value > 0 && digits < 15);
    while (digits > 0) buf[n++] = tmp[--digits];
    (void)!write(fd, buf, (size_t)n);
}

static int spawn_child(void *arg) {
    const struct sw_spawn_request *req = arg;
    // Async-signal-safe calls only from here to execve().
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    if (req->pdeathsig > 0) prctl(PR_SET_PDEATHSIG, req->pdeathsig, 0, 0, 0);

    int in = lift_fd(req->stdin_fd), out = lift_fd(req->stdout_fd), err = lift_fd(req->stderr_fd);
    int extra = lift_fd(req->extra_fd);
    if (in >= 0) dup2(in, 0);
    if (out >= 0) dup2(out, 1);
    if (err >= 0) dup2(err, 2);
    int report = -1;
    if (extra >= 0) { dup2(extra, 3); report = 3; }
    execve(req->path, req->argv, req->envp);
    write_exec_error(report, errno);
    _exit(127);
}

pid_t sw_spawn(const struct sw_spawn_request *req) {
    void *stack = mmap(NULL, SPAWN_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return -errno;
    // No CLONE_VM: the child gets a copy of this address space, so the stack can be unmapped
    // here as soon as clone() returns.
    pid_t pid = clone(spawn_child, (char *)stack + SPAWN_STACK_SIZE, req->clone_flags | SIGCHLD, (void *)req);
    int saved = errno;
    munmap(stack, SPAWN_STACK_SIZE);
    return pid < 0 ? -saved : pid;
}

int sw_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int sw_setns(int fd, int nstype) { return setns(fd, nstype); }
int sw_unshare(int flags) { return unshare(flags); }

int sw_close_range_from(unsigned int first) {
    return (int)syscall(SYS_close_range, first, ~0U, 0);
}

int sw_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }
int sw_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
int sw_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
int sw_set_dumpable(int value) { return prctl(PR_SET_DUMPABLE, value, 0, 0, 0); }

int sw_set_controlling_tty(int fd) { return ioctl(fd, TIOCSCTTY, 0); }

int sw_get_winsize(int fd, unsigned short *rows, unsigned short *cols) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) < 0) return -1;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return 0;
}

int sw_set_winsize(int fd, unsigned short rows, unsigned short cols) {
    struct winsize ws = { .ws_row = rows, .ws_col = cols };
    return ioctl(fd, TIOCSWINSZ, &ws);
}

int sw_pty_unlock(int master_fd) {
    int unlock = 0;
    return ioctl(master_fd, TIOCSPTLCK, &unlock);
}

int sw_pty_number(int master_fd, unsigned int *number) {
    return ioctl(master_fd, TIOCGPTN, number);
}

int sw_interface_up(const char *name) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

dev_t sw_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }
unsigned int sw_major(dev_t dev) { return major(dev); }
unsigned int sw_minor(dev_t dev) { return minor(dev); }

static void fill_set(sigset_t *set, const int *signals, int count) {
    sigemptyset(set);
    for (int i = 0; i < count; i++) sigaddset(set, signals[i]);
}

int sw_signalfd(const int *signals, int count) {
    sigset_t set;
    fill_set(&set, signals, count);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int sw_signalfd_read(int fd, int32_t *pid_out, int32_t *status_out) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n < 0) return errno == EAGAIN ? 0 : -errno;
    if (n != sizeof info) return -EIO;
    if (pid_out) *pid_out = (int32_t)info.ssi_pid;
    if (status_out) *status_out = info.ssi_status;
    return (int)info.ssi_signo;
}

int sw_sigmask(int how, const int *signals, int count) {
    sigset_t set;
    fill_set(&set, signals, count);
    return sigprocmask(how, &set, NULL);
}

void sw_reset_signals(void) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        sigaction(sig, &dfl, NULL);
    }
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
}

ssize_t sw_send_fd(int sock, int fd, const void *data, size_t len) {
    struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control.buf, .msg_controllen = sizeof control.buf };
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    ssize_t n;
    do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n;
}

ssize_t sw_recv_fd(int sock, int *fd_out, void *data, size_t len) {
    struct iovec iov = { .iov_base = data, .iov_len = len };
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control.buf, .msg_controllen = sizeof control.buf };
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    *fd_out = -1;
    if (n < 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            memcpy(fd_out, CMSG_DATA(c), sizeof(int));
        }
    }
    return n;
}
