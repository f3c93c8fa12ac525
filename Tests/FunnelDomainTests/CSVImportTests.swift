import Foundation
@testable import FunnelDomain
import Testing

@Suite("CSV import: the streaming reader and the column mapping")
struct CSVImportTests {
    /// All records of `text`, fed in pieces of `chunk` bytes (to cross every boundary).
    static func records(_ text: String, chunk: Int = 1) -> [CSVReader.Record] {
        var reader = CSVReader()
        var out: [CSVReader.Record] = []
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count {
            reader.feed(bytes[start..<min(start + chunk, bytes.count)]) { out.append($0) }
            start += chunk
        }
        reader.finish { out.append($0) }
        return out
    }

    @Test("quotes, commas, doubled quotes and line breaks in fields, CRLF, a BOM, blank lines, no final newline — any chunking")
    func reader() {
        let text = "\u{FEFF}email,name,note\r\nada@a.example,\"Lovelace, Ada\",\"said \"\"hi\"\"\"\r\n\r\nbob@b.example,Bob,\"two\nlines\"\nc@c.example,,x"
        let expected = [
            CSVReader.Record(line: 1, fields: ["email", "name", "note"]),
            CSVReader.Record(line: 2, fields: ["ada@a.example", "Lovelace, Ada", "said \"hi\""]),
            CSVReader.Record(line: 4, fields: ["bob@b.example", "Bob", "two\nlines"]),
            CSVReader.Record(line: 6, fields: ["c@c.example", "", "x"]),
        ]
        for chunk in [1, 2, 3, 7, 1000] {
            #expect(Self.records(text, chunk: chunk) == expected, "chunk \(chunk)")
        }
    }

    @Test("bad records are errors with a reason, and reading goes on")
    func badRecords() {
        var invalid = Array("a,b\n".utf8)
        invalid += [0x78, 0xFF, 0x2C, 0x79, 0x0A] // x\xFF,y
        invalid += Array("ok,1\n".utf8)
        var reader = CSVReader()
        var out: [CSVReader.Record] = []
        reader.feed(invalid) { out.append($0) }
        reader.finish { out.append($0) }
        #expect(out.map(\.error) == [nil, "field 1 is not valid UTF-8", nil])
        #expect(out.last?.fields == ["ok", "1"])

        let long = Self.records("a\n" + String(repeating: "x", count: CSVReader.maxFieldBytes + 1) + "\nb\n", chunk: 4096)
        #expect(long.map(\.error) == [nil, "field 1 is longer than 65536 bytes", nil])
        #expect(long[1].fields[0].utf8.count == CSVReader.maxFieldBytes, "memory stays bounded")
        let wide = Self.records(String(repeating: "x,", count: CSVReader.maxFields + 5) + "x\nnext\n", chunk: 100)
        #expect(wide.map(\.error) == ["more than 512 fields", nil])
        #expect(Self.records("a\n\"open,never closed\nmore").map(\.error) == [nil, "unterminated quoted field"])
        #expect(Self.records("").isEmpty && Self.records("\n\r\n\n").isEmpty, "nothing or blank lines only: no records")
        #expect(Self.records("a,\"b\"c\n")[0].fields == ["a", "bc"], "text after a closing quote is kept")
        #expect(Self.records("email\n\"\"\nx\n").map(\.fields) == [["email"], [""], ["x"]], "a quoted empty line is a row, not a blank line")
        let runaway = Self.records("a\n\"never closed\n" + String(repeating: "row,1\n", count: 12_000), chunk: 4096)
        #expect(runaway.last?.error == "field 1 is longer than 65536 bytes (a quoted field from line 2 on: is its closing quote missing?)")
        #expect(Self.records("say \"hi\",x\n")[0].fields == ["say \"hi\"", "x"], "a quote inside an unquoted field is data")
    }

    @Test("header names map to fields in common spellings; overrides, attributes, ignored columns")
    func mapping() throws {
        let columns = try LeadImportColumns(header: ["E-mail", "First Name", "Surname", "Job Title", "Company Size", "Country Code", "attributes.plan", "Notes", "Opt-In"])
        #expect(columns.targets == ["email", "first_name", "last_name", "job_title", "employees", "country", "attributes.plan", nil, "consent_email"])
        #expect(columns.ignored == ["Notes"])
        let values = try columns.values(of: ["ada@a.example", "Ada", "", "CTO", "120", "GB", "pro", "call her", "yes"]).get()
        #expect(values.fields == ["email": "ada@a.example", "first_name": "Ada", "job_title": "CTO", "employees": "120", "country": "GB", "consent_email": "yes"])
        #expect(values.attributes == ["plan": "pro"])
        if case .failure(let error) = columns.values(of: ["only one"]) {
            #expect(error == FieldError(field: "row", reason: "has 1 fields, the header has 9"))
        } else { Issue.record("a short row must fail") }

        let mapped = try LeadImportColumns(header: ["Work address", " Notes ", "Title"], overrides: ["Work address": "email", "Notes": "attributes.notes", "Title": "-"])
        #expect(mapped.targets == ["email", "attributes.notes", nil], "header cells are compared trimmed")
    }

    @Test("mapping errors name the header or the map parameter")
    func mappingErrors() {
        func error(_ header: [String], _ overrides: [String: String] = [:]) -> FieldError? {
            do { _ = try LeadImportColumns(header: header, overrides: overrides); return nil } catch { return error }
        }
        #expect(error(["name", "company"]) == FieldError(field: "header", reason: "no e-mail or phone column (header: name, company; map one with map=COLUMN:email)"))
        #expect(error(["email", "E-Mail"]) == FieldError(field: "header", reason: "columns \"email\" and \"E-Mail\" both map to email"))
        #expect(error(["email"], ["Mail": "email"]) == FieldError(field: "map", reason: "no column named \"Mail\""))
        #expect(error(["email", "x"], ["x": "shoe_size"])?.reason.hasPrefix("\"shoe_size\" is not a lead field") == true)
        #expect(LeadImportColumns.flag("Yes") == true && LeadImportColumns.flag("0") == false && LeadImportColumns.flag("maybe") == nil)
    }
}
