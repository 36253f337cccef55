/// Azure Event Hubs over AMQP 1.0: producer, consumer, processor and a Blob Storage checkpoint store.
public enum EventHubs {
    /// The Entra ID scope of Event Hubs' data plane.
    public static let scope = "https://eventhubs.azure.net/.default"
}
