/// An incremental CSV reader (RFC 4180, plus what spreadsheets export): feed bytes as they
/// arrive and take whole records, so a file of any size is read in bounded memory.
///
/// - Fields are separated by `,`; records end with LF or CRLF; a quoted field may contain
///   commas, line breaks and doubled quotes (`""`). A UTF-8 byte-order mark is skipped.
/// - Blank lines are skipped. A quote inside an unquoted field is kept as data.
/// - A field longer than `maxFieldBytes`, more than `maxFields` fields, invalid UTF-8 or an
///   unterminated quote at the end make that record an error; reading goes on with the next.
public struct CSVReader: Sendable {
    public struct Record: Sendable, Equatable {
        /// The line the record starts on (1 = the first line of the file).
        public var line: Int
        public var fields: [String]
        /// Why the record cannot be used (its fields are then incomplete).
        public var error: String?
    }

    public static let maxFieldBytes = 65_536
    public static let maxFields = 512

    private var field: [UInt8] = []
    private var fields: [String] = []
    private var error: String?
    private var inQuotes = false
    /// A quote was just read inside a quoted field: `""` (a quote) or the closing one.
    private var quotePending = false
    /// The current field was quoted (so an empty record of one quoted field is not blank).
    private var fieldQuoted = false
    private var line = 1
    private var recordLine = 1
    private var started = false
    private var bomBytesSeen = 0

    public init() {}

    /// Reads `bytes`, calling `emit` for every record they complete.
    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes, _ emit: (Record) throws -> Void) rethrows where Bytes.Element == UInt8 {
        for byte in bytes {
            if bomBytesSeen < 3 {
                // Skip a UTF-8 byte-order mark (EF BB BF) at the very start.
                let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
                if !started && byte == bom[bomBytesSeen] { bomBytesSeen += 1; continue }
                if bomBytesSeen > 0 && !started { field.append(contentsOf: bom.prefix(bomBytesSeen)) }
                bomBytesSeen = 3
            }
            started = true
            if byte == 0x0A { line += 1 }
            if inQuotes {
                if quotePending {
                    quotePending = false
                    if byte == 0x22 { append(byte); continue }
                    inQuotes = false // the closing quote; this byte is read as unquoted below
                } else if byte == 0x22 {
                    quotePending = true
                    continue
                } else {
                    append(byte)
                    continue
                }
            }
            switch byte {
            case 0x2C: endField()
            case 0x0A:
                let quoted = fieldQuoted
                endField()
                try endRecord(emit, lastFieldQuoted: quoted)
            case 0x0D: break // CR of CRLF (a lone CR is dropped)
            case 0x22 where field.isEmpty && !fieldQuoted:
                inQuotes = true
                fieldQuoted = true
            default: append(byte)
            }
        }
    }

    /// Ends the input: emits the last record if the file does not end with a line break.
    public mutating func finish(_ emit: (Record) throws -> Void) rethrows {
        if inQuotes && !quotePending { error = error ?? "unterminated quoted field" }
        inQuotes = false
        quotePending = false
        if !field.isEmpty || !fields.isEmpty || fieldQuoted || error != nil {
            let quoted = fieldQuoted
            endField()
            try endRecord(emit, lastFieldQuoted: quoted)
        }
    }

    private mutating func append(_ byte: UInt8) {
        if field.count < Self.maxFieldBytes { field.append(byte) }
        else if error == nil {
            error = "field \(fields.count + 1) is longer than \(Self.maxFieldBytes) bytes"
                + (inQuotes ? " (a quoted field from line \(recordLine) on: is its closing quote missing?)" : "")
        }
    }

    private mutating func endField() {
        if fields.count < Self.maxFields {
            if let text = field.withUnsafeBufferPointer({ String(utf8: $0) }) { fields.append(text) }
            else {
                error = error ?? "field \(fields.count + 1) is not valid UTF-8"
                fields.append("")
            }
        } else if error == nil {
            error = "more than \(Self.maxFields) fields"
        }
        field.removeAll(keepingCapacity: true)
        fieldQuoted = false
    }

    private mutating func endRecord(_ emit: (Record) throws -> Void, lastFieldQuoted: Bool) rethrows {
        defer {
            fields.removeAll(keepingCapacity: true)
            error = nil
            recordLine = line
        }
        let blank = fields.count == 1 && fields[0].isEmpty && !lastFieldQuoted && error == nil // `""` is a row
        if !blank { try emit(Record(line: recordLine, fields: fields, error: error)) }
    }
}
