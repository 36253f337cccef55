import Crypto

/// Comparison of a presented secret (a signature, a token, a client secret) with the expected one in time
/// that depends on neither where they differ nor how long the presented one is, so response times tell a
/// caller nothing about how close a guess was.
enum SecretComparison {
    static func matches(_ presented: String, _ expected: String) -> Bool {
        // Fixed-length digests first, so the loop below always runs over 32 bytes.
        let left = SHA256.hash(data: Array(presented.utf8))
        let right = SHA256.hash(data: Array(expected.utf8))
        var difference: UInt8 = 0
        for (a, b) in zip(left, right) { difference |= a ^ b }
        return difference == 0
    }
}
