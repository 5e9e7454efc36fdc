package rpc

import (
	"context"
	"crypto/tls"

	"github.com/medchain/medchain/node/compliance"
)

// ComplianceReporter is an optional extension of Ledger: the node gathers
// live evidence and evaluates it (see package compliance). Without it the
// compliance namespace is not served.
type ComplianceReporter interface {
	ComplianceReport(ctx context.Context) (*compliance.Report, error)
}

// ComplianceAPI is the compliance_ namespace.
type ComplianceAPI struct{ c ComplianceReporter }

// Report checks each HIPAA technical safeguard and GDPR measure the node
// can check against live evidence; administrative and physical safeguards
// are listed as not checkable. It runs a bounded chain verification, so it
// takes as long as verifying compliance.verify_max_blocks blocks.
func (a *ComplianceAPI) Report(ctx context.Context) (*compliance.Report, error) {
	r, err := a.c.ComplianceReport(ctx)
	if err != nil {
		return nil, toRPC(err)
	}
	return r, nil
}

// TLSConfig returns the listener's TLS configuration in force, or nil when
// the server speaks plain HTTP. Callers must not modify it.
func (s *Server) TLSConfig() *tls.Config { return s.cfg.TLS }
