import Foundation
import Testing

@testable import AzureEmulator

@Suite("Blob wire formats: XML, dates, conditions")
struct BlobFormatTests {
    @Test func xmlIsCompactWithAByteOrderMarkAndEscapes() {
        var xml = XMLWriter()
        xml.open("EnumerationResults", attributes: [("ContainerName", "a&b")])
        xml.element("Prefix", "x<y")
        xml.element("NextMarker", nil)
        xml.element("UncommittedBlocks") { _ in }
        xml.close("EnumerationResults")
        #expect(xml.text == "\u{FEFF}<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ContainerName=\"a&amp;b\"><Prefix>x&lt;y</Prefix><NextMarker /><UncommittedBlocks /></EnumerationResults>")
    }

    @Test func blockListParsesEverySource() throws {
        let body = """
            <?xml version="1.0" encoding="utf-8"?>
            <BlockList><Latest>AAA=</Latest><Committed>BBB=</Committed>
              <Uncommitted>CCC=</Uncommitted></BlockList>
            """
        let list = try RequestedBlockList.parse(Data(body.utf8))
        #expect(list.blocks.map(\.source) == [.latest, .committed, .uncommitted])
        #expect(list.blocks.map(\.id) == ["AAA=", "BBB=", "CCC="])
    }

    @Test(arguments: ["<BlockList><Latest>AAA=</Latest>", "not xml", "<Other><Latest>A</Latest></Other>", "<BlockList><Bogus>A</Bogus></BlockList>"])
    func malformedBlockListsAreRejected(body: String) {
        #expect(throws: EmulatorError.self) { try RequestedBlockList.parse(Data(body.utf8)) }
    }

    @Test func rfc1123RoundTrip() throws {
        let date = Date(timeIntervalSince1970: 1_673_490_637)  // Thu, 12 Jan 2023 02:30:37 GMT
        #expect(HTTPDate.rfc1123(date) == "Thu, 12 Jan 2023 02:30:37 GMT")
        #expect(HTTPDate.parseRFC1123("Thu, 12 Jan 2023 02:30:37 GMT") == date)
        #expect(HTTPDate.parseRFC1123("12 Jan 2023") == nil)
        #expect(HTTPDate.iso8601(Date(timeIntervalSince1970: 1_673_490_637.5)) == "2023-01-12T02:30:37.5000000Z")
    }

    @Test func containerNamesFollowAzureRules() {
        for valid in ["abc", "my-container-1", String(repeating: "a", count: 63), "$root"] {
            #expect(throws: Never.self) { try BlobResponder.validateContainerName(valid) }
        }
        for invalid in ["ab", "Upper", "-start", "end-", "dou--ble", "under_score", String(repeating: "a", count: 64)] {
            #expect(throws: EmulatorError.self) { try BlobResponder.validateContainerName(invalid) }
        }
    }
}
