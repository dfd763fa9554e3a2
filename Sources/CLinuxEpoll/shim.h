// epoll and eventfd for Swift. Glibc's Swift module does not include these headers, and
// `struct epoll_event` is packed on x86_64, so it is copied into an unpacked struct here
// rather than imported as is.
#ifndef BBS_CLINUXEPOLL_SHIM_H
#define BBS_CLINUXEPOLL_SHIM_H

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

/// One readiness event: the `EPOLL*` bits and the registration's 64-bit tag.
typedef struct {
    uint32_t events;
    uint64_t tag;
} bbs_epoll_event;

static inline int bbs_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

static inline int bbs_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t tag) {
    struct epoll_event event;
    event.events = events;
    event.data.u64 = tag;
    return epoll_ctl(epfd, op, fd, &event);
}

/// At most 256 events per call.
static inline int bbs_epoll_wait(int epfd, bbs_epoll_event *out, int max, int timeout_ms) {
    struct epoll_event events[256];
    if (max > 256) max = 256;
    int count = epoll_wait(epfd, events, max, timeout_ms);
    for (int i = 0; i < count; i++) {
        out[i].events = events[i].events;
        out[i].tag = events[i].data.u64;
    }
    return count;
}

static inline int bbs_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

static const uint32_t BBS_EPOLLIN = EPOLLIN;
static const uint32_t BBS_EPOLLOUT = EPOLLOUT;
static const uint32_t BBS_EPOLLERR = EPOLLERR;
static const uint32_t BBS_EPOLLHUP = EPOLLHUP;
static const uint32_t BBS_EPOLLRDHUP = EPOLLRDHUP;
static const int BBS_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
static const int BBS_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
static const int BBS_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

#endif
