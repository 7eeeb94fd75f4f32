// libuv for the Transport target only (Debian: libuv1-dev).
#include <uv.h>
