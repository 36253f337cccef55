import Foundation

/// What a link address names in an Event Hubs namespace: `hub`, `hub/Partitions/N`,
/// `hub/ConsumerGroups/G/Partitions/N`, or a node (`$cbs`, `$management`). Addresses may be absolute
/// (`amqps://host/hub/...`) or relative; segment names are compared without regard to case.
enum EventHubsEntity: Equatable {
    case cbs
    case management
    case hub(String)
    case partition(hub: String, partition: String)
    case consumer(hub: String, consumerGroup: String, partition: String)

    init?(address: String) {
        var rest = Substring(address)
        if let scheme = rest.range(of: "://") {
            rest = rest[scheme.upperBound...]
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            rest = rest[rest.index(after: slash)...]
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let first = parts.first else { return nil }
        if parts.count == 1 && first == "$cbs" { self = .cbs; return }
        if parts.count == 1 && first == "$management" { self = .management; return }
        switch parts.count {
        case 1: self = .hub(first)
        case 3 where parts[1].lowercased() == "partitions": self = .partition(hub: first, partition: parts[2])
        case 5 where parts[1].lowercased() == "consumergroups" && parts[3].lowercased() == "partitions":
            self = .consumer(hub: first, consumerGroup: parts[2], partition: parts[4])
        default: return nil
        }
    }

    var hubName: String? {
        switch self {
        case .cbs, .management: nil
        case .hub(let hub), .partition(let hub, _), .consumer(let hub, _, _): hub
        }
    }
}
