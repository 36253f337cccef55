import AzureMessagingEventHubs
import Testing

@Suite struct ScopeTests {
    @Test func entraScope() { #expect(EventHubs.scope == "https://eventhubs.azure.net/.default") }
}
