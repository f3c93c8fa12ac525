import Foundation
import FunnelDomain
import Mustache

/// The e-mail templates in `deploy/templates/` (swift-mustache): for a template `NAME`,
/// `NAME.subject.mustache` and `NAME.text.mustache` (required) and `NAME.html.mustache`
/// (optional); `footer.text.mustache` and `footer.html.mustache` are partials (`{{> footer.text}}`)
/// holding the unsubscribe footer. Subject and text parts are not HTML-escaped.
///
/// Loaded and checked at start: a syntax error names the file and line
/// (`templates/intro.text.mustache:4: …`), a template the configuration names but the folder lacks
/// is an error, and every template is rendered once with a sample lead.
public struct MailTemplates: @unchecked Sendable {
    /// A rendered message's parts.
    public struct Rendered: Sendable, Equatable {
        public var subject: String
        public var text: String
        public var html: String?
    }

    let library: MustacheLibrary
    public let names: Set<String>

    /// Loads every `*.mustache` file of `directory` (`folder` is how errors name it).
    public init(directory: String, folder: String = "templates") throws(ConfigFileError) {
        let files: [String]
        do { files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".mustache") }.sorted() } catch {
            throw ConfigFileError(file: folder, line: nil, path: "", reason: "cannot read the template folder \(directory): \(error)")
        }
        var sources: [String: (file: String, text: String)] = [:]
        for file in files {
            guard let text = try? String(contentsOfFile: directory + "/" + file, encoding: .utf8) else {
                throw ConfigFileError(file: "\(folder)/\(file)", line: nil, path: "", reason: "not readable as UTF-8")
            }
            sources[String(file.dropLast(".mustache".count))] = ("\(folder)/\(file)", text)
        }
        try self.init(sources: sources)
    }

    /// Templates from memory: name (`intro.subject`) → (file name for errors, text).
    public init(sources: [String: (file: String, text: String)]) throws(ConfigFileError) {
        var library = MustacheLibrary()
        var names = Set<String>()
        for (name, source) in sources {
            let parts = name.split(separator: ".")
            guard parts.count == 2, ["subject", "text", "html"].contains(parts[1]) else {
                throw ConfigFileError(file: source.file, line: nil, path: "", reason: "a template file is NAME.subject.mustache, NAME.text.mustache or NAME.html.mustache")
            }
            // Subject and text are plain text: no HTML escaping. The pragma shares the first line, so line numbers stay.
            let text = parts[1] == "html" ? source.text : "{{% CONTENT_TYPE: TEXT}}" + source.text
            do {
                library.register(try MustacheTemplate(string: text), named: name)
            } catch let error as MustacheTemplate.ParserError {
                throw ConfigFileError(file: source.file, line: error.context.lineNumber, path: "",
                                      reason: "template syntax: \(error.error) at column \(error.context.columnNumber): \(error.context.line.trimmingCharacters(in: .whitespaces))")
            } catch {
                throw ConfigFileError(file: source.file, line: nil, path: "", reason: "template syntax: \(error)")
            }
            if parts[0] != "footer" { names.insert(String(parts[0])) }
        }
        for name in names where sources["\(name).subject"] == nil || sources["\(name).text"] == nil {
            let file = sources["\(name).subject"]?.file ?? sources["\(name).text"]?.file ?? sources["\(name).html"]?.file ?? name
            throw ConfigFileError(file: file, line: nil, path: "", reason: "template '\(name)' needs \(name).subject.mustache and \(name).text.mustache")
        }
        self.library = library
        self.names = names
    }

    /// Checks that every template `config` names exists and renders.
    public func check(_ config: FollowupConfig, file: String = "followup.yaml") throws(ConfigFileError) {
        for name in config.templateNames.sorted() where !names.contains(name) {
            throw ConfigFileError(file: file, line: nil, path: "template", reason: "no template '\(name)' (templates/\(name).subject.mustache, \(name).text.mustache)")
        }
        for name in names.sorted() {
            let rendered = render(name, context: MailComposer.sampleContext)
            if rendered.subject.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw ConfigFileError(file: "templates/\(name).subject.mustache", line: 1, path: "", reason: "renders an empty subject for a sample lead")
            }
        }
    }

    /// Renders template `name` (which must exist: see ``check(_:file:)``).
    public func render(_ name: String, context: [String: Any]) -> Rendered {
        let subject = library.render(context, withTemplate: "\(name).subject") ?? ""
        return Rendered(
            // A subject is one line.
            subject: subject.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " "),
            text: library.render(context, withTemplate: "\(name).text") ?? "",
            html: library.getTemplate(named: "\(name).html") == nil ? nil : library.render(context, withTemplate: "\(name).html"))
    }
}
