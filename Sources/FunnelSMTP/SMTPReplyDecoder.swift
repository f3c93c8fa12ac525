import NIOCore

/// Decodes CRLF-terminated server lines into ``SMTPReply`` values, joining
/// multi-line replies (`250-…` continued until `250 …`).
struct SMTPReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = SMTPReply

    /// Longest accepted reply line; RFC 5321 allows 512 octets, be lenient.
    static let maxLineLength = 8192

    private var partial: (code: Int, lines: [String])?

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let lfIndex = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > Self.maxLineLength { throw SMTPTransportError.protocolViolation("reply line too long") }
            return .needMoreData
        }
        let length = lfIndex - buffer.readerIndex + 1
        guard var lineBytes = buffer.readBytes(length: length) else { return .needMoreData }
        lineBytes.removeLast()  // LF
        if lineBytes.last == UInt8(ascii: "\r") { lineBytes.removeLast() }
        guard lineBytes.count >= 3,
              lineBytes[0...2].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { throw SMTPTransportError.protocolViolation("malformed reply line") }
        let code = Int(lineBytes[0] - 48) * 100 + Int(lineBytes[1] - 48) * 10 + Int(lineBytes[2] - 48)
        let separator: UInt8? = lineBytes.count > 3 ? lineBytes[3] : nil
        let text = lineBytes.count > 4 ? String(decoding: lineBytes[4...], as: UTF8.self) : ""

        if var current = partial {
            guard current.code == code else { throw SMTPTransportError.protocolViolation("inconsistent multi-line reply") }
            current.lines.append(text)
            partial = current
        } else {
            partial = (code, [text])
        }
        if separator == UInt8(ascii: "-") {
            if partial!.lines.count > 1000 { throw SMTPTransportError.protocolViolation("reply too long") }
            return .continue
        }
        let reply = SMTPReply(code: code, lines: partial!.lines)
        partial = nil
        context.fireChannelRead(Self.wrapInboundOut(reply))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue, buffer.readableBytes > 0 {}
        return .needMoreData
    }
}
