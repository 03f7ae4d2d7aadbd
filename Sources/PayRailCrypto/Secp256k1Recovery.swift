import COpenSSL
import Foundation

extension Secp256k1.PublicKey {
    /// Recovers the signer's key from a 64-byte compact signature and its recovery id (0...3), as BOLT11 needs.
    ///
    /// A BOLT 11 invoice carries no public key when the payee omits the `n` field: the key is rebuilt
    /// from the signature, and the caller then compares it with the node it expects to pay. The id's
    /// low bit is the parity of R's y coordinate and its high bit says whether R.x = r + n (possible
    /// only when r + n is still below the field prime). Q = r⁻¹(sR − eG).
    ///
    /// Throws `invalidLength` for a signature that is not 64 bytes or a digest that is not 32 bytes,
    /// `invalidSignature` when r or s is out of range, the id is out of range, or no curve point has
    /// the x coordinate the id asks for.
    public static func recover(
        compactSignature: some ContiguousBytes, recoveryID: Int, digest: some ContiguousBytes
    ) throws(CryptoError) -> Secp256k1.PublicKey {
        let signature = byteArray(compactSignature)
        let digestBytes = byteArray(digest)
        guard signature.count == 64 else {
            throw CryptoError(code: .invalidLength, reason: "a compact signature is 64 bytes r||s, got \(signature.count) bytes")
        }
        guard digestBytes.count == SHA256.byteCount else {
            throw CryptoError(code: .invalidLength, reason: "the signed digest must be 32 bytes, got \(digestBytes.count) bytes")
        }
        guard (0...3).contains(recoveryID) else {
            throw CryptoError(code: .invalidSignature, reason: "a recovery id is 0...3, got \(recoveryID)")
        }
        let point = try RecoveryArithmetic.recoverPoint(
            r: Array(signature[0..<32]), s: Array(signature[32..<64]), recoveryID: recoveryID, digest: digestBytes)
        return try Secp256k1.PublicKey(serialized: point)
    }
}

/// The elliptic-curve arithmetic behind key recovery, on OpenSSL's EC_GROUP / EC_POINT / BIGNUM.
/// Every object is created and freed inside `recoverPoint`; nothing is shared between calls.
private enum RecoveryArithmetic {
    /// Frees the OpenSSL objects of one recovery when it ends, whichever way it ends.
    private final class Scratch {
        let group: OpaquePointer
        let context: OpaquePointer
        private var numbers: [OpaquePointer] = []
        private var points: [OpaquePointer] = []

        init() throws(CryptoError) {
            guard let group = EC_GROUP_new_by_curve_name(NID_secp256k1) else {
                throw openSSLError(.internalFailure, "OpenSSL does not provide secp256k1")
            }
            guard let context = BN_CTX_new() else {
                EC_GROUP_free(group)
                throw openSSLError(.internalFailure, "could not allocate big-number scratch space")
            }
            self.group = group
            self.context = context
        }

        deinit {
            for point in points { EC_POINT_free(point) }
            for number in numbers { BN_free(number) }
            BN_CTX_free(context)
            EC_GROUP_free(group)
        }

        func number(_ bytes: [UInt8] = []) throws(CryptoError) -> OpaquePointer {
            let created = bytes.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
            guard let created else { throw openSSLError(.internalFailure, "could not allocate a big number") }
            numbers.append(created)
            return created
        }

        func point() throws(CryptoError) -> OpaquePointer {
            guard let created = EC_POINT_new(group) else {
                throw openSSLError(.internalFailure, "could not allocate a curve point")
            }
            points.append(created)
            return created
        }
    }

    static func recoverPoint(r rBytes: [UInt8], s sBytes: [UInt8], recoveryID: Int, digest: [UInt8]) throws(CryptoError) -> [UInt8] {
        let scratch = try Scratch()
        let group = scratch.group
        let context = scratch.context
        guard let order = EC_GROUP_get0_order(group) else {
            throw openSSLError(.internalFailure, "could not read the secp256k1 order")
        }
        let prime = try scratch.number()
        guard EC_GROUP_get_curve(group, prime, nil, nil, context) == 1 else {
            throw openSSLError(.internalFailure, "could not read the secp256k1 field prime")
        }
        let r = try scratch.number(rBytes)
        let s = try scratch.number(sBytes)
        guard BN_is_zero(r) == 0, BN_is_zero(s) == 0, BN_cmp(r, order) < 0, BN_cmp(s, order) < 0 else {
            throw CryptoError(code: .invalidSignature, reason: "r and s must both lie in 1...n-1")
        }

        // R.x = r + (recoveryID / 2) * n, which must still be a field element.
        let x = try scratch.number()
        guard BN_copy(x, r) != nil else { throw openSSLError(.internalFailure, "big-number copy failed") }
        if recoveryID >= 2 {
            guard BN_add(x, x, order) == 1 else { throw openSSLError(.internalFailure, "big-number addition failed") }
        }
        guard BN_cmp(x, prime) < 0 else {
            throw CryptoError(code: .invalidSignature, reason: "the recovery id asks for R.x = r + n, which exceeds the field")
        }
        let bigR = try scratch.point()
        guard EC_POINT_set_compressed_coordinates(group, bigR, x, Int32(recoveryID & 1), context) == 1 else {
            discardOpenSSLErrors()
            throw CryptoError(code: .invalidSignature, reason: "no curve point has the x coordinate this signature implies")
        }

        // u1 = -e / r mod n, u2 = s / r mod n, Q = u1*G + u2*R.
        let e = try scratch.number(digest)
        let rInverse = try scratch.number()
        guard BN_mod_inverse(rInverse, r, order, context) != nil else {
            throw openSSLError(.internalFailure, "could not invert r modulo n")
        }
        let zero = try scratch.number()
        let negativeE = try scratch.number()
        let u1 = try scratch.number()
        let u2 = try scratch.number()
        guard BN_mod_sub(negativeE, zero, e, order, context) == 1,
            BN_mod_mul(u1, negativeE, rInverse, order, context) == 1,
            BN_mod_mul(u2, s, rInverse, order, context) == 1
        else { throw openSSLError(.internalFailure, "modular arithmetic failed") }
        let q = try scratch.point()
        guard EC_POINT_mul(group, q, u1, bigR, u2, context) == 1 else {
            throw openSSLError(.internalFailure, "point multiplication failed")
        }
        guard EC_POINT_is_at_infinity(group, q) == 0 else {
            throw CryptoError(code: .invalidSignature, reason: "the recovered key is the point at infinity")
        }
        var encoded = [UInt8](repeating: 0, count: 65)
        let written = encoded.withUnsafeMutableBufferPointer { buffer in
            EC_POINT_point2oct(group, q, POINT_CONVERSION_UNCOMPRESSED, buffer.baseAddress, buffer.count, context)
        }
        guard written == 65 else { throw openSSLError(.internalFailure, "could not encode the recovered key") }
        return encoded
    }
}
