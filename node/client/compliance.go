package client

import (
	"context"

	"github.com/medchain/medchain/node/compliance"
	"github.com/medchain/medchain/node/rpc"
)

// ComplianceReport runs compliance_report.
func (c *Client) ComplianceReport(ctx context.Context) (*compliance.Report, error) {
	var r compliance.Report
	return &r, c.c.CallContext(ctx, &r, "compliance_report")
}

// AuditStats runs audit_stats.
func (c *Client) AuditStats(ctx context.Context, p rpc.StatsParams) (*rpc.StatsResult, error) {
	var r rpc.StatsResult
	return &r, c.c.CallContext(ctx, &r, "audit_stats", p)
}
