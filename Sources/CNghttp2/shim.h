#ifndef CNGHTTP2_SHIM_H
#define CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>

// libnghttp2 for the server's HTTP/2 (Sources/HTTPServer/HTTP2). Only what Swift cannot
// import as written gets a prefixed wrapper here: macros that are expressions rather
// than literals, and the build-time version.

// Debian 12's 1.52.0 is the oldest we build against: it has nghttp2_session_upgrade2,
// nghttp2_option_set_max_outbound_ack and SETTINGS_NO_RFC7540_PRIORITIES.
#if NGHTTP2_VERSION_NUM < 0x013400
#error "libnghttp2 1.52.0 or later is required"
#endif

/// The libnghttp2 version the server was compiled against (NGHTTP2_VERSION_NUM).
static inline int CNghttp2_version_num(void) {
    return NGHTTP2_VERSION_NUM;
}

#endif
