// libuv for the Transport target only (Debian: libuv1-dev).
#include <uv.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
// Gives heap pages that are free back to the system (glibc's malloc_trim); elsewhere a no-op.
// The Endpoint calls it after a burst of refused connections, see Docs/transport.md.
#if defined(__GLIBC__)
#include <malloc.h>
static inline int fb_release_free_heap(void) { return malloc_trim(0); }
#else
static inline int fb_release_free_heap(void) { return 0; }
#endif
