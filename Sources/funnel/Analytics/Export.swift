import ArgumentParser
import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// `funnel export FILE`: the history a report or a backtest needs, from the broker to a file
/// that outlives the topics' retention: one record per line, the topic, a tab, the CloudEvent
/// JSON exactly as it was on the topic.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export the events reports and backtests read (stage changes, outcomes, routings, enriched, activities) to a file.",
        discussion: "Format: one record per line, `TOPIC<TAB>CLOUDEVENT-JSON`. `funnel report --input FILE` and `funnel backtest --input FILE` read it.")

    @Argument(help: "The file to write.") var file: String
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Topics to export, comma-separated (default: what report and backtest read).") var topics: String?

    static let defaultTopics = [TopicCatalog.stageChanged, TopicCatalog.outcome, TopicCatalog.routed, TopicCatalog.enriched, TopicCatalog.activity]

    func run() async throws {
        let wanted = topics.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } } ?? Self.defaultTopics
        guard FileManager.default.createFile(atPath: file, contents: nil), let handle = FileHandle(forWritingAtPath: file) else {
            throw ValidationError("cannot write \(file)")
        }
        let writer = ExportFile.Writer(handle: handle)
        let written = try await EventSource(input: nil, configuration: cluster.configuration)
            .read(topics: wanted, progress: true, into: 0,
                  decode: { bytes, topic in (topic, Array(bytes)) },
                  fold: { count, record in
                      record.1.withUnsafeBytes { writer.append(topic: record.0, $0) }
                      count += 1
                  })
        try writer.close()
        FileHandle.standardError.write(Data("exported \(written) records to \(file)\n".utf8))
    }
}

/// The export format: `TOPIC<TAB>JSON<LF>` per record (event JSON has no raw line breaks).
enum ExportFile {
    final class Writer: @unchecked Sendable {
        private let handle: FileHandle
        private var buffer: [UInt8] = []
        init(handle: FileHandle) { self.handle = handle; buffer.reserveCapacity(1 << 20) }

        func append(topic: String, _ bytes: UnsafeRawBufferPointer) {
            buffer.append(contentsOf: topic.utf8)
            buffer.append(0x09)
            buffer.append(contentsOf: bytes)
            buffer.append(0x0A)
            if buffer.count >= 1 << 20 { flush() }
        }

        private func flush() {
            handle.write(Data(buffer))
            buffer.removeAll(keepingCapacity: true)
        }

        func close() throws {
            flush()
            try handle.close()
        }
    }

    /// Calls `body` with each record's topic and JSON bytes, reading the file in 8 MiB chunks
    /// (lines are found with `memchr`, and handed over in place: no copy, no allocation).
    static func forEachRecord(path: String, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ValidationError("cannot read \(path)") }
        defer { close(fd) }
        var capacity = 8 << 20
        var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        var filled = 0, lineNumber = 0
        func line(_ start: Int, _ end: Int) throws {
            lineNumber += 1
            guard end > start else { return }
            guard let tab = memchr(buffer + start, 0x09, end - start) else {
                throw ValidationError("\(path):\(lineNumber): expected TOPIC<TAB>JSON (a file written by `funnel export`)")
            }
            let split = tab - buffer
            body(UnsafeRawBufferPointer(start: buffer + start, count: split - start), UnsafeRawBufferPointer(start: buffer + split + 1, count: end - split - 1))
        }
        while true {
            if filled == capacity { // a line longer than the buffer: grow it
                let grown = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 16)
                grown.copyMemory(from: buffer, byteCount: filled)
                buffer.deallocate()
                buffer = grown
                capacity *= 2
            }
            let n = read(fd, buffer + filled, capacity - filled)
            guard n >= 0 else { throw ValidationError("cannot read \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            filled += n
            var start = 0
            while start < filled, let newline = memchr(buffer + start, 0x0A, filled - start) {
                let end = newline - buffer
                try line(start, end)
                start = end + 1
            }
            if start > 0 {
                (buffer).copyMemory(from: buffer + start, byteCount: filled - start)
                filled -= start
            }
        }
        try line(0, filled)
    }
}
