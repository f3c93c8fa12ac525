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
            .read(topics: wanted, progress: true, into: 0) { count, topic, bytes in
                writer.append(topic: topic, bytes)
                count += 1
                return true
            }
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

    /// Calls `body` with each record's topic and JSON bytes, reading the file in 4 MiB chunks.
    static func forEachRecord(path: String, _ body: (String, UnsafeRawBufferPointer) -> Void) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ValidationError("cannot read \(path)") }
        defer { try? handle.close() }
        var pending: [UInt8] = []
        var lineNumber = 0
        var topics: [[UInt8]: String] = [:]
        func line(_ bytes: ArraySlice<UInt8>) throws {
            lineNumber += 1
            guard !bytes.isEmpty else { return }
            guard let tab = bytes.firstIndex(of: 0x09) else {
                throw ValidationError("\(path):\(lineNumber): expected TOPIC<TAB>JSON (a file written by `funnel export`)")
            }
            let key = Array(bytes[bytes.startIndex..<tab])
            let topic = topics[key] ?? { let t = String(decoding: key, as: UTF8.self); topics[key] = t; return t }()
            bytes[(tab + 1)...].withUnsafeBytes { body(topic, $0) }
        }
        while true {
            let chunk = try handle.read(upToCount: 4 << 20) ?? Data()
            if chunk.isEmpty { break }
            pending.append(contentsOf: chunk)
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: 0x0A) {
                try line(pending[start..<newline])
                start = newline + 1
            }
            pending.removeSubrange(..<start)
        }
        try line(pending[...])
    }
}
