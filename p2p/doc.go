// Package p2p is medchain's peer layer: a libp2p host that admits only
// registered consortium nodes, binds each peer's libp2p identity to its
// ML-DSA node key with a mutual signed handshake, re-authenticates peers
// continuously, and carries Raft and tx forwarding over the authenticated
// connections.
//
// Usage:
//
//	n, err := p2p.New(cfg, nodeKey, registry)       // listen, gate, handshake
//	sl := n.RaftStreamLayer()                        // raft.StreamLayer
//	tr := raft.NewNetworkTransport(sl, 3, 10*time.Second, os.Stderr)
//	n.SetTxHandler(func(ctx context.Context, from peer.ID, raw []byte) ([]byte, error) { ... })
//	hash, err := n.ForwardTx(ctx, leaderPeerID, rawTx) // on a follower
//	n.SetTxBatchHandler(func(ctx context.Context, from peer.ID, raws [][]byte) []p2p.TxOutcome { ... })
//	outcomes, err := n.ForwardTxs(ctx, leaderPeerID, rawTxs) // one round trip, one outcome per tx
//	n.SetLeftOutHandler(currentLeader, func(from p2p.NodeRecord, recs []p2p.LeftOut) { ... }) // on a follower
//	err = n.SendLeftOut(ctx, followerPeerID, recs) // on the leader: txs it left out of a block
//	defer n.Close()
//
// Raft server addresses are peer id strings (Node.RaftAddress); a peer is
// dialled at the addresses in its NodeRecord and at Config.BootstrapPeers.
//
// # Layers of a connection
//
//	TCP or QUIC
//	  └─ TLS 1.3 (libp2p TLS transport only; Go's X25519MLKEM768 key exchange,
//	     required by default: a classical-only connection is closed)
//	       └─ connection gater: the registry must hold a non-removed record
//	          for the TLS-proven peer id, else the connection is closed
//	          ("p2p: refused peer" is logged with peer, stage and reason)
//	            └─ /medchain/handshake/1: both ML-DSA signatures verified
//	                 └─ guarded protocols, by role (table below)
//
// # Handshake (/medchain/handshake/1)
//
// The dialler initiates; messages are length-prefixed frames (4-byte
// big-endian length, at most 16 KiB) holding one deterministic-CBOR map
// {1: type, 2: chain id, 3: initiator peer id, 4: responder peer id,
// 5: nonce, 6: time (Unix ns), 7: node id, 8: ML-DSA signature, 9: error}:
//
//	initiator I                                   responder R
//	  hello  {chain, I, R, nonceI, tI}        ──►  chain, ids, |tI-now| <= skew,
//	                                               nonceI unseen
//	                                          ◄──  reply {nonceR, tR, nodeR,
//	                                                 sigR(transcript "responder")}
//	  verify sigR with registry[R] ...
//	  finish {tI2, nodeI, sigI(transcript "initiator")} ──►  verify sigI with registry[I]
//	                                          ◄──  result {error or empty}
//
// The transcript each side signs is the CBOR map {1: "medchain/handshake/1",
// 2: signer role, 3: chain id, 4: initiator peer id, 5: responder peer id,
// 6: nonceI, 7: nonceR, 8: signer's time, 9: signer's node id}.
//
// # Micro-segmentation: who may open which protocol
//
//	protocol                 voter   observer   unauthenticated
//	/medchain/handshake/1    yes     yes        yes (admitted peers only)
//	/medchain/raft/1         yes     no         no
//	/medchain/tx/1           yes     yes        no
//	/medchain/txbatch/1      yes     yes        no
//	/medchain/query/1        yes     yes        no
//	/medchain/leftout/1      yes     no         no
//
// A left-out report (/medchain/leftout/1) goes from the leader to its
// followers: the txs it left out of a block at the cut, each with the
// refusal its own waiters got, so a follower wakes its waiters of those txs
// with the same refusal. The receiver takes it only from the peer it knows
// as the current Raft leader, and it only wakes waiters (nothing is stored).
// One frame, deterministic CBOR, at most MaxLeftOutRecords records:
//
//	report {1: [record, ...]}
//	record {1: tx hash (32 bytes), 2: result code (not ok, not replay),
//	        3: reason (1 to 512 bytes of UTF-8)}
//
// answered with the tx protocol's response frame (ok, or an error string).
//
// An observer replicates the chain (a voter leader opens Raft streams to it)
// but never opens a Raft stream itself: it cannot campaign, vote or feed a
// log to anyone. Both ends enforce the table: the opener refuses to open a
// stream its own role does not permit, the receiver resets it. libp2p's own
// identify protocol is the one exception to "nothing before the handshake":
// it is served to admitted peers only (the gater runs first) and carries no
// chain data.
//
// # Invariants
//
//  1. Only TLS 1.3 secures connections (no Noise, no plaintext); with
//     RequirePostQuantum the key exchange is X25519MLKEM768 on TCP and QUIC.
//  2. A peer id without a non-removed registry record is refused at dial and
//     right after TLS (InterceptSecured), before any protocol is served.
//  3. A peer is authenticated only after both handshake signatures verify
//     against the registry's ML-DSA keys, the claimed node ids equal the
//     registry's, and the record's peer id equals the TLS-proven peer id.
//  4. Each signature covers both fresh nonces, both peer ids, the chain id and
//     the signer's role, so a transcript cannot be replayed into another
//     session, reflected, or moved to another chain; a nonce seen within twice
//     the skew window and a timestamp outside the window are refused.
//  5. No guarded protocol is served to a peer that is not authenticated on its
//     current connection, is no longer admitted, or whose role the table above
//     does not permit.
//  6. Authentication is repeated every ReauthInterval; a failed or overdue
//     reauthentication, a registry change that removes the node, or Revoke
//     disconnects the peer at once, and the gater refuses it afterwards.
//  7. Every frame read from the network has a size limit checked before
//     allocation; decoders never panic (fuzzed).
//  8. A left-out report reaches its handler only from the peer the receiver
//     follows as Raft leader at that moment (SetLeftOutHandler's leader).
package p2p
