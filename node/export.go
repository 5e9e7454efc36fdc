package node

import (
	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/node/rpc"
)

var _ rpc.ExportSigner = (*Node)(nil)

// ExportIdentity implements rpc.ExportSigner: the node's identity and key.
func (n *Node) ExportIdentity() (string, crypto.PublicKey) { return n.cfg.Node.ID, n.key.Public() }

// SignExport implements rpc.ExportSigner with the node's ML-DSA key.
func (n *Node) SignExport(msg []byte) (crypto.Signature, error) { return n.key.Sign(msg) }
