#include "CCurl.h"
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

/* The few libcurl functions used, resolved once. */
static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[256];

static void load(void) {
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        snprintf(load_error, sizeof load_error, "cannot load libcurl.so.4 (Debian package libcurl4): %s", dlerror());
        return;
    }
#define RESOLVE(field, name) \
    if (!(*(void **)&curl.field = dlsym(library, name))) { \
        snprintf(load_error, sizeof load_error, "libcurl.so.4 lacks %s", name); return; }
    RESOLVE(global_init, "curl_global_init")
    RESOLVE(easy_init, "curl_easy_init")
    RESOLVE(easy_cleanup, "curl_easy_cleanup")
    RESOLVE(easy_reset, "curl_easy_reset")
    RESOLVE(easy_setopt, "curl_easy_setopt")
    RESOLVE(easy_perform, "curl_easy_perform")
    RESOLVE(easy_getinfo, "curl_easy_getinfo")
    RESOLVE(easy_strerror, "curl_easy_strerror")
    RESOLVE(slist_append, "curl_slist_append")
    RESOLVE(slist_free_all, "curl_slist_free_all")
#undef RESOLVE
    if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(load_error, sizeof load_error, "curl_global_init failed");
        curl.easy_init = NULL;
    }
}

int swc_load(char *error, size_t error_length) {
    pthread_once(&load_once, load);
    if (curl.easy_init && !load_error[0]) return 0;
    snprintf(error, error_length, "%s", load_error[0] ? load_error : "libcurl is not available");
    return -1;
}

void *swc_handle_new(void) { return swc_load(NULL, 0) == 0 ? curl.easy_init() : NULL; }
void swc_handle_free(void *handle) { if (handle) curl.easy_cleanup(handle); }

static size_t write_body(char *data, size_t size, size_t count, void *user) {
    const swc_request *request = user;
    size_t length = size * count;
    return request->on_data ? request->on_data(data, length, request->context) : length;
}

static size_t read_upload(char *buffer, size_t size, size_t count, void *user) {
    const swc_request *request = user;
    for (;;) {
        ssize_t n = read(request->upload_fd, buffer, size * count);
        if (n >= 0) return (size_t)n;
        if (errno != EINTR) return CURL_READFUNC_ABORT;
    }
}

static size_t write_header(char *data, size_t size, size_t count, void *user) {
    const swc_request *request = user;
    size_t length = size * count;
    size_t line = length;
    while (line > 0 && (data[line - 1] == '\n' || data[line - 1] == '\r')) line--;
    if (request->on_header) request->on_header(data, line, request->context);
    return length;
}

int swc_perform(void *handle, const swc_request *request, long *status, char *error, size_t error_length) {
    CURL *easy = handle;
    char buffer[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    curl.easy_reset(easy);
    curl.easy_setopt(easy, CURLOPT_URL, request->url);
    curl.easy_setopt(easy, CURLOPT_ERRORBUFFER, buffer);
    curl.easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);           /* threads: no SIGALRM for timeouts */
    curl.easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 30L);
    /* A stalled transfer (under 1 byte/s for 60 s) fails instead of hanging a pull forever. */
    curl.easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl.easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, 60L);
    curl.easy_setopt(easy, CURLOPT_USERAGENT, "swiftainer");
    curl.easy_setopt(easy, CURLOPT_FOLLOWLOCATION, request->follow_redirects ? 1L : 0L);
    curl.easy_setopt(easy, CURLOPT_MAXREDIRS, 10L);
    /* Redirects to blob storage elsewhere must not carry the registry's credentials: curl
       drops a custom Authorization header when the host changes unless this is set. */
    curl.easy_setopt(easy, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl.easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl.easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (request->ca_file) curl.easy_setopt(easy, CURLOPT_CAINFO, request->ca_file);
    for (int i = 0; i < request->header_count; i++) {
        struct curl_slist *next = curl.slist_append(headers, request->headers[i]);
        if (!next) { curl.slist_free_all(headers); snprintf(error, error_length, "out of memory"); return CURLE_OUT_OF_MEMORY; }
        headers = next;
    }
    if (headers) curl.easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    if (strcmp(request->method, "HEAD") == 0) {
        curl.easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else if (strcmp(request->method, "GET") != 0) {
        curl.easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request->method);
    }
    if (request->upload_fd >= 0) {
        curl.easy_setopt(easy, CURLOPT_UPLOAD, 1L);
        curl.easy_setopt(easy, CURLOPT_READFUNCTION, read_upload);
        curl.easy_setopt(easy, CURLOPT_READDATA, (void *)request);
        curl.easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)request->upload_length);
    } else if (request->body || strcmp(request->method, "PUT") == 0 || strcmp(request->method, "POST") == 0 || strcmp(request->method, "PATCH") == 0) {
        curl.easy_setopt(easy, CURLOPT_POSTFIELDS, request->body ? request->body : "");
        curl.easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->body_length);
    }
    curl.easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_body);
    curl.easy_setopt(easy, CURLOPT_WRITEDATA, (void *)request);
    curl.easy_setopt(easy, CURLOPT_HEADERFUNCTION, write_header);
    curl.easy_setopt(easy, CURLOPT_HEADERDATA, (void *)request);
    CURLcode code = curl.easy_perform(easy);
    if (headers) curl.slist_free_all(headers);
    if (code != CURLE_OK) {
        snprintf(error, error_length, "%s", buffer[0] ? buffer : curl.easy_strerror(code));
        return (int)code;
    }
    curl.easy_getinfo(easy, CURLINFO_RESPONSE_CODE, status);
    return 0;
}
