// Bare librdkafka loops with the same settings the Swift wrapper uses, so that
// `funnel bench kafka` can print the wrapper's overhead as a ratio.
#include "CKafkaBaseline.h"
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static rd_kafka_conf_t *producer_conf(const char *brokers) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
    rd_kafka_conf_set(conf, "acks", "all", err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "100000", err, sizeof err);
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    return conf;
}

static int produce_one(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const void *key, size_t klen,
                       const void *val, size_t vlen) {
    for (;;) {
        if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)val, vlen,
                             key, klen, NULL) == 0)
            return 0;
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) return -1;
        rd_kafka_poll(rk, 10); /* back-pressure: serve delivery reports until there is room */
    }
}

double funnel_baseline_produce(const char *brokers, const char *topic, int64_t count, int size,
                               char *errbuf, int errlen) {
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, producer_conf(brokers), errbuf, errlen);
    if (!rk) return -1;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    char value[65536];
    if (size > (int)sizeof value) size = sizeof value;
    memset(value, 'x', size);
    char key[32];
    double start = now_seconds();
    for (int64_t i = 0; i < count; i++) {
        int klen = snprintf(key, sizeof key, "lead-%lld", (long long)(i % 100000));
        if (produce_one(rk, rkt, key, klen, value, size) != 0) {
            snprintf(errbuf, errlen, "produce: %s", rd_kafka_err2str(rd_kafka_last_error()));
            rd_kafka_topic_destroy(rkt); rd_kafka_destroy(rk);
            return -1;
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    double elapsed = now_seconds() - start;
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return count / elapsed;
}

double funnel_baseline_relay(const char *brokers, const char *in_topic, const char *out_topic,
                             const char *group, int64_t count, char *errbuf, int errlen) {
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, producer_conf(brokers), errbuf, errlen);
    if (!producer) return -1;
    rd_kafka_topic_t *out = rd_kafka_topic_new(producer, out_topic, NULL);

    rd_kafka_conf_t *cconf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_conf_set(cconf, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_conf_set(cconf, "group.id", group, err, sizeof err);
    rd_kafka_conf_set(cconf, "auto.offset.reset", "earliest", err, sizeof err);
    rd_kafka_conf_set(cconf, "enable.auto.offset.store", "false", err, sizeof err);
    rd_kafka_conf_set(cconf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_conf_set(cconf, "session.timeout.ms", "6000", err, sizeof err);
    rd_kafka_conf_set(cconf, "heartbeat.interval.ms", "500", err, sizeof err);
    rd_kafka_conf_set(cconf, "fetch.queue.backoff.ms", "10", err, sizeof err); /* the wrapper's default (librdkafka >= 2.2) */
    rd_kafka_conf_set(cconf, "log_level", "3", err, sizeof err);
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, errbuf, errlen);
    if (!consumer) { rd_kafka_topic_destroy(out); rd_kafka_destroy(producer); return -1; }
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, in_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(consumer);

    rd_kafka_message_t *batch[512];
    int64_t relayed = 0;
    double start = 0;
    double deadline = now_seconds() + 120;
    while (relayed < count && now_seconds() < deadline) {
        ssize_t n = rd_kafka_consume_batch_queue(queue, 100, batch, 512);
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = batch[i];
            if (!m->err) {
                if (start == 0) start = now_seconds(); /* time from the first message: excludes the group join */
                produce_one(producer, out, m->key, m->key_len, m->payload, m->len);
                rd_kafka_offset_store(m->rkt, m->partition, m->offset); /* 2.0 API: marks m->offset+1 */
                relayed++;
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(producer, 0);
    }
    rd_kafka_flush(producer, 60000);
    rd_kafka_commit(consumer, NULL, 0); /* synchronous: the relay is done when its offsets are */
    double elapsed = now_seconds() - start;
    rd_kafka_queue_destroy(queue);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_topic_destroy(out);
    rd_kafka_destroy(producer);
    if (relayed < count) { snprintf(errbuf, errlen, "relayed only %lld of %lld messages in 120 s", (long long)relayed, (long long)count); return -1; }
    return relayed / elapsed;
}
