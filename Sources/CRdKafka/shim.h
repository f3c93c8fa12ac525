// The only C surface Funnel uses. librdkafka's variadic producev() cannot be
// called from Swift, so thin static inline helpers wrap it here.
#ifndef FUNNEL_CRDKAFKA_SHIM_H
#define FUNNEL_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>

/// Enqueue one message (payload copied). `headers` ownership passes to
/// librdkafka on success only; the caller destroys them on failure.
static inline rd_kafka_resp_err_t funnel_produce(rd_kafka_t *rk, rd_kafka_topic_t *rkt,
        int32_t partition, const void *payload, size_t len,
        const void *key, size_t keylen, rd_kafka_headers_t *headers,
        int64_t timestamp_ms, void *opaque) {
    if (headers) {
        return rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE((void *)payload, len),
            RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_HEADERS(headers),
            RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    }
    return rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE((void *)payload, len),
        RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_TIMESTAMP(timestamp_ms),
        RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}
#endif
