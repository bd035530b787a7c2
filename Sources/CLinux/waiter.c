// The detached container's waiter: what the monitor process becomes once the container runs.
//
//   swiftainer __wait INIT_PID LOG_FD OUT_FD ERR_FD CONSOLE_FD LOG_PATH MAX_SIZE MAX_FILES COMPRESS
//                     ATTACH_FD STDIN_FD LISTEN_FD -- FINISH_ARGV...
//
// It relays the container's output (pipes, or the console) into the json-file log (LOG_FD -1:
// the "none" driver; MAX_SIZE > 0: rotated, see sw_json_log_rotate_at) and to the attached
// client (ATTACH_FD, a SOCK_SEQPACKET socket, -1 for none; see "attach protocol" below), forwards
// the signals it gets to the container's init, accepts further clients on LISTEN_FD (the
// container's attach socket, `swiftainer attach`: several at once, each sent all output), reaps the init, and then execs FINISH_ARGV
// (`swiftainer --root R monitor-finish ID`) with `--status WAIT_STATUS` appended, where Swift
// records the exit. It runs from a constructor, before the Swift runtime starts, and never
// returns into it: an idle container's supervisor then holds a few C pages, as conmon does,
// instead of a started Swift program. The process stays the same (pid, start time, the
// supervisor lock fd, the init as its child) through both execs.
#define _GNU_SOURCE  // accept4
#include "CLinux.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void now(char out[SW_RFC3339_SIZE]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sw_format_rfc3339(ts.tv_sec, ts.tv_nsec, out);
}

// The attach protocol, one message per packet (SOCK_SEQPACKET keeps their bounds):
//   to the client:   1 DATA (stdout) | 2 DATA (stderr) | 3 STATUS (int32 wait status, last)
//   from the client: 0 DATA (stdin)  | 1 ROWS COLS (uint16 each: the terminal's size) | 2 (stdin's end)
// A client that goes away (detached) is dropped; the container goes on. Only the first client
// (the one `run`/`start -a` started it with) ends the container's input with its own; the
// output of a client that takes more than a few seconds to accept a packet is not held up
// for it: it is dropped (`attach` clients, whose terminal may be suspended).
enum { ATTACH_STDIN = 0, ATTACH_RESIZE = 1, ATTACH_EOF = 2, ATTACH_STATUS = 3 };
enum { MAX_CLIENTS = 16 };
static int clients[MAX_CLIENTS];
static int client_count;
static int primary_client = -1;  // the fd of the first client while it is attached

static void attach_close(int index) {
    if (clients[index] == primary_client) primary_client = -1;
    close(clients[index]);
    clients[index] = clients[--client_count];
}

static void attach_send(unsigned char kind, const void *bytes, size_t n) {
    static unsigned char packet[1 + 32 * 1024];
    for (int c = 0; c < client_count; c++) {
        const unsigned char *at = bytes;
        size_t left = n;
        while (left > 0 || kind == ATTACH_STATUS) {
            size_t part = left < sizeof packet - 1 ? left : sizeof packet - 1;
            packet[0] = kind;
            memcpy(packet + 1, at, part);
            ssize_t sent;
            do sent = send(clients[c], packet, part + 1, MSG_NOSIGNAL); while (sent < 0 && errno == EINTR);
            if (sent < 0) { attach_close(c--); break; }
            at += part;
            left -= part;
            if (kind == ATTACH_STATUS) break;
        }
    }
}

/// Reads what `fd` has into the log and to the client; returns 0 once it is at its end (EOF,
/// or EIO: every pty slave closed), 1 while it stays open.
static int relay(int fd, int stream, struct sw_json_log *log, unsigned char *buffer, size_t size) {
    for (;;) {
        ssize_t n = read(fd, buffer, size);
        if (n > 0) {
            char time[SW_RFC3339_SIZE];
            now(time);
            sw_json_log_append(log, stream, buffer, (size_t)n, time);
            attach_send(stream == 0 ? 1 : 2, buffer, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 1;
        return 0;
    }
}

// Input from the client that the container has not taken yet. While some is pending the
// client's socket is not read, so a container that does not read its input holds the client
// back (the socket's buffer fills) and nothing is dropped or blocks this loop.
static unsigned char pending[32 * 1024];
static size_t pending_at, pending_len;
static int close_input_when_drained;

/// Writes what is pending to `*input` (the console, or the stdin pipe's write end) as far as it
/// takes it. A pipe whose reader is gone (EPIPE) or a console whose slave closed (EIO) takes no
/// more: what is pending is dropped and a pipe is closed.
static void flush_input(int *input, int is_pipe) {
    while (pending_at < pending_len && *input >= 0) {
        ssize_t w = write(*input, pending + pending_at, pending_len - pending_at);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return;
        if (w < 0) {
            if (is_pipe) { close(*input); *input = -1; }
            break;
        }
        pending_at += (size_t)w;
    }
    pending_at = pending_len = 0;
    if (close_input_when_drained && is_pipe && *input >= 0) { close(*input); *input = -1; }
    close_input_when_drained = 0;
}

static int wait_main(int argc, char **argv, char **envp) {
    if (argc < 16 || strcmp(argv[14], "--") != 0) return 125;
    pid_t pid = (pid_t)atoi(argv[2]);
    int logfd = atoi(argv[3]);
    // Output sources: stdout pipe, stderr pipe, console (its output counts as stdout).
    int fds[3] = {atoi(argv[4]), atoi(argv[5]), atoi(argv[6])};
    const int streams[3] = {0, 1, 0};
    int first_client = atoi(argv[11]);
    if (first_client >= 0) clients[client_count++] = primary_client = first_client;
    int stdin_fd = atoi(argv[12]);  // the write end of an -i container's stdin pipe, or -1
    int listener = atoi(argv[13]);  // the attach socket, listening, or -1
    int console = fds[2];
    // The set ProcessMonitor handles; blocked already (the monitor blocked them before the
    // clone and exec keeps the mask), blocked again so this never depends on it.
    const int handled[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGCONT, SIGCHLD, SIGWINCH};
    sw_sigmask(SIG_BLOCK, handled, (int)(sizeof handled / sizeof handled[0]));
    int signals = sw_signalfd(handled, (int)(sizeof handled / sizeof handled[0]));
    if (signals < 0) return 125;
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0) fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    }
    if (stdin_fd >= 0) fcntl(stdin_fd, F_SETFL, fcntl(stdin_fd, F_GETFL) | O_NONBLOCK);
    struct sw_json_log log;
    sw_json_log_init(&log, logfd);
    long long max_size = atoll(argv[8]);
    if (logfd >= 0 && max_size > 0) sw_json_log_rotate_at(&log, argv[7], max_size, atoi(argv[9]), atoi(argv[10]));
    static unsigned char buffer[32 * 1024];
    int status = 0, reaped = 0;
    while (!reaped) {
        struct pollfd list[7 + MAX_CLIENTS];
        int sources[7 + MAX_CLIENTS], count = 0;
        int *input = console >= 0 ? &console : &stdin_fd;
        list[count] = (struct pollfd){.fd = signals, .events = POLLIN};
        sources[count++] = -1;
        if (listener >= 0 && client_count < MAX_CLIENTS) {
            list[count] = (struct pollfd){.fd = listener, .events = POLLIN};
            sources[count++] = -4;
        }
        for (int c = 0; c < client_count; c++) {
            // With input pending, only a client's leaving is watched.
            list[count] = (struct pollfd){.fd = clients[c], .events = pending_len ? 0 : POLLIN};
            sources[count++] = -10 - clients[c];
        }
        if (pending_len && *input >= 0) {
            list[count] = (struct pollfd){.fd = *input, .events = POLLOUT};
            sources[count++] = -3;
        }
        for (int i = 0; i < 3; i++) {
            if (fds[i] < 0) continue;
            list[count] = (struct pollfd){.fd = fds[i], .events = POLLIN};
            sources[count++] = i;
        }
        if (poll(list, (nfds_t)count, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int k = 0; k < count; k++) {
            if (!list[k].revents) continue;
            if (sources[k] == -3) {
                flush_input(input, console < 0);
            } else if (sources[k] == -4) {
                int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
                if (client < 0) continue;
                // A client that stops reading loses its place rather than stalling the rest.
                struct timeval patience = {.tv_sec = 5};
                setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience);
                clients[client_count++] = client;
            } else if (sources[k] <= -10) {
                // From a client: input, a resize, the end of its input, or its leaving.
                int fd = -10 - sources[k], index = -1;
                for (int c = 0; c < client_count; c++) if (clients[c] == fd) index = c;
                if (index < 0) continue;  // dropped while sending, earlier in this round
                if (pending_len) {
                    if (list[k].revents & (POLLHUP | POLLERR)) attach_close(index);
                    continue;
                }
                ssize_t n;
                do n = recv(fd, pending, sizeof pending, MSG_DONTWAIT); while (n < 0 && errno == EINTR);
                if (n < 0 && errno == EAGAIN) continue;
                if (n <= 0) { attach_close(index); continue; }
                if (pending[0] == ATTACH_STDIN && *input >= 0) {
                    pending_at = 1;
                    pending_len = (size_t)n;
                    flush_input(input, console < 0);
                } else if (pending[0] == ATTACH_RESIZE && n == 5 && console >= 0) {
                    unsigned short rows, cols;
                    memcpy(&rows, pending + 1, 2);
                    memcpy(&cols, pending + 3, 2);
                    sw_set_winsize(console, rows, cols);
                } else if (pending[0] == ATTACH_EOF && *input >= 0 && fd == primary_client) {
                    // As a terminal's user ends input (^D); a pipe is closed.
                    pending_at = 0;
                    pending_len = console >= 0 ? 1 : 0;
                    pending[0] = 4;
                    close_input_when_drained = 1;
                    flush_input(input, console < 0);
                }
            } else if (sources[k] < 0) {
                int signal;
                while ((signal = sw_signalfd_read(signals, NULL, NULL)) > 0) {
                    if (signal == SIGCHLD) {
                        // Every child: those the monitor started before it became this waiter
                        // (slirp4netns, a network's resolver) must not linger as zombies.
                        pid_t done;
                        int child_status;
                        while ((done = waitpid(-1, &child_status, WNOHANG)) > 0) {
                            if (done == pid) {
                                status = child_status;
                                reaped = 1;
                            }
                        }
                    } else if (signal != SIGWINCH) {
                        kill(pid, signal);  // as ProcessMonitor forwards them
                    }
                }
            } else {
                int i = sources[k];
                if (!relay(fds[i], streams[i], &log, buffer, sizeof buffer)) {
                    close(fds[i]);
                    fds[i] = -1;
                }
            }
        }
    }
    // What the container wrote just before it ended, then the partial lines.
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0) relay(fds[i], streams[i], &log, buffer, sizeof buffer);
        if (fds[i] >= 0) close(fds[i]);
    }
    if (reaped) attach_send(ATTACH_STATUS, &status, sizeof status);
    while (client_count > 0) attach_close(0);
    if (listener >= 0) close(listener);
    char time[SW_RFC3339_SIZE];
    now(time);
    sw_json_log_flush(&log, time);
    sw_json_log_free(&log);
    if (logfd >= 0) close(logfd);
    close(signals);
    if (!reaped) return 125;
    // FINISH_ARGV + "--status" + the status; exec'd with the signals still blocked, as the
    // Swift side expects them in ProcessMonitor's hands.
    int finish = argc - 15;
    char **next = calloc((size_t)finish + 3, sizeof *next);
    char text[16];
    if (!next) return 125;
    for (int i = 0; i < finish; i++) next[i] = argv[15 + i];
    snprintf(text, sizeof text, "%d", status);
    next[finish] = "--status";
    next[finish + 1] = text;
    execve("/proc/self/exe", next, envp);
    return 125;  // the end goes unrecorded: the next command's reconcile records it
}

__attribute__((constructor(101))) static void sw_waiter_entry(int argc, char **argv, char **envp) {
    if (argc > 1 && strcmp(argv[1], "__wait") == 0) _exit(wait_main(argc, argv, envp));
}
