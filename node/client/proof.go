package client

import (
	"fmt"

	"github.com/transparency-dev/merkle/proof"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/rpc"
)

func hashes(hs []types.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

func checkHeader(h *types.Header, sig rpc.SignatureView, proposer crypto.PublicKey) error {
	alg, err := crypto.ParseAlgorithm(sig.Algorithm)
	if err != nil {
		return fmt.Errorf("header %d: %w", h.Height, err)
	}
	if err := crypto.Verify(proposer, h.SignBytes(), crypto.Signature{Algorithm: alg, Sig: sig.Bytes}); err != nil {
		return fmt.Errorf("header %d is not signed by the proposer's key: %w", h.Height, err)
	}
	return nil
}

// VerifyInclusion checks, without trusting the node, that p proves tx p.TxHash
// is in the log committed by p.Header and that the header is signed with
// proposer (the proposer's key, which the caller must obtain from a source it
// trusts, such as the genesis file).
func VerifyInclusion(p *rpc.ProofResult, proposer crypto.PublicKey) error {
	if err := checkHeader(&p.Header, p.Signature, proposer); err != nil {
		return err
	}
	if p.LogSize != p.Header.LogSize {
		return fmt.Errorf("proof is for log size %d but the header commits %d", p.LogSize, p.Header.LogSize)
	}
	leaf := types.LogHasher.HashLeaf(p.TxHash[:])
	if err := proof.VerifyInclusion(types.LogHasher, p.LeafIndex, p.LogSize, leaf, hashes(p.Proof), p.Header.LogRoot[:]); err != nil {
		return fmt.Errorf("inclusion proof does not verify: %w", err)
	}
	return nil
}

// VerifyConsistency checks that the log committed by c.To extends the log
// committed by c.From, and that both headers are signed with their
// proposers' keys (given in the same order).
func VerifyConsistency(c *rpc.ConsistencyResult, fromProposer, toProposer crypto.PublicKey) error {
	if err := checkHeader(&c.From, c.FromSig, fromProposer); err != nil {
		return err
	}
	if err := checkHeader(&c.To, c.ToSig, toProposer); err != nil {
		return err
	}
	if c.FromSize != c.From.LogSize || c.ToSize != c.To.LogSize {
		return fmt.Errorf("proof sizes %d..%d do not match the headers' %d..%d", c.FromSize, c.ToSize, c.From.LogSize, c.To.LogSize)
	}
	if err := proof.VerifyConsistency(types.LogHasher, c.FromSize, c.ToSize, hashes(c.Proof), c.From.LogRoot[:], c.To.LogRoot[:]); err != nil {
		return fmt.Errorf("consistency proof does not verify: %w", err)
	}
	return nil
}
