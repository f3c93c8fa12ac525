import Foundation
import FunnelDomain
import Mustache

/// The e-mail templates in `deploy/templates/` (swift-mustache): for a template `NAME`,
/// `NAME.subject.mustache` and `NAME.text.mustache` (required) and `NAME.html.mustache`
/// (optional); `footer.text.mustache` and `footer.html.mustache` are partials (`{{> footer.text}}`)
/// holding the unsubscribe footer (any part that templates include and that has no subject is a
/// partial too). Subject and text parts are not HTML-escaped.
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

    /// A click-tracked link section `{{#track}}TARGET{{/track}}` whose target is literal text
    /// on one line. At load it is rewritten into `{{{VARIABLE}}}`, which the composer fills with
    /// the signed link: swift-mustache would otherwise call the lambda and parse its result as a
    /// new template on every render (most of the cost of composing an e-mail). Sections whose
    /// content has tags of its own still go through the `track` lambda.
    public struct TrackedLink: Sendable, Equatable {
        /// The variable the section became (`__funnel_track_N`).
        public let variable: String
        /// The section's text as written.
        public let target: String
        /// The target without surrounding white space, as the `track` lambda sees it.
        public let url: String
    }

    let library: MustacheLibrary
    public let names: Set<String>
    /// For each template name, the tracked links its parts and their partials use.
    let trackedLinks: [String: [TrackedLink]]

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
        var variables: [String: String] = [:]  // target → variable
        var usedLinks: [String: [TrackedLink]] = [:]  // part name → links
        var partials: [String: [String]] = [:]  // part name → partials it includes
        for (name, source) in sources.sorted(by: { $0.key < $1.key }) {
            let parts = name.split(separator: ".")
            guard parts.count == 2, ["subject", "text", "html"].contains(parts[1]) else {
                throw ConfigFileError(file: source.file, line: nil, path: "", reason: "a template file is NAME.subject.mustache, NAME.text.mustache or NAME.html.mustache")
            }
            // Subject and text are plain text: no HTML escaping. The pragma shares the first line, so line numbers stay.
            let (rewritten, links) = Self.rewriteTrackSections(source.text, variables: &variables)
            usedLinks[name] = links
            partials[name] = Self.partialNames(source.text)
            let text = parts[1] == "html" ? rewritten : "{{% CONTENT_TYPE: TEXT}}" + rewritten
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
        // A part other templates include (`{{> links.text}}`) and that has no subject is a partial, like the footer.
        let included = Set(partials.values.joined())
        names = names.filter { name in sources["\(name).subject"] != nil || !["text", "html"].contains { included.contains("\(name).\($0)") } }
        for name in names where sources["\(name).subject"] == nil || sources["\(name).text"] == nil {
            let file = sources["\(name).subject"]?.file ?? sources["\(name).text"]?.file ?? sources["\(name).html"]?.file ?? name
            throw ConfigFileError(file: file, line: nil, path: "", reason: "template '\(name)' needs \(name).subject.mustache and \(name).text.mustache")
        }
        self.library = library
        self.names = names
        var tracked: [String: [TrackedLink]] = [:]
        for name in names {
            var seen = Set<String>(), pending = ["\(name).subject", "\(name).text", "\(name).html"], links: [TrackedLink] = []
            while let part = pending.popLast() {
                guard seen.insert(part).inserted else { continue }
                for link in usedLinks[part] ?? [] where !links.contains(link) { links.append(link) }
                pending += partials[part] ?? []
            }
            tracked[name] = links.sorted { $0.variable < $1.variable }
        }
        self.trackedLinks = tracked
    }

    /// The tracked links template `name` uses (each target once), for the composer to sign.
    public func trackedLinks(_ name: String) -> [TrackedLink] { trackedLinks[name] ?? [] }

    private static func trimmed(_ line: Substring) -> Substring {
        var line = line.drop(while: \.isWhitespace)
        while line.last?.isWhitespace == true { line.removeLast() }
        return line
    }

    /// `{{#track}}TARGET{{/track}}` with literal one-line TARGET → `{{{__funnel_track_N}}}` (same
    /// line, so error line numbers stay). Templates that change delimiters are left alone.
    static func rewriteTrackSections(_ text: String, variables: inout [String: String]) -> (String, [TrackedLink]) {
        guard text.contains("track"), !text.contains("{{=") else { return (text, []) }
        var links: [TrackedLink] = []
        let rewritten = text.replacing(trackSection) { match in
            let target = String(match.output.1)
            let variable: String
            if let known = variables[target] { variable = known } else {
                variable = "__funnel_track_\(variables.count)"
                variables[target] = variable
            }
            let link = TrackedLink(variable: variable, target: target, url: target.trimmingCharacters(in: .whitespacesAndNewlines))
            if !links.contains(link) { links.append(link) }
            return "{{{\(variable)}}}"
        }
        return (rewritten, links)
    }

    nonisolated(unsafe) private static let trackSection = #/\{\{#\s*track\s*\}\}([^{}\r\n]*)\{\{/\s*track\s*\}\}/#
    nonisolated(unsafe) private static let partialTag = #/\{\{>\s*([^\s}]+)\s*\}\}/#

    static func partialNames(_ text: String) -> [String] {
        guard text.contains("{{>") else { return [] }
        return text.matches(of: partialTag).map { String($0.output.1) }
    }

    /// Checks that every template `config` names exists and renders.
    public func check(_ config: FollowupConfig, file: String = "followup.yaml") throws(ConfigFileError) {
        for name in config.templateNames.sorted() where !names.contains(name) {
            throw ConfigFileError(file: file, line: nil, path: "template", reason: "no template '\(name)' (templates/\(name).subject.mustache, \(name).text.mustache)")
        }
        for name in names.sorted() {
            var context = MailComposer.sampleContext
            for link in trackedLinks(name) { context[link.variable] = link.url }
            let rendered = render(name, context: context)
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
            // (Lines are trimmed natively: after the split, white space is Zs and tab, as in `.whitespaces`.)
            subject: subject.split(whereSeparator: \.isNewline).map(Self.trimmed).filter { !$0.isEmpty }.joined(separator: " "),
            text: library.render(context, withTemplate: "\(name).text") ?? "",
            html: library.getTemplate(named: "\(name).html") == nil ? nil : library.render(context, withTemplate: "\(name).html"))
    }
}
