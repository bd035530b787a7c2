#define _GNU_SOURCE
#include "CLinux.h"
#include <grp.h>

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPAWN_STACK_SIZE (256 * 1024)

// Moves fd to a number >= 100 so the dup2() calls below cannot clobber each other's sources.
static int lift_fd(int fd) {
    if (fd < 0) return fd;
    int lifted = fcntl(fd, F_DUPFD, 100);
    return lifted < 0 ? fd : lifted;
}

// Reports a failed step as "<step>:<errno>" (SyncMessage decodes it) on the sync socket.
static void write_step_error(int fd, const char *step, int err) {
    if (fd < 0) return;
    char buf[64];
    int n = 0, value = err, digits = 0;
    while (step[n] && n < 40) { buf[n] = step[n]; n++; }
    buf[n++] = ':';
    char tmp[16];
    do { tmp[digits++] = (char)('0' + value % 10); value /= 10; } while (value > 0 && digits < 15);
    while (digits > 0) buf[n++] = tmp[--digits];
    (void)!write(fd, buf, (size_t)n);
}

static void write_exec_error(int fd, int err) { write_step_error(fd, "exec", err); }

// Joining a user namespace (linux.namespaces user with a path): the namespaces the container
// gets must be owned by it, so it is joined first and they are made after, by unshare. A new
// pid namespace holds only children made after that: the init is such a child, made a child of
// the caller (CLONE_PARENT) so the caller waits for it as for any init. The intermediate
// reports the init's pid on `pid_pipe` and exits. Returns in the init only.
static void join_user_namespace_then_unshare(const struct sw_spawn_request *req) {
    if (setns(req->user_ns_fd, CLONE_NEWUSER) != 0) { write_step_error(req->extra_fd, "setns user", errno); _exit(125); }
    // Root of the joined namespace (it must map 0), as runc becomes it.
    setgroups(0, NULL);
    if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) { write_step_error(req->extra_fd, "setresuid 0 in the joined user namespace", errno); _exit(125); }
    // A pid namespace to join too: for our children, so the init's pid as clone returns it
    // here is the caller's view of it (we stay in the caller's pid namespace).
    if (req->pid_ns_fd >= 0 && setns(req->pid_ns_fd, CLONE_NEWPID) != 0) { write_step_error(req->extra_fd, "setns pid", errno); _exit(125); }
    int flags = req->clone_flags & ~CLONE_NEWUSER;
    if (flags != 0 && unshare(flags) != 0) { write_step_error(req->extra_fd, "unshare", errno); _exit(125); }
    pid_t init = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
    if (init < 0) { write_step_error(req->extra_fd, "clone", errno); _exit(125); }
    if (init > 0) {
        (void)!write(req->pid_pipe, &init, sizeof init);
        _exit(0);
    }
    close(req->pid_pipe);
}

static int spawn_child(void *arg) {
    const struct sw_spawn_request *req = arg;
    // Async-signal-safe calls only from here to execve().
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    if (req->user_ns_fd >= 0) join_user_namespace_then_unshare(req);
    if (req->pdeathsig > 0) prctl(PR_SET_PDEATHSIG, req->pdeathsig, 0, 0, 0);

    if (req->wait_fd >= 0) {
        char go;
        ssize_t n;
        do { n = read(req->wait_fd, &go, 1); } while (n < 0 && errno == EINTR);
        if (n != 1) _exit(125); // the parent gave up before mapping our ids
        close(req->wait_fd);
    }
    if (req->clone_flags & CLONE_NEWUSER) {
        // Our ids are still the caller's, which the new namespace does not map: become its
        // root, or execve would drop every capability the namespace gave us.
        setgroups(0, NULL);
        if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) _exit(125);
    }
    // The fds to preserve sit at 3.. where the sync socket goes: lifted out of the way first.
    int preserved[SW_MAX_PRESERVED_FDS];
    int preserved_count = req->preserved_fds > 0 && req->preserved_fds <= SW_MAX_PRESERVED_FDS ? req->preserved_fds : 0;
    for (int i = 0; i < preserved_count; i++) {
        preserved[i] = fcntl(3 + i, F_DUPFD, 100);
        if (preserved[i] < 0) _exit(125);
    }
    int in = lift_fd(req->stdin_fd), out = lift_fd(req->stdout_fd), err = lift_fd(req->stderr_fd);
    int extra = lift_fd(req->extra_fd), exe = lift_fd(req->exec_fd);
    if (in >= 0) dup2(in, 0);
    if (out >= 0) dup2(out, 1);
    if (err >= 0) dup2(err, 2);
    int report = -1;
    if (extra >= 0) { dup2(extra, 3); report = 3; }
    // Nothing else of the caller's reaches the container's init: a descriptor it inherited
    // would outlive the caller (for OCI create, on purpose) and hold the caller's pipes and
    // sockets open.
    unsigned int first_free = report >= 0 ? 4U : 3U;
    if (exe >= 0) {
        dup2(exe, 4);
        fcntl(4, F_SETFD, FD_CLOEXEC);
        first_free = 5U;
    }
    if (preserved_count > 0) {
        if (first_free < SW_PRESERVED_FD_BASE) syscall(SYS_close_range, first_free, SW_PRESERVED_FD_BASE - 1U, 0);
        for (int i = 0; i < preserved_count; i++) dup2(preserved[i], SW_PRESERVED_FD_BASE + i);
        first_free = SW_PRESERVED_FD_BASE + (unsigned int)preserved_count;
    }
    syscall(SYS_close_range, first_free, ~0U, 0);
    if (req->exec_read_only && (req->clone_flags & CLONE_NEWNS)) {
        // Private first, so the read-only bind never reaches the host's mount table.
        // In a user namespace the flags of the mount we bind from are locked: the read-only
        // remount must repeat them (nosuid, nodev, noexec, atime) or the kernel refuses it.
        struct statvfs fs;
        unsigned long locked = 0;
        if (statvfs(req->path, &fs) == 0) {
            if (fs.f_flag & ST_NOSUID) locked |= MS_NOSUID;
            if (fs.f_flag & ST_NODEV) locked |= MS_NODEV;
            if (fs.f_flag & ST_NOEXEC) locked |= MS_NOEXEC;
            if (fs.f_flag & ST_NOATIME) locked |= MS_NOATIME;
            if (fs.f_flag & ST_NODIRATIME) locked |= MS_NODIRATIME;
            if (fs.f_flag & ST_RELATIME) locked |= MS_RELATIME;
        }
        if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) != 0 ||
            mount(req->path, req->path, NULL, MS_BIND, NULL) != 0 ||
            mount(NULL, req->path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked, NULL) != 0) {
            write_exec_error(report, errno);
            _exit(125);
        }
    }
    if (exe >= 0) {
        syscall(SYS_execveat, 4, "", req->argv, req->envp, AT_EMPTY_PATH);
    } else {
        execve(req->path, req->argv, req->envp);
    }
    write_exec_error(report, errno);
    _exit(127);
}

pid_t sw_spawn(const struct sw_spawn_request *req) {
    void *stack = mmap(NULL, SPAWN_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return -errno;
    // Joining a user namespace: the child makes the namespaces itself (see
    // join_user_namespace_then_unshare) and the init is its child, whose pid comes on a pipe.
    int joins = req->user_ns_fd >= 0;
    int pids[2] = { -1, -1 };
    if (joins && pipe2(pids, O_CLOEXEC) != 0) { int saved = errno; munmap(stack, SPAWN_STACK_SIZE); return -saved; }
    struct sw_spawn_request copy = *req;
    copy.pid_pipe = pids[1];
    // No CLONE_VM: the child gets a copy of this address space, so the stack can be unmapped
    // here as soon as clone() returns.
    pid_t pid = clone(spawn_child, (char *)stack + SPAWN_STACK_SIZE, (joins ? 0 : req->clone_flags) | SIGCHLD, (void *)&copy);
    int saved = errno;
    munmap(stack, SPAWN_STACK_SIZE);
    if (pid < 0) {
        if (joins) { close(pids[0]); close(pids[1]); }
        return -saved;
    }
    if (!joins) return pid;
    close(pids[1]);
    pid_t init = -1;
    ssize_t n;
    do { n = read(pids[0], &init, sizeof init); } while (n < 0 && errno == EINTR);
    close(pids[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    // The intermediate failed before making the init: its error is on the sync socket.
    return n == sizeof init && init > 0 ? init : -ECHILD;
}

int sw_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int sw_openat2(int dirfd, const char *path, int flags, unsigned int mode, unsigned long long resolve) {
#ifdef SYS_openat2
    struct { uint64_t flags, mode, resolve; } how = { (uint64_t)(unsigned int)flags, mode, resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int sw_open_tree(int dirfd, const char *path, unsigned int flags) {
#ifdef SYS_open_tree
    /* AT_EMPTY_PATH lets an fd name the tree; O_CLOEXEC as every fd of ours. */
    return (int)syscall(SYS_open_tree, dirfd, path, flags | AT_EMPTY_PATH | O_CLOEXEC);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int sw_move_mount(int from_fd, int to_fd) {
#ifdef SYS_move_mount
    /* MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH: both ends named by fd alone. */
    return (int)syscall(SYS_move_mount, from_fd, "", to_fd, "", 0x00000004 | 0x00000040);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int sw_mount_setattr(int fd, int recursive, uint64_t attr_set, uint64_t attr_clr, uint64_t propagation) {
#ifdef SYS_mount_setattr
    struct { uint64_t attr_set, attr_clr, propagation, userns_fd; } attr = { attr_set, attr_clr, propagation, 0 };
    unsigned int flags = AT_EMPTY_PATH | (recursive ? 0x8000 /* AT_RECURSIVE */ : 0);
    return (int)syscall(SYS_mount_setattr, fd, "", flags, &attr, sizeof attr);
#else
    errno = ENOSYS;
    return -1;
#endif
}

uint64_t sw_mount_id(int fd) {
    struct statx info;
    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, 0x00001000U /* STATX_MNT_ID */, &info) != 0) return 0;
    if (!(info.stx_mask & 0x00001000U)) return 0;
    return info.stx_mnt_id;
}

int sw_setns(int fd, int nstype) { return setns(fd, nstype); }
int sw_unshare(int flags) { return unshare(flags); }

int sw_close_range_from(unsigned int first) {
    return (int)syscall(SYS_close_range, first, ~0U, 0);
}

int sw_close_range(unsigned int first, unsigned int last) {
    return (int)syscall(SYS_close_range, first, last, 0);
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

int sw_cap_last(void) {
    int last = 40;
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[16] = {0};
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n > 0) {
            last = 0;
            for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) last = last * 10 + (buf[i] - '0');
        }
        close(fd);
    }
    return last;
}

int sw_cap_bounding_drop(int cap) { return prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); }
int sw_cap_bounding_read(int cap) { return prctl(PR_CAPBSET_READ, cap, 0, 0, 0); }
int sw_set_keep_caps(int value) { return prctl(PR_SET_KEEPCAPS, value, 0, 0, 0); }
int sw_cap_ambient_clear(void) { return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); }
int sw_cap_ambient_raise(int cap) { return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0); }

int sw_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    data[0].effective = (uint32_t)effective;
    data[1].effective = (uint32_t)(effective >> 32);
    data[0].permitted = (uint32_t)permitted;
    data[1].permitted = (uint32_t)(permitted >> 32);
    data[0].inheritable = (uint32_t)inheritable;
    data[1].inheritable = (uint32_t)(inheritable >> 32);
    return (int)syscall(SYS_capset, &header, data);
}

int sw_capget(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable) {
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) != 0) return -1;
    *effective = (uint64_t)data[1].effective << 32 | data[0].effective;
    *permitted = (uint64_t)data[1].permitted << 32 | data[0].permitted;
    *inheritable = (uint64_t)data[1].inheritable << 32 | data[0].inheritable;
    return 0;
}

int sw_seccomp_load(const void *filter, unsigned short count, unsigned int flags) {
    struct sock_fprog prog = { .len = count, .filter = (struct sock_filter *)filter };
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

int sw_sealed_copy(int source_fd, size_t size) {
    int fd = memfd_create("swiftainer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -errno;
    off_t offset = 0;
    while ((size_t)offset < size) {
        ssize_t n = sendfile(fd, source_fd, &offset, size - (size_t)offset);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { int err = n < 0 ? errno : EIO; close(fd); return -err; }
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int sw_netlink_route_socket(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    struct sockaddr_nl address = { .nl_family = AF_NETLINK };
    if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    return fd;
}

ssize_t sw_netlink_send(int fd, const void *data, size_t len) {
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    ssize_t n;
    do {
        n = sendto(fd, data, len, 0, (struct sockaddr *)&kernel, sizeof kernel);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

int sw_attach_device_program(int cgroup_fd, const void *insns, unsigned int count, char *log, unsigned int log_size) {
    union bpf_attr load;
    memset(&load, 0, sizeof load);
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insn_cnt = count;
    load.insns = (unsigned long)insns;
    load.license = (unsigned long)"Apache-2.0";
    // Without a log first: with one, a kernel before 6.4 fails a valid program with ENOSPC
    // when the verifier's trace outgrows the buffer (a few device rules are enough).
    int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
    if (prog < 0) {
        int saved = errno;
        if (log_size > 0) {
            // Again only to learn why: the verifier's last line says it.
            load.log_level = 1;
            load.log_buf = (unsigned long)log;
            load.log_size = log_size;
            int again = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
            if (again >= 0) close(again);
        }
        return -saved;
    }
    union bpf_attr attach;
    memset(&attach, 0, sizeof attach);
    attach.target_fd = cgroup_fd;
    attach.attach_bpf_fd = prog;
    attach.attach_type = BPF_CGROUP_DEVICE;
    attach.attach_flags = BPF_F_ALLOW_MULTI;
    int rc = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof attach);
    int saved = errno;
    close(prog); // the attachment holds the program now
    return rc < 0 ? -saved : 0;
}

long long sw_filesystem_type(const char *path) {
    struct statfs fs;
    if (statfs(path, &fs) != 0) return -1;
    return (long long)(unsigned long)fs.f_type;
}

int sw_set_xattr(int fd, const char *name, const void *value, size_t size) {
    return fsetxattr(fd, name, value, size, 0);
}

int sw_spawn_close_from(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

long sw_get_xattr(int fd, const char *name, void *value, size_t size) {
    return (long)fgetxattr(fd, name, value, size);
}
