// Docker's json-file log, written here once for both writers: the foreground `run` (through
// Swift's ContainerLogWriter) and the detached container's waiter (waiter.c), which must not
// start the Swift runtime. One line per entry:
//   {"log":"hello\n","stream":"stdout","time":"2026-11-23T08:00:00.123456789Z"}
#define _GNU_SOURCE
#include "CLinux.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

void sw_format_rfc3339(long long seconds, long nanoseconds, char out[SW_RFC3339_SIZE]) {
    time_t t = (time_t)seconds;
    struct tm parts;
    gmtime_r(&t, &parts);
    snprintf(out, SW_RFC3339_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", parts.tm_year + 1900, parts.tm_mon + 1,
             parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, nanoseconds);
}

/// A growable byte buffer; on allocation failure bytes are dropped (a log must never take
/// the container down).
struct buffer { unsigned char *bytes; size_t length, capacity; };

static void put(struct buffer *b, const void *bytes, size_t n) {
    if (b->length + n > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 4096;
        while (capacity < b->length + n) capacity *= 2;
        unsigned char *grown = realloc(b->bytes, capacity);
        if (!grown) return;
        b->bytes = grown;
        b->capacity = capacity;
    }
    memcpy(b->bytes + b->length, bytes, n);
    b->length += n;
}

static void put_text(struct buffer *b, const char *text) { put(b, text, strlen(text)); }

/// A JSON string of `bytes` read as UTF-8: each maximal ill-formed subpart becomes U+FFFD
/// (Unicode's recommended substitution, the same Swift's String(decoding:as:) makes); the
/// escapes are JSONKit's.
static void put_json_string(struct buffer *b, const unsigned char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    static const unsigned char replacement[] = {0xEF, 0xBF, 0xBD};
    put(b, "\"", 1);
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            switch (c) {
            case '"': put_text(b, "\\\""); break;
            case '\\': put_text(b, "\\\\"); break;
            case '\n': put_text(b, "\\n"); break;
            case '\r': put_text(b, "\\r"); break;
            case '\t': put_text(b, "\\t"); break;
            case '\b': put_text(b, "\\b"); break;
            case '\f': put_text(b, "\\f"); break;
            default:
                if (c < 0x20) {
                    char escape[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
                    put(b, escape, 6);
                } else {
                    put(b, &c, 1);
                }
            }
            i++;
            continue;
        }
        size_t length;
        unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
        if (c >= 0xC2 && c <= 0xDF) length = 2;
        else if (c == 0xE0) { length = 3; low = 0xA0; }
        else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) length = 3;
        else if (c == 0xED) { length = 3; high = 0x9F; }
        else if (c == 0xF0) { length = 4; low = 0x90; }
        else if (c >= 0xF1 && c <= 0xF3) length = 4;
        else if (c == 0xF4) { length = 4; high = 0x8F; }
        else { put(b, replacement, 3); i++; continue; }
        if (i + 1 >= n || s[i + 1] < low || s[i + 1] > high) { put(b, replacement, 3); i++; continue; }
        size_t valid = 2;
        while (valid < length && i + valid < n && s[i + valid] >= 0x80 && s[i + valid] <= 0xBF) valid++;
        if (valid == length) put(b, s + i, length); else put(b, replacement, 3);
        i += valid;
    }
    put(b, "\"", 1);
}

static void put_entry(struct buffer *b, const unsigned char *line, size_t n, int stream, const char *time) {
    put_text(b, "{\"log\":");
    put_json_string(b, line, n);
    put_text(b, stream == 0 ? ",\"stream\":\"stdout\",\"time\":\"" : ",\"stream\":\"stderr\",\"time\":\"");
    put_text(b, time);
    put_text(b, "\"}\n");
}

static void write_all(struct sw_json_log *log, const unsigned char *bytes, size_t n) {
    while (n > 0 && log->fd >= 0) {
        ssize_t written = write(log->fd, bytes, n);
        if (written < 0) {
            if (errno == EINTR) continue;
            return;  // a full disk loses log lines, not the container
        }
        bytes += written;
        n -= (size_t)written;
        log->written += written;
    }
}

void sw_json_log_init(struct sw_json_log *log, int fd) { memset(log, 0, sizeof *log); log->fd = fd; }

void sw_json_log_rotate_at(struct sw_json_log *log, const char *path, long long max_size, int max_files, int compress) {
    free(log->path);
    log->path = strdup(path);
    log->max_size = log->path ? max_size : 0;
    log->max_files = max_files < 1 ? 1 : max_files;
    log->compress = compress;
    struct stat st;
    log->written = (log->fd >= 0 && fstat(log->fd, &st) == 0) ? (long long)st.st_size : 0;
}

/// PATH.N, or PATH.N.gz.
static void numbered(char *out, size_t size, const char *path, int n, int gz) {
    snprintf(out, size, "%s.%d%s", path, n, gz ? ".gz" : "");
}

/// `from` gzip'ed into `to` (through a temporary name, so a reader never sees half of it);
/// `from` is removed once `to` is complete. Done in line: the relay pauses for it (the pipe
/// buffers the container's output meanwhile), as nothing else may write the log meanwhile.
static void compress_file(const char *from, const char *to) {
    char temporary[4096];
    snprintf(temporary, sizeof temporary, "%s.tmp", to);
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) return;
    gzFile out = gzopen(temporary, "wbe");
    if (!out) { close(in); return; }
    unsigned char chunk[64 * 1024];
    ssize_t n;
    int ok = 1;
    while ((n = read(in, chunk, sizeof chunk)) != 0) {
        if (n < 0) { if (errno == EINTR) continue; ok = 0; break; }
        if (gzwrite(out, chunk, (unsigned)n) != (int)n) { ok = 0; break; }
    }
    close(in);
    if (gzclose(out) != Z_OK) ok = 0;
    if (ok && rename(temporary, to) == 0) unlink(from); else unlink(temporary);
}

static void rotate(struct sw_json_log *log) {
    if (log->max_files <= 1) {
        if (ftruncate(log->fd, 0) == 0) log->written = 0;  // O_APPEND: the next write lands at 0
        return;
    }
    char from[4096], to[4096];
    for (int n = log->max_files - 1; n >= 2; n--) {
        numbered(from, sizeof from, log->path, n - 1, log->compress);
        numbered(to, sizeof to, log->path, n, log->compress);
        rename(from, to);  // ENOENT: fewer files so far
    }
    numbered(to, sizeof to, log->path, 1, 0);
    if (rename(log->path, to) != 0) return;  // keep writing where we are
    int fd = open(log->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return;
    // The same descriptor number, now the new file: whoever holds it (the waiter's argv
    // names it) keeps writing the current log.
    int flags = fcntl(log->fd, F_GETFD);
    dup3(fd, log->fd, (flags >= 0 && (flags & FD_CLOEXEC)) ? O_CLOEXEC : 0);
    close(fd);
    log->written = 0;
    if (log->compress) {
        numbered(from, sizeof from, log->path, 1, 1);
        compress_file(to, from);
    }
}

/// Writes `out`, rotating between entries (never inside one) where the next would take the
/// file past max_size. `starts` are the offsets in `out` where entries begin.
static void write_entries(struct sw_json_log *log, struct buffer *out, const size_t *starts, size_t count) {
    if (log->max_size <= 0 || log->fd < 0) { write_all(log, out->bytes, out->length); return; }
    size_t from = 0;
    for (size_t i = 0; i < count; i++) {
        size_t end = i + 1 < count ? starts[i + 1] : out->length;
        if (log->written + (long long)(end - from) > log->max_size && (log->written > 0 || starts[i] > from)) {
            write_all(log, out->bytes + from, starts[i] - from);
            rotate(log);
            from = starts[i];
        }
    }
    write_all(log, out->bytes + from, out->length - from);
}

void sw_json_log_append(struct sw_json_log *log, int stream, const void *bytes, size_t length, const char *time) {
    if (length == 0 || stream < 0 || stream > 1 || log->fd < 0) return;
    struct buffer pending = {log->pending[stream], log->pending_length[stream], log->pending_capacity[stream]};
    put(&pending, bytes, length);
    struct buffer out = {0}, starts = {0};  // starts: size_t offsets of the entries in out
    size_t start = 0;
    while (start < pending.length) {
        unsigned char *newline = memchr(pending.bytes + start, '\n', pending.length - start);
        size_t end;  // one past the entry's last byte
        if (newline) end = (size_t)(newline - pending.bytes) + 1;
        else if (pending.length - start >= SW_JSON_LOG_MAX_LINE) end = start + SW_JSON_LOG_MAX_LINE;
        else break;
        put(&starts, &out.length, sizeof out.length);
        put_entry(&out, pending.bytes + start, end - start, stream, time);
        start = end;
    }
    memmove(pending.bytes, pending.bytes + start, pending.length - start);
    log->pending[stream] = pending.bytes;
    log->pending_length[stream] = pending.length - start;
    log->pending_capacity[stream] = pending.capacity;
    write_entries(log, &out, (const size_t *)starts.bytes, starts.length / sizeof(size_t));
    free(out.bytes);
    free(starts.bytes);
}

void sw_json_log_flush(struct sw_json_log *log, const char *time) {
    struct buffer out = {0}, starts = {0};
    for (int stream = 0; stream < 2; stream++) {
        if (log->pending_length[stream] > 0) {
            put(&starts, &out.length, sizeof out.length);
            put_entry(&out, log->pending[stream], log->pending_length[stream], stream, time);
        }
        log->pending_length[stream] = 0;
    }
    write_entries(log, &out, (const size_t *)starts.bytes, starts.length / sizeof(size_t));
    free(out.bytes);
    free(starts.bytes);
}

void sw_json_log_free(struct sw_json_log *log) {
    for (int stream = 0; stream < 2; stream++) free(log->pending[stream]);
    free(log->path);
    memset(log, 0, sizeof *log);
    log->fd = -1;
}
