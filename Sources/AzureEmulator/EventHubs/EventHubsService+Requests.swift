import AMQP
import Foundation
import Logging

extension EventHubsService {
    /// Answers requests on `$cbs` (put-token) and `$management` (READ): each request is settled first, then
    /// answered on the node's receiver link with `correlation-id` set to the request's `message-id`, as the
    /// real hub does. Errors are answers too (401, 404), never detaches.
    func serveRequests(on receiver: AMQPReceiver, node: EventHubsEntity, state: ConnectionAuthorization) async {
        let nodeName = node == .cbs ? "$cbs" : "$management"
        await withTaskGroup(of: Void.self) { replies in
            await serveRequests(on: receiver, nodeName: nodeName, node: node, state: state, replies: &replies)
        }
    }

    private func serveRequests(
        on receiver: AMQPReceiver, nodeName: String, node: EventHubsEntity, state: ConnectionAuthorization, replies: inout TaskGroup<Void>
    ) async {
        do {
            for try await delivery in receiver {
                receiver.settle(delivery, .accepted)
                guard let request = try? delivery.message() else { continue }
                let properties = request.applicationProperties ?? []
                var reply: AMQPMessage
                if node == .cbs {
                    reply = putToken(request, properties: properties, state: state)
                } else {
                    reply = await management(request, properties: properties, state: state)
                }
                var replyProperties = AMQPMessage.Properties()
                replyProperties.correlationID = request.properties?.messageID
                reply.properties = replyProperties
                guard let link = state.replyLink(node: nodeName, replyTo: request.properties?.replyTo) else {
                    logger.debug("a \(nodeName) request arrived before any link to answer on")
                    continue
                }
                // Replies go out unsettled, as the hub sends them, and nothing waits for the client to settle
                // them: the next request is read at once.
                let answer = reply
                replies.addTask { _ = try? await link.send(answer, settled: false) }
            }
        } catch {
            logger.debug("the \(nodeName) link ended: \(error)")
        }
    }

    private func status(_ code: Int32, _ description: String, condition: String? = nil) -> AMQPMessage {
        var properties = [
            AMQPMapEntry(.string("status-code"), .int(code)),
            AMQPMapEntry(.string("status-description"), .string(description)),
        ]
        if let condition { properties.append(AMQPMapEntry(.string("error-condition"), .symbol(condition))) }
        var message = AMQPMessage()
        message.applicationProperties = properties
        return message
    }

    private func putToken(_ request: AMQPMessage, properties: [AMQPMapEntry], state: ConnectionAuthorization) -> AMQPMessage {
        guard properties[string: "operation"]?.stringValue == "put-token" else {
            return status(400, "BadRequest: the $cbs node supports the put-token operation only.", condition: "amqp:not-implemented")
        }
        guard let type = properties[string: "type"]?.stringValue, let audience = properties[string: "name"]?.stringValue else {
            return status(400, "BadRequest: put-token needs the type and name application properties.", condition: "amqp:invalid-field")
        }
        guard case .value(let body) = request.body, let token = body.stringValue else {
            return status(400, "BadRequest: put-token carries the token as an amqp-value string.", condition: "amqp:invalid-field")
        }
        guard let hubName = EventHubsAuthorizer.hubName(in: audience), let hub = configuration.hub(named: hubName) else {
            return status(404, "The messaging entity '\(audience)' could not be found.", condition: "amqp:not-found")
        }
        switch authorizer.check(token: token, type: type, audience: audience) {
        case .authorized(let expiresOn):
            state.authorize(scope: EventHubsAuthorizer.entityPath(audience) ?? hub.name.lowercased(), until: expiresOn)
            return status(202, "Accepted")
        case .refused(let reason):
            return status(401, reason, condition: "com.microsoft:auth-failed")
        }
    }

    private func management(_ request: AMQPMessage, properties: [AMQPMapEntry], state: ConnectionAuthorization) async -> AMQPMessage {
        guard properties[string: "operation"]?.stringValue == "READ" else {
            return status(400, "BadRequest: the $management node supports READ only.", condition: "amqp:not-implemented")
        }
        guard let name = properties[string: "name"]?.stringValue, let hub = configuration.hub(named: name) else {
            let name = properties[string: "name"]?.stringValue ?? ""
            return status(404, "The messaging entity '\(name)' could not be found.", condition: "amqp:not-found")
        }
        if let token = properties[string: "security_token"]?.stringValue {
            let type = token.hasPrefix("SharedAccessSignature ") ? "servicebus.windows.net:sastoken" : "jwt"
            if case .refused(let reason) = authorizer.check(token: token, type: type, audience: "sb://emulator/\(hub.name)") {
                return status(401, reason, condition: "com.microsoft:auth-failed")
            }
        } else if !state.isAuthorized(path: hub.name) {
            return status(401, "Unauthorized access. 'Manage' or 'Listen' claim(s) are required to perform this operation.", condition: "amqp:unauthorized-access")
        }
        var reply = AMQPMessage()
        reply.applicationProperties = [
            AMQPMapEntry(.string("operation"), .string("READ")),
            AMQPMapEntry(.string("status-code"), .int(200)),
        ]
        switch properties[string: "type"]?.stringValue {
        case "com.microsoft:eventhub":
            reply.body = .value(.map([
                AMQPMapEntry(.string("name"), .string(hub.name)),
                AMQPMapEntry(.string("type"), .string("com.microsoft:eventhub")),
                AMQPMapEntry(.string("created_at"), .timestamp(createdAt)),
                AMQPMapEntry(.string("partition_count"), .int(Int32(hub.partitionCount))),
                AMQPMapEntry(.string("partition_ids"), .array(hub.partitionIDs.map { .string($0) })),
                AMQPMapEntry(.string("georeplication_factor"), .int(1)),
            ]))
        case "com.microsoft:partition":
            guard let partition = properties[string: "partition"]?.stringValue, hub.partitionIDs.contains(partition),
                let partitionState = await log.state(hub: hub.name, partition: partition)
            else {
                let partition = properties[string: "partition"]?.stringValue ?? ""
                return status(404, "The messaging entity '\(hub.name)/Partitions/\(partition)' could not be found.", condition: "amqp:not-found")
            }
            // An empty partition answers -1, "-1" and 0001-01-01, as the real hub does.
            let empty = partitionState.isEmpty
            reply.body = .value(.map([
                AMQPMapEntry(.string("name"), .string(hub.name)),
                AMQPMapEntry(.string("partition"), .string(partition)),
                AMQPMapEntry(.string("type"), .string("com.microsoft:partition")),
                AMQPMapEntry(.string("begin_sequence_number_epoch"), .int(-1)),
                AMQPMapEntry(.string("begin_sequence_number"), .long(empty ? -1 : partitionState.beginSequence)),
                AMQPMapEntry(.string("last_enqueued_sequence_number_epoch"), .int(-1)),
                AMQPMapEntry(.string("last_enqueued_sequence_number"), .long(empty ? -1 : partitionState.nextSequence - 1)),
                AMQPMapEntry(.string("last_enqueued_offset"), .string(empty ? "-1" : String(partitionState.lastOffset))),
                AMQPMapEntry(.string("last_enqueued_time_utc"), .timestamp(empty ? -62_135_596_800_000 : partitionState.lastEnqueuedTime)),
                AMQPMapEntry(.string("is_partition_empty"), .bool(empty)),
            ]))
        default:
            return status(400, "BadRequest: READ needs type com.microsoft:eventhub or com.microsoft:partition.", condition: "amqp:invalid-field")
        }
        return reply
    }
}
