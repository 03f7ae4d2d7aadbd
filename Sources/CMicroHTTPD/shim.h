#ifndef PAYRAIL_CMICROHTTPD_SHIM_H
#define PAYRAIL_CMICROHTTPD_SHIM_H
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <microhttpd.h>

/* Swift cannot call C variadic functions, so everything PayRailHTTP needs from MHD's
 * variadic API goes through the small non-variadic wrappers below. */

/** The URI log callback's type: MHD's header spells it inline, Swift needs a name. */
typedef void *(*payrail_mhd_uri_log_callback)(void *cls, const char *uri, struct MHD_Connection *connection);

/**
 * Starts a daemon bound to a numeric IPv4 or IPv6 host. Options go through
 * MHD_OPTION_ARRAY so no variadic call crosses into Swift. Returns NULL when the host is
 * not a numeric address or MHD refuses to start (port in use, bad flags).
 * `strict` is MHD_OPTION_STRICT_FOR_CLIENT (1 rejects HTTP/1.1 without Host).
 * `per_ip_limit` is MHD_OPTION_PER_IP_CONNECTION_LIMIT (0 means none): MHD closes a client's
 * connection at accept time once that address already holds this many.
 * `notify` (MHD_OPTION_NOTIFY_CONNECTION) sees every connection open and close, which is how
 * PayRailHTTP times request heads: MHD's own timeout restarts on every byte received.
 */
static inline struct MHD_Daemon *payrail_mhd_start(
    unsigned int flags, const char *host, uint16_t port,
    MHD_AccessHandlerCallback handler, void *cls,
    MHD_RequestCompletedCallback completed,
    payrail_mhd_uri_log_callback uri_log,
    MHD_NotifyConnectionCallback notify,
    size_t memory_limit, unsigned int timeout_seconds,
    unsigned int thread_pool_size, unsigned int connection_limit,
    unsigned int per_ip_limit, int strict)
{
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
    const struct sockaddr *addr;
    memset(&v4, 0, sizeof v4);
    memset(&v6, 0, sizeof v6);
    if (inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        addr = (const struct sockaddr *) &v4;
    } else if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        addr = (const struct sockaddr *) &v6;
        flags |= MHD_USE_IPv6;
    } else {
        return NULL;
    }
    struct MHD_OptionItem options[] = {
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) completed, cls },
        { MHD_OPTION_URI_LOG_CALLBACK, (intptr_t) uri_log, cls },
        { MHD_OPTION_SOCK_ADDR, 0, (void *) addr },
        { MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t) memory_limit, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t) timeout_seconds, NULL },
        { MHD_OPTION_CONNECTION_LIMIT, (intptr_t) connection_limit, NULL },
        { MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t) per_ip_limit, NULL },
        { MHD_OPTION_NOTIFY_CONNECTION, (intptr_t) notify, cls },
        { MHD_OPTION_STRICT_FOR_CLIENT, strict, NULL },
        { thread_pool_size > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
          (intptr_t) thread_pool_size, NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    return MHD_start_daemon(flags, port, NULL, NULL, handler, cls,
                            MHD_OPTION_ARRAY, options, MHD_OPTION_END);
}

/** The port the daemon actually listens on (the answer to "port 0"), or 0 if unknown. */
static inline uint16_t payrail_mhd_bound_port(struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info == NULL ? 0 : info->port;
}

/** Whether a connection notification reports a new connection (the enum's cases do not import by name). */
static inline int payrail_mhd_is_connection_start(enum MHD_ConnectionNotificationCode code)
{
    return code == MHD_CONNECTION_NOTIFY_STARTED;
}

/** The connection's socket, or -1 if MHD does not say. */
static inline int payrail_mhd_connection_fd(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info == NULL ? -1 : (int) info->connect_fd;
}

/** Writes the client's numeric address into `buffer`; returns 0 on success, -1 otherwise. */
static inline int payrail_mhd_client_address(struct MHD_Connection *connection, char *buffer, size_t length)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info == NULL || info->client_addr == NULL || length == 0) return -1;
    const struct sockaddr *sa = info->client_addr;
    const char *written = NULL;
    if (sa->sa_family == AF_INET) {
        written = inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buffer, (socklen_t) length);
    } else if (sa->sa_family == AF_INET6) {
        written = inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, buffer, (socklen_t) length);
    }
    return written == NULL ? -1 : 0;
}

#endif
