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

/// The block list of a Put Block List request: which block to commit from where, in order.
struct RequestedBlockList {
    enum Source: String { case committed = "Committed", uncommitted = "Uncommitted", latest = "Latest" }
    var blocks: [(source: Source, id: String)]

    /// Parses `<BlockList><Latest>id</Latest>...</BlockList>`.
    static func parse(_ data: Data) throws(BlobServiceError) -> RequestedBlockList {
        let delegate = BlockListParser()
        let parser = XMLParser(data: data)
        parser.delegate = delegate
        guard parser.parse(), delegate.sawRoot, delegate.closedRoot else { throw .invalidXML() }
        if delegate.invalid { throw .invalidBlockList() }
        return RequestedBlockList(blocks: delegate.blocks)
    }

    private final class BlockListParser: NSObject, XMLParserDelegate {
        var blocks: [(source: Source, id: String)] = []
        var sawRoot = false
        var closedRoot = false
        var invalid = false
        private var current: Source?
        private var text = ""

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            if name == "BlockList" { sawRoot = true; return }
            guard sawRoot else { invalid = true; return }
            current = Source(rawValue: name)
            if current == nil { invalid = true }
            text = ""
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
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

    static func parse(_ data: Data) throws(BlobServiceError) -> XMLNode {
        let delegate = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.delegate = delegate
        guard parser.parse(), let root = delegate.root else { throw .invalidXML() }
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

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
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
