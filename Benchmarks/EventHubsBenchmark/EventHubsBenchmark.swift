// kumo-eventhubs-bench: Kumo's Event Hubs producer and consumer, measured the way scripts/bench-eventhubs measures
// Microsoft's Python SDK (Benchmarks/EventHubsBenchmark/python_peer.py) on the same emulator:
//   send      COUNT events of SIZE bytes to one partition, in batches as large as the hub accepts, one batch in
//             flight (as EventHubProducerClient.send_batch does); events/s from the first send to the last ack
//   receive   COUNT events of one partition from the earliest, with PREFETCH credit; events/s from the first
//             event to the last, and the process's peak RSS (prefetch bounds what a slow reader buffers)
//   latency   one-event sends at RATE events/s for SECONDS while a reader started at "latest" notes, for each
//             event, now minus the send time carried in the event; p50 and p99 in milliseconds
// Prints one JSON object. The connection string comes from AZURE_EVENTHUBS_CONNECTION_STRING.

import AzureMessagingEventHubs
import AMQP
import Foundation

#if canImport(Glibc)
import Glibc
#endif

func argument(_ name: String, default value: String) -> String {
    let arguments = CommandLine.arguments
    if let index = arguments.firstIndex(of: "--\(name)"), index + 1 < arguments.count { return arguments[index + 1] }
    return value
}

func peakRSSKiB() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss)
}

func emit(_ record: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

@main
struct EventHubsBenchmark {
    static func main() async throws {
        guard CommandLine.arguments.count > 1 else {
            FileHandle.standardError.write(Data("usage: kumo-eventhubs-bench send|receive|latency [--hub H] [--partition P] [--count N] [--size S] [--prefetch N] [--rate R] [--seconds S]\n".utf8))
            exit(2)
        }
        let mode = CommandLine.arguments[1]
        guard let connectionString = ProcessInfo.processInfo.environment["AZURE_EVENTHUBS_CONNECTION_STRING"] else {
            FileHandle.standardError.write(Data("set AZURE_EVENTHUBS_CONNECTION_STRING\n".utf8))
            exit(2)
        }
        let hub = argument("hub", default: "bench")
        let partition = argument("partition", default: "0")
        let count = Int(argument("count", default: "20000"))!
        let size = Int(argument("size", default: "256"))!
        switch mode {
        case "send":
            let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: hub)
            let body = [UInt8](repeating: 0x6B, count: size)
            // Connect and attach outside the timed part, as the Python side does with a first empty batch.
            var batch = try await producer.createBatch(options: CreateBatchOptions(partitionID: partition))
            let clock = ContinuousClock()
            let start = clock.now
            var sent = 0
            while sent < count {
                if !batch.tryAdd(EventData(body: body)) {
                    try await producer.send(batch)
                    batch = try await producer.createBatch(options: CreateBatchOptions(partitionID: partition))
                    continue
                }
                sent += 1
            }
            try await producer.send(batch)
            let elapsed = seconds(clock.now - start)
            await producer.close()
            emit(["mode": "send", "client": "kumo", "events": count, "size": size, "seconds": elapsed, "eventsPerSecond": Double(count) / elapsed, "peakRSSKiB": peakRSSKiB()])
        case "receive":
            let prefetch = UInt32(argument("prefetch", default: "300"))!
            let consumer = try EventHubConsumerClient(connectionString: connectionString, eventHubName: hub)
            let clock = ContinuousClock()
            var start: ContinuousClock.Instant?
            var received = 0
            for try await _ in consumer.events(partitionID: partition, startingAt: .earliest, options: ReadEventOptions(prefetchCount: prefetch)) {
                if start == nil { start = clock.now }
                received += 1
                if received == count { break }
            }
            let elapsed = seconds(clock.now - start!)
            await consumer.close()
            emit(["mode": "receive", "client": "kumo", "events": received, "prefetch": Int(prefetch), "seconds": elapsed, "eventsPerSecond": Double(received - 1) / elapsed, "peakRSSKiB": peakRSSKiB()])
        case "latency":
            let rate = Double(argument("rate", default: "1000"))!
            let duration = Double(argument("seconds", default: "10"))!
            let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: hub)
            let consumer = try EventHubConsumerClient(connectionString: connectionString, eventHubName: hub)
            _ = try await producer.createBatch(options: CreateBatchOptions(partitionID: partition))
            let total = Int(rate * duration)
            let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
                group.addTask {
                    var values: [Double] = []
                    for try await event in consumer.events(partitionID: partition, startingAt: .latest) {
                        guard case .double(let sentAt)? = event.properties["sent"] else { continue }
                        values.append((Date().timeIntervalSince1970 - sentAt) * 1000)
                        if values.count == total { break }
                    }
                    return values
                }
                // Let the reader attach before the first send.
                try await Task.sleep(for: .seconds(1))
                let clock = ContinuousClock()
                let start = clock.now
                for index in 0..<total {
                    let due = start + .seconds(Double(index) / rate)
                    if clock.now < due { try await Task.sleep(until: due, clock: clock) }
                    try await producer.send([EventData(body: [UInt8](repeating: 0x6C, count: size), properties: ["sent": .double(Date().timeIntervalSince1970)])], options: CreateBatchOptions(partitionID: partition))
                }
                let values = try await group.next()!
                group.cancelAll()
                return values.sorted()
            }
            await producer.close()
            await consumer.close()
            func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
            emit(["mode": "latency", "client": "kumo", "events": latencies.count, "rate": rate, "p50ms": percentile(0.5), "p99ms": percentile(0.99)])
        default:
            FileHandle.standardError.write(Data("unknown mode \(mode)\n".utf8))
            exit(2)
        }
    }
}
