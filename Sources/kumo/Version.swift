import Foundation

enum KumoVersion {
    static let string = "0.1.0"
}
