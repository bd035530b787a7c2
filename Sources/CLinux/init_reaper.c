// `run --init`: the container's PID 1 stays a small reaper instead of becoming the command
// (what Docker does with tini). PID 1 of a PID namespace gets no default signal actions, so a
// command run as PID 1 ignores the SIGTERM of `docker stop`, and orphans are reparented to it
// whether or not it ever waits for them. The reaper forwards every signal it is sent to the
// command, reaps every child, and exits with the command's status (128+N for signal N).
#include "CLinux.h"
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int status_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

int sw_become_init_reaper(void) {
    sigset_t all, previous;
    sigfillset(&all);
    // Blocked signals are queued for PID 1 even without a handler (ignored ones are dropped):
    // block everything before the fork so that nothing sent in between is lost.
    sigprocmask(SIG_BLOCK, &all, &previous);
    pid_t command = fork();
    if (command < 0) {
        int saved = errno;
        sigprocmask(SIG_SETMASK, &previous, NULL);
        return -saved;
    }
    if (command == 0) {
        // The command leads a process group of its own and, on a terminal, is its foreground
        // group: ^C from the terminal reaches it once, not again through the reaper. With
        // everything blocked, tcsetpgrp from the background raises no SIGTTOU.
        setpgid(0, 0);
        if (isatty(STDIN_FILENO)) tcsetpgrp(STDIN_FILENO, getpid());
        sigprocmask(SIG_SETMASK, &previous, NULL);
        return 0;
    }
    // The reaper holds nothing of the container's: the runtime sees the report channel close
    // when the command execs (or reads why it could not), as without --init.
    syscall(SYS_close_range, 0U, ~0U, 0);
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);
        if (sig < 0) continue;  // EINTR
        if (sig != SIGCHLD) {
            kill(command, sig);
            continue;
        }
        for (;;) {
            int status;
            pid_t pid = waitpid(-1, &status, WNOHANG);
            if (pid <= 0) break;
            if (pid == command) _exit(status_code(status));
        }
    }
}
