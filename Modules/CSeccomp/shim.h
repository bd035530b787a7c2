#include <seccomp.h>

/* Action values are function-like macros, which Swift cannot import. */
static inline uint32_t sw_scmp_act_errno(uint16_t err) { return SCMP_ACT_ERRNO(err); }
static inline uint32_t sw_scmp_act_trace(uint16_t msg) { return SCMP_ACT_TRACE(msg); }
