// CLinux: the few things Swift cannot call directly — clone() with namespace flags and a
// child that must not run Swift, raw syscalls without glibc wrappers, and variadic
// ioctl()/prctl(). Everything else lives in Swift (LinuxKit).
#ifndef SWIFTAINER_CLINUX_H
#define SWIFTAINER_CLINUX_H

#include <sys/types.h>
#include <signal.h>
#include <stdint.h>

/// Namespace flags (sched.h hides them from Swift without _GNU_SOURCE). Values from linux/sched.h.
enum {
    SW_CLONE_NEWNS = 0x00020000,
    SW_CLONE_NEWCGROUP = 0x02000000,
    SW_CLONE_NEWUTS = 0x04000000,
    SW_CLONE_NEWIPC = 0x08000000,
    SW_CLONE_NEWUSER = 0x10000000,
    SW_CLONE_NEWPID = 0x20000000,
    SW_CLONE_NEWNET = 0x40000000,
};

/// O_PATH (fcntl.h hides it from Swift without _GNU_SOURCE): an fd that names a file without
/// opening it, so a FIFO can be held without blocking.
enum { SW_O_PATH = 010000000 };

/// How to start a process in new namespaces. The child runs only async-signal-safe C between
/// clone() and execve(): everything it needs is prepared by the parent beforehand.
enum {
    SW_PRESERVED_FD_BASE = 5,
    SW_MAX_PRESERVED_FDS = 1024,
};

struct sw_spawn_request {
    int clone_flags;          // CLONE_NEW* flags
    const char *path;         // executable to execve (e.g. "/proc/self/exe")
    char *const *argv;
    char *const *envp;
    int stdin_fd;             // -1: inherit
    int stdout_fd;            // -1: inherit
    int stderr_fd;            // -1: inherit
    int extra_fd;             // placed at fd 3 without CLOEXEC in the child; -1: none
    int pdeathsig;            // signal the child gets when the parent dies; 0: none
    /// When set (and clone_flags has CLONE_NEWNS), `path` is bind-mounted read-only onto itself
    /// in the child's new mount namespace before execve, so the runtime binary the container's
    /// init runs from cannot be opened for writing through /proc/PID/exe (CVE-2019-5736).
    int exec_read_only;
    /// When >= 0, exec this fd (execveat with AT_EMPTY_PATH) instead of `path`: the sealed
    /// memfd copy. Every fd but 0-3 (and this one, until exec) is closed in the child.
    int exec_fd;
    /// When >= 0, the child first reads one byte from this fd (then closes it): with
    /// CLONE_NEWUSER the parent writes the uid/gid maps meanwhile, and the child must not exec
    /// before it has them (an unmapped uid would lose every capability at execve).
    int wait_fd;
    /// --preserve-fds: the caller's fds 3 .. 3+N-1 reach the child at SW_PRESERVED_FD_BASE ..
    /// (3 and 4 are the sync socket and the sealed copy); the init moves them down before exec.
    int preserved_fds;
    /// >= 0: a user namespace to join (linux.namespaces user by path) before the namespaces in
    /// clone_flags are made, so that it owns them; the init is then a grandchild (see clinux.c).
    int user_ns_fd;
    int pid_ns_fd;            // with user_ns_fd: a pid namespace to join after it; -1: none
    int pid_pipe;             // internal to sw_spawn
};

/// clone()s a child per `req` and execs it. Returns the child's pid (in the caller's pid
/// namespace), or -errno when clone() fails. If execve() fails the child exits 127 after
/// writing "exec:<errno>" to extra_fd (when given).
pid_t sw_spawn(const struct sw_spawn_request *req);

int sw_pivot_root(const char *new_root, const char *put_old);
/// RFC 3339 UTC with nanoseconds, "2026-11-23T08:00:00.123456789Z" (Clock.rfc3339 is this).
enum { SW_RFC3339_SIZE = 40 };
void sw_format_rfc3339(long long seconds, long nanoseconds, char out[SW_RFC3339_SIZE]);

/// Docker's json-file log writer (json_log.c), one implementation for the foreground run and
/// the detached waiter: entries per line and stream (0 stdout, 1 stderr), a line longer than
/// SW_JSON_LOG_MAX_LINE split as Docker splits at 16 KiB, partial lines kept until flush.
enum { SW_JSON_LOG_MAX_LINE = 16 * 1024 };
/// fd -1: the entries are dropped (the "none" driver).
struct sw_json_log {
    int fd;
    unsigned char *pending[2];
    size_t pending_length[2];
    size_t pending_capacity[2];
    /// Rotation, off while max_size is 0 (--log-opt max-size, max-file, compress): `path` (a
    /// copy) is the file `fd` writes; `written` its size.
    char *path;
    long long max_size;
    int max_files;
    int compress;
    long long written;
};
void sw_json_log_init(struct sw_json_log *log, int fd);
/// Rotate before an entry would take the file past `max_size` bytes: with max_files 1 the file
/// is truncated, otherwise it becomes PATH.1 (PATH.1.gz with `compress`), the older ones move
/// up a number and the one past max_files - 1 goes, and `fd` is pointed at a new PATH.
void sw_json_log_rotate_at(struct sw_json_log *log, const char *path, long long max_size, int max_files, int compress);
void sw_json_log_append(struct sw_json_log *log, int stream, const void *bytes, size_t length, const char *time);
void sw_json_log_flush(struct sw_json_log *log, const char *time);
void sw_json_log_free(struct sw_json_log *log);

/// openat2(2) (no glibc wrapper): `resolve` is RESOLVE_* bits. -1 with errno (ENOSYS before Linux 5.6).
int sw_openat2(int dirfd, const char *path, int flags, unsigned int mode, unsigned long long resolve);
#define SW_RESOLVE_NO_XDEV 0x01
#define SW_RESOLVE_NO_MAGICLINKS 0x02
#define SW_RESOLVE_NO_SYMLINKS 0x04
#define SW_RESOLVE_BENEATH 0x08
#define SW_RESOLVE_IN_ROOT 0x10
/// The mount API of Linux 5.2/5.12 (no glibc wrappers in Debian 12's headers that coexist with
/// <sys/mount.h>): a mount made detached, its attributes set, then moved onto a target by fd.
/// -1 with errno (ENOSYS on older kernels).
int sw_open_tree(int dirfd, const char *path, unsigned int flags);
int sw_move_mount(int from_fd, int to_fd);
int sw_mount_setattr(int fd, int recursive, uint64_t attr_set, uint64_t attr_clr, uint64_t propagation);
/// statx's mount id of an open file (STATX_MNT_ID), or 0 when the kernel does not report it.
uint64_t sw_mount_id(int fd);
#define SW_OPEN_TREE_CLONE 1
#define SW_OPEN_TREE_RECURSIVE 0x8000
#define SW_MOUNT_ATTR_RDONLY 0x1
#define SW_MOUNT_ATTR_NOSUID 0x2
#define SW_MOUNT_ATTR_NODEV 0x4
#define SW_MOUNT_ATTR_NOEXEC 0x8
#define SW_MOUNT_ATTR_RELATIME 0x0
#define SW_MOUNT_ATTR_NOATIME 0x10
#define SW_MOUNT_ATTR_STRICTATIME 0x20
#define SW_MOUNT_ATTR__ATIME 0x70
#define SW_MOUNT_ATTR_NODIRATIME 0x80
int sw_setns(int fd, int nstype);
int sw_unshare(int flags);
int sw_close_range_from(unsigned int first);
int sw_close_range(unsigned int first, unsigned int last);

int sw_set_pdeathsig(int sig);
int sw_set_no_new_privs(void);
int sw_set_child_subreaper(void);
int sw_set_dumpable(int value);

/// Terminal helpers (ioctl is variadic).
int sw_set_controlling_tty(int fd);
int sw_get_winsize(int fd, unsigned short *rows, unsigned short *cols);
int sw_set_winsize(int fd, unsigned short rows, unsigned short cols);
int sw_pty_unlock(int master_fd);
int sw_pty_number(int master_fd, unsigned int *number);

/// Brings a network interface up through SIOCSIFFLAGS (used for "lo" in a new netns).
int sw_interface_up(const char *name);

dev_t sw_makedev(unsigned int major, unsigned int minor);
/* statfs(2)'s f_type of the filesystem holding path (Glibc's Swift module lacks sys/vfs.h);
   -1 with errno on failure. */
long long sw_filesystem_type(const char *path);
/* fsetxattr(2) (sys/xattr.h is not in Glibc's Swift module). */
int sw_set_xattr(int fd, const char *name, const void *value, size_t size);
/* posix_spawn_file_actions_addclosefrom_np (glibc 2.34+; Swift does not import it). */
#include <spawn.h>
int sw_spawn_close_from(posix_spawn_file_actions_t *actions, int from);
/* fgetxattr(2): the value's length, or -1 with errno. */
long sw_get_xattr(int fd, const char *name, void *value, size_t size);
unsigned int sw_major(dev_t dev);
unsigned int sw_minor(dev_t dev);

/// A signalfd for the given signals (which the caller must have blocked).
int sw_signalfd(const int *signals, int count);
/// Reads one signal from a signalfd; returns the signal number, 0 when none is pending, -errno.
int sw_signalfd_read(int fd, int32_t *pid_out, int32_t *status_out);
/// Blocks (how=SIG_BLOCK) or unblocks (SIG_UNBLOCK) the given signals for the calling thread.
int sw_sigmask(int how, const int *signals, int count);
/// Restores default dispositions and an empty signal mask (before exec'ing a container process).
void sw_reset_signals(void);

/// sendmsg/recvmsg with one SCM_RIGHTS file descriptor and a small payload.
ssize_t sw_send_fd(int sock, int fd, const void *data, size_t len);
ssize_t sw_recv_fd(int sock, int *fd_out, void *data, size_t len);

/// Capabilities (capget/capset have no glibc wrapper; prctl is variadic).
int sw_cap_last(void);
int sw_cap_bounding_drop(int cap);
/// 1 if `cap` is in this thread's bounding set, 0 if not, -1 (EINVAL) past the last capability.
int sw_cap_bounding_read(int cap);
int sw_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable);
int sw_capget(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable);
int sw_cap_ambient_clear(void);
int sw_cap_ambient_raise(int cap);
int sw_set_keep_caps(int value);

/// Loads a classic BPF seccomp filter (`count` instructions of 8 bytes).
int sw_seccomp_load(const void *filter, unsigned short count, unsigned int flags);

/// A close-on-exec memfd holding the first `size` bytes of `source_fd`, sealed against writes,
/// growth, shrinking and further seals. Returns the fd, or -errno.
int sw_sealed_copy(int source_fd, size_t size);

/// A NETLINK_ROUTE socket (close-on-exec), bound with a kernel-assigned port id; -errno on failure.
/// (struct sockaddr_nl is not imported into Swift.)
int sw_netlink_route_socket(void);
/// Loads `count` eBPF instructions as a BPF_PROG_TYPE_CGROUP_DEVICE program and attaches it to
/// the cgroup directory `cgroup_fd` (BPF_F_ALLOW_MULTI). The verifier's log goes to `log`.
/// Returns 0, or -errno.
int sw_attach_device_program(int cgroup_fd, const void *insns, unsigned int count, char *log, unsigned int log_size);

/// Sends one datagram to the kernel (port id 0) on a netlink socket.
ssize_t sw_netlink_send(int fd, const void *data, size_t len);

#endif

/// SHA-256 with the x86 SHA extensions (SHA-NI): 1 when this CPU has them (and SSSE3,
/// SSE4.1), else 0 and callers use the portable implementation.
int sw_sha256_hw_available(void);
/// SHA-256's 64 round constants (K), shared by both implementations.
extern const uint32_t sw_sha256_round_constants[64];
/// Compresses `blocks` 64-byte blocks of `data` into `state` (a..h, host order).
void sw_sha256_hw_blocks(uint32_t state[8], const void *data, size_t blocks);

/// `run --init`: forks; returns 0 in the child, which goes on to exec the command, and -errno
/// if the fork fails. The parent never returns: it stays PID 1, forwards signals to the command,
/// reaps every child and exits with the command's status.
int sw_become_init_reaper(void);
