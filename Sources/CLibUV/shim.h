// libuv for the Transport target only (Debian: libuv1-dev).
#include <uv.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
