package client

import (
	"context"

	"github.com/medchain/medchain/node/rpc"
)

// ErasureStatus asks this node whether a patient is erased and which
// clean-up steps are complete on it (patient_erasureStatus). Ask each node
// of a cluster for a cluster-wide answer.
func (c *Client) ErasureStatus(ctx context.Context, patient string) (*rpc.ErasureStatus, error) {
	var r rpc.ErasureStatus
	return &r, c.c.CallContext(ctx, &r, "patient_erasureStatus", rpc.ErasureStatusParams{Patient: patient})
}
