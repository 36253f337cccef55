import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Builds the XML bodies of Blob service responses. Azure writes them without whitespace between
/// elements, starting with a UTF-8 byte-order mark.
struct XMLWriter {
    private(set) var text: String

    /// A document (with the byte-order mark and XML declaration), or a bare fragment.
    init(declaration: Bool = true) {
        text = declaration ? "\u{FEFF}<?xml version=\"1.0\" encoding=\"utf-8\"?>" : ""
    }

    /// Appends already serialised XML.
    mutating func raw(_ fragment: String) { text += fragment }

    mutating func open(_ name: String, attributes: [(String, String)] = []) {
        text += "<\(name)"
        for (key, value) in attributes { text += " \(key)=\"\(Self.escape(value))\"" }
        text += ">"
    }

    mutating func close(_ name: String) { text += "</\(name)>" }

    /// An element with text content; `nil` writes an empty element (`<Name />`).
    mutating func element(_ name: String, _ value: String?) {
        if let value, !value.isEmpty {
            text += "<\(name)>\(Self.escape(value))</\(name)>"
        } else {
            text += "<\(name) />"
        }
    }

    /// An element with child elements; with none it is written empty (`<UncommittedBlocks />`), as Azure does.
    mutating func element(_ name: String, _ body: (inout XMLWriter) -> Void) {
        let start = text.endIndex
        open(name)
        let afterOpen = text.endIndex
        body(&self)
        if text.endIndex == afterOpen {
            text.removeSubrange(start...)
            text += "<\(name) />"
        } else {
            close(name)
        }
    }

    static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for character in value.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }
}

/// Checks a request's XML before any parser sees it. Azure reads request XML as UTF-8 and refuses document
/// type declarations; refusing them here, before anything is expanded, also means no entity definition can
/// blow a small body up into a large document ("billion laughs" and its quadratic cousins).
enum XMLRequestBody {
    /// Deepest element nesting accepted; Blob request bodies nest at most four levels (Cors rules).
    static let maxDepth = 32

    static func check(_ data: Data) throws(EmulatorError) {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        // Not UTF-8 (UTF-16 with or without a byte-order mark has zero bytes), so another decoder could read
        // markup this check does not see.
        guard !bytes.contains(0), String(validating: bytes, as: UTF8.self) != nil else { throw .invalidXML() }
        let lessThan = UInt8(ascii: "<"), bang = UInt8(ascii: "!")
        var index = 0
        while index + 1 < bytes.count {
            defer { index += 1 }
            guard bytes[index] == lessThan, bytes[index + 1] == bang else { continue }
            let rest = bytes[(index + 2)...]
            // Comments and CDATA sections are the only markup starting `<!` that a request may hold.
            guard rest.starts(with: Array("--".utf8)) || rest.starts(with: Array("[CDATA[".utf8)) else {
                throw .invalidXML()
            }
        }
        if bytes.starts(with: Array("<?xml".utf8)), let end = String(decoding: bytes.prefix(512), as: UTF8.self).range(of: "?>") {
            let declaration = String(decoding: bytes.prefix(512), as: UTF8.self)[..<end.lowerBound]
            if let encoding = declaration.range(of: "encoding") {
                let value = declaration[encoding.upperBound...].drop { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "'" }
                    .prefix { $0 != "\"" && $0 != "'" }
                guard ["utf-8", "utf8"].contains(value.lowercased()) else { throw .invalidXML() }
            }
        }
    }
}

/// The block list of a Put Block List request: which block to commit from where, in order.
struct RequestedBlockList {
    enum Source: String { case committed = "Committed", uncommitted = "Uncommitted", latest = "Latest" }
    var blocks: [(source: Source, id: String)]

    /// Parses `<BlockList><Latest>id</Latest>...</BlockList>`.
    static func parse(_ data: Data) throws(EmulatorError) -> RequestedBlockList {
        try XMLRequestBody.check(data)
        let delegate = BlockListParser()
        let parser = XMLParser(data: data)
        parser.delegate = delegate
        guard parser.parse(), delegate.sawRoot, delegate.closedRoot, !delegate.tooDeep else { throw .invalidXML() }
        if delegate.invalid { throw .invalidBlockList() }
        return RequestedBlockList(blocks: delegate.blocks)
    }

    private final class BlockListParser: NSObject, XMLParserDelegate {
        var blocks: [(source: Source, id: String)] = []
        var sawRoot = false
        var closedRoot = false
        var invalid = false
        var tooDeep = false
        private var depth = 0
        private var current: Source?
        private var text = ""

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            depth += 1
            if depth > XMLRequestBody.maxDepth {
                tooDeep = true
                parser.abortParsing()
                return
            }
            if name == "BlockList" { sawRoot = true; return }
            guard sawRoot else { invalid = true; return }
            current = Source(rawValue: name)
            if current == nil { invalid = true }
            text = ""
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            depth -= 1
            if name == "BlockList" { closedRoot = true }
            if let source = current, name == source.rawValue {
                blocks.append((source, text.trimmingCharacters(in: .whitespacesAndNewlines)))
                current = nil
            }
        }
    }
}

/// A parsed XML element: its name, its text and its child elements (attributes are not kept; the Blob
/// request bodies that use this have none).
struct XMLNode: Equatable {
    var name: String
    var text = ""
    var children: [XMLNode] = []

    func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }

    /// The trimmed text of child `name`, if that child exists.
    func value(_ name: String) -> String? { child(name).map { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) } }

    static func parse(_ data: Data) throws(EmulatorError) -> XMLNode {
        try XMLRequestBody.check(data)
        let delegate = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.delegate = delegate
        guard parser.parse(), !delegate.tooDeep, let root = delegate.root else { throw .invalidXML() }
        return root
    }

    /// Serialises the element (children, or text when it has none) without whitespace.
    func write(to xml: inout XMLWriter) {
        if children.isEmpty {
            xml.element(name, text.trimmingCharacters(in: .whitespacesAndNewlines))
        } else {
            xml.element(name) { xml in
                for child in children { child.write(to: &xml) }
            }
        }
    }

    private final class TreeBuilder: NSObject, XMLParserDelegate {
        var stack: [XMLNode] = []
        var root: XMLNode?
        var tooDeep = false

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            // The tree is later walked recursively (serialised, compared, freed), so its depth stays bounded.
            guard stack.count < XMLRequestBody.maxDepth else {
                tooDeep = true
                parser.abortParsing()
                return
            }
            stack.append(XMLNode(name: name))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if !stack.isEmpty { stack[stack.count - 1].text += string }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard let node = stack.popLast() else { return }
            if stack.isEmpty { root = node } else { stack[stack.count - 1].children.append(node) }
        }
    }
}
