import CRdKafka

/// The librdkafka library loaded at run time (not the headers the build used).
public enum LibrdkafkaVersion {
    /// The oldest runtime Funnel accepts: 2.0.x mis-parses tagged fields in ApiVersions
    /// responses and cannot talk to brokers that send them (the local Tansu broker among them).
    public static let minimum: Int32 = 0x0201_00FF

    /// `rd_kafka_version()` as a hex-encoded integer, e.g. 0x021001ff for 2.16.1.
    public static var current: Int32 { rd_kafka_version() }

    /// `rd_kafka_version_str()`, e.g. "2.16.1".
    public static var string: String { String(cString: rd_kafka_version_str()) }

    /// Whether the loaded runtime is new enough.
    public static var isSupported: Bool { current >= minimum }

    /// Throws a `.runtimeTooOld` error explaining what is wrong and how to fix it.
    public static func check() throws(KafkaError) {
        guard isSupported else {
            throw KafkaError(kind: .runtimeTooOld, message: tooOldExplanation, isFatal: true)
        }
    }

    public static var tooOldExplanation: String {
        "librdkafka \(string) is loaded at run time, but Funnel needs >= 2.1: librdkafka 2.0.x "
            + "mis-parses tagged fields in ApiVersions responses and cannot talk to brokers that "
            + "send them (the local Tansu broker among them). Run scripts/bootstrap.sh, which puts "
            + "the newer librdkafka bundled in the confluent-kafka wheel into .funnel/lib (found "
            + "through the executables' rpath), or point LD_LIBRARY_PATH at a librdkafka.so.1 >= 2.1."
    }
}
