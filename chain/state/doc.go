// Package state is medchain's deterministic state machine: it executes the
// txs of a block against committed state (a View) and returns per-tx results,
// the sorted state writes and the new state hash. It is pure: no clock, no
// randomness, no goroutines, no I/O beyond the View it is handed.
//
// # Node governance (tx types 13-15)
//
// A node joins with node_join, signed by its own new ML-DSA key: the signer
// is not registered yet, so the executor verifies the signature against the
// key in the payload and requires Signer == NodeID. The record is pending
// until Params.AdminThreshold distinct admins sign node_approve; then it is
// admitted and the node is registered as an identity (kind node, role node),
// so it may propose blocks when it leads. node_remove works the same way at
// the same threshold: the record becomes removed (final) and the node
// identity is revoked. An admin's second approval or removal vote is refused
// (conflict), never counted twice. Genesis may list admitted node records
// (Genesis.Nodes) for the first nodes.
//
// # Cluster data key and MFA seeds (tx types 16-18)
//
// One cluster data key (AES-256-GCM, seal.DataKey) per chain seals what every
// node must read, such as TOTP seeds. The key is never in state: state holds
// its id and one copy per node, wrapped (HPKE, seal.WrapKey) to the node's
// seal public key with types.ClusterKeyAAD(chain id, node id, key id).
// Genesis.ClusterKeyGrants carries the first nodes' copies; afterwards
// cluster_key_grant, signed by a member node that itself holds a grant of the
// same key, hands it to an admitted node with a seal key on record, once per
// node and key (a second grant is a conflict). The executor cannot open a
// wrapped key; it checks the envelope's shape and that its KEM is the
// recipient's. mfa_enroll, signed by a node, stores an identity's seed sealed
// under the cluster key (its header must name the cluster key id) once;
// mfa_reset by an admin clears it.
//
// # Key rotation (tx type 24)
//
// identity_rotate_key replaces an identity's key: the tx is signed by the
// current key and the payload carries a proof by the new key. The record keeps
// every retired key with the heights it signed at; the new key signs from the
// next block. Every signature check uses Identity.KeyAt(height), and the
// executor re-checks the signatures of signers rotated within two timestamp
// windows even when the block does not ask for signature checks (rotation.go
// explains why). Node identities do not rotate.
package state
