package p2p

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/protocol"
)

// protocolRoles is the micro-segmentation table of doc.go: which roles may
// open a stream on each guarded protocol. A protocol missing from the table
// is refused for every role.
var protocolRoles = map[protocol.ID][]Role{
	RaftProtocol:    {RoleVoter},
	TxProtocol:      {RoleVoter, RoleObserver},
	TxBatchProtocol: {RoleVoter, RoleObserver},
	QueryProtocol:   {RoleVoter, RoleObserver},
	LeftOutProtocol: {RoleVoter}, // only a voter leads
}

// permitted reports whether a node of role r may open streams on proto.
func permitted(proto protocol.ID, r Role) error {
	for _, ok := range protocolRoles[proto] {
		if ok == r {
			return nil
		}
	}
	return fmt.Errorf("%w: %s may not open %s", ErrForbidden, r, proto)
}
