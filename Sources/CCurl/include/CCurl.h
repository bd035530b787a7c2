#ifndef SWIFTAINER_CCURL_H
#define SWIFTAINER_CCURL_H
/* libcurl, loaded on first use with dlopen: only pull, push and login need HTTP, and every
   other command (run above all) must not pay for loading libcurl and its ~30 dependencies at
   each process start. curl.h stays inside curl_shim.c: Swift sees this one request type. */
#include <stddef.h>

typedef struct swc_request {
    const char *method;                 /* "GET", "HEAD", "PUT", "POST", "PATCH" */
    const char *url;
    const char *const *headers;         /* "Name: value" lines */
    int header_count;
    const void *body;                   /* uploaded as is (NULL: none) */
    size_t body_length;
    int upload_fd;                      /* >= 0: the body is read from this fd (a blob) */
    long long upload_length;
    const char *ca_file;                /* extra trust (a registry's own CA), or NULL */
    int follow_redirects;
    /* Each chunk of the response body. Return length to go on, anything else to abort. */
    size_t (*on_data)(const void *data, size_t length, void *context);
    /* Each response header line (without CRLF), also those of redirects' responses. */
    void (*on_header)(const char *line, size_t length, void *context);
    void *context;
} swc_request;

/* 0 when libcurl is loaded (the first call loads it); otherwise -1 and a message. */
int swc_load(char *error, size_t error_length);
void *swc_handle_new(void);
void swc_handle_free(void *handle);
/* Performs the request on a handle (connections are reused between requests of one handle).
   Returns 0 and the HTTP status, or curl's error code and its message. 23 (CURLE_WRITE_ERROR)
   means on_data aborted. */
int swc_perform(void *handle, const swc_request *request, long *status, char *error, size_t error_length);

#endif
