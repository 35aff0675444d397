//! The proofs of the peer protocol's handshake (`docs/protocol.md`, "Connections"):
//! `C` Hello (dialler's id, the id it means to reach, its nonce), `c` HelloReply
//! (acceptor's id, its nonce, its proof), `P` HelloProof (the dialler's proof).
//!
//! Both proofs are HMAC-SHA256 with the cluster secret over a label naming the side,
//! then both ids and both nonces: each side's proof covers the other's fresh nonce, so
//! neither can be replayed on another connection, and the labels differ, so an acceptor's
//! proof can never pass as a dialler's (no reflection). Naming the intended acceptor keeps
//! a hello meant for one node from being relayed to another.
//!
//! Without a secret (a loopback-only cluster, see [`crate::server`]) the same handshake
//! runs with an empty HMAC key: it then proves nothing, but both ends speak one protocol.

use hmac::{Hmac, Mac};
use protocol::peer::{PeerId, NONCE_LEN, PROOF_LEN};
use sha2::Sha256;

use super::{Secret, Side};

/// Label of the acceptor's proof (in `c` HelloReply).
pub const ACCEPT_LABEL: &[u8] = b"ringkv peer accept v1\n";

/// Label of the dialler's proof (in `P` HelloProof).
pub const DIAL_LABEL: &[u8] = b"ringkv peer dial v1\n";

/// What both proofs of one connection sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transcript {
    /// The node that dialled.
    pub dialler: PeerId,
    /// The node that accepted.
    pub acceptor: PeerId,
    /// The dialler's nonce (from `C`).
    pub dial_nonce: [u8; NONCE_LEN],
    /// The acceptor's nonce (from `c`).
    pub accept_nonce: [u8; NONCE_LEN],
}

impl Transcript {
    /// `side`'s proof: HMAC-SHA256(secret, label || dialler || acceptor || dial nonce ||
    /// accept nonce), ids as 4 big-endian bytes.
    pub fn proof(&self, secret: Option<&Secret>, side: Side) -> [u8; PROOF_LEN] {
        self.mac(secret, side).finalize().into_bytes().into()
    }

    /// Whether `proof` is `side`'s proof for this transcript, compared in constant time.
    pub fn verify(&self, secret: Option<&Secret>, side: Side, proof: &[u8; PROOF_LEN]) -> bool {
        self.mac(secret, side).verify_slice(proof).is_ok()
    }

    fn mac(&self, secret: Option<&Secret>, side: Side) -> Hmac<Sha256> {
        let key: &[u8] = secret.map_or(&[], |s| &s.0);
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(match side {
            Side::Dialler => DIAL_LABEL,
            Side::Acceptor => ACCEPT_LABEL,
        });
        mac.update(&self.dialler.0.to_be_bytes());
        mac.update(&self.acceptor.0.to_be_bytes());
        mac.update(&self.dial_nonce);
        mac.update(&self.accept_nonce);
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript() -> Transcript {
        Transcript {
            dialler: PeerId(3),
            acceptor: PeerId(1),
            dial_nonce: std::array::from_fn(|i| i as u8),
            accept_nonce: std::array::from_fn(|i| 0x10 + i as u8),
        }
    }

    fn secret() -> Secret {
        Secret::from_bytes([1; 32])
    }

    #[test]
    fn proofs_match_the_documented_vectors() {
        // Computed outside the crate (docs/protocol.md, "Connections"):
        //   python3 -c 'import hmac,hashlib; m=b"ringkv peer dial v1\n"+bytes([0,0,0,3,0,0,0,1])
        //     +bytes(range(16))+bytes(range(16,32)); print(hmac.new(bytes([1]*32),m,hashlib.sha256).hexdigest())'
        let t = transcript();
        let hex = |p: [u8; PROOF_LEN]| protocol::ecs::auth::to_hex(&p);
        assert_eq!(
            hex(t.proof(Some(&secret()), Side::Dialler)),
            DIAL_VECTOR,
            "dialler's proof"
        );
        assert_eq!(
            hex(t.proof(Some(&secret()), Side::Acceptor)),
            ACCEPT_VECTOR,
            "acceptor's proof"
        );
    }

    const DIAL_VECTOR: &str = "89737d9c7122e4c386ded0214ecc86c39c4efadd5ead72686b5e3d041df0c2f3";
    const ACCEPT_VECTOR: &str = "eb5fab15a8a6a7907bbb7ef941cb254b72f514575eed1e49a96a91ed2dc565a6";

    #[test]
    fn a_proof_is_good_for_its_side_its_secret_and_its_transcript_only() {
        let t = transcript();
        let s = secret();
        let proof = t.proof(Some(&s), Side::Dialler);
        assert!(t.verify(Some(&s), Side::Dialler, &proof));
        assert!(
            !t.verify(Some(&s), Side::Acceptor, &proof),
            "reflected to the other side"
        );
        assert!(
            !t.verify(Some(&Secret::from_bytes([2; 32])), Side::Dialler, &proof),
            "another secret"
        );
        assert!(!t.verify(None, Side::Dialler, &proof), "no secret");
        let changes: [fn(&mut Transcript); 4] = [
            |t| t.dialler = PeerId(4),
            |t| t.acceptor = PeerId(2),
            |t| t.dial_nonce[15] ^= 1,
            |t| t.accept_nonce[0] ^= 0x80,
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut other = t;
            change(&mut other);
            assert!(
                !other.verify(Some(&s), Side::Dialler, &proof),
                "change {i} of the transcript still verifies"
            );
        }
    }
}
