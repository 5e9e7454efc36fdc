package rpc

import (
	"fmt"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/types"
)

// EHRStatusParams are ehr_status's params.
type EHRStatusParams struct {
	SystemID string `json:"system_id"`
}

// EHRStatus is ehr_status's result: an EHR integration's registration, sync
// settings and what its service identity has recorded.
type EHRStatus struct {
	SystemID        string          `json:"system_id"`
	Registration    state.EHRSystem `json:"registration"`
	ServiceIdentity string          `json:"service_identity,omitempty"`
	// ServiceRegistered says whether the service identity is registered and not revoked.
	ServiceRegistered bool `json:"service_registered"`
	// AuditEvents counts the audit events signed by the service identity.
	AuditEvents uint64 `json:"audit_events"`
	// Patients counts the distinct patients of those events.
	Patients uint64 `json:"patients"`
	// LastEventTime is the block time (Unix ms) of the last event it signed;
	// 0 if none. It stands for the last sync: an EHR records what it synced.
	LastEventTime int64       `json:"last_event_time"`
	LastEventTx   *types.Hash `json:"last_event_tx,omitempty"`
	// SyncOverdue is true when sync is enabled and the head block's time is
	// more than two sync intervals past the last event (or the registration,
	// if there is none).
	SyncOverdue bool   `json:"sync_overdue"`
	AsOf        int64  `json:"as_of"`  // head block time the status was computed at
	Height      uint64 `json:"height"` // head height
}

// Status reports an EHR integration's registration and activity. It scans
// the audit index (O(audit events)); dashboards should poll it sparingly.
func (a *EHRAPI) Status(p EHRStatusParams) (*EHRStatus, error) {
	if err := types.ValidateID("system_id", p.SystemID); err != nil {
		return nil, invalidParams("%v", err)
	}
	r := a.l.Reader()
	raw, found, err := r.Get(state.EHRKey(p.SystemID))
	if err != nil {
		return nil, toRPC(err)
	}
	if !found {
		return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("EHR system %q is not registered", p.SystemID)}
	}
	var sys state.EHRSystem
	if err := codec.Unmarshal(raw, &sys); err != nil {
		return nil, toRPC(fmt.Errorf("corrupt EHR record %q: %w", p.SystemID, err))
	}
	head, _ := r.Head()
	st := &EHRStatus{SystemID: p.SystemID, Registration: sys, ServiceIdentity: sys.Service, AsOf: headTime(a.l).UnixMilli(), Height: head.Height}
	if sys.Service != "" {
		id, err := state.GetIdentity(r, sys.Service)
		if err != nil {
			return nil, toRPC(err)
		}
		st.ServiceRegistered = id != nil && !id.Revoked
		patients := map[string]struct{}{}
		var last types.Hash
		err = state.ScanAuditEntries(r, func(e *state.AuditEntry) bool {
			if e.Signer != sys.Service {
				return true
			}
			st.AuditEvents++
			if e.Record.Patient != "" { // an access denial may name no patient
				patients[e.Record.Patient] = struct{}{}
			}
			if e.Time >= st.LastEventTime {
				st.LastEventTime, last = e.Time, e.TxHash
			}
			return true
		})
		if err != nil {
			return nil, toRPC(err)
		}
		st.Patients = uint64(len(patients))
		if st.AuditEvents > 0 {
			st.LastEventTx = &last
		}
	}
	if sys.SyncEnabled && sys.SyncInterval > 0 {
		since := st.LastEventTime
		if since == 0 {
			since = sys.Time
		}
		st.SyncOverdue = st.AsOf-since > 2*int64(sys.SyncInterval)*1000
	}
	return st, nil
}
