#ifndef FUNNEL_CKAFKA_BASELINE_H
#define FUNNEL_CKAFKA_BASELINE_H
#include <stdint.h>
/* Bare librdkafka C-API loops: the yardstick `funnel bench kafka` compares the Swift wrapper to.
 * Each returns messages per second (or a negative value on error; errbuf says why). */
double funnel_baseline_produce(const char *brokers, const char *topic, int64_t count, int size,
                               char *errbuf, int errlen);
/* Consumes `count` messages from `in_topic` (group `group`, from the earliest offset) and
 * produces each to `out_topic` with the same key and value; flushes at the end. */
double funnel_baseline_relay(const char *brokers, const char *in_topic, const char *out_topic,
                             const char *group, int64_t count, char *errbuf, int errlen);
#endif
