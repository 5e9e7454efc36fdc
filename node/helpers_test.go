package node_test

import "github.com/medchain/medchain/chain/state"

func stateRequest(purpose, requester string) state.ConsentRequest {
	return state.ConsentRequest{Purpose: purpose, Requester: requester}
}
